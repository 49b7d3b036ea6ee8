"""Alerts that reach people: the Live page's alerts sent by e-mail and to webhooks.

One YAML file (`TOUCHPOINTS_ALERTS`, see docs/alerts.md) says who hears about what:

- **conditions**, judged on the live window (`analytics.live`, the same numbers as the Live
  page): a catalog target missed (`target`: TME, abandonment, service level; only once a
  touchpoint had `min_contacts` contacts in the window, so one abandoned call is no alarm),
  a queue over its limit (`queue`: more than `max_waiting` contacts waiting now), and no
  data from a touchpoint that should have some (`silent`: no event in the last
  `silent_minutes`, judged only inside its opening hours, in the company's time zone);
- **recipients**, each with e-mail addresses and/or one webhook (Slack- or
  Teams-compatible JSON, or plain JSON), the touchpoints they follow and their role, which
  sets the conditions they get unless `kinds` names them: supervisors run the queues
  (targets, queues, silence), analysts follow the targets, admins keep the feeds running
  (silence);
- the **quiet period**: the same condition is sent to the same channel at most once in
  `quiet_minutes`; a condition that clears sends one "resolved" message (only if its
  alert went out), so a flapping queue sends one alert and one resolved per quiet period.

What was sent lives in `alert_state` (no customer data): one row per channel and condition.
A check claims its messages there before sending (on PostgreSQL under an advisory lock, so
several workers never send the same message) and gives the claim back when the delivery
fails, so the next check tries again. Webhook bodies are signed with HMAC-SHA256 when
`TOUCHPOINTS_ALERTS_WEBHOOK_SECRET` is set; the SMTP password comes from
`TOUCHPOINTS_SMTP_PASSWORD`. Neither, nor a webhook's URL (Slack's are secrets), is ever
printed or logged: URLs are shown as their scheme and host only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from touchpoints.analytics.live import LiveOptions, live_snapshot
from touchpoints.analytics.scope import Scope
from touchpoints.attendant.whatsapp import urllib_post
from touchpoints.core import format, yamlfile
from touchpoints.core import messages as msg
from touchpoints.core.catalog import Slug
from touchpoints.core.errors import TouchpointsError

if TYPE_CHECKING:
    from touchpoints.core.settings import Settings
    from touchpoints.store.base import Store

Kind = Literal["target", "queue", "silent"]
KINDS: tuple[Kind, ...] = ("target", "queue", "silent")
Role = Literal["admin", "analyst", "supervisor"]
ROLE_KINDS: dict[str, tuple[Kind, ...]] = {
    "supervisor": ("target", "queue", "silent"),
    "analyst": ("target",),
    "admin": ("silent",),
}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
LOCK_KEY = 7_240_318  # pg_try_advisory_xact_lock key: one alert check at a time
STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS alert_state (recipient {text}, condition {text}, "
    "opened_at {timestamp}, resolved_at {timestamp}, notified {bool}, "
    "last_sent_at {timestamp}, detail {text}, PRIMARY KEY (recipient, condition))"
)
TYPES = {
    "duckdb": {"text": "VARCHAR", "timestamp": "TIMESTAMP", "bool": "BOOLEAN"},
    "postgres": {"text": "TEXT", "timestamp": "TIMESTAMP", "bool": "BOOLEAN"},
}


class AlertsConfigError(TouchpointsError):
    """The alerts file is unreadable or an entry breaks a rule (names the entry and field)."""


# -- configuration -------------------------------------------------------------------------
class Smtp(BaseModel):
    """The mail server alerts leave through (the password: TOUCHPOINTS_SMTP_PASSWORD)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int = Field(25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    sender: str
    timeout: float = Field(10.0, gt=0, le=120)

    @field_validator("sender")
    @classmethod
    def _sender(cls, v: str) -> str:
        address = v.rsplit("<", 1)[-1].rstrip(">").strip()
        if not EMAIL.match(address) or "\n" in v or "\r" in v:
            raise ValueError("must be an e-mail address, optionally 'Name <address>'")
        return v


class Rule(BaseModel):
    """What a touchpoint's queue and feed are expected to do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_waiting: int | None = Field(None, ge=0, description="Alert above this many waiting.")
    silent_minutes: int | None = Field(
        None, ge=1, le=1440, description="Alert when no event arrived for this long."
    )
    hours: str | None = Field(None, description="Opening hours, 'HH:MM-HH:MM' (local time).")
    days: list[str] = Field(default_factory=lambda: list(DAYS))

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: str | None) -> str | None:
        if v is None:
            return v
        m = HOURS.match(v)
        if not m or (m[1], m[2]) >= (m[3], m[4]):
            raise ValueError("must be 'HH:MM-HH:MM' with the start before the end")
        return v

    @field_validator("days")
    @classmethod
    def _days(cls, v: list[str]) -> list[str]:
        unknown = [d for d in v if d not in DAYS]
        if unknown or not v:
            raise ValueError(f"use days among {', '.join(DAYS)}")
        return v

    def open_at(self, local: datetime) -> bool:
        """Whether `local` (wall time) falls in the opening hours."""
        if DAYS[local.weekday()] not in self.days:
            return False
        if self.hours is None:
            return True
        start, end = self.hours.split("-")
        return start <= local.strftime("%H:%M") < end


class Recipient(BaseModel):
    """A person or a team: where their alerts go and which ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    role: Role = "supervisor"
    kinds: list[Kind] | None = None
    touchpoints: list[str] = Field(default_factory=list, description="Empty: every one.")
    email: list[str] = Field(default_factory=list)
    webhook: str | None = None
    format: Literal["slack", "teams", "json"] = "slack"
    lang: Literal["en", "pt-BR"] | None = None

    @field_validator("email", mode="before")
    @classmethod
    def _emails(cls, v: Any) -> Any:
        items = [v] if isinstance(v, str) else v
        for item in items or []:
            if not isinstance(item, str) or not EMAIL.match(item):
                raise ValueError(f"{item!r} is not an e-mail address")
        return items

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return v

    @model_validator(mode="after")
    def _somewhere(self) -> Recipient:
        if not self.email and not self.webhook:
            raise ValueError("needs an 'email' list or a 'webhook' URL")
        return self

    def wants(self) -> tuple[Kind, ...]:
        return tuple(self.kinds) if self.kinds is not None else ROLE_KINDS[self.role]

    def channels(self) -> list[str]:
        return (["email"] if self.email else []) + (["webhook"] if self.webhook else [])


class AlertsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    window_minutes: int = Field(60, ge=1, le=1440)
    every_seconds: int = Field(60, ge=10, le=3600)
    quiet_minutes: int = Field(30, ge=0, le=7 * 24 * 60)
    min_contacts: int = Field(5, ge=1)
    smtp: Smtp | None = None
    touchpoints: dict[str, Rule] = Field(default_factory=dict)
    recipients: list[Recipient]

    @model_validator(mode="after")
    def _consistent(self) -> AlertsConfig:
        seen: set[str] = set()
        for r in self.recipients:
            if r.id in seen:
                raise ValueError(f"recipient id {r.id!r} is used twice")
            seen.add(r.id)
            if r.email and self.smtp is None:
                raise ValueError(f"recipient {r.id!r} has e-mail addresses but no 'smtp' is set")
        return self


def parse_config(text: str, source: str = "alerts") -> AlertsConfig:
    raw = yamlfile.load(text, source, AlertsConfigError)
    if not isinstance(raw, dict) or not raw.get("recipients"):
        raise AlertsConfigError(f"{source}: expected a mapping with a 'recipients' list")
    try:
        return AlertsConfig.model_validate(raw)
    except ValidationError as exc:
        raise AlertsConfigError(
            yamlfile.describe(exc.errors(), raw, source, "recipients")
        ) from None


def load_config(path: str | Path) -> AlertsConfig:
    return parse_config(*yamlfile.read(path, "the alerts file", AlertsConfigError))


def check_touchpoints(config: AlertsConfig, known: list[str]) -> None:
    """Every touchpoint the file names is in the catalog (a typo would silence an alert)."""
    for name in [*config.touchpoints, *(t for r in config.recipients for t in r.touchpoints)]:
        if name not in known:
            raise AlertsConfigError(f"alerts: touchpoint {name!r} is not in the catalog")


# -- conditions ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    kind: str
    touchpoint: str
    metric: str | None = None
    value: float | None = None
    limit: float | None = None
    direction: str | None = None

    @property
    def key(self) -> str:
        return ":".join(p for p in (self.kind, self.touchpoint, self.metric) if p)


def _naive(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC).replace(tzinfo=None)
    return now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now


def evaluate(
    store: Store, config: AlertsConfig, now: datetime, timezone: str = "UTC"
) -> list[Condition]:
    """Every condition that holds at `now` (naive UTC), whoever follows it."""
    snap = live_snapshot(store, Scope(), LiveOptions(window=config.window_minutes), now=now)
    found: list[Condition] = []
    for row in snap["touchpoints"]:
        tp = row["touchpoint"]
        if row["offered"] >= config.min_contacts:
            found += [
                Condition("target", tp, a["metric"], a["value"], a["target"], a["direction"])
                for a in row["alerts"]
            ]
        rule = config.touchpoints.get(tp)
        if rule and rule.max_waiting is not None and row["waiting"] > rule.max_waiting:
            found.append(Condition("queue", tp, "waiting", row["waiting"], rule.max_waiting))
    for tp, rule in config.touchpoints.items():
        if rule.silent_minutes is None:
            continue
        since = now - timedelta(minutes=rule.silent_minutes)
        if not (
            rule.open_at(format.local(now, timezone))
            and rule.open_at(format.local(since, timezone))
        ):
            continue  # closed, or opened less than silent_minutes ago: silence is expected
        n = store.query(
            "SELECT count(*) AS n FROM events WHERE touchpoint = $tp AND ts > $since AND ts <= $now",
            {"tp": tp, "since": since, "now": now},
        )[0]["n"]
        if not int(n):
            found.append(Condition("silent", tp, None, float(rule.silent_minutes)))
    return found


# -- what each channel is told -------------------------------------------------------------
@dataclass
class Transition:
    condition: Condition
    state: Literal["opened", "resolved"]
    opened_at: datetime
    resolved_at: datetime | None
    previous_sent: datetime | None  # given back when the delivery fails


@dataclass
class Delivery:
    recipient: Recipient
    channel: str  # email | webhook
    transitions: list[Transition] = field(default_factory=list)
    ok: bool | None = None
    error: str | None = None

    @property
    def key(self) -> str:
        return f"{self.recipient.id}/{self.channel}"


def ensure_table(store: Store) -> None:
    # Claimed at every check of the server's periodic job: operational state, not Spark's.
    store.refuse_operational("alerting")
    store._native(STATE_DDL.format(**TYPES.get(store.engine, TYPES["duckdb"])))


def _rows(store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    rows = store.query(
        "SELECT recipient, condition, opened_at, resolved_at, notified, last_sent_at, detail "
        "FROM alert_state"
    )
    return {(r["recipient"], r["condition"]): r for r in rows}


def _follows(recipient: Recipient, condition: Condition) -> bool:
    return condition.kind in recipient.wants() and (
        not recipient.touchpoints or condition.touchpoint in recipient.touchpoints
    )


def plan(
    store: Store, config: AlertsConfig, conditions: list[Condition], now: datetime, write: bool
) -> tuple[list[Delivery], list[str]] | None:
    """Who is told what now, claimed in `alert_state` when `write` (else only computed).
    None when another worker is checking right now (PostgreSQL). Also the keys kept quiet."""
    if write:
        ensure_table(store)
    elif not store.has_table("alert_state"):
        return _decide(config, conditions, now, {}, None)
    with store.transaction():
        if write and store.engine == "postgres":
            got = store.query("SELECT pg_try_advisory_xact_lock($k) AS ok", {"k": LOCK_KEY})
            if not got[0]["ok"]:
                return None
        return _decide(config, conditions, now, _rows(store), store if write else None)


def _decide(
    config: AlertsConfig,
    conditions: list[Condition],
    now: datetime,
    rows: dict[tuple[str, str], dict[str, Any]],
    store: Store | None,
) -> tuple[list[Delivery], list[str]]:
    quiet = timedelta(minutes=config.quiet_minutes)
    deliveries: list[Delivery] = []
    kept_quiet: list[str] = []

    def save(key: str, cond_key: str, values: dict[str, Any], new: bool) -> None:
        if store is None:
            return
        params = {"recipient": key, "condition": cond_key, **values}
        if new:
            store.execute(
                "INSERT INTO alert_state (recipient, condition, opened_at, resolved_at, notified, "
                "last_sent_at, detail) VALUES ($recipient, $condition, $opened_at, $resolved_at, "
                "$notified, $last_sent_at, $detail)",
                params,
            )
        else:
            store.execute(
                "UPDATE alert_state SET opened_at = $opened_at, resolved_at = $resolved_at, "
                "notified = $notified, last_sent_at = $last_sent_at, detail = $detail "
                "WHERE recipient = $recipient AND condition = $condition",
                params,
            )

    for recipient in config.recipients:
        active = {c.key: c for c in conditions if _follows(recipient, c)}
        for channel in recipient.channels():
            delivery = Delivery(recipient, channel)
            key = delivery.key
            for cond_key, cond in active.items():
                row = rows.get((key, cond_key))
                last = row["last_sent_at"] if row else None
                is_open = row is not None and row["resolved_at"] is None
                if is_open and row["notified"]:
                    continue  # told already; nothing new until it clears
                opened_at = row["opened_at"] if is_open else now
                may_send = last is None or now - last >= quiet
                values = {
                    "opened_at": opened_at,
                    "resolved_at": None,
                    "notified": may_send,
                    "last_sent_at": now if may_send else last,
                    "detail": json.dumps(asdict(cond)),
                }
                save(key, cond_key, values, row is None)
                if may_send:
                    delivery.transitions.append(Transition(cond, "opened", opened_at, None, last))
                else:
                    kept_quiet.append(f"{key} {cond_key}")
            for (row_key, cond_key), row in rows.items():
                if row_key != key or row["resolved_at"] is not None or cond_key in active:
                    continue
                told = bool(row["notified"])
                values = {
                    "opened_at": row["opened_at"],
                    "resolved_at": now,
                    "notified": told,
                    "last_sent_at": now if told else row["last_sent_at"],
                    "detail": row["detail"],
                }
                save(key, cond_key, values, False)
                if told:
                    cond = Condition(**json.loads(row["detail"]))
                    delivery.transitions.append(
                        Transition(cond, "resolved", row["opened_at"], now, row["last_sent_at"])
                    )
            if delivery.transitions:
                deliveries.append(delivery)
    return deliveries, kept_quiet


def give_back(store: Store, delivery: Delivery) -> None:
    """A failed delivery's claims undone: the next check sends the same news again."""
    for tr in delivery.transitions:
        params = {
            "recipient": delivery.key,
            "condition": tr.condition.key,
            "last_sent_at": tr.previous_sent,
        }
        if tr.state == "opened":
            sql = "UPDATE alert_state SET notified = FALSE, last_sent_at = $last_sent_at"
        else:
            sql = "UPDATE alert_state SET resolved_at = NULL, last_sent_at = $last_sent_at"
        store.execute(sql + " WHERE recipient = $recipient AND condition = $condition", params)


# -- words ---------------------------------------------------------------------------------
def sentence(cond: Condition, lang: str, names: dict[str, str]) -> str:
    who = names.get(cond.touchpoint, cond.touchpoint)
    if cond.kind == "target" and cond.metric:
        return msg.t(
            lang,
            "live.alert",
            touchpoint=who,
            metric=msg.t(lang, f"metric.{cond.metric}"),
            value=format.value(cond.metric, cond.value, lang),
            direction=msg.t(lang, f"live.{cond.direction}"),
            target=format.value(cond.metric, cond.limit, lang),
        )
    if cond.kind == "queue":
        return msg.t(
            lang,
            "live.alert_queue",
            touchpoint=who,
            value=format.integer(cond.value, lang),
            limit=format.integer(cond.limit, lang),
        )
    return msg.t(lang, "live.alert_silent", touchpoint=who, n=format.integer(cond.value, lang))


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    lines: list[tuple[str, str]]  # (opened | resolved, line)


def compose(
    delivery: Delivery, lang: str, names: dict[str, str], timezone: str, public_url: str, quiet: int
) -> Message:
    def when(moment: datetime | None) -> str:
        return format.datetime(format.local(moment, timezone), lang)

    lines: list[tuple[str, str]] = []
    for tr in delivery.transitions:
        text = sentence(tr.condition, lang, names)
        if tr.state == "opened":
            lines.append(
                ("opened", msg.t(lang, "live.alert_since", text=text, since=when(tr.opened_at)))
            )
        else:
            lines.append(
                (
                    "resolved",
                    msg.t(
                        lang,
                        "live.alert_resolved_line",
                        text=text,
                        since=when(tr.opened_at),
                        at=when(tr.resolved_at),
                    ),
                )
            )
    opened = [line for state, line in lines if state == "opened"]
    resolved = [line for state, line in lines if state == "resolved"]
    if len(lines) == 1:
        first = sentence(delivery.transitions[0].condition, lang, names)
        head = "live.alert_subject_opened" if opened else "live.alert_subject_resolved"
        subject = msg.t(lang, head, text=first)
    else:
        subject = msg.t(
            lang,
            "live.alert_subject_many",
            opened=format.integer(len(opened), lang),
            resolved=format.integer(len(resolved), lang),
        )
    parts = []
    if opened:
        parts.append(msg.t(lang, "live.alerts") + "\n" + "\n".join(f"• {x}" for x in opened))
    if resolved:
        parts.append(
            msg.t(lang, "live.alert_resolved") + "\n" + "\n".join(f"• {x}" for x in resolved)
        )
    parts.append(msg.t(lang, "live.alert_footer", url=public_url.rstrip("/") + "/live"))
    parts.append(msg.t(lang, "live.alert_quiet", n=format.integer(quiet, lang)))
    return Message(subject, "\n\n".join(parts), lines)


def payload(message: Message, style: str) -> dict[str, Any]:
    """The webhook's JSON: Slack's incoming-webhook `text`, a Teams MessageCard, or both
    plus the lines by state for a program (`json`)."""
    if style == "teams":
        alarming = any(state == "opened" for state, _ in message.lines)
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": message.subject,
            "themeColor": "B42318" if alarming else "067647",
            "title": message.subject,
            "text": message.text.replace("\n", "\n\n"),
        }
    if style == "json":
        return {
            "subject": message.subject,
            "text": message.text,
            "opened": [line for state, line in message.lines if state == "opened"],
            "resolved": [line for state, line in message.lines if state == "resolved"],
        }
    return {"text": f"*{message.subject}*\n\n{message.text}"}


# -- sending -------------------------------------------------------------------------------
def redacted(url: str) -> str:
    """A webhook URL as it may be shown: scheme and host (its path is often the secret)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>` (the receiver recomputes it
    and refuses a stale timestamp, so a captured delivery cannot be replayed later)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


Post = Callable[[str, dict[str, str], bytes, float], tuple[int, bytes]]


@dataclass
class Transport:
    """How messages leave: SMTP and HTTP, with the webhook's retry policy."""

    smtp_password: str | None = None
    webhook_secret: str | None = None
    post: Post = urllib_post
    attempts: int = 3
    backoff: float = 1.0
    timeout: float = 10.0
    sleep: Callable[[float], None] = time.sleep

    def email(self, smtp: Smtp, to: list[str], message: Message, lang: str) -> None:
        mail = EmailMessage()
        mail["From"] = smtp.sender
        mail["To"] = ", ".join(to)
        mail["Subject"] = " ".join(message.subject.split())  # one line, whatever the names
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=smtp.sender.rsplit("@", 1)[-1].rstrip(">"))
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.text, charset="utf-8")
        mail["Content-Language"] = lang  # after set_content, which resets Content-* headers
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if smtp.security == "ssl":
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=context)
            if smtp.username:
                client.login(smtp.username, self.smtp_password or "")
            client.send_message(mail)

    def webhook(self, url: str, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        error = ""
        for attempt in range(1, self.attempts + 1):
            headers = {"Content-Type": "application/json; charset=utf-8"}
            if self.webhook_secret:
                stamp = str(int(time.time()))
                headers["X-Touchpoints-Timestamp"] = stamp
                headers["X-Touchpoints-Signature"] = signature(self.webhook_secret, stamp, data)
            try:
                status, _ = self.post(url, headers, data, self.timeout)
            except OSError as exc:
                status, error = 0, f"network error ({type(exc).__name__})"
            if 200 <= status < 300:
                return
            if status:
                error = f"HTTP {status}"
            if (status and status < 500 and status != 429) or attempt == self.attempts:
                break
            self.sleep(self.backoff * 2 ** (attempt - 1))
        raise DeliveryError(f"{redacted(url)}: {error} after {attempt} attempt(s)")


class DeliveryError(TouchpointsError):
    """A message could not be handed over (says where, never the secret parts)."""


def deliver(
    delivery: Delivery, message: Message, config: AlertsConfig, transport: Transport, lang: str
) -> None:
    """Send one channel's message; sets `ok` and `error` (failures never raise here)."""
    r = delivery.recipient
    try:
        if delivery.channel == "email":
            assert config.smtp is not None
            transport.email(config.smtp, r.email, message, lang)
        else:
            assert r.webhook is not None
            transport.webhook(r.webhook, payload(message, r.format))
        delivery.ok = True
    except DeliveryError as exc:
        delivery.ok, delivery.error = False, str(exc)
    except (OSError, smtplib.SMTPException) as exc:
        where = f"{config.smtp.host}:{config.smtp.port}" if config.smtp else "smtp"
        delivery.ok = False
        delivery.error = f"{where}: {type(exc).__name__}" + (
            f" {exc.smtp_code}" if isinstance(exc, smtplib.SMTPResponseException) else ""
        )


# -- the check -----------------------------------------------------------------------------
Run = Callable[..., Any]


def _store_runner(store: Store) -> Run:
    return lambda fn, *args: fn(store, *args)


def transport_for(settings: Settings) -> Transport:
    def secret(value: Any) -> str | None:
        return value.get_secret_value() if value is not None else None

    return Transport(secret(settings.smtp_password), secret(settings.alerts_webhook_secret))


def check(
    run: Run | Store,
    config: AlertsConfig,
    settings: Settings,
    now: datetime | None = None,
    send: bool = True,
    transport: Transport | None = None,
) -> dict[str, Any]:
    """Judge the conditions at `now`, send what changed, record it. `run(fn, *args)` runs
    `fn(store, *args)` (the server passes its locked `Service.read`); a Store works too.
    With `send=False` nothing is sent or recorded: the answer says what would go."""
    runner = _store_runner(run) if not callable(run) else run
    at = _naive(now)
    timezone = settings.timezone

    def judge(store: Store) -> tuple[list[Condition], dict[str, dict[str, str]]]:
        catalog = store.catalog()
        check_touchpoints(config, catalog.ids)
        names = {lang: {t.id: t.label(lang) for t in catalog.touchpoints} for lang in msg.LANGS}
        return evaluate(store, config, at, timezone), names

    conditions, names = runner(judge)
    planned = runner(plan, config, conditions, at, send)
    answer: dict[str, Any] = {
        "now": at.isoformat() + "Z",
        "conditions": [{"key": c.key, **asdict(c)} for c in conditions],
        "busy": planned is None,
        "messages": [],
        "quiet": [],
    }
    if planned is None:
        return answer
    deliveries, answer["quiet"] = planned
    transport = transport or transport_for(settings)
    for d in deliveries:
        lang = d.recipient.lang or msg.normalize(settings.locale) or msg.DEFAULT_LANG
        message = compose(d, lang, names[lang], timezone, settings.public_url, config.quiet_minutes)
        if send:
            deliver(d, message, config, transport, lang)
            if not d.ok:
                runner(give_back, d)
        answer["messages"].append(
            {
                "recipient": d.recipient.id,
                "channel": d.channel,
                "to": d.recipient.email
                if d.channel == "email"
                else redacted(d.recipient.webhook or ""),
                "subject": message.subject,
                "opened": [t.condition.key for t in d.transitions if t.state == "opened"],
                "resolved": [t.condition.key for t in d.transitions if t.state == "resolved"],
                "sent": d.ok,
                "error": d.error,
            }
        )
    return answer


def summary(answer: dict[str, Any]) -> str:
    """One log line: counts only (no addresses, no URLs)."""
    if answer["busy"]:
        return "another worker is checking"
    sent = sum(1 for m in answer["messages"] if m["sent"])
    failed = sum(1 for m in answer["messages"] if m["sent"] is False)
    return (
        f"{len(answer['conditions'])} condition(s) hold, {sent} message(s) sent, "
        f"{failed} failed, {len(answer['quiet'])} kept quiet"
    )


def send_test(
    config: AlertsConfig,
    settings: Settings,
    recipient: str | None = None,
    transport: Transport | None = None,
) -> list[dict[str, Any]]:
    """One test message to every channel (of `recipient` when given); nothing recorded."""
    chosen = [r for r in config.recipients if recipient in (None, r.id)]
    if not chosen:
        known = ", ".join(r.id for r in config.recipients)
        raise AlertsConfigError(f"--recipient {recipient!r}: not in the alerts file ({known})")
    transport = transport or transport_for(settings)
    out = []
    for r in chosen:
        lang = r.lang or msg.normalize(settings.locale) or msg.DEFAULT_LANG
        text = msg.t(lang, "live.alert_test", name=r.id)
        message = Message(msg.t(lang, "live.alert_test_subject"), text, [])
        for channel in r.channels():
            d = Delivery(r, channel)
            deliver(d, message, config, transport, lang)
            out.append(
                {
                    "recipient": r.id,
                    "channel": channel,
                    "to": r.email if channel == "email" else redacted(r.webhook or ""),
                    "sent": d.ok,
                    "error": d.error,
                }
            )
    return out


def open_alerts(store: Store) -> list[dict[str, Any]]:
    """The conditions each channel was told about and that have not cleared yet."""
    if not store.has_table("alert_state"):
        return []
    rows = store.query(
        "SELECT recipient, condition, opened_at, notified, last_sent_at FROM alert_state "
        "WHERE resolved_at IS NULL ORDER BY recipient, condition"
    )
    return [
        {
            "recipient": r["recipient"],
            "condition": r["condition"],
            "opened_at": r["opened_at"].isoformat() + "Z",
            "notified": bool(r["notified"]),
            "last_sent_at": None
            if r["last_sent_at"] is None
            else r["last_sent_at"].isoformat() + "Z",
        }
        for r in rows
    ]
