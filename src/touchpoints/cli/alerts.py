"""`touchpoints alerts check|test|list`: the live alerts sent by e-mail and to webhooks
(docs/alerts.md). `touchpoints serve` runs the same check on its own when
`TOUCHPOINTS_ALERTS` names the file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from touchpoints.cli.common import DbOpt, JsonOpt, out, print_json
from touchpoints.core.errors import UsageError

if TYPE_CHECKING:
    from touchpoints.reports.alerts import AlertsConfig

alerts_app = typer.Typer(
    help="Alerts by e-mail and webhook: targets missed, queues over a limit, silent feeds.",
    no_args_is_help=True,
)

ConfigOpt = Annotated[
    str | None,
    typer.Option("--config", help="The alerts YAML (default $TOUCHPOINTS_ALERTS)."),
]


def _config(path: str | None) -> AlertsConfig:
    from touchpoints.core.settings import get_settings
    from touchpoints.reports.alerts import load_config

    chosen = path or get_settings().alerts
    if not chosen:
        raise UsageError("--config: name the alerts YAML (or set TOUCHPOINTS_ALERTS)")
    return load_config(chosen)


@alerts_app.command("check")
def check_command(
    config: ConfigOpt = None,
    db: DbOpt = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Judge the queue as it stood then (ISO time; naive = UTC)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be sent; send and record nothing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Judge the live alerts now, send what changed since the last check, record it."""
    from touchpoints.core.settings import get_settings
    from touchpoints.core.time import parse_when
    from touchpoints.reports.alerts import check
    from touchpoints.store import open_store, resolve_target

    loaded = _config(config)
    when = parse_when(at, "--at")
    with open_store(resolve_target(db)) as store:
        answer = check(store, loaded, get_settings(), now=when, send=not dry_run)
    if as_json:
        print_json(answer)
        return
    out.print(
        f"{len(answer['conditions'])} condition(s) hold at {answer['now']}",
        highlight=False,
        emoji=False,
    )
    for c in answer["conditions"]:
        out.print(f"  {escape(c['key'])}", highlight=False, emoji=False)
    verb = "would send" if dry_run else "sent"
    for m in answer["messages"]:
        status = verb if m["sent"] is not False else f"FAILED ({escape(m['error'] or '')})"
        to = ", ".join(m["to"]) if isinstance(m["to"], list) else m["to"]
        out.print(
            f"{status}: {m['recipient']} by {m['channel']} to {escape(to)}: {escape(m['subject'])}",
            highlight=False,
            emoji=False,
        )
    for quiet in answer["quiet"]:
        out.print(
            f"kept quiet (sent within the quiet period): {escape(quiet)}",
            highlight=False,
            emoji=False,
        )
    if any(m["sent"] is False for m in answer["messages"]):
        raise typer.Exit(1)


@alerts_app.command("test")
def test_command(
    config: ConfigOpt = None,
    recipient: Annotated[
        str | None, typer.Option("--recipient", help="Only this recipient's channels.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a test message to every channel of the file (or one recipient's); nothing is
    recorded. Exit status 1 when a channel could not be reached."""
    from touchpoints.core.settings import get_settings
    from touchpoints.reports.alerts import send_test

    results = send_test(_config(config), get_settings(), recipient)
    if as_json:
        print_json(results)
    else:
        for r in results:
            to = ", ".join(r["to"]) if isinstance(r["to"], list) else r["to"]
            status = "sent" if r["sent"] else f"FAILED ({escape(r['error'] or '')})"
            out.print(
                f"{status}: {r['recipient']} by {r['channel']} to {escape(to)}",
                highlight=False,
                emoji=False,
            )
    if not all(r["sent"] for r in results):
        raise typer.Exit(1)


@alerts_app.command("list")
def list_command(config: ConfigOpt = None, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Who gets which alerts, and the alerts still open (sent and not yet resolved)."""
    from touchpoints.reports.alerts import open_alerts, redacted
    from touchpoints.store import open_store, resolve_target

    loaded = _config(config)
    recipients = [
        {
            "recipient": r.id,
            "role": r.role,
            "kinds": list(r.wants()),
            "touchpoints": r.touchpoints or ["*"],
            "email": r.email,
            "webhook": redacted(r.webhook) if r.webhook else None,
            "format": r.format if r.webhook else None,
        }
        for r in loaded.recipients
    ]
    with open_store(resolve_target(db)) as store:
        still_open = open_alerts(store)
    if as_json:
        print_json({"recipients": recipients, "open": still_open})
        return
    for r in recipients:
        channels = [*r["email"], *([f"{r['webhook']} ({r['format']})"] if r["webhook"] else [])]
        out.print(
            f"{r['recipient']} ({r['role']}): {', '.join(r['kinds'])} at "
            f"{', '.join(r['touchpoints'])} -> {escape(', '.join(channels))}",
            highlight=False,
            emoji=False,
        )
    if not still_open:
        out.print("no open alerts", highlight=False, emoji=False)
    for a in still_open:
        told = "sent" if a["notified"] else "kept quiet"
        out.print(
            f"open: {a['recipient']} {escape(a['condition'])} since {a['opened_at']} ({told})",
            highlight=False,
            emoji=False,
        )


def register(app: typer.Typer, panel: str) -> None:
    app.add_typer(alerts_app, name="alerts", rich_help_panel=panel)
