"""The analyses behind `/v1/*` GET routes, called exactly as the CLI calls them.

Each helper takes the CLI's option values (already parsed from the query string) and
returns the object the CLI prints with `--json`. The analysis modules are imported inside
each helper: the server starts without loading NumPy solvers it may never use.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from touchpoints.commands.common import build_filters, build_scope, lang_code
from touchpoints.store.base import Store


def kpis(
    store: Store,
    by: str | None,
    date_from: str | None,
    date_to: str | None,
    answer_within: float,
    short_abandon: float,
    touchpoint: list[str] | None,
    channel: list[str] | None,
    kind: list[str] | None,
    phase: list[str] | None,
    segment: list[str] | None,
    agent: list[str] | None,
    during: str,
    after: str,
    tz: str,
) -> dict[str, Any]:
    """As `touchpoints kpis --json` (cli.py `kpis`)."""
    from touchpoints.analytics.base import PhaseOptions
    from touchpoints.analytics.kpis import kpis as run_kpis

    filters = build_filters(
        date_from, date_to, touchpoint, channel, kind, phase, segment, agent, tz
    )
    return run_kpis(
        store, by, filters, PhaseOptions.build(during, after), answer_within, short_abandon, tz
    )


def _journey(
    analysis: str, store: Store, case: str, gap: str, top: int | None, **scope: Any
) -> dict[str, Any]:
    from touchpoints.analytics import journeys
    from touchpoints.analytics.cycles import CycleOptions

    journeys.check_case(case)
    fn = journeys.dfg if analysis == "dfg" else journeys.variants
    return fn(store, _scope(scope), case, CycleOptions.build(gap), top)  # type: ignore[no-any-return]


def dfg(store: Store, case: str, gap: str, top: int | None, **scope: Any) -> dict[str, Any]:
    """As `touchpoints journeys dfg --json` (commands/paths.py)."""
    return _journey("dfg", store, case, gap, top, **scope)


def variants(store: Store, case: str, gap: str, top: int | None, **scope: Any) -> dict[str, Any]:
    """As `touchpoints journeys variants --json` (commands/paths.py)."""
    return _journey("variants", store, case, gap, top, **scope)


def _scope(options: dict[str, Any]) -> Any:
    return build_scope(
        options["date_from"], options["date_to"], options["touchpoint"], options["channel"],
        options["kind"], options["phase"], options["segment"], options.get("agent"), options["during"],
        options["after"], options["tz"],
    )  # fmt: skip


def attribution(
    store: Store,
    model: str,
    order: str,
    half_life: str,
    by: str | None,
    details: bool,
    gap: str,
    **scope: Any,
) -> dict[str, Any]:
    """As `touchpoints attribution --json`: the same analysis function and options."""
    from touchpoints.analytics.attribution import attribution as run
    from touchpoints.analytics.cycles import CycleOptions

    return run(
        store,
        _scope(scope),
        model=model,
        order=order,
        cycles=CycleOptions.build(gap),
        half_life=half_life,
        by=by,
        details=details,
    )


def insights(
    store: Store, lang: str, gap: str, answer_within: float, min_answers: int, **scope: Any
) -> dict[str, Any]:
    """As `touchpoints insights --json`."""
    from touchpoints.analytics.cycles import CycleOptions
    from touchpoints.analytics.insights import insights as run

    return run(  # type: ignore[no-any-return]
        store, _scope(scope), lang_code(lang), CycleOptions.build(gap), answer_within, min_answers
    )


def staffing(
    store: Store | None,
    arrivals: float | None,
    interval_minutes: float | None,
    aht_seconds: float | None,
    answer_within: float,
    target_service_level: float | None,
    target_asa: float | None,
    shrinkage: float,
    max_occupancy: float,
    min_answered: int,
    touchpoint: list[str] | None,
    channel: list[str] | None,
    date_from: str | None,
    date_to: str | None,
    tz: str,
) -> dict[str, Any]:
    """As `touchpoints staffing --json`: the same `plan` over the service's store."""
    from touchpoints.analytics.staffing import plan

    return plan(
        None if store is None else lambda: nullcontext(store),
        build_filters(date_from, date_to, touchpoint, channel, tz=tz),
        tz,
        arrivals,
        interval_minutes,
        aht_seconds,
        answer_within,
        target_service_level,
        target_asa,
        shrinkage,
        max_occupancy,
        min_answered,
    )
