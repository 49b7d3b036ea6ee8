"""`touchpoints serve` and `touchpoints keys create|list|revoke` (SPEC §6).

FastAPI and uvicorn are imported inside `serve`, so other commands keep starting fast.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from touchpoints.cli.common import DbOpt, JsonOpt, out, print_json
from touchpoints.core.errors import UsageError

keys_app = typer.Typer(
    help="API keys for /v1 (scopes ingest, read, admin; admin implies the others).",
    no_args_is_help=True,
)


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8000).")] = None,
    db: DbOpt = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, help="Worker processes (PostgreSQL only; DuckDB needs 1)."
        ),
    ] = 1,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log one line per request (off by default: /metrics counts requests).",
        ),
    ] = False,
) -> None:
    """Serve the API, webhooks, survey pages and dashboard (OpenAPI docs at /docs)."""
    import uvicorn

    from touchpoints.core.settings import get_settings
    from touchpoints.store import SPARK_PREFIXES, resolve_target

    settings = get_settings()
    target = resolve_target(db or settings.db)
    if target.startswith(SPARK_PREFIXES):
        raise UsageError("serve needs a DuckDB file or a postgresql:// URL, not a Spark store")
    is_postgres = target.startswith(("postgresql://", "postgres://"))
    if workers > 1 and not is_postgres:
        raise UsageError(
            f"--workers {workers}: a DuckDB file is opened by one process only; "
            "serve it with --workers 1, or use a postgresql:// store for several workers"
        )
    # Workers are separate processes that build the app from the environment.
    os.environ["TOUCHPOINTS_DB"] = target
    get_settings.cache_clear()
    host, port = host or settings.host, port or settings.port
    app: object = "touchpoints.server.app:create_app"
    if not is_postgres:
        from touchpoints.server.app import create_app
        from touchpoints.store.remote import local_url

        # One process holds the DuckDB file; it lets the CLI and notebooks in through it.
        app = create_app(target=target, announce=local_url(host, port))
    uvicorn.run(
        app,  # type: ignore[arg-type]
        factory=is_postgres,
        host=host,
        port=port,
        workers=workers,
        server_header=False,
        proxy_headers=False,
        access_log=access_log,
        log_level="info",
    )


@keys_app.command("create")
def keys_create(
    scope: Annotated[
        list[str],
        typer.Option("--scope", help="ingest, read or admin; repeat for several."),
    ],
    name: Annotated[str | None, typer.Option("--name", help="A label (who uses it).")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key; it is printed once and only its hash is stored."""
    from touchpoints.server.auth import create_key, normalise_scopes
    from touchpoints.store import open_store

    scopes = normalise_scopes(scope)
    with open_store(db) as store:
        key_id, key = create_key(store, scopes, name)
    if as_json:
        print_json({"id": key_id, "key": key, "scopes": scopes})
        return
    out.print(f"API key {key_id} ({', '.join(scopes)}) — shown once, keep it safe:")
    out.print(key, markup=False, highlight=False)


@keys_app.command("list")
def keys_list(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List keys (never the keys themselves): id, name, scopes, created, revoked."""
    from rich.table import Table

    from touchpoints.server.auth import list_keys
    from touchpoints.store import open_store

    with open_store(db) as store:
        keys = list_keys(store)
    if as_json:
        print_json({"keys": keys})
        return
    table = Table(title="API keys", title_justify="left")
    for col in ("id", "name", "scopes", "created", "revoked"):
        table.add_column(col)
    for k in keys:
        table.add_row(
            k["id"], k["name"] or "", ",".join(k["scopes"]), k["created_at"], k["revoked_at"] or ""
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `touchpoints keys list`).")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key: refused at once by this store's server (within seconds on PostgreSQL
    workers)."""
    from touchpoints.server.auth import revoke_key
    from touchpoints.store import open_store

    with open_store(db) as store:
        revoke_key(store, key_id)
    if as_json:
        print_json({"id": key_id, "revoked": True})
    else:
        out.print(f"revoked {key_id}")


def register(app: typer.Typer, panel: str) -> None:
    """Add `serve` and the `keys` group to the main app."""
    app.command("serve", rich_help_panel=panel)(serve)
    app.add_typer(keys_app, name="keys", rich_help_panel=panel)
