"""Touchpoint strength per observed phase: which touchpoints carry each moment of the purchase.

A manager sorts touchpoints into before, during and after the purchase to see which
channels have more or less strength at each moment. Planned phases live in
the catalog; this table measures the *observed* (derived, SPEC §3) phase of every journey
step and flags a touchpoint acting where the team did not plan it.

Per touchpoint (and, by default, per observed phase) over the selected journey steps:

- `reach`: distinct customers; `events`: steps; `events_per_customer` = events / reach.
- `share_of_cycles`: cycles holding a step here / every cycle with a selected step in that
  phase (in totals mode: every cycle with a selected step).
- `conversion_rate`: share of the cycles touching it that convert (the whole cycle is
  judged, so a `before` touchpoint still shows the sales it led to).
- `median_step` (1-based index in the cycle) and `median_position` (step / steps: 1.0 is
  the purchase end of the path, small values the opening).
- `csat`, `nps`, `nps_margin` (SPEC §4) from every rating *about* an interaction here: the
  ratings carried by the step rows themselves, and `feedback` rows, which rate the event
  their `ref_event_id` names (its touchpoint, its phase, its filters). A feedback row with
  no resolvable reference rates the touchpoint where it was given. Feedback rows are never
  steps, so they add ratings but no reach.

One engine query returns four small blocks (steps counted by position in their cycle,
distinct customers and cycles, rating aggregates, cycle denominators); Python takes the
medians from the counts and joins the blocks with the catalog. The SQL sticks to
constructs sqlglot carries to PostgreSQL and Spark SQL: CASE inside `count(DISTINCT ...)`,
UNION ALL of typed columns.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import Field

from touchpoints.analytics.cycles import filter_steps, steps_relation
from touchpoints.analytics.registry import (
    JOURNEY_SCOPE,
    Analysis,
    Options,
    ResultModel,
    register,
    shared,
)
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.sql import events_relation
from touchpoints.core.events import PHASES

if TYPE_CHECKING:
    from touchpoints.core.catalog import Catalog
    from touchpoints.store.base import Store

# Columns a feedback row borrows from the event it rates, so filters judge the interaction.
RATED_COLUMNS = ("ts", "touchpoint", "channel", "kind", "phase", "segment", "agent", "customer_id")
# Every block of the UNION ALL carries these numeric columns, in this order.
NUMERIC = (
    "events",
    "reach",
    "cycles",
    "converting",
    "step",
    "steps",
    "csat_good",
    "csat_n",
    "nps_promoters",
    "nps_detractors",
    "nps_n",
)


def _share(num: float, den: float) -> float | None:
    return None if not den else num / den


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def nps_scores(promoters: int, detractors: int, n: int) -> tuple[float | None, float | None]:
    """SPEC §4 NPS and its 95 % margin; both null without answers."""
    if not n:
        return None, None
    p, d = promoters / n, detractors / n
    margin = 100 * 1.96 * math.sqrt(max(p + d - (p - d) ** 2, 0.0) / n)
    return 100 * (p - d), margin


def median_of_counts(counts: list[tuple[float, int]]) -> float | None:
    """The median of a multiset given as (value, how many times): the middle value, or
    the two middle values each halved and then added, as DuckDB's `median` does to the
    last bit (so the answer is the one the engine gave when it held every value)."""
    ordered = sorted(counts)
    n = sum(count for _, count in ordered)
    if not n:
        return None
    wanted = [(n - 1) // 2, n // 2]  # 0-based positions of the middle value(s)
    found: list[float] = []
    seen = 0
    for value, count in ordered:
        while wanted and wanted[0] < seen + count:
            found.append(value)
            wanted.pop(0)
        seen += count
    low, high = found
    return low if n % 2 else low * 0.5 + high * 0.5


def _block(part: str, keys: str, values: dict[str, str], source: str, group: str) -> str:
    """One UNION ALL block: `part` tag, the group keys, then every NUMERIC column as DOUBLE
    (missing ones NULL), so PostgreSQL and Spark agree on the union's column types."""
    cols = ", ".join(f"CAST({values.get(name, 'NULL')} AS DOUBLE) AS {name}" for name in NUMERIC)
    return f"SELECT '{part}' AS part, {keys}, {cols} FROM {source}{group}"


