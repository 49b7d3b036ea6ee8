"""The `touchpoints` command: a thin Typer layer over the store and the analyses.

Every analysis prints a readable table, or with `--json` exactly the object the HTTP API
returns. Errors a user can act on print one clear message and exit with status 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from touchpoints.commands.common import (
    AfterOpt,
    AgentOpt,
    ChannelOpt,
    DbOpt,
    DuringOpt,
    FromOpt,
    JsonOpt,
    KindOpt,
    LangOpt,
    PhaseOpt,
    SegmentOpt,
    ToOpt,
    TouchpointOpt,
    TzOpt,
    build_filters,
    err,
    journeys_app,
    open_for_reading,
    out,
)
from touchpoints.commands.common import lang_code as _lang
from touchpoints.commands.common import print_json as _print_json
from touchpoints.core.errors import TouchpointsError

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

app.add_typer(journeys_app, name="journeys")

# Command groups living in their own modules register themselves on `app`/`journeys_app`.
import touchpoints.commands.flows  # noqa: E402,F401
import touchpoints.commands.paths  # noqa: E402,F401
from touchpoints.commands.strength import register as _register_strength  # noqa: E402

_register_strength(app)

# Each module below adds its commands in `register(app)`; heavy imports (FastAPI, NumPy
# solvers, WeasyPrint) stay inside the command functions so `touchpoints kpis` starts fast.
from touchpoints.commands import (  # noqa: E402
    attribution,
    connectors,
    dashboard,
    insights,
    privacy,
    report,
    server,
    staffing,
    surveys,
)

for _module in (
    attribution,
    insights,
    staffing,
    server,
    connectors,
    surveys,
    privacy,
    dashboard,
    report,
):
    _module.register(app)


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
    from touchpoints.core.catalog import load_catalog
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
    from touchpoints.core.catalog import load_catalog
    from touchpoints.core.settings import get_settings
    from touchpoints.ingest import ingest_files, key_text, parse_mapping
    from touchpoints.render import ingest_summary
    from touchpoints.store import open_store

    cat = load_catalog(catalog) if catalog else None
    columns = parse_mapping(mapping or [])
    key = key_text(get_settings().pseudonymize_key)
    interactive = err.is_terminal and not as_json
    with open_store(db) as store:
        if interactive and store.engine == "duckdb":
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
                )
        else:
            result = ingest_files(store, files, cat, columns, tz, fmt, key=key)
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
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    answer_within: Annotated[
        float, typer.Option("--answer-within", help="Service level threshold T in seconds.")
    ] = 20.0,
    short_abandon: Annotated[
        float,
        typer.Option("--short-abandon", help="Ignore abandons that waited less than S seconds."),
    ] = 0.0,
    touchpoint: TouchpointOpt = None,
    channel: ChannelOpt = None,
    kind: KindOpt = None,
    phase: PhaseOpt = None,
    segment: SegmentOpt = None,
    agent: AgentOpt = None,
    during: DuringOpt = "1h",
    after: AfterOpt = "90d",
    tz: TzOpt = "UTC",
    db: DbOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = "en",
) -> None:
    """Service and feedback KPIs: TMA, TME, abandonment, service level, FCR, CSAT, NPS, CES..."""
    from touchpoints.analytics.base import PhaseOptions
    from touchpoints.analytics.kpis import kpis as run_kpis
    from touchpoints.render import kpi_table

    filters = build_filters(
        date_from, date_to, touchpoint, channel, kind, phase, segment, agent, tz
    )
    with open_for_reading(db) as store:
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

    with open_for_reading(db) as store:
        total = store.count("quarantine")
        rows = store.query(
            'SELECT source AS file, "row", "column", reason, raw FROM quarantine '
            'ORDER BY quarantined_at, source, "row" LIMIT $limit',
            {"limit": int(limit)},
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
