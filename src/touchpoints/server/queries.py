"""The analyses behind `/v1/*` GET routes, called exactly as the CLI calls them.

Each helper takes the CLI's option values (already parsed from the query string) and
returns the object the CLI prints with `--json`. The analysis modules are imported inside
each helper: the server starts without loading NumPy solvers it may never use.
"""

from __future__ import annotations

from typing import Any

from touchpoints.commands.common import build_filters, build_scope, lang_code
from touchpoints.errors import UsageError
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
    built = build_scope(
        scope["date_from"], scope["date_to"], scope["touchpoint"], scope["channel"],
        scope["kind"], scope["phase"], scope["segment"], None, scope["during"],
        scope["after"], scope["tz"],
    )  # fmt: skip
    fn = journeys.dfg if analysis == "dfg" else journeys.variants
    return fn(store, built, case, CycleOptions.build(gap), top)  # type: ignore[no-any-return]


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
    """As `touchpoints staffing --json` (commands/staffing.py): explicit inputs size one
    interval; a touchpoint or channel measures the week from stored contacts."""
    from touchpoints.analytics.staffing import (
        DEFAULT_TARGET_SERVICE_LEVEL,
        measured_staffing,
        required_agents,
        validate,
    )

    validate(
        arrivals=arrivals,
        interval_minutes=interval_minutes,
        aht_seconds=aht_seconds,
        answer_within=answer_within,
        target_service_level=target_service_level,
        target_asa=target_asa,
        max_occupancy=max_occupancy,
        shrinkage=shrinkage,
    )
    if target_service_level is None and target_asa is None:
        target_service_level = DEFAULT_TARGET_SERVICE_LEVEL
    if (arrivals is None) != (aht_seconds is None):
        raise UsageError(
            "arrivals and aht_seconds go together: pass both, or neither to measure "
            "them from stored contacts with touchpoint or channel"
        )
    if arrivals is not None and aht_seconds is not None:
        if touchpoint or channel:
            raise UsageError(
                "touchpoint/channel measure arrivals and AHT from stored contacts: "
                "do not combine them with arrivals/aht_seconds"
            )
        return required_agents(
            arrivals,
            60.0 if interval_minutes is None else interval_minutes,
            aht_seconds,
            answer_within,
            target_service_level,
            max_occupancy,
            shrinkage,
            target_asa,
        )
    if interval_minutes is not None and interval_minutes != 60:
        raise UsageError(
            "interval_minutes: measured staffing is per hour of the week (60); "
            "other intervals need arrivals and aht_seconds"
        )
    filters = build_filters(date_from, date_to, touchpoint, channel, tz=tz)
    if not (filters.touchpoints or filters.channels) or store is None:
        raise UsageError(
            "pass arrivals and aht_seconds, or touchpoint/channel to measure them "
            "from stored contacts"
        )
    return measured_staffing(
        store,
        filters,
        tz,
        answer_within,
        target_service_level,
        max_occupancy,
        shrinkage,
        target_asa,
        min_answered,
    )
