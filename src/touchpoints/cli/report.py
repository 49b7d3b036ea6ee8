"""`touchpoints report` (a period's document, HTML or PDF) and `touchpoints demo-serve`
(the dashboard on the demo store, with a trickle of live events so the Live page moves).

Both import their heavy parts (Jinja2, WeasyPrint, FastAPI, uvicorn) inside the command,
so `touchpoints kpis` keeps starting fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from touchpoints.cli.common import (
    DbOpt,
    FromOpt,
    ToOpt,
    err,
    lang_code,
    open_for_reading,
    out,
)
from touchpoints.core.errors import UsageError

DEMO_USER = "admin"


def register(app: typer.Typer, panel: str, serve_panel: str | None = None) -> None:
    """Add `report` (to `panel`) and `demo-serve` (beside `serve`) to the main app."""
    app.command("report", rich_help_panel=panel)(report)
    app.command("demo-serve", rich_help_panel=serve_panel or panel)(demo_serve)


def report(
    out_file: Annotated[Path, typer.Option("--out", help="File to write (.html or .pdf).")],
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help="Language: en or pt-BR (default: the company's, TOUCHPOINTS_LOCALE).",
            envvar="TOUCHPOINTS_LANG",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="html or pdf (default: from the --out extension)."),
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option(
            "--timezone",
            help="Zone of the dates, days and months (default: the company's, "
            "TOUCHPOINTS_TIMEZONE).",
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(
            "--currency", help="ISO 4217 code of revenue (default: TOUCHPOINTS_CURRENCY)."
        ),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Write a self-contained report of one period: summary, KPIs vs targets, map,
    journeys, service, feedback, attribution and recommendations. Without --from and
    --to, the last complete month (in --timezone). Language, time zone and currency are
    the company's settings unless given."""
    from touchpoints.core.settings import get_settings
    from touchpoints.reports.report import FORMATS, build_report, period_scopes

    settings = get_settings()
    tz = tz or settings.timezone
    currency = currency or settings.currency
    lang = lang or settings.locale

    if not date_from and not date_to:
        date_from, date_to = default_period(tz)
        err.print(f"no --from/--to: the last complete month, {date_from} to {date_to} ({tz})")
    elif not date_from or not date_to:
        raise UsageError(
            "--from and --to are required together (or neither: the last complete month)"
        )
    chosen = (fmt or out_file.suffix.lstrip(".") or "html").lower()
    if chosen not in FORMATS:
        raise UsageError(f"--format {chosen!r}: use html or pdf")
    period_scopes(date_from or "", date_to or "", tz)  # bad dates fail before opening the store
    store = open_for_reading(db)
    try:
        data = build_report(
            store, date_from or "", date_to or "", lang_code(lang), chosen, tz, currency
        )
    finally:
        store.close()
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_bytes(data)
    err.print(f"wrote {out_file} ({len(data):,} bytes, {chosen})")


def default_period(tz: str) -> tuple[str, str]:
    """The last complete month in zone `tz`, as --from and --to would give it."""
    from datetime import datetime

    from touchpoints.core.time import zone_info
    from touchpoints.reports.schedule import last_complete_month

    start, end = last_complete_month(datetime.now(zone_info(tz)).date())
    return start.isoformat(), end.isoformat()


def demo_serve(
    db: DbOpt = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    rate: Annotated[
        float, typer.Option("--rate", help="Live events per second fed into the store (0: none).")
    ] = 2.0,
    password: Annotated[
        str | None,
        typer.Option("--password", help="Password of the demo admin (default: a random one)."),
    ] = None,
) -> None:
    """Serve the dashboard on a store and feed it a trickle of live service events."""
    import secrets
    import threading

    import uvicorn

    from touchpoints.demo.trickle import Trickle
    from touchpoints.server.app import create_app
    from touchpoints.server.users import create_user, get_user
    from touchpoints.store import resolve_target
    from touchpoints.store.remote import local_url

    if rate < 0:
        raise UsageError(f"--rate {rate}: use a number of events per second >= 0")
    app = create_app(target=resolve_target(db), announce=local_url(host, port))
    service = app.state.service
    if service.read(get_user, DEMO_USER) is None:
        chosen = password or secrets.token_urlsafe(9)
        service.read(create_user, DEMO_USER, chosen, "admin")
        login = f"{DEMO_USER} / {chosen}"
    else:
        login = f"{DEMO_USER} (existing user; its password is unchanged)"
    stop = threading.Event()
    feeder = threading.Thread(
        target=Trickle(service, rate).run, args=(stop,), name="live-trickle", daemon=True
    )
    if rate:
        feeder.start()
    out.print(f"Touchpoints dashboard: [bold]http://{host}:{port}/[/bold]  (Ctrl-C stops)")
    out.print(f"Log in as: [bold]{login}[/bold]")
    if rate:
        out.print(f"Feeding about {rate:g} live events per second (see the Live page).")

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            # Ctrl-C: stop feeding first, then let uvicorn finish requests and run the
            # lifespan shutdown, which closes the store.
            stop.set()
            super().handle_exit(sig, frame)  # type: ignore[arg-type]

    try:
        Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()
    finally:
        stop.set()
        if feeder.is_alive():
            feeder.join(timeout=5)
