"""`touchpoints import asterisk QUEUE_LOG`: phone contacts from an Asterisk queue_log.

`import` (not another `ingest` flag) because the input is not SPEC §2 events: a connector
translates a foreign log into them, and more importers can join the group (the webhooks
cover the channels that push). Re-importing a grown or repeated file stores nothing twice:
each call's event id is its Asterisk callid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from touchpoints.cli.common import DbOpt, JsonOpt, out, print_json
from touchpoints.core.errors import UsageError

import_app = typer.Typer(
    help="Import contacts from a channel's own logs (Asterisk queue_log).", no_args_is_help=True
)
OPEN_SHOWN = 20


def import_asterisk(
    queue_log: Annotated[Path, typer.Argument(help="Asterisk queue_log file.")],
    touchpoint: Annotated[
        str, typer.Option("--touchpoint", help="Catalog touchpoint of these calls.")
    ] = "phone",
    tz: Annotated[
        str,
        typer.Option(
            "--timezone",
            help="Zone of date-time stamps (realtime exports); unix seconds are UTC anyway.",
        ),
    ] = "UTC",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Queued calls -> phone contacts with wait, handle time, abandonment and agent.

    Malformed lines are quarantined with file, line number and reason; calls still open at
    the end of the file are listed and not stored (import the file again later).
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from touchpoints.core.settings import get_settings
    from touchpoints.ingest import key_text
    from touchpoints.store import open_store

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(
            f"--timezone {tz!r}: not an IANA zone name (e.g. America/Sao_Paulo)"
        ) from exc
    if not queue_log.is_file():
        raise UsageError(f"{queue_log}: no such file")
    with open_store(db) as store:
        summary = import_queue_log(
            store, queue_log, touchpoint, tz, key_text(get_settings().pseudonymize_key)
        )
    if as_json:
        print_json(summary)
        return
    out.print(
        f"{summary['calls']:,} ended calls: {summary['stored']:,} stored, "
        f"{summary['duplicates']:,} duplicates, {summary['rejected']:,} rejected; "
        f"{summary['quarantined_lines']:,} lines quarantined, "
        f"{summary['skipped_lines']:,} agent/system lines skipped"
    )
    if summary["open"]:
        shown = escape(", ".join(summary["open"][:OPEN_SHOWN]))
        more = len(summary["open"]) - OPEN_SHOWN
        out.print(
            f"{len(summary['open']):,} calls still open (not stored): {shown}"
            + (f" and {more:,} more" if more > 0 else "")
        )
    for item in summary["quarantine"]:
        out.print(f"  line {item['row']}: {escape(item['reason'])}", highlight=False)


def import_queue_log(
    store: Any, path: Path, touchpoint: str, tz: str, key: str | None = None
) -> dict[str, Any]:
    """Parse, store the contacts, quarantine bad lines (source = the file path, row = line);
    `key` pseudonymises the callers' numbers.

    The JSON answer: calls, stored, duplicates, rejected (contacts the store refused, e.g.
    an unknown touchpoint; they are quarantined too), quarantined_lines, skipped_lines,
    open (callids) and quarantine (the line-level reasons, first 1000).
    """
    from touchpoints.connectors.asterisk import parse_queue_log
    from touchpoints.ingest import ingest_records, quarantine_raw

    with path.open(encoding="utf-8", errors="backslashreplace") as fh:
        result = parse_queue_log(fh, touchpoint, tz)
    source = str(path)
    translation = result.translation
    for part in translation.unmapped:
        quarantine_raw(store, source, part.row, None, part.reason, str(part.raw))
    records = ingest_records(store, translation.events, f"asterisk:{source}", key=key)
    return {
        "calls": result.calls,
        "stored": records.stored,
        "duplicates": records.duplicates,
        "rejected": records.rejected,
        "quarantined_lines": len(translation.unmapped),
        "skipped_lines": result.skipped_lines,
        "open": result.open_calls,
        "quarantine": [
            {"file": source, "row": part.row, "reason": part.reason}
            for part in translation.unmapped[:1000]
        ],
    }


def register(app: typer.Typer, panel: str) -> None:
    """Add the `import` group (`touchpoints import asterisk ...`) to `app`."""
    import_app.command("asterisk")(import_asterisk)
    app.add_typer(import_app, name="import", rich_help_panel=panel)
