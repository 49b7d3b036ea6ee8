"""Getting data in and checking it: `ingest`, `quarantine`, `catalog show|validate|load`,
`demo-data` (the tyre retailer's year of events)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from touchpoints.cli.common import (
    DbOpt,
    JsonOpt,
    LangOpt,
    err,
    lang_code,
    out,
    print_json,
)
from touchpoints.core.errors import UsageError

catalog_app = typer.Typer(
    help="Show, validate and load the touchpoint catalog.", no_args_is_help=True
)


# -- catalog -----------------------------------------------------------------------------
@catalog_app.command("show")
def catalog_show(
    file: Annotated[
        Path | None, typer.Argument(help="A catalog YAML; default: the store's catalog.")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = "en",
) -> None:
    """Show the catalog: id, name, kind, channel, planned phases, visibility, targets."""
    from touchpoints.cli.tables.data import catalog_table
    from touchpoints.core.catalog import load_catalog
    from touchpoints.store import open_store

    if file is not None:
        catalog = load_catalog(file)
    else:
        with open_store(db) as store:
            catalog = store.catalog()
    if as_json:
        print_json(catalog.model_dump(exclude_defaults=False))
    else:
        out.print(catalog_table(catalog, lang_code(lang), out.width))


@catalog_app.command("validate")
def catalog_validate(
    file: Annotated[Path, typer.Argument(help="The catalog YAML to check.")],
) -> None:
    """Check a catalog file; every problem is named by entry and field."""
    from touchpoints.core.catalog import load_catalog

    catalog = load_catalog(file)
    n = sum(1 for t in catalog.touchpoints if t.is_touchpoint)
    out.print(f"{file}: valid — {n} touchpoints, {len(catalog.touchpoints) - n} blueprint lanes")


@catalog_app.command("load")
def catalog_load(
    file: Annotated[Path, typer.Argument(help="The catalog YAML to store.")], db: DbOpt = None
) -> None:
    """Store a catalog with the events, so later commands use it."""
    from touchpoints.core.catalog import load_catalog
    from touchpoints.store import open_store

    catalog = load_catalog(file)
    with open_store(db) as store:
        store.set_catalog(catalog)
    out.print(f"stored {len(catalog.touchpoints)} catalog entries from {file}")


# -- ingestion ---------------------------------------------------------------------------
def ingest(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="CSV, JSON Lines, Parquet, .xlsx or .ods files of SPEC §2 events "
            "(other tools' exports: --source)."
        ),
    ],
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help="Catalog YAML to validate against and store.")
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="Map a column: CANONICAL=YOURS, e.g. ts=created_at."),
    ] = None,
    tz: Annotated[
        str, typer.Option("--timezone", help="Zone of timestamps without one (IANA name).")
    ] = "UTC",
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="csv, jsonl or parquet (default: from the extension)."),
    ] = None,
    source_file: Annotated[
        Path | None,
        typer.Option("--source", help="Source YAML: read an export as another tool wrote it."),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option("--encoding", help="CSV encoding, e.g. cp1252 (default: detected)."),
    ] = None,
    decimal: Annotated[
        str | None, typer.Option("--decimal", help="Decimal character of numbers, e.g. ','.")
    ] = None,
    date_format: Annotated[
        str | None,
        typer.Option("--date-format", help="Format of ts, e.g. '%d/%m/%Y %H:%M', unix_s, unix_ms."),
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option("--delimiter", help="CSV delimiter, e.g. ';'.")
    ] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Exit with status 1 when any row was rejected."),
    ] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load events; bad rows go to quarantine with file, row, column and reason.

    Exits with status 1 when every row of a file was rejected (or, with --strict, when any
    row was); warnings name rows stored but counted nowhere or wrongly."""
    from touchpoints.cli.tables.data import ingest_summary
    from touchpoints.core.catalog import load_catalog
    from touchpoints.core.settings import get_settings
    from touchpoints.ingest import ingest_files, key_text, parse_mapping
    from touchpoints.ingest.sources import load_source, options_source
    from touchpoints.store import open_store

    cat = load_catalog(catalog) if catalog else None
    columns = parse_mapping(mapping or [])
    if source_file is not None and (encoding or decimal or date_format or delimiter or mapping):
        raise UsageError(
            "--source says how to read the file: give --map, --encoding, --decimal, "
            "--date-format and --delimiter in the source instead"
        )
    source = (
        load_source(source_file)
        if source_file is not None
        else options_source(columns, encoding, decimal, date_format, delimiter)
    )
    key = key_text(get_settings().pseudonymize_key)
    interactive = err.is_terminal and not as_json
    with open_store(db) as store:
        from touchpoints.store.duckdb import DuckDBStore

        # The bar is DuckDB's own: only where this process runs the engine.
        if interactive and isinstance(store, DuckDBStore):
            store.execute("SET enable_progress_bar = true")
        if interactive:
            with err.status("ingesting…") as status:
                result = ingest_files(
                    store,
                    files,
                    cat,
                    columns,
                    tz,
                    fmt,
                    key=key,
                    progress=lambda m: status.update(m),
                    source=source,
                )
        else:
            result = ingest_files(store, files, cat, columns, tz, fmt, key=key, source=source)
    if as_json:
        print_json(result.to_json())
    else:
        ingest_summary(out, result, db=db)
    if result.files_all_rejected or (strict and result.rejected):
        raise typer.Exit(1)


# -- demo data ---------------------------------------------------------------------------
def demo_data(
    customers: Annotated[
        int, typer.Option("--customers", help="How many customers to simulate.")
    ] = 20000,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed gives the same file.")
    ] = 7,
    out_file: Annotated[
        Path, typer.Option("--out", help="Output file: .parquet, .csv or .jsonl.")
    ] = Path("demo/events.parquet"),
    start: Annotated[
        str | None,
        typer.Option("--start", help="First day of the simulated year (instead of --end)."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--end", help="Last day of the simulated year (default: today)."),
    ] = None,
) -> None:
    """Write a year of a tyre retailer's events (the example the docs use), ending today
    unless --end or --start says otherwise, so the live trickle of `demo-serve` continues
    it; same --seed and dates, same file."""
    from datetime import date

    from touchpoints.demo import generate

    if start is not None and end is not None:
        raise UsageError("--start and --end: give one of them (the year is 365 days)")
    if start is None:
        end = end or date.today().isoformat()
        stats = generate(customers=customers, seed=seed, out=out_file, end=end)
    else:
        stats = generate(customers=customers, seed=seed, out=out_file, start=start)
    out.print(
        f"wrote {stats['events']:,} events for {stats['customers']:,} customers to {out_file}"
    )


def register(app: typer.Typer, panel: str) -> None:
    app.command("ingest", rich_help_panel=panel)(ingest)
    app.add_typer(catalog_app, name="catalog", rich_help_panel=panel)
    app.command("demo-data", rich_help_panel=panel)(demo_data)
