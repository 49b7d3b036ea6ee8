"""Staffing with Erlang C (SPEC §5): how many agents a queue needs for a service level.

The model (M/M/c, callers wait instead of leaving): arrivals N per interval of M minutes,
average handle time S seconds, so the offered traffic is A = N · S / (60 · M) erlangs.

- Erlang B by its recursion B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)): every term is a
  probability, so it neither overflows (no A^c / c!) nor loses precision at 10 000 erlangs.
- Erlang C, the probability to wait: Pw = c·B / (c − A·(1 − B)) for c > A; with c ≤ A the
  queue grows without bound, so everyone waits (Pw = 1, service level 0).
- Service level within T seconds: SL = 1 − Pw · e^{−(c − A)·T / S}.
- ASA (TME, expected wait over all contacts): Pw · S / (c − A). Occupancy: A / c.

`agents` is the smallest c whose SL reaches the target (and, with `target_asa`, whose ASA
is at most it) while occupancy ≤ max_occupancy; `scheduled_agents` = ceil(c / (1 − shrinkage)).

Measured mode takes N and S from stored service contacts, per hour of the week in a time
zone: the engine returns at most 168 rows (offered, answered handle times per weekday and
hour); Python counts how many times each hour of the week occurs in the measured period
(hours without contacts count too) and runs Erlang C for each.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field

from touchpoints.analytics import sql
from touchpoints.analytics.registry import Analysis, Options, ResultModel, register
from touchpoints.analytics.scope import Scope
from touchpoints.core.errors import UsageError
from touchpoints.core.time import zone_info

if TYPE_CHECKING:
    from touchpoints.store.base import Store

DEFAULT_TARGET_SERVICE_LEVEL = 0.8
# Rounding noise in agents / (1 − shrinkage) must not add an agent (20.000000000000004 → 20).
CEIL_SLACK = 1e-9


# -- Erlang formulas -----------------------------------------------------------------------
def traffic_erlangs(arrivals: float, interval_minutes: float, aht_seconds: float) -> float:
    """Offered load A: contacts per second times seconds of work per contact."""
    return arrivals * aht_seconds / (interval_minutes * 60.0)


def erlang_b(traffic: float, agents: int) -> float:
    """Blocking probability of an M/M/c/c system, by the stable recursion."""
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return b


def _pw_from_b(traffic: float, agents: int, b: float) -> float:
    return agents * b / (agents - traffic * (1.0 - b))


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a contact waits (Pw). 1 when agents ≤ traffic (unstable queue)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    return _pw_from_b(traffic, agents, erlang_b(traffic, agents))


def _sl_from_pw(traffic: float, agents: int, aht: float, threshold: float, pw: float) -> float:
    return 1.0 - pw * math.exp(-(agents - traffic) * threshold / aht)


def service_level(traffic: float, agents: int, aht: float, threshold: float) -> float:
    """Share of contacts answered within `threshold` seconds (`aht` in the same unit)."""
    if traffic <= 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    return _sl_from_pw(traffic, agents, aht, threshold, erlang_c(traffic, agents))


def asa(traffic: float, agents: int, aht: float) -> float:
    """Expected wait over all contacts (ASA, TME), in `aht`'s unit; inf when unstable."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return math.inf
    return erlang_c(traffic, agents) * aht / (agents - traffic)


def occupancy(traffic: float, agents: int) -> float:
    """Share of the agents' time spent handling contacts."""
    return traffic / agents if agents else 0.0


def scheduled(agents: int, shrinkage: float) -> int:
    """Agents on the roster so that `agents` are available after breaks and absence."""
    return math.ceil(agents / (1.0 - shrinkage) - CEIL_SLACK)


def _check(option: str, value: float, ok: bool, wanted: str) -> None:
    if not math.isfinite(value) or not ok:
        raise UsageError(f"{option} {value:g}: use {wanted}")


