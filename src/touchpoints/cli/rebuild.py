"""`touchpoints rebuild`: recompute the journey facts and the KPI roll-up kept beside the
events (`store.derived`) after an upgrade or to cut them with other `--gap/--during/--after`."""

from __future__ import annotations

from typing import Annotated

import typer

from touchpoints.cli.common import DbOpt, JsonOpt, out, print_json


def rebuild(
    gap: Annotated[
        str | None,
        typer.Option("--gap", help="Cycle gap to cut with (default: as stored, else 30d)."),
    ] = None,
    during: Annotated[
        str | None, typer.Option("--during", help="`during` window (default: as stored, else 1h).")
    ] = None,
    after: Annotated[
        str | None, typer.Option("--after", help="`after` window (default: as stored, else 90d).")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute each event's phase and journey cycle, the cycles table, the KPI roll-up
    and the team's scorecard sums from the events (events are only read); says what changed."""
    from touchpoints.core.time import parse_duration
    from touchpoints.store import derived, open_store

    with open_store(db) as store:
        current = derived.stored_options(store) or derived.FactOptions()
        options = derived.FactOptions.of(
            parse_duration(gap, "--gap") if gap else current.gap_seconds,
            parse_duration(during, "--during") if during else current.during_seconds,
            parse_duration(after, "--after") if after else current.after_seconds,
        )
        report = derived.rebuild(store, options)
    if as_json:
        print_json(report)
        return
    out.print(
        f"journey facts rebuilt: {report['events']:,} events in {report['cycles']:,} cycles "
        f"(before: {report['previous_cycles']:,} cycles); {report['events_changed']:,} events "
        f"got a new phase, cycle or step; KPI roll-up: {report['rollup_rows']:,} rows "
        f"(before: {report['previous_rollup_rows']:,}); team scorecards: "
        f"{report['agent_rows']:,} rows (before: {report['previous_agent_rows']:,})"
    )


def register(app: typer.Typer, panel: str) -> None:
    app.command("rebuild", rich_help_panel=panel)(rebuild)
