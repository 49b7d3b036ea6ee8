"""Reading exports as other tools write them: `touchpoints source check SOURCE FILE` shows
the first rows as they would be stored and every problem, storing nothing (SPEC §5)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from touchpoints.cli.common import JsonOpt, LangOpt, lang_code, out, print_json

source_app = typer.Typer(
    help="Sources: how to read another tool's export (docs/sources/).", no_args_is_help=True
)

SHOWN_ROWS = 10
PROBLEMS_LISTED = 1000


def check_source(
    source_file: Path,
    data_file: Path,
    catalog_file: Path | None = None,
    rows: int = SHOWN_ROWS,
) -> dict[str, Any]:
    """Stage `data_file` through the source on a private in-memory connection: the first
    `rows` good rows as they would be stored, and every problem; nothing is written."""
    import duckdb

    from touchpoints.core.catalog import default_catalog, load_catalog
    from touchpoints.ingest.sources import load_source, stage_source
    from touchpoints.ingest.warnings import source_note, staged_warnings

    source = load_source(source_file)
    catalog = load_catalog(catalog_file) if catalog_file else default_catalog()
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        staged, reading = stage_source(con, data_file, source, catalog, name=str(data_file))
        cur = con.execute(
            "SELECT * EXCLUDE (_problem) FROM _typed WHERE _problem IS NULL ORDER BY _row LIMIT $n",
            {"n": int(rows)},
        )
        names = [d[0] for d in cur.description]
        preview = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        problems = con.execute(
            'SELECT "row", "column", reason FROM _bad ORDER BY "row", "column" NULLS FIRST '
            "LIMIT $n",
            {"n": PROBLEMS_LISTED},
        ).fetchall()
        warnings = [source_note(staged, n) for n in reading.notes]
        warnings += staged_warnings(con, staged, catalog)
    finally:
        con.close()
    return {
        "rows_read": staged.rows,
        "good": staged.good,
        "rejected": staged.rejected_rows,
        "preview": [{"row": r.pop("_row"), **r} for r in preview],
        "problems": [{"row": r, "column": c, "reason": why} for r, c, why in problems],
        "warnings": warnings,
        "ignored_columns": staged.ignored_columns,
    }


@source_app.command("check")
def source_check(
    source_file: Annotated[Path, typer.Argument(metavar="SOURCE", help="The source YAML.")],
    data_file: Annotated[Path, typer.Argument(metavar="FILE", help="An export to read.")],
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help="Catalog YAML (default: the built-in one).")
    ] = None,
    rows: Annotated[int, typer.Option("--rows", help="Rows to preview.")] = SHOWN_ROWS,
    as_json: JsonOpt = False,
    lang: LangOpt = "en",
) -> None:
    """Preview FILE read through SOURCE: the first rows as they would be stored and every
    problem (row, column, reason). Nothing is stored; exits 1 when any row is rejected."""
    from touchpoints.cli.tables.sources import check_tables

    result = check_source(source_file, data_file, catalog, rows)
    if as_json:
        print_json(result)
    else:
        for table in check_tables(result, lang_code(lang)):
            out.print(table)
    if result["rejected"]:
        raise typer.Exit(1)


def register(app: typer.Typer, panel: str) -> None:
    app.add_typer(source_app, name="source", rich_help_panel=panel)