def validate(
    *,
    arrivals: float | None = None,
    interval_minutes: float | None = None,
    aht_seconds: float | None = None,
    answer_within: float = 20.0,
    target_service_level: float | None = None,
    target_asa: float | None = None,
    max_occupancy: float = 1.0,
    shrinkage: float = 0.0,
) -> None:
    """One clear message per bad option, before any computing (the CLI and API share it)."""
    if arrivals is not None:
        _check("--arrivals", arrivals, arrivals >= 0, "a number of contacts >= 0")
    if interval_minutes is not None:
        _check(
            "--interval-minutes", interval_minutes, interval_minutes > 0, "a number of minutes > 0"
        )
    if aht_seconds is not None:
        _check("--aht-seconds", aht_seconds, aht_seconds > 0, "a number of seconds > 0")
    _check("--answer-within", answer_within, answer_within >= 0, "a number of seconds >= 0")
    if target_service_level is not None:
        _check(
            "--target-service-level",
            target_service_level,
            0 < target_service_level < 1,
            "a share between 0 and 1 (exclusive), like 0.8",
        )
    if target_asa is not None:
        _check("--target-asa", target_asa, target_asa > 0, "a number of seconds > 0")
    _check(
        "--max-occupancy", max_occupancy, 0 < max_occupancy <= 1, "a share > 0 and <= 1, like 0.85"
    )
    _check("--shrinkage", shrinkage, 0 <= shrinkage < 1, "a share >= 0 and < 1, like 0.3")


def required_agents(
    arrivals: float,
    interval_minutes: float,
    aht_seconds: float,
    answer_within: float = 20.0,
    target_service_level: float | None = DEFAULT_TARGET_SERVICE_LEVEL,
    max_occupancy: float = 1.0,
    shrinkage: float = 0.0,
    target_asa: float | None = None,
) -> dict[str, Any]:
    """SPEC §5 `staffing` with explicit inputs.

    Targets: `target_service_level` (share answered within `answer_within` seconds) and/or
    `target_asa` (seconds of expected wait, TME); with both, both must hold. Zero arrivals
    need 0 agents; their service level, occupancy and waits are null (nothing to measure).
    """
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
        raise UsageError("give a target: --target-service-level X and/or --target-asa S")
    a = traffic_erlangs(arrivals, interval_minutes, aht_seconds)
    result: dict[str, Any] = {
        "agents": 0,
        "service_level": None,
        "waiting_probability": None,
        "occupancy": None,
        "scheduled_agents": 0,
        "arrivals": arrivals,
        "interval_minutes": interval_minutes,
        "aht_seconds": aht_seconds,
        "answer_within": answer_within,
        "target_service_level": target_service_level,
        "target_asa_seconds": target_asa,
        "max_occupancy": max_occupancy,
        "shrinkage": shrinkage,
        "traffic_erlangs": a,
        "asa_seconds": None,
    }
    if a <= 0:
        return result
    # Walk c upwards from the first stable size, carrying Erlang B along: O(c) in total.
    b = erlang_b(a, math.floor(a))
    c = math.floor(a)
    while True:
        c += 1
        b = a * b / (c + a * b)
        pw = _pw_from_b(a, c, b)
        sl = _sl_from_pw(a, c, aht_seconds, answer_within, pw)
        wait = pw * aht_seconds / (c - a)
        if (
            (target_service_level is None or sl >= target_service_level)
            and (target_asa is None or wait <= target_asa)
            and a / c <= max_occupancy
        ):
            break
    result.update(
        agents=c,
        service_level=sl,
        waiting_probability=pw,
        occupancy=a / c,
        scheduled_agents=scheduled(c, shrinkage),
        asa_seconds=wait,
    )
    return result


# -- measured mode -------------------------------------------------------------------------
def contacts_by_hour_sql(scope: Scope) -> str:
    """Offered contacts and answered handle times per local ISO weekday (Monday = 1) and hour
    (≤ 168 rows); bind `scope.params()`."""
    return f"""
    SELECT CAST({sql.iso_weekday("lt")} AS INTEGER) AS dow,
           CAST({sql.hour("lt")} AS INTEGER) AS hr,
           count(*) AS offered,
           sum(CASE WHEN abandoned = FALSE AND handle_seconds IS NOT NULL THEN 1 ELSE 0 END)
             AS handled,
           sum(CASE WHEN abandoned = FALSE THEN handle_seconds END) AS handle_sum,
           min(ts) AS first_ts,
           max(ts) AS last_ts
    FROM (
      SELECT {sql.local_ts(scope)} AS lt, ts, abandoned, handle_seconds
      FROM ({sql.scoped_events(scope, with_catalog=False)}) s
      WHERE abandoned IS NOT NULL
    ) c
    GROUP BY 1, 2"""


