"""`touchpoints quarantine`: the rejected rows, by file, reason and date; `export` and
`clear`. Rows of a file later loaded with them fixed are marked resolved (and hidden
unless `--resolved`)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated

import typer

from touchpoints.cli.common import DbOpt, JsonOpt, LangOpt, lang_code, out, print_json

quarantine_app = typer.Typer(
    help="Rejected rows: list (by file, reason, date), export, clear.",
    invoke_without_command=True,
)

SourceOpt = Annotated[
    str | None, typer.Option("--source", help="Only the rows of this file (as ingested).")
]
ReasonOpt = Annotated[
    str | None, typer.Option("--reason", help="Only rows whose reason contains this text.")
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Only rows quarantined from this date or time on.")
]
ResolvedOpt = Annotated[
    bool, typer.Option("--resolved", help="Include rows fixed by a later load of their file.")
]


def _since(text: str | None):  # type: ignore[no-untyped-def]
    from touchpoints.core.time import parse_when

    return parse_when(text, "--since")


@quarantine_app.callback()
def quarantine(
    ctx: typer.Context,
    source: SourceOpt = None,
    reason: ReasonOpt = None,
    since: SinceOpt = None,
    resolved: ResolvedOpt = False,
    limit: Annotated[int, typer.Option("--limit", help="Rows to show.")] = 50,
    db: DbOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = "en",
) -> None:
    """List rejected rows: file, row, column, reason and the raw record."""
    if ctx.invoked_subcommand is not None:
        return
    from touchpoints.cli.common import open_for_reading
    from touchpoints.cli.tables.data import quarantine_table
    from touchpoints.ingest.quarantine import list_quarantine

    with open_for_reading(db) as store:
        total, rows = list_quarantine(store, source, reason, _since(since), resolved, limit)
    if as_json:
        print_json({"total": total, "rows": rows})
    else:
        out.print(quarantine_table(rows, total, lang_code(lang)))


@quarantine_app.command("export")
def quarantine_export(
    output_format: Annotated[str, typer.Option("--format", help="csv (the only one).")] = "csv",
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of standard output.")
    ] = None,
    source: SourceOpt = None,
    reason: ReasonOpt = None,
    since: SinceOpt = None,
    resolved: ResolvedOpt = False,
    db: DbOpt = None,
) -> None:
    """Every matching quarantined row as CSV (file, row, column, reason, raw, times), to
    fix in a spreadsheet and load again."""
    from touchpoints.cli.common import open_for_reading
    from touchpoints.core.errors import UsageError
    from touchpoints.ingest.quarantine import COLUMNS, list_quarantine

    if output_format != "csv":
        raise UsageError(f"--format {output_format!r}: use csv")
    with open_for_reading(db) as store:
        _, rows = list_quarantine(store, source, reason, _since(since), resolved)
    fh = out_file.open("w", newline="", encoding="utf-8") if out_file else sys.stdout
    try:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow(["" if r[c] is None else r[c] for c in COLUMNS])
    finally:
        if out_file:
            fh.close()


@quarantine_app.command("clear")
def quarantine_clear(
    source: SourceOpt = None,
    resolved_only: Annotated[
        bool, typer.Option("--resolved", help="Only rows fixed by a later load of their file.")
    ] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = "en",
) -> None:
    """Delete quarantined rows: all, those of one file (--source), or the resolved ones."""
    from touchpoints.core.messages import t
    from touchpoints.ingest.quarantine import clear_quarantine
    from touchpoints.store import open_store

    with open_store(db) as store:
        cleared = clear_quarantine(store, source, resolved_only)
    if as_json:
        print_json({"cleared": cleared})
    else:
        out.print(t(lang_code(lang), "cli.quarantine.cleared", count=cleared))


def register(app: typer.Typer, panel: str) -> None:
    app.add_typer(quarantine_app, name="quarantine", rich_help_panel=panel)
