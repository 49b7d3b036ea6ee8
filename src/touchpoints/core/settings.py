"""One typed settings object for the service side (server, connectors, surveys, privacy).

Values come from the environment (`TOUCHPOINTS_*`) or an optional `touchpoints.env`
file; secrets never have defaults and are never logged (`SecretStr` prints as ******).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TOUCHPOINTS_", env_file="touchpoints.env", extra="ignore"
    )

    # -- the company: how its people read times and money -------------------------------
    timezone: str = Field(
        "America/Sao_Paulo",
        description="Company time zone: pages, charts, heatmaps, CSVs, reports and alerts "
        "show local times and cut days, weeks and months in it.",
    )
    locale: str = Field(
        "pt-BR", description="Language of a reader who has not chosen one (en or pt-BR)."
    )
    currency: str = Field("BRL", description="ISO 4217 code of every revenue figure.")
    on_site_channels: list[str] = Field(
        default_factory=lambda: ["store"],
        description="Channels whose queue is in person: their waits are shown apart from "
        "the remote channels' (phone, WhatsApp, chat), which are comparable.",
    )

    # -- store -------------------------------------------------------------------------
    db: str | None = Field(None, description="Store target (as --db).")
    duckdb_memory_limit: str | None = Field(
        None,
        description="Most memory a DuckDB store may hold for its work ('3GB', '512MB', '25%'): "
        "beyond it, large sorts and aggregates spill to a directory beside the file. "
        "Default: DuckDB's own, 80 % of the machine's memory.",
    )

    # -- HTTP server ---------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL customers reach (survey links)."
    )
    max_body_bytes: int = Field(16 * 1024 * 1024, description="Largest request body accepted.")
    max_batch_events: int = Field(10_000, description="Most events in one POST /v1/events.")
    survey_rate_limit_per_minute: int = Field(
        30, description="Requests per minute per client address on public survey routes."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose X-Forwarded-Proto/-For are believed "
        "(then cookies are Secure behind TLS and rate limits see the real client).",
    )
    hsts_seconds: int = Field(
        0, ge=0, description="Strict-Transport-Security max-age on HTTPS answers (0: off)."
    )
    secret_key_file: str | None = Field(
        None,
        description="Where the generated session secret is kept when TOUCHPOINTS_SECRET_KEY "
        "is not set (default ~/.local/state/touchpoints/secret_key, mode 0600).",
    )
    catalog_max_bytes: int = Field(
        1024 * 1024, ge=1, description="Largest catalog YAML accepted (PUT /v1/catalog, /catalog)."
    )

    # -- secrets (environment only; no defaults) ----------------------------------------
    secret_key: SecretStr | None = Field(
        None, description="Signs survey links and dashboard sessions."
    )
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    twilio_auth_token: SecretStr | None = None
    chatwoot_webhook_secret: SecretStr | None = Field(
        None, description="HMAC key of Chatwoot's signed deliveries (X-Chatwoot-Signature)."
    )
    chatwoot_webhook_token: SecretStr | None = Field(
        None,
        description="Shared token for Chatwoot versions that do not sign, sent in the "
        "X-Touchpoints-Token header (never the query string); kept apart from the HMAC key.",
    )
    pseudonymize_key: SecretStr | None = Field(
        None, description="When set, customer_id is replaced by a keyed hash at ingestion."
    )

    # -- connectors ------------------------------------------------------------------------
    chatwoot_inbox_map: dict[str, str] = Field(
        default_factory=dict,
        description="Chatwoot inbox channel type or inbox name -> catalog touchpoint id.",
    )

    # -- the 24/7 attendant (docs/attendant.md) ---------------------------------------
    attendant: str | None = Field(
        None, description="Attendant YAML: when set, WhatsApp messages and Chatwoot get replies."
    )
    whatsapp_api_base: str = Field(
        "https://graph.facebook.com", description="Cloud API base URL (replies are sent there)."
    )
    whatsapp_api_version: str = "v23.0"
    whatsapp_token: SecretStr | None = Field(None, description="Cloud API access token.")
    chatwoot_api_base: str | None = Field(
        None, description="Chatwoot's URL, for agent-bot replies."
    )
    chatwoot_bot_token: SecretStr | None = Field(
        None, description="The Chatwoot agent bot's access token."
    )

    # -- scheduled reports (served by `touchpoints serve`) --------------------------------
    report_dir: str | None = Field(
        None, description="When set, the previous week's report is written here every week."
    )
    report_lang: str | None = Field(None, description="Its language (default: `locale`).")
    report_format: str = "pdf"
    report_timezone: str | None = Field(
        None, description="Zone of its week and hour (default: `timezone`)."
    )
    report_weekday: int = Field(0, ge=0, le=6, description="Day to write it (0 = Monday).")
    report_hour: int = Field(7, ge=0, le=23, description="Local hour to write it.")

    # -- alerts by e-mail and webhook (docs/alerts.md) ---------------------------------
    alerts: str | None = Field(
        None,
        description="Alerts YAML: when set, `touchpoints serve` checks the live alerts and "
        "sends them by e-mail and to webhooks.",
    )
    smtp_password: SecretStr | None = Field(
        None, description="Password of the alerts file's smtp.username."
    )
    alerts_webhook_secret: SecretStr | None = Field(
        None,
        description="HMAC-SHA256 key: alert webhooks carry X-Touchpoints-Signature when set.",
    )

    # -- ingestion bounds ----------------------------------------------------------------
    ts_min: str = Field("2000-01-01", description="Events before this date (UTC) are quarantined.")
    ts_max_ahead_days: float = Field(
        1.0, ge=0, description="Events more than this many days ahead of now are quarantined."
    )

    # -- surveys and privacy -------------------------------------------------------------
    survey_ttl_days: int = 14
    comment_retention_days: int | None = Field(
        None, description="Raw comments older than this are dropped (None: kept)."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