def hours_of_week(start: datetime, end: datetime, timezone: str) -> dict[tuple[int, int], int]:
    """How many times each local (ISO weekday, hour) begins within [start, end] (naive UTC).

    The first hour is the local clock hour containing `start`; each hour counts whether or
    not it holds contacts. Hours are stepped in UTC and labelled in local time, so a
    daylight-saving change counts its repeated hour twice and its skipped hour not at all,
    exactly as the contacts are labelled.
    """
    zone = zone_info(timezone)
    counts = {(d, h): 0 for d in range(1, 8) for h in range(24)}
    local_start = start.replace(tzinfo=UTC).astimezone(zone)
    first = local_start.replace(minute=0, second=0, microsecond=0)
    t = first.astimezone(UTC).replace(tzinfo=None)
    step = timedelta(hours=1)
    while t <= end:
        local = t.replace(tzinfo=UTC).astimezone(zone)
        counts[(local.isoweekday(), local.hour)] += 1
        t += step
    return counts


def _naive(value: Any) -> datetime:
    """Engine timestamps as naive UTC datetimes."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def measured_staffing(
    store: Store,
    scope: Scope,
    answer_within: float = 20.0,
    target_service_level: float | None = DEFAULT_TARGET_SERVICE_LEVEL,
    max_occupancy: float = 1.0,
    shrinkage: float = 0.0,
    target_asa: float | None = None,
    min_answered: int = 10,
) -> dict[str, Any]:
    """Agents per hour of the week from the stored contacts of some touchpoints or channels.

    Per local (weekday, hour): arrivals = offered contacts / occurrences of that hour in the
    period (the --from/--to window, else from the first to the last selected contact); AHT
    = mean handle_seconds of its answered contacts, or the period's overall mean when it has
    fewer than `min_answered` of them (`aht_source: "overall"`).
    """
    timezone = scope.timezone
    if not (scope.touchpoints or scope.channels):
        raise UsageError(
            "pass --arrivals and --aht-seconds, or --touchpoint/--channel to measure them "
            "from stored contacts"
        )
    validate(
        answer_within=answer_within,
        target_service_level=target_service_level,
        target_asa=target_asa,
        max_occupancy=max_occupancy,
        shrinkage=shrinkage,
    )
    if min_answered < 1:
        raise UsageError(f"--min-answered {min_answered}: use a whole number >= 1")
    if target_service_level is None and target_asa is None:
        target_service_level = DEFAULT_TARGET_SERVICE_LEVEL
    raw = store.query(contacts_by_hour_sql(scope), scope.params())
    head: dict[str, Any] = {
        "touchpoint": list(scope.touchpoints) or None,
        "channel": list(scope.channels) or None,
        "timezone": timezone,
        "from": None,
        "to": None,
        "weeks": 0.0,
        "interval_minutes": 60,
        "answer_within": answer_within,
        "target_service_level": target_service_level,
        "target_asa_seconds": target_asa,
        "max_occupancy": max_occupancy,
        "shrinkage": shrinkage,
        "min_answered": min_answered,
        "offered": sum(int(r["offered"]) for r in raw),
        "overall_aht_seconds": None,
        "aht_fallback_hours": 0,
        "rows": [],
    }
    firsts = [_naive(r["first_ts"]) for r in raw]
    lasts = [_naive(r["last_ts"]) for r in raw]
    start = scope.date_from or (min(firsts) if firsts else None)
    end = scope.date_to or (max(lasts) if lasts else None)
    if start is None or end is None:
        return head  # no contacts and no window: there is no period to plan from
    occurrences = hours_of_week(start, end, timezone)
    handled_total = sum(int(r["handled"] or 0) for r in raw)
    handle_total = sum(float(r["handle_sum"] or 0.0) for r in raw)
    overall = handle_total / handled_total if handled_total else None
    by_slot = {(int(r["dow"]), int(r["hr"])): r for r in raw}
    rows = []
    fallbacks = 0
    for (day, hour), n in sorted(occurrences.items()):
        r = by_slot.get((day, hour))
        offered = int(r["offered"]) if r else 0
        handled = int(r["handled"] or 0) if r else 0
        if handled >= min_answered and r is not None:
            aht, source = float(r["handle_sum"]) / handled, "hour"
        else:
            aht, source = overall, "overall"
            fallbacks += 1 if offered else 0
        arrivals = offered / n if n else None
        row: dict[str, Any] = {
            "weekday": day,
            "hour": hour,
            "hours": n,
            "offered": offered,
            "arrivals": arrivals,
            "aht_seconds": aht,
            "aht_source": source,
            "agents": None,
            "scheduled_agents": None,
            "service_level": None,
            "occupancy": None,
            "waiting_probability": None,
            "asa_seconds": None,
        }
        if arrivals is not None and (arrivals == 0 or aht is not None):
            staffed = required_agents(
                arrivals,
                60,
                aht or 1.0,  # zero arrivals need no AHT; any positive value gives 0 agents
                answer_within,
                target_service_level,
                max_occupancy,
                shrinkage,
                target_asa,
            )
            for key in (
                "agents",
                "scheduled_agents",
                "service_level",
                "occupancy",
                "waiting_probability",
                "asa_seconds",
            ):
                row[key] = staffed[key]
        rows.append(row)
    head.update(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "weeks": sum(occurrences.values()) / 168,
            "overall_aht_seconds": overall,
            "aht_fallback_hours": fallbacks,
            "rows": rows,
        }
    )
    return head


class StaffingOptions(Options):
    arrivals: float | None = Field(None, description="Contacts arriving per interval.")
    interval_minutes: float | None = Field(
        None, description="Length of the interval in minutes (default 60)."
    )
    aht_seconds: float | None = Field(None, description="Average handle time (TMA) in seconds.")
    answer_within: float = Field(20.0, description="Service level threshold T in seconds.")
    target_service_level: float | None = Field(
        None,
        description="Share to answer within T, between 0 and 1 (default 0.8 unless --target-asa).",
    )
    target_asa: float | None = Field(None, description="Target expected wait (TME/ASA) in seconds.")
    shrinkage: float = Field(0.0, description="Share of paid time away (breaks, absence), < 1.")
    max_occupancy: float = Field(1.0, description="Highest share of time agents may be busy.")
    min_answered: int = Field(
        10,
        description="Answered contacts an hour needs for its own AHT; fewer use the overall mean.",
    )
    forecast: bool = Field(
        False,
        description="Plan the hours ahead from the forecast of arrivals (`touchpoints forecast`) "
        "instead of the average past week.",
    )
    horizon: str = Field("7d", description="With --forecast: how far ahead to plan.")
    state: str | None = Field(
        "SP", description="With --forecast: the Brazilian state whose holidays count (UF)."
    )


def _explicit(options: StaffingOptions) -> bool:
    return options.arrivals is not None and options.aht_seconds is not None


def plan(store: Store | None, scope: Scope, options: StaffingOptions) -> dict[str, Any]:
    """Agents needed for a service level or wait target (Erlang C).

    Give --arrivals and --aht-seconds to size one interval (no data needed), or
    --touchpoint/--channel to measure both per hour of the week from stored contacts and
    plan the week.
    """
    arrivals, interval_minutes = options.arrivals, options.interval_minutes
    aht_seconds, answer_within = options.aht_seconds, options.answer_within
    target_service_level, target_asa = options.target_service_level, options.target_asa
    shrinkage, max_occupancy = options.shrinkage, options.max_occupancy
    min_answered = options.min_answered
    validate(**options.model_dump(exclude={"min_answered", "forecast", "horizon", "state"}))
    if target_service_level is None and target_asa is None:
        target_service_level = DEFAULT_TARGET_SERVICE_LEVEL
    if (arrivals is None) != (aht_seconds is None):
        raise UsageError(
            "--arrivals and --aht-seconds go together: pass both, or neither to measure "
            "them from stored contacts with --touchpoint or --channel"
        )
    measured = bool(scope.touchpoints or scope.channels)
    if options.forecast and arrivals is not None:
        raise UsageError(
            "--forecast plans from the forecast of stored contacts: do not combine it with "
            "--arrivals/--aht-seconds"
        )
    if arrivals is not None and aht_seconds is not None:
        if measured:
            raise UsageError(
                "--touchpoint/--channel measure arrivals and AHT from stored contacts: "
                "do not combine them with --arrivals/--aht-seconds"
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
            "--interval-minutes: measured staffing is per hour of the week (60); "
            "other intervals need --arrivals and --aht-seconds"
        )
    if not measured or store is None:
        raise UsageError(
            "pass --arrivals and --aht-seconds, or --touchpoint/--channel to measure them "
            "from stored contacts"
        )
    if options.forecast:
        return forecast_staffing(store, scope, options, target_service_level)
    return measured_staffing(
        store,
        scope,
        answer_within,
        target_service_level,
        max_occupancy,
        shrinkage,
        target_asa,
        min_answered,
    )


def forecast_staffing(
    store: Store, scope: Scope, options: StaffingOptions, target_service_level: float | None
) -> dict[str, Any]:
    """Agents per hour ahead: Erlang C on the forecast arrivals of each hour (`forecast`,
    hourly, over `--horizon`), with each hour of the week's measured AHT (the overall mean
    where an hour has fewer than `--min-answered` answered contacts), then shrinkage."""
    from touchpoints.analytics.forecast import ForecastOptions, forecast

    if options.min_answered < 1:
        raise UsageError(f"--min-answered {options.min_answered}: use a whole number >= 1")
    ahead = forecast(
        store,
        scope,
        ForecastOptions(horizon=options.horizon, interval_minutes=60, state=options.state),
    )
    raw = store.query(contacts_by_hour_sql(scope), scope.params())
    handled_total = sum(int(r["handled"] or 0) for r in raw)
    handle_total = sum(float(r["handle_sum"] or 0.0) for r in raw)
    overall = handle_total / handled_total if handled_total else None
    by_slot = {(int(r["dow"]), int(r["hr"])): r for r in raw}
    rows, fallbacks = [], 0
    for f in ahead["rows"]:
        start = datetime.fromisoformat(f["start"])
        slot = (start.isoweekday(), start.hour)
        r = by_slot.get(slot)
        handled = int(r["handled"] or 0) if r else 0
        if r is not None and handled >= options.min_answered:
            aht, source = float(r["handle_sum"]) / handled, "hour"
        else:
            aht, source = overall, "overall"
            fallbacks += 1
        row: dict[str, Any] = {
            "start": f["start"],
            "weekday": slot[0],
            "hour": slot[1],
            "arrivals": f["arrivals"],
            "low": f["low"],
            "high": f["high"],
            "aht_seconds": aht,
            "aht_source": source,
        }
        staffed = (
            required_agents(
                f["arrivals"],
                60,
                aht or 1.0,  # no AHT measured at all: only zero arrivals can be planned
                options.answer_within,
                target_service_level,
                options.max_occupancy,
                options.shrinkage,
                options.target_asa,
            )
            if (aht is not None or f["arrivals"] == 0)
            else {}
        )
        for key in (
            "agents",
            "scheduled_agents",
            "service_level",
            "occupancy",
            "waiting_probability",
            "asa_seconds",
        ):
            row[key] = staffed.get(key)
        rows.append(row)
    return {
        "touchpoint": list(scope.touchpoints) or None,
        "channel": list(scope.channels) or None,
        "timezone": scope.timezone,
        "model": ahead["model"],
        "backtest": ahead["backtest"],
        "from": rows[0]["start"] if rows else None,
        "to": rows[-1]["start"] if rows else None,
        "weeks": len(rows) / 168,
        "interval_minutes": 60,
        "answer_within": options.answer_within,
        "target_service_level": target_service_level,
        "target_asa_seconds": options.target_asa,
        "max_occupancy": options.max_occupancy,
        "shrinkage": options.shrinkage,
        "min_answered": options.min_answered,
        "offered": None,
        "overall_aht_seconds": overall,
        "aht_fallback_hours": fallbacks,
        "rows": rows,
    }


class StaffingResult(ResultModel):
    """One interval (`agents`, `service_level`, ...), or the measured week (`rows`)."""

    model_config = ConfigDict(extra="allow")

    agents: int | None = None
    service_level: float | None = None
    waiting_probability: float | None = None
    occupancy: float | None = None
    scheduled_agents: int | None = None
    rows: list[dict[str, Any]] | None = None


register(
    Analysis(
        name="staffing",
        summary="Agents needed for a service level or wait target (Erlang C), per interval or per hour of the week.",
        run=plan,
        options=StaffingOptions,
        result=StaffingResult,
        scope=("date_from", "date_to", "touchpoint", "channel", "timezone"),
        needs_store=lambda options: not _explicit(options),
    )
)