def strength_sql(scope: Scope, by_phase: bool) -> str:
    """The engine query behind `touchpoint_strength` (exposed for tests and benchmarks);
    bind `scope.params()`."""
    where = scope.where()
    ev = events_relation(scope, with_phase=True)
    rated = ", ".join(
        f"CASE WHEN t.event_id IS NULL THEN f.{c} ELSE t.{c} END AS {c}" for c in RATED_COLUMNS
    )
    phase_key = "phase" if by_phase else "CAST(NULL AS VARCHAR)"
    keys = f"touchpoint, {phase_key} AS phase"
    group = " GROUP BY touchpoint, phase" if by_phase else " GROUP BY touchpoint"
    # The medians come from how many steps sit at each (step, steps): a few thousand rows
    # where `median()` would hold every step's value in memory, which DuckDB cannot spill
    # (touchpoint strength ran out of a 3 GB limit at 50M events).
    steps_block = _block(
        "steps",
        keys,
        {"events": "count(*)", "step": "step", "steps": "steps"},
        "s",
        group + ", step, steps",
    )
    # Distinct customers and cycles from `pc`, one row per touchpoint (and phase) and
    # cycle: counting rows of a grouping instead of distinct strings of every step.
    cycle_keys = "touchpoint, phase" if by_phase else "touchpoint"
    reach_block = _block(
        "reach",
        keys,
        {
            "reach": "count(DISTINCT customer_id)",
            "cycles": "count(*)",
            "converting": "sum(converts)",
        },
        "pc",
        group,
    )
    ratings_block = _block(
        "ratings",
        keys,
        {
            "csat_good": "sum(CASE WHEN csat >= 4 THEN 1 ELSE 0 END)",
            "csat_n": "count(csat)",
            "nps_promoters": "sum(CASE WHEN nps >= 9 THEN 1 ELSE 0 END)",
            "nps_detractors": "sum(CASE WHEN nps <= 6 THEN 1 ELSE 0 END)",
            "nps_n": "count(nps)",
        },
        "ratings",
        group,
    )
    per_phase = "phase, " if by_phase else ""
    cycles_block = _block(
        "cycles",
        f"CAST(NULL AS VARCHAR) AS touchpoint, {phase_key} AS phase",
        {"cycles": "count(*)"},
        f"(SELECT DISTINCT {per_phase}customer_id, cycle_no FROM pc) d",
        " GROUP BY phase" if by_phase else "",
    )
    # `ev` (events with the derived phase) is read for the feedback rows. Cut from raw
    # events (windows over every event) it is one CTE, which the engine computes once, and
    # the steps are cut from it too. When the store keeps the facts, the steps come from
    # them and the phase is a join on `seq`: `ev` is then written out at each use, so the
    # feedback rows are picked before the join that finds what they rate (a tenth of the
    # time of joining every event to every event at 1M events), and the rated side keeps
    # only the events some rating names before it meets the facts (a semi-join: 13.1 s
    # -> 10.5 s for the whole query at 10M events).
    if scope.facts:
        head, source = "", f"({ev})"
        steps = filter_steps(scope, "csat", "nps", cycles=True)
    else:
        head, source, steps = f"ev AS ({ev}),", "ev", steps_relation(scope, "SELECT * FROM ev")
    return f"""WITH {head}
    s AS (SELECT * FROM ({steps}) x WHERE {where}),
    pc AS (
      SELECT {cycle_keys}, customer_id, cycle_no, max(cycle_converts) AS converts
      FROM s GROUP BY {cycle_keys}, customer_id, cycle_no
    ),
    fb AS (
      SELECT {rated}, f.csat AS csat, f.nps AS nps
      FROM (
        SELECT * FROM {source} f0
        WHERE f0.action = 'feedback' AND (f0.csat IS NOT NULL OR f0.nps IS NOT NULL)
      ) f
      LEFT JOIN (
        SELECT * FROM {source} t0 WHERE t0.event_id IN (
          SELECT ref_event_id FROM events
          WHERE action = 'feedback' AND (csat IS NOT NULL OR nps IS NOT NULL))
      ) t ON t.event_id = f.ref_event_id AND t.action <> 'feedback'
    ),
    ratings AS (
      SELECT touchpoint, phase, csat, nps FROM s WHERE csat IS NOT NULL OR nps IS NOT NULL
      UNION ALL
      SELECT touchpoint, phase, csat, nps FROM fb WHERE {where}
    )
    {steps_block}
    UNION ALL
    {reach_block}
    UNION ALL
    {ratings_block}
    UNION ALL
    {cycles_block}"""


class StrengthOptions(Options):
    by_phase: bool = Field(
        True, description="One row per touchpoint and observed phase (false: per touchpoint)."
    )


