"""The `touchpoints` command: a thin Typer layer over the store and the analyses.

Every analysis prints a readable table, or with `--json` exactly the object the HTTP API
returns. Errors a user can act on print one clear message and exit with status 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from touchpoints.errors import TouchpointsError

if TYPE_CHECKING:
    from touchpoints.store.base import Store

app = typer.Typer(
    help="Touchpoints: see, measure and improve every point where customers meet the company.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
catalog_app = typer.Typer(
    help="Show, validate and load the touchpoint catalog.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")

out = Console()
if not out.is_terminal:
    # Piped or redirected: do not squeeze tables into 80 columns.
    out = Console(width=200)
err = Console(stderr=True, soft_wrap=True)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store: a DuckDB file or postgresql:// URL (default $TOUCHPOINTS_DB or ./touchpoints.duckdb).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
LangOpt = Annotated[
    str, typer.Option("--lang", help="Language of labels: en or pt-BR.", envvar="TOUCHPOINTS_LANG")
]


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def _lang(value: str) -> str:
    if value.lower() in ("pt", "pt-br", "pt_br"):
        return "pt-BR"
    if value.lower() in ("en", "en-us", "en-gb"):
        return "en"
    raise TouchpointsError(f"--lang {value!r}: use en or pt-BR")


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
    from touchpoints.catalog import load_catalog
    from touchpoints.render import catalog_table
    from touchpoints.store import open_store

    if file is not None:
        catalog = load_catalog(file)
    else:
        with open_store(db) as store:
            catalog = store.catalog()
    if as_json:
        _print_json(catalog.model_dump(exclude_defaults=False))
    else:
        out.print(catalog_table(catalog, _lang(lang)))


@catalog_app.command("validate")
def catalog_validate(
    file: Annotated[Path, typer.Argument(help="The catalog YAML to check.")],
) -> None:
    """Check a catalog file; every problem is named by entry and field."""
    from touchpoints.catalog import load_catalog

    catalog = load_catalog(file)
    n = sum(1 for t in catalog.touchpoints if t.is_touchpoint)
    out.print(f"{file}: valid — {n} touchpoints, {len(catalog.touchpoints) - n} blueprint lanes")


@catalog_app.command("load")
def catalog_load(
    file: Annotated[Path, typer.Argument(help="The catalog YAML to store.")], db: DbOpt = None
) -> None:
    """Store a catalog with the events, so later commands use it."""
    from touchpoints.catalog import load_catalog
    from touchpoints.store import open_store

    catalog = load_catalog(file)
    with open_store(db) as store:
        store.set_catalog(catalog)
    out.print(f"stored {len(catalog.touchpoints)} catalog entries from {file}")


# -- ingestion ---------------------------------------------------------------------------
@app.command()
def ingest(
    files: Annotated[
        list[Path], typer.Argument(help="CSV, JSON Lines or Parquet files of SPEC §2 events.")
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
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load events; bad rows go to quarantine with file, row, column and reason."""
    from touchpoints.catalog import load_catalog
    from touchpoints.ingest import parse_mapping
    from touchpoints.render import ingest_summary
    from touchpoints.store import open_store

    cat = load_catalog(catalog) if catalog else None
    columns = parse_mapping(mapping or [])
    interactive = err.is_terminal and not as_json
    with open_store(db) as store:
        if interactive and store.engine == "duckdb":
            store.execute("SET enable_progress_bar = true")
        if interactive:
            with err.status("ingesting…") as status:
                result = store.ingest(
                    files, cat, columns, tz, fmt, progress=lambda m: status.update(m)
                )
        else:
            result = store.ingest(files, cat, columns, tz, fmt)
    if as_json:
        _print_json(result.to_json())
    else:
        ingest_summary(out, result)


