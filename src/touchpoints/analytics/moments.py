"""What happens at a touchpoint: promises made, kept or broken; customer data
remembered or forgotten; emotions created along the journey.

Promise rule. A promise belongs to the touchpoint where it was *made*, even when it is kept
or broken somewhere else later (a delivery date promised by phone, broken at the store).
Each customer's `made` rows are matched, first in first out, to the next `kept`/`broken`
rows of the same customer that no earlier promise has claimed: the k-th outcome that finds
a promise open closes the k-th promise made. An outcome with no open promise (its promise
predates the data) is counted where it was recorded as `unmatched`. Matching runs on each
customer's whole history, across cycles and phases, before any filter; filters then select
promises by the row where they were made, and recorded outcomes by their own row. Per
touchpoint the answer carries both views:

- where made: `made`, `kept`, `broken`, `open`, `kept_rate` and `broken_rate` (over made,
  so open promises count as neither) and `promise_kept_rate` = kept / (kept + broken);
- where recorded: `recorded_kept`, `recorded_broken`, `recorded_unmatched` and
  `recorded_kept_rate` (SPEC §4's `promise_kept_rate` of the rows recorded there).

FIFO in SQL: with b the running balance (made +1, outcome -1), an outcome is unmatched
exactly when b drops below every earlier balance and below 0; the matched outcomes are then
numbered in order, and the k-th promise and the k-th matched outcome of a customer share a
window partition (customer, k). Window passes only: no recursion, and no self-join whose
plan depends on a planner's row estimates (PostgreSQL picked a nested loop for one).

Data: `data_reuse_rate` = share of `data_reused = true` among non-null answers, and the
distinct customers made to repeat information (`data_reused = false`) per touchpoint and
overall (per-touchpoint counts do not add up: one customer can repeat at several).

Emotion: the mean `emotion` of journey steps by derived phase and by step index (1..N
within the cycle), with the answers behind each mean; feedback rows are not steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from touchpoints.analytics.cycles import from_cycles, scoped_steps
from touchpoints.analytics.registry import (
    JOURNEY_SCOPE,
    Analysis,
    NoOptions,
    ResultModel,
    register,
    shared,
)
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.sql import events_relation, scoped_events
from touchpoints.core.events import PHASES
from touchpoints.store import derived

if TYPE_CHECKING:
    from touchpoints.store.base import Store

RULE = (
    "A promise is attributed to the touchpoint where it was made. Each customer's 'made' "
    "rows are matched first-in-first-out to that customer's next 'kept'/'broken' rows not "
    "claimed by an earlier promise, across cycles and phases; outcomes with no open promise "
    "are 'unmatched'. 'recorded_*' counts outcomes where they were recorded."
)
ORDER = "PARTITION BY customer_id ORDER BY ts, seq"
RUNNING = f"OVER ({ORDER} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
BEFORE = f"OVER ({ORDER} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"


def _share(num: float, den: float) -> float | None:
    return None if not den else num / den


def promises_sql(scope: Scope) -> str:
    """Per touchpoint: promises by where made (with their matched outcome) and outcomes by
    where recorded, as one UNION ALL of two tagged blocks."""
    where = scope.where()
    return f"""WITH p AS (
      SELECT r.*,
        sum(CASE WHEN promise = 'made' THEN 1 ELSE -1 END) {RUNNING} AS bal,
        sum(CASE WHEN promise = 'made' THEN 1 ELSE 0 END) {RUNNING} AS made_no
      FROM ({events_relation(scope, with_phase=scope.needs_phase)}) r
      WHERE promise IN ('made', 'kept', 'broken')
    ), q AS (
      SELECT p.*,
        CASE WHEN promise <> 'made'
              AND bal < least(0, coalesce(min(bal) {BEFORE}, 0)) THEN 1 ELSE 0 END AS unmatched
      FROM p
    ), o AS (
      SELECT q.*,
        sum(CASE WHEN promise <> 'made' AND unmatched = 0 THEN 1 ELSE 0 END) {RUNNING} AS outcome_no
      FROM q
    ), promised AS (
      SELECT o.*,
        max(CASE WHEN promise <> 'made' AND unmatched = 0 THEN promise END)
          OVER (PARTITION BY customer_id, CASE WHEN promise = 'made' THEN made_no ELSE outcome_no END)
          AS outcome
      FROM o
    )
    SELECT 'made' AS part, touchpoint,
      count(*) AS made,
      sum(CASE WHEN outcome = 'kept' THEN 1 ELSE 0 END) AS kept,
      sum(CASE WHEN outcome = 'broken' THEN 1 ELSE 0 END) AS broken,
      0 AS unmatched
    FROM promised WHERE promise = 'made' AND {where} GROUP BY touchpoint
    UNION ALL
    SELECT 'recorded' AS part, touchpoint,
      0 AS made,
      sum(CASE WHEN promise = 'kept' THEN 1 ELSE 0 END) AS kept,
      sum(CASE WHEN promise = 'broken' THEN 1 ELSE 0 END) AS broken,
      sum(unmatched) AS unmatched
    FROM o WHERE promise <> 'made' AND {where} GROUP BY touchpoint"""


def data_reuse_sql(scope: Scope) -> str:
    """Per touchpoint and overall (touchpoint NULL): answers, reuses, customers repeating."""
    cols = """count(data_reused) AS answers,
      sum(CASE WHEN data_reused THEN 1 ELSE 0 END) AS reused,
      count(DISTINCT CASE WHEN data_reused = FALSE THEN customer_id END) AS repeating"""
    return f"""WITH e AS ({scoped_events(scope)})
    SELECT touchpoint, {cols} FROM e WHERE data_reused IS NOT NULL GROUP BY touchpoint
    UNION ALL
    SELECT CAST(NULL AS VARCHAR) AS touchpoint, {cols} FROM e WHERE data_reused IS NOT NULL"""


def emotion_sql(scope: Scope) -> str:
    """Mean-emotion inputs by derived phase and by step index, in one pass over the steps."""
    # Over the whole history the kept facts give each step's phase and number directly.
    steps = derived.step_columns("emotion") if from_cycles(scope) else scoped_steps(scope)
    return f"""WITH s AS ({steps})
    SELECT 'phase' AS part, phase, CAST(NULL AS BIGINT) AS step,
      count(*) AS steps, count(emotion) AS answers, sum(emotion) AS total
    FROM s GROUP BY phase
    UNION ALL
    SELECT 'step' AS part, CAST(NULL AS VARCHAR) AS phase, step,
      count(*) AS steps, count(emotion) AS answers, sum(emotion) AS total
    FROM s GROUP BY step"""


def _promise_rows(raw: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for r in raw:
        c = counts.setdefault(
            r["touchpoint"],
            {k: 0 for k in ("made", "kept", "broken", "rk", "rb", "ru")},
        )
        if r["part"] == "made":
            c["made"] += int(r["made"] or 0)
            c["kept"] += int(r["kept"] or 0)
            c["broken"] += int(r["broken"] or 0)
        else:
            c["rk"] += int(r["kept"] or 0)
            c["rb"] += int(r["broken"] or 0)
            c["ru"] += int(r["unmatched"] or 0)
    return counts


def _promise_keys(c: dict[str, int]) -> dict[str, Any]:
    made, kept, broken = c["made"], c["kept"], c["broken"]
    return {
        "made": made,
        "kept": kept,
        "broken": broken,
        "open": made - kept - broken,
        "kept_rate": _share(kept, made),
        "broken_rate": _share(broken, made),
        "promise_kept_rate": _share(kept, kept + broken),
        "recorded_kept": c["rk"],
        "recorded_broken": c["rb"],
        "recorded_unmatched": c["ru"],
        "recorded_kept_rate": _share(c["rk"], c["rk"] + c["rb"]),
    }


def _data_keys(r: dict[str, Any] | None) -> dict[str, Any]:
    answers = int(r["answers"] or 0) if r else 0
    reused = int(r["reused"] or 0) if r else 0
    return {
        "data_answers": answers,
        "data_reused": reused,
        "data_reuse_rate": _share(reused, answers),
        "customers_repeating": int(r["repeating"] or 0) if r else 0,
    }


@shared("journeys.moments")  # `insights` reads it too: one computation per data stamp
def moments(store: Store, scope: Scope, options: NoOptions) -> dict[str, Any]:
    """Moments of truth: promises made and whether they were kept, data the customer had
    to repeat, and how customers felt by phase and by step (see the module docstring)."""
    params = scope.params()
    promises = _promise_rows(store.query(promises_sql(scope), params))
    reuse = {r["touchpoint"]: r for r in store.query(data_reuse_sql(scope), params)}
    overall = reuse.pop(None, None)
    rows = []
    for tp in sorted(set(promises) | set(reuse)):
        counts = promises.get(tp) or {k: 0 for k in ("made", "kept", "broken", "rk", "rb", "ru")}
        rows.append({"touchpoint": tp, **_promise_keys(counts), **_data_keys(reuse.get(tp))})
    rows.sort(
        key=lambda r: (-r["made"], -(r["recorded_kept"] + r["recorded_broken"]), r["touchpoint"])
    )
    total_counts = {
        k: sum(c[k] for c in promises.values())
        for k in ("made", "kept", "broken", "rk", "rb", "ru")
    }
    totals = {**_promise_keys(total_counts), **_data_keys(overall)}

    by_phase: dict[str, dict[str, Any]] = {}
    by_step: list[dict[str, Any]] = []
    for r in store.query(emotion_sql(scope), params):
        answers = int(r["answers"] or 0)
        entry = {
            "emotion": None if not answers else float(r["total"]) / answers,
            "answers": answers,
            "steps": int(r["steps"] or 0),
        }
        if r["part"] == "phase":
            by_phase[r["phase"]] = {"phase": r["phase"], **entry}
        else:
            by_step.append({"step": int(r["step"]), **entry})
    by_step.sort(key=lambda e: e["step"])
    phases = [
        by_phase.get(p, {"phase": p, "emotion": None, "answers": 0, "steps": 0}) for p in PHASES
    ]
    return {
        "rule": RULE,
        "touchpoints": rows,
        "totals": totals,
        "emotion": {"by_phase": phases, "by_step": by_step},
    }


class PromiseKeys(ResultModel):
    made: int
    kept: int
    broken: int
    open: int
    kept_rate: float | None = Field(description="kept / made")
    broken_rate: float | None = Field(description="broken / made")
    promise_kept_rate: float | None = Field(description="kept / (kept + broken), as in kpis")
    recorded_kept: int
    recorded_broken: int
    recorded_unmatched: int
    recorded_kept_rate: float | None
    data_answers: int
    data_reused: int
    data_reuse_rate: float | None
    customers_repeating: int


class MomentRow(PromiseKeys):
    touchpoint: str


class EmotionPoint(ResultModel):
    emotion: float | None
    answers: int
    steps: int


class PhaseEmotion(EmotionPoint):
    phase: str


class StepEmotion(EmotionPoint):
    step: int


class Emotion(ResultModel):
    by_phase: list[PhaseEmotion]
    by_step: list[StepEmotion]


class MomentsResult(ResultModel):
    rule: str
    touchpoints: list[MomentRow]
    totals: PromiseKeys
    emotion: Emotion


register(
    Analysis(
        name="journeys.moments",
        summary="Moments of truth: promises kept and broken, data re-use, emotion by phase.",
        run=moments,
        options=NoOptions,
        result=MomentsResult,
        scope=JOURNEY_SCOPE,
        table="touchpoints",
    )
)