@shared("strength")  # `insights` reads it too: one computation per data stamp
def touchpoint_strength(store: Store, scope: Scope, options: StrengthOptions) -> dict[str, Any]:
    """Touchpoint strength per observed phase: reach, share of cycles, conversion of the
    cycles touching it, position in the path, CSAT/NPS, and whether the team planned the
    touchpoint for that phase. One row per touchpoint and phase, ordered by phase, then by
    reach; rates and medians are null where nothing was observed.
    """
    by_phase = options.by_phase
    raw = store.query(strength_sql(scope, by_phase), scope.params())
    denominators: dict[str | None, float] = {}
    groups: dict[tuple[str, str | None], dict[str, Any]] = {}
    counted: dict[tuple[str, str | None], list[tuple[int, int, int]]] = {}
    for r in raw:
        if r["part"] == "cycles":
            denominators[r["phase"]] = float(r["cycles"] or 0)
            continue
        key = (r["touchpoint"], r["phase"])
        entry = groups.setdefault(key, {})
        if r["part"] == "steps":
            entry["events"] = entry.get("events", 0) + int(r["events"])
            counted.setdefault(key, []).append((int(r["step"]), int(r["steps"]), int(r["events"])))
            continue
        for name in NUMERIC:
            if r[name] is not None:
                entry[name] = r[name]
    for key, counts in counted.items():
        groups[key]["median_step"] = median_of_counts([(float(a), n) for a, _, n in counts])
        groups[key]["median_position"] = median_of_counts([(a / b, n) for a, b, n in counts])
    catalog = store.catalog()
    rows = [
        _row(tp, phase, agg, denominators.get(phase, 0.0), catalog)
        for (tp, phase), agg in groups.items()
    ]
    rows.sort(
        key=lambda row: (
            PHASES.index(row["phase"]) if row["phase"] in PHASES else -1,
            -row["reach"],
            -row["events"],
            row["touchpoint"],
        )
    )
    return {"rows": rows}


def _row(
    tp: str, phase: str | None, agg: dict[str, Any], all_cycles: float, catalog: Catalog
) -> dict[str, Any]:
    """One JSON row: counts and rates from the engine's sums, names from the catalog."""
    events = int(agg.get("events") or 0)
    reach = int(agg.get("reach") or 0)
    cycles = int(agg.get("cycles") or 0)
    converting = int(agg.get("converting") or 0)
    csat_n = int(agg.get("csat_n") or 0)
    nps_n = int(agg.get("nps_n") or 0)
    nps, margin = nps_scores(
        int(agg.get("nps_promoters") or 0), int(agg.get("nps_detractors") or 0), nps_n
    )
    csat_share = _share(float(agg.get("csat_good") or 0), csat_n)
    entry = catalog.get(tp)
    planned = list(entry.phase) if entry else []
    return {
        "touchpoint": tp,
        "phase": phase,
        "name": {"en": entry.label("en"), "pt-BR": entry.label("pt-BR")} if entry else None,
        "channel": entry.channel if entry else None,
        "kind": entry.kind if entry else None,
        "planned_phases": planned,
        # Only meaningful per phase and when the catalog states a plan.
        "unplanned": (phase not in planned) if phase is not None and planned else None,
        "events": events,
        "reach": reach,
        "events_per_customer": _float(_share(events, reach)),
        "cycles": cycles,
        "share_of_cycles": _float(_share(cycles, all_cycles)),
        "converting_cycles": converting,
        "conversion_rate": _float(_share(converting, cycles)),
        "median_step": _float(agg.get("median_step")),
        "median_position": _float(agg.get("median_position")),
        "csat": _float(None if csat_share is None else 100 * csat_share),
        "csat_answers": csat_n,
        "nps": _float(nps),
        "nps_margin": _float(margin),
        "nps_answers": nps_n,
    }


class StrengthRow(ResultModel):
    touchpoint: str
    phase: str | None
    name: dict[str, str] | None
    channel: str | None
    kind: str | None
    planned_phases: list[str]
    unplanned: bool | None
    events: int
    reach: int
    events_per_customer: float | None
    cycles: int
    share_of_cycles: float | None
    converting_cycles: int
    conversion_rate: float | None
    median_step: float | None
    median_position: float | None
    csat: float | None
    csat_answers: int
    nps: float | None
    nps_margin: float | None
    nps_answers: int


class StrengthResult(ResultModel):
    rows: list[StrengthRow]


register(
    Analysis(
        name="strength",
        summary="Touchpoint strength per observed phase: reach, conversion, CSAT/NPS, plan vs data.",
        run=touchpoint_strength,
        options=StrengthOptions,
        result=StrengthResult,
        scope=JOURNEY_SCOPE,
        aliases=("touchpoints",),
    )
)