# -- KPIs --------------------------------------------------------------------------------
@app.command()
def kpis(
    by: Annotated[
        str | None,
        typer.Option(
            "--by", help="touchpoint, channel, kind, phase, agent, segment, day, week or month."
        ),
    ] = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="First day or timestamp (inclusive).")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Last day or timestamp (inclusive).")
    ] = None,
    answer_within: Annotated[
        float, typer.Option("--answer-within", help="Service level threshold T in seconds.")
    ] = 20.0,
    short_abandon: Annotated[
        float,
        typer.Option("--short-abandon", help="Ignore abandons that waited less than S seconds."),
    ] = 0.0,
    touchpoint: Annotated[
        list[str] | None, typer.Option("--touchpoint", help="Only these touchpoints.")
    ] = None,
    channel: Annotated[
        list[str] | None, typer.Option("--channel", help="Only these channels.")
    ] = None,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="Only static, interactive or human.")
    ] = None,
    phase: Annotated[
        list[str] | None, typer.Option("--phase", help="Only before, during or after.")
    ] = None,
    segment: Annotated[
        list[str] | None, typer.Option("--segment", help="Only these customer segments.")
    ] = None,
    agent: Annotated[list[str] | None, typer.Option("--agent", help="Only these agents.")] = None,
    during: Annotated[
        str, typer.Option("--during", help="Window before a purchase that counts as during.")
    ] = "1h",
    after: Annotated[
        str, typer.Option("--after", help="Window after a purchase that counts as after.")
    ] = "90d",
    tz: Annotated[
        str, typer.Option("--timezone", help="Zone in which days, weeks and months are cut.")
    ] = "UTC",
    db: DbOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = "en",
) -> None:
    """Service and feedback KPIs: TMA, TME, abandonment, service level, FCR, CSAT, NPS, CES..."""
    from touchpoints.analytics.base import Filters, PhaseOptions
    from touchpoints.analytics.kpis import kpis as run_kpis
    from touchpoints.render import kpi_table

    filters = Filters.build(
        date_from, date_to, touchpoint, channel, kind, phase, segment, agent, timezone=tz
    )
    with _open_for_reading(db) as store:
        result = run_kpis(
            store, by, filters, PhaseOptions.build(during, after), answer_within, short_abandon, tz
        )
        labels = (
            {t.id: f"{t.label(_lang(lang))} ({t.id})" for t in store.catalog().touchpoints}
            if by == "touchpoint"
            else {}
        )
    if as_json:
        _print_json(result)
    else:
        out.print(kpi_table(result, by, _lang(lang), labels))


@app.command()
def quarantine(
    limit: Annotated[int, typer.Option("--limit", help="Rows to show.")] = 50,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List rejected rows: file, row, column, reason and the raw record."""
    from touchpoints.render import quarantine_table

    with _open_for_reading(db) as store:
        total = store.count("quarantine")
        rows = store.query(
            f'SELECT source AS file, "row", "column", reason, raw FROM quarantine ORDER BY quarantined_at, source, "row" LIMIT {int(limit)}'
        )
    if as_json:
        _print_json({"total": total, "rows": rows})
    else:
        out.print(quarantine_table(rows, total))


# -- demo data ---------------------------------------------------------------------------
@app.command("demo-data")
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
        str, typer.Option("--start", help="First day of the simulated year.")
    ] = "2025-01-01",
) -> None:
    """Write a realistic tyre-retailer event log (the seeds' story), deterministic per seed."""
    from touchpoints.demo import generate

    stats = generate(customers=customers, seed=seed, out=out_file, start=start)
    out.print(
        f"wrote {stats['events']:,} events for {stats['customers']:,} customers to {out_file}"
    )


def _open_for_reading(db: str | None) -> Store:
    """Analyses open an existing DuckDB file read-only (they can run beside a writer) and
    refuse a missing one, which is almost always a mistyped --db."""
    from touchpoints.store import open_store, resolve_target

    target = resolve_target(db)
    if target.startswith(("postgres", ":memory:")):
        return open_store(target)
    path = target.removeprefix("duckdb://")
    if not os.path.exists(path):
        raise TouchpointsError(
            f"no store at {path!r}: run `touchpoints ingest FILE --db {path}` first, or pass --db"
        )
    return open_store(target, read_only=True)


def main() -> None:
    try:
        app()
    except TouchpointsError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, not a trace
        if os.environ.get("TOUCHPOINTS_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        err.print(
            f"[bold red]error:[/] unexpected {type(exc).__name__}: {escape(first)}", highlight=False
        )
        err.print(
            "set TOUCHPOINTS_DEBUG=1 for the full trace, and please report it", highlight=False
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
