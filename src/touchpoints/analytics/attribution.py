"""Attribution: which touchpoints of converting journey cycles get the credit (SPEC §5).

Every model distributes each converting cycle (SPEC §3) over the touchpoints of its path,
so for every model the `conversions` sum to the number of converting cycles in scope, the
`value` (the cycle's purchase `value`, its revenue) sums to their revenue and `share` sums
to 1. The path is the cycle's steps that pass the filters, in order; the purchase's
touchpoint is its last step.

Where the work runs:
- heuristic models (first, last, linear, position, time-decay): first, last, linear and
  position give a step a share fixed by its place in the path, so the engine counts the
  steps per touchpoint, path length and place (first, between, last) with their cycles'
  exact (DECIMAL) revenue, and Python adds the exact shares (fractions), rounding once;
  time-decay's credit is a window expression in the engine, summed there as DECIMAL. Either
  way no float is added in an order the engine chooses: the same answer at every run,
  read from the stored cycles or cut from raw events;
- markov: states (k-tuples of consecutive touchpoints, ChannelAttribution's convention)
  and transition counts are built and grouped in the engine; Python receives the count
  matrix and solves the absorbing chain exactly (`touchpoints.analytics.markov`: NumPy
  linear algebra, no simulation);
- shapley: cycles are grouped by their channel set (bitmask words) in the engine; Python
  receives one row per observed set and computes exact Shapley values
  (`touchpoints.analytics.shapley`): dense subset-sum transforms for up to 20 players, the
  subsets of each converting set beyond, so the limit is the labels of one cycle (20),
  not the number of touchpoints (or touchpoint|phase pairs) in scope.

SQL is DuckDB's dialect, carried to PostgreSQL and Spark by sqlglot.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field

from touchpoints.analytics.cycles import cycle_paths, from_cycles, steps_relation
from touchpoints.analytics.markov import (
    CONVERSION,
    DENSE_LIMIT,
    NULL,
    SEP,
    START,
    MarkovModel,
    model_from_rows,
    outcome_score,
    sparse_effects,
    transitions_from_paths,
)
from touchpoints.analytics.registry import JOURNEY_SCOPE, Analysis, Options, ResultModel, register
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.shapley import shapley_by_sets, shapley_from_sets
from touchpoints.analytics.sql import seconds_between
from touchpoints.core.errors import UsageError
from touchpoints.core.events import PHASES
from touchpoints.core.time import parse_duration

if TYPE_CHECKING:
    from touchpoints.store.base import Store

HEURISTIC_MODELS: tuple[str, ...] = ("first", "last", "linear", "position", "time-decay")
MODELS: tuple[str, ...] = (*HEURISTIC_MODELS, "markov", "shapley")
MARKOV_ORDERS: tuple[int, ...] = (1, 2, 3, 4)
BY_KEYS: tuple[str, ...] = ("phase",)
PHASE_SEP = "|"  # joins touchpoint and phase into one label with --by phase
# Shapley: up to this many players seen, dense transforms over all 2^n sets (fast with
# many channel sets); beyond, the subsets of each converting set (see analytics/shapley.py).
MAX_DENSE_PLAYERS = 20
# Labels (touchpoints, or touchpoint|phase pairs) one converting cycle may hold for exact
# Shapley: its set's 2^20 subsets are walked.
MAX_SHAPLEY_LABELS = 20
MAX_MASK_BITS = 62  # a channel set travels from the engine as BIGINT bitmask words
# --order auto: cycles whose md5 starts with one of these hex digits are held out (1/4).
HELD_OUT_DIGITS = ("0", "1", "2", "3")


# -- the steps every model reads -----------------------------------------------------------
def path_sql(
    scope: Scope,
    label_sql: str = "touchpoint",
    phase: bool = False,
    windows: dict[str, str] | None = None,
    revenue: str = "every",
) -> str:
    """The scoped steps of every cycle with their position in the *filtered* path.

    Columns: cycle_id, converts (0/1), cycle_value (revenue of the cycle's purchase, read
    before filtering so a filter that drops the purchase step keeps the revenue; on every
    step, or with `revenue="last"` only on the path's last step and 0 elsewhere, which
    unfiltered is the purchase step itself and needs no window), ts,
    cycle_end (the purchase time for a converting cycle), label (`label_sql`), touchpoint,
    pos (1-based), n (the filtered path's length), when asked phase, and `windows`: name →
    an expression over `label`, ... with `{over}` standing for the path's window (partition
    by cycle, ordered by step), computed in the same window pass as the positions.

    Cost matters at millions of events: the derived phase costs two windows over every
    event and DuckDB drops them when no column refers to it, so it is only selected when
    asked; unfiltered, the path is the whole cycle, so the cycle's windows give pos and n
    and one sort serves the revenue and every `windows` expression.
    """
    steps = steps_relation(scope)
    where = scope.where()
    purchase = "sum(CASE WHEN action = 'purchase' THEN value END)"
    keep = f"cycle_id, cycle_converts AS converts, ts, cycle_end, touchpoint, label{', phase' if phase else ''}"
    if where == "TRUE":
        over = "OVER (PARTITION BY customer_id, cycle_no ORDER BY step)"
        full = over[:-1] + " ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
        source = f"SELECT x.*, ({label_sql}) AS label FROM ({steps}) x"
        value = (
            "coalesce(CASE WHEN action = 'purchase' THEN value END, 0)"
            if revenue == "last"
            else f"coalesce({purchase} {full}, 0)"
        )
        positions = f"step AS pos, steps AS n, {value} AS cycle_value"
    else:
        over = "OVER (PARTITION BY cycle_id ORDER BY step)"
        full = over[:-1] + " ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
        source = f"""SELECT y.* FROM (
          SELECT x.*, ({label_sql}) AS label,
            coalesce({purchase} OVER (PARTITION BY customer_id, cycle_no), 0) AS cycle_value
          FROM ({steps}) x) y
        WHERE {where}"""
        value = (
            f"CASE WHEN row_number() {over} = count(*) {full} THEN cycle_value ELSE 0 END"
            if revenue == "last"
            else "cycle_value"
        )
        positions = f"row_number() {over} AS pos, count(*) {full} AS n, {value} AS cycle_value"
    extra = "".join(
        f", {template.format(over=over, full=full)} AS {name}"
        for name, template in (windows or {}).items()
    )
    return f"SELECT {keep}, {positions}{extra} FROM ({source}) s"


def _label_for(by: str | None) -> str:
    if by is None:
        return "touchpoint"
    return f"touchpoint || '{PHASE_SEP}' || phase"


def _check(model: str, order: int | str, by: str | None) -> int | str:
    if model not in MODELS:
        raise UsageError(f"--model {model!r}: use one of {', '.join(MODELS)}")
    if by is not None and by not in BY_KEYS:
        raise UsageError(f"--by {by!r}: use phase (or leave it out)")
    if model != "markov":
        return 1
    text = str(order).strip().lower()
    if text == "auto":
        return "auto"
    if not text.isdigit() or int(text) not in MARKOV_ORDERS:
        raise UsageError(f"--order {str(order)!r}: use 1, 2, 3, 4 or auto")
    return int(text)


# -- heuristic models ----------------------------------------------------------------------
# Position-based models (first, last, linear, position) give a step a share that depends
# only on its position class in a path of n steps: 0 the first, 2 the last, 1 between (a
# one-step path is class 0). The engine counts steps and sums their cycles' revenue
# (DECIMAL: exact) per label, n and class; Python weighs each group by its exact share
# (a fraction) and rounds once. So the answer is the correctly rounded exact credit:
# deterministic (no order of a parallel sum shows), and the same read from the stored
# cycles or cut from raw events.
FIRST, MIDDLE, LAST = 0, 1, 2
_CLASS_SQL = f"CASE WHEN pos = 1 THEN {FIRST} WHEN pos = n THEN {LAST} ELSE {MIDDLE} END"
# Time-decay credits are powers of 1/2 (no exact fraction): each step's credit is summed
# as DECIMAL(38, 18), and its value share as DECIMAL(38, 12), both exact sums of the
# steps' rounded credits, whatever order the engine adds them in.
CREDIT_DECIMAL = "DECIMAL(38, 18)"
VALUE_DECIMAL = "DECIMAL(38, 12)"


def position_share(model: str, n: int, cls: int) -> Fraction:
    """The exact share of a step of class `cls` in a path of `n` steps (shares of a path
    sum to 1): first 1 to the first step, last 1 to the last, linear 1/n each, position
    2/5 to the first and the last and 1/5 spread over the steps between (a path of one
    step: 1; of two: 1/2 each)."""
    if model == "first":
        return Fraction(1 if cls == FIRST else 0)
    if model == "last":
        return Fraction(1 if cls == LAST or n == 1 else 0)
    if model == "linear" or n <= 2:
        return Fraction(1, n)
    return Fraction(2, 5) if cls != MIDDLE else Fraction(1, 5 * (n - 2))


# (label[, phase], n, class) -> (steps, exact revenue of their cycles)
PositionGroups = dict[tuple[Any, ...], tuple[int, Any]]


def _credit_sql() -> str:
    """Time-decay: 0.5^(t/H), t = seconds before the conversion, each step's share of its
    cycle's conversion (shares of a cycle sum to 1). Weights are taken relative to the
    cycle's latest step (exponent t - min t), so the largest is 1 and a tiny half-life
    cannot underflow every weight of a cycle to 0. The cycle's weights are added in the
    order of its steps (a fixed order: the same credit at every run)."""
    cycle = "OVER (PARTITION BY cycle_id ORDER BY pos ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
    raw = f"power(0.5, (t - min(t) {cycle}) / $half_life)"
    return f"""SELECT w.*, w.raw / sum(w.raw) {cycle} AS credit
          FROM (SELECT q.*, {raw} AS raw FROM ({{inner}}) q) w"""


def _heuristic(
    store: Store, scope: Scope, model: str, h: float, by: str | None
) -> tuple[list[dict[str, Any]], float, float]:
    keys = "touchpoint, phase" if by == "phase" else "touchpoint"
    if model != "time-decay":
        if _from_cycles(scope, by):
            groups = cycle_position_groups(store)
        else:
            groups = _position_groups(store, scope, by)
        return _credit_by_position(model, groups, by)
    secs = seconds_between("ts", "cycle_end")
    if _from_cycles(scope, by):
        inner = _converting_steps_from_facts(secs)
    else:
        paths = path_sql(scope, phase=by == "phase")
        inner = f"SELECT p.*, {secs} AS t FROM ({paths}) p WHERE p.converts = 1"
    weighted = _credit_sql().format(inner=inner)
    # A cycle's first step also carries the cycle into the totals (count and exact revenue).
    sql = f"""SELECT {keys}, sum(CAST(credit AS {CREDIT_DECIMAL})) AS conversions,
        sum(CAST(credit * cycle_value AS {VALUE_DECIMAL})) AS value,
        sum(CASE WHEN pos = 1 THEN 1 ELSE 0 END) AS cycles,
        sum(CASE WHEN pos = 1 THEN CAST(cycle_value AS DECIMAL(38, 6)) ELSE 0 END) AS revenue
      FROM ({weighted}) c GROUP BY {keys}"""
    rows = store.query(sql, {**scope.params(), "half_life": float(h)})
    out = [
        {
            "touchpoint": r["touchpoint"],
            **({"phase": r["phase"]} if by == "phase" else {}),
            "conversions": float(r["conversions"] or 0),
            "value": float(r["value"] or 0),
        }
        for r in rows
    ]
    total = sum(int(r["cycles"]) for r in rows)
    revenue = sum((Fraction(r["revenue"] or 0) for r in rows), Fraction(0))
    return out, float(total), float(revenue)


def _converting_steps_from_facts(secs: str) -> str:
    """`path_sql`'s unfiltered steps of converting cycles (with `t`), read from the facts:
    the converting cycles first (a third of them), then only their steps; the cycle's
    value is its stored revenue (its one purchase's value, as the steps give it)."""
    return f"""SELECT x.*, {secs} AS t FROM (
      SELECT c.cycle_id, c.converts, e.ts, c.cycle_end, e.touchpoint, e.touchpoint AS label,
        f.step AS pos, c.steps AS n, coalesce(c.revenue, 0) AS cycle_value
      FROM journey_cycles c
      JOIN event_facts f ON f.customer_id = c.customer_id AND f.cycle_no = c.cycle_no
      JOIN events e ON e.seq = f.seq
      WHERE c.converts = 1
    ) x"""


def _position_groups(store: Store, scope: Scope, by: str | None) -> PositionGroups:
    """Steps of converting cycles and their cycles' exact revenue per label, path length
    and position class, from the scoped steps."""
    keys = "touchpoint, phase" if by == "phase" else "touchpoint"
    sql = f"""SELECT {keys}, n, {_CLASS_SQL} AS cls, count(*) AS steps,
        sum(CAST(cycle_value AS DECIMAL(38, 6))) AS value
      FROM ({path_sql(scope, phase=by == "phase")}) p WHERE p.converts = 1
      GROUP BY {keys}, n, cls"""
    names = ("touchpoint", "phase") if by == "phase" else ("touchpoint",)
    return {
        (*(r[k] for k in names), int(r["n"]), int(r["cls"])): (int(r["steps"]), r["value"] or 0)
        for r in store.query(sql, scope.params())
    }


def cycle_position_groups(store: Store) -> PositionGroups:
    """`_position_groups` of the whole, unfiltered history, from the stored cycles' paths
    (once per `sharing_paths` block)."""
    shared = getattr(store, "shared_groups", False)
    if shared:
        return shared  # type: ignore[no-any-return]
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for labels, converts, cycles, value in cycle_paths(store):
        if not converts:
            continue
        n = len(labels)
        for pos, label in enumerate(labels, 1):
            cls = FIRST if pos == 1 else LAST if pos == n else MIDDLE
            entry = groups.setdefault((label, n, cls), [0, 0])
            entry[0] += cycles
            entry[1] += value
    out = {key: (steps, value) for key, (steps, value) in groups.items()}
    if shared is None:
        store.shared_groups = out  # type: ignore[attr-defined]
    return out


def _credit_by_position(
    model: str, groups: PositionGroups, by: str | None
) -> tuple[list[dict[str, Any]], float, float]:
    """Exact credit per label from the position groups, each rounded once to a float."""
    conversions: dict[tuple[Any, ...], Fraction] = {}
    values: dict[tuple[Any, ...], Fraction] = {}
    cycles, revenue = 0, Fraction(0)
    for (*label, n, cls), (steps, value) in groups.items():
        key = tuple(label)
        exact = Fraction(value)
        if cls == FIRST:
            cycles += steps
            revenue += exact
        share = position_share(model, n, cls)
        conversions[key] = conversions.get(key, Fraction(0)) + share * steps
        values[key] = values.get(key, Fraction(0)) + share * exact
    rows = [
        {
            "touchpoint": key[0],
            **({"phase": key[1]} if by == "phase" else {}),
            "conversions": float(conversions[key]),
            "value": float(values[key]),
        }
        for key in sorted(conversions, key=lambda k: tuple(str(x) for x in k))
    ]
    return rows, float(cycles), float(revenue)


# -- markov --------------------------------------------------------------------------------
def _fold_sql() -> str:
    digits = ", ".join(f"'{d}'" for d in HELD_OUT_DIGITS)  # constants of this module
    return f"CASE WHEN substr(md5(cycle_id), 1, 1) IN ({digits}) THEN 1 ELSE 0 END"


def transitions_sql(
    scope: Scope,
    order: int,
    label_sql: str = "touchpoint",
    folds: bool = False,
) -> str:
    """Transition counts (src, dst, n, value[, fold]) of the order-k chain, grouped in the
    engine. Each step opens the k-tuple starting at it; a path shorter than k is one state.
    Each path step yields its incoming transition (k = 0); the last one also its exit to
    conversion or null (k = 1): one pass over the steps, one grouping."""
    # One window pass: the labels after each step (its state) and the one before it (with
    # them, the previous step's state), so no window runs over a window's result.
    windows = {f"next{j}": f"lead(label, {j}) {{over}}" for j in range(1, order)}
    windows["prev1"] = "lag(label, 1) {over}"
    nexts = [f"next{j}" for j in range(1, order)]
    # Order 1 exits at the path's last step, which carries the revenue without a window.
    revenue = "last" if order == 1 else "every"
    state = f"concat_ws('{SEP}', {', '.join(['label', *nexts])})" if order > 1 else "label"
    before = f"concat_ws('{SEP}', {', '.join(['prev1', 'label', *nexts[:-1]])})"
    prev = f"CASE WHEN pos = 1 THEN '{START}' ELSE {before if order > 1 else 'prev1'} END"
    fold = f", {_fold_sql()} AS fold" if folds else ""
    by = ", fold" if folds else ""
    # Revenue is summed as DECIMAL: exact, so no run-to-run variation from summation order.
    return f"""WITH s AS (
        SELECT cycle_id, converts, cycle_value, pos, n, {state} AS state, {prev} AS prev{fold}
        FROM ({path_sql(scope, label_sql, windows=windows, revenue=revenue)}) p
      ),
      t AS (
        SELECT s.*, CASE WHEN pos = greatest(n - {order} + 1, 1) THEN 1 ELSE 0 END AS last
        FROM s WHERE pos <= greatest(n - {order} + 1, 1)
      ),
      x AS (
        SELECT CASE WHEN e.k = 0 THEN t.prev ELSE t.state END AS src,
          CASE WHEN e.k = 0 THEN t.state
               WHEN t.converts = 1 THEN '{CONVERSION}' ELSE '{NULL}' END AS dst,
          CASE WHEN e.k = 1 THEN CAST(t.cycle_value AS DECIMAL(38, 6)) * t.converts
               ELSE 0 END AS value{", t.fold" if folds else ""}
        FROM t CROSS JOIN (SELECT 0 AS k UNION ALL SELECT 1 AS k) e
        WHERE e.k = 0 OR t.last = 1
      )
    SELECT src, dst, count(*) AS n, sum(value) AS value{by} FROM x GROUP BY src, dst{by}"""


@contextlib.contextmanager
def sharing_paths(store: Store) -> Iterator[Store]:
    """Run several models on `store` reading the stored cycles' paths once (the
    dashboard shows every model side by side): inside the block `cycle_paths` keeps its
    answer on the store object; it is dropped when the block ends, so nothing outlives
    the one set of answers it serves."""
    store.shared_paths = None  # type: ignore[attr-defined]
    store.shared_groups = None  # type: ignore[attr-defined]
    try:
        yield store
    finally:
        del store.shared_paths  # type: ignore[attr-defined]
        del store.shared_groups  # type: ignore[attr-defined]


def _from_cycles(scope: Scope, by: str | None) -> bool:
    """Whole, unfiltered cycles labelled by touchpoint: the stored cycles answer."""
    return by is None and from_cycles(scope)


def cycle_transitions(store: Store, order: int) -> list[dict[str, Any]]:
    """`transitions_sql`'s rows for the whole, unfiltered history, from the stored cycles."""
    return transitions_from_paths(order, cycle_paths(store))


def fit_markov(
    store: Store,
    scope: Scope,
    order: int = 1,
    label_sql: str = "touchpoint",
    params: dict[str, Any] | None = None,
) -> MarkovModel:
    """Count the order-k chain's transitions in the engine; non-converting cycles are the
    null paths. `label_sql` (an expression over step columns, its values bound from
    `params`) names each step's state."""
    if order not in MARKOV_ORDERS:
        raise UsageError(f"--order {str(order)!r}: use 1, 2, 3, 4 or auto")
    values = {**scope.params(), **(params or {})}
    return model_from_rows(order, store.query(transitions_sql(scope, order, label_sql), values))


def choose_order(
    store: Store, scope: Scope, label_sql: str = "touchpoint"
) -> tuple[int, list[dict[str, Any]]]:
    """The order 1..4 whose chain, fitted on 3/4 of the cycles (split by md5 of cycle_id),
    best predicts the outcome of the held-out quarter; ties go to the lower order."""
    scores = []
    for order in MARKOV_ORDERS:
        rows = store.query(transitions_sql(scope, order, label_sql, folds=True), scope.params())
        train = [r for r in rows if int(r["fold"]) == 0]
        score = outcome_score(train, [r for r in rows if int(r["fold"]) == 1])
        scores.append({"order": order, **score})
    valid = [s for s in scores if s["log_likelihood"] is not None]
    best = max(valid, key=lambda s: (s["log_likelihood"], -s["order"]))["order"] if valid else 1
    return best, scores


def _markov(
    store: Store,
    scope: Scope,
    order: int | str,
    by: str | None,
    details: bool,
) -> tuple[list[dict[str, Any]], float, float, dict[str, Any]]:
    import numpy as np

    label = _label_for(by)
    extra: dict[str, Any] = {}
    if order == "auto":
        order, scores = choose_order(store, scope, label)
        extra["order_scores"] = scores
    extra["order"] = int(order)
    if _from_cycles(scope, by):
        transitions = cycle_transitions(store, int(order))
    else:
        transitions = store.query(transitions_sql(scope, int(order), label), scope.params())
    conversions = sum(int(r["n"]) for r in transitions if r["dst"] == CONVERSION)
    value = math.fsum(float(r["value"] or 0) for r in transitions if r["dst"] == CONVERSION)
    states = {r[k] for r in transitions for k in ("src", "dst")}
    if len(states) <= DENSE_LIMIT:
        model = model_from_rows(int(order), transitions)
        effects = model.removal_effects()
        P = model.probabilities()
        matrix = [
            (model.labels[i], model.labels[j], int(model.counts[i, j]), float(P[i, j]))
            for i, j in zip(*np.nonzero(model.counts), strict=True)
        ]
        probability = model.conversion_probability(P=P)
    else:
        effects, probability, labels, src, dst, count, prob = sparse_effects(transitions)
        matrix = [
            (labels[a], labels[b], int(c), float(p))
            for a, b, c, p in sorted(zip(src, dst, count, prob, strict=True))
        ]
    total = sum(effects.values())
    rows = []
    for channel, effect in effects.items():
        share = effect / total if total > 0 else 0.0
        rows.append(
            {
                **_split_label(channel, by),
                "conversions": share * conversions,
                "value": share * value,
            }
        )
    if details:
        extra["transition_matrix"] = [
            {"from": a, "to": b, "count": c, "probability": p} for a, b, c, p in matrix
        ]
        extra["removal_effects"] = effects
        extra["conversion_probability"] = probability
    return rows, float(conversions), value, extra


def _split_label(label: str, by: str | None) -> dict[str, str]:
    if by != "phase":
        return {"touchpoint": label}
    touchpoint, _, phase = label.rpartition(PHASE_SEP)
    return {"touchpoint": touchpoint, "phase": phase}


# -- shapley -------------------------------------------------------------------------------
def _candidate_players(
    store: Store, paths: str, params: dict[str, Any], by: str | None
) -> list[str]:
    """Every label a step can carry: the catalog's touchpoints (× phases with --by phase),
    known without reading the events; or, for a catalog too large for one 62-bit mask
    word, the distinct labels in scope (one more pass, fewer mask words)."""
    ids = sorted(t.id for t in store.catalog().touchpoints)
    labels = ids if by is None else [f"{t}{PHASE_SEP}{p}" for t in ids for p in PHASES]
    if len(labels) <= MAX_MASK_BITS:
        return labels
    rows = store.query(f"SELECT DISTINCT label FROM ({paths}) p ORDER BY label", params)
    return [r["label"] for r in rows]


def channel_sets_sql(paths: str, players: int) -> str:
    """Cycles grouped by their set of labels: (mask0, mask1, ..., cycles, conversions,
    value). The set travels as BIGINT words of 62 bits each (word w, bit i = player
    62·w + i, bound as `$player_<k>`), so any number of players fits."""
    words = []
    for w in range(0, players, MAX_MASK_BITS):
        bits = " ".join(
            f"WHEN $player_{k} THEN {1 << (k - w)}"
            for k in range(w, min(w + MAX_MASK_BITS, players))
        )
        words.append(
            f"coalesce(sum(DISTINCT CASE label {bits} END), 0) AS mask{w // MAX_MASK_BITS}"
        )
    names = ", ".join(f"mask{i}" for i in range(len(words)))
    return f"""SELECT {names}, count(*) AS cycles, sum(converts) AS conversions,
        sum(CAST(cycle_value AS DECIMAL(38, 6)) * converts) AS value
      FROM (
        SELECT cycle_id, max(converts) AS converts, sum(cycle_value) AS cycle_value,
          {", ".join(words)}
        FROM ({paths}) p GROUP BY cycle_id
      ) c GROUP BY {names}"""


def _check_cycle_sizes(masks: list[int], conversions: list[float], by: str | None) -> None:
    """Exact Shapley walks the subsets of each converting cycle's set: refuse, in words,
    sets too large for that (more than 2^20 subsets each)."""
    over = [m.bit_count() for m, k in zip(masks, conversions, strict=True) if k > 0]
    over = [size for size in over if size > MAX_SHAPLEY_LABELS]
    if over:
        what = "touchpoint-phase pairs" if by == "phase" else "touchpoints"
        sets = "1 channel set is" if len(over) == 1 else f"{len(over)} channel sets are"
        raise UsageError(
            f"--model shapley: a converting journey cycle holds {max(over)} {what}; exact "
            f"Shapley supports at most {MAX_SHAPLEY_LABELS} per cycle ({sets} over); narrow "
            "it with --touchpoint, --channel, --phase, --from/--to or a shorter --gap"
        )


def _cycle_sets(
    store: Store,
) -> tuple[list[str], list[int], list[float], list[float], list[float]]:
    """`channel_sets_sql`'s answer from the stored cycles: (players, one mask per channel
    set, its cycles, conversions and exact value), the players every label seen, sorted."""
    paths = cycle_paths(store)
    candidates = sorted({label for labels, *_ in paths for label in labels})
    index = {label: i for i, label in enumerate(candidates)}
    sets: dict[int, list[Any]] = {}
    for labels, converts, n, value in paths:
        mask = 0
        for label in labels:
            mask |= 1 << index[label]
        entry = sets.setdefault(mask, [0, 0, 0])
        entry[0] += n
        if converts:
            entry[1] += n
            entry[2] += value
    masks = sorted(sets)  # a fixed order: the transforms add the same numbers alike
    return (
        candidates,
        masks,
        [float(sets[m][0]) for m in masks],
        [float(sets[m][1]) for m in masks],
        [float(sets[m][2]) for m in masks],
    )


def _shapley(
    store: Store, scope: Scope, by: str | None
) -> tuple[list[dict[str, Any]], float, float, dict[str, Any]]:
    """Exact Shapley credit per label from one engine row per observed channel set: dense
    transforms while the players seen are few, the per-set sums beyond (same numbers)."""
    import numpy as np

    if _from_cycles(scope, by):
        candidates, wide, counts, conv, val = _cycle_sets(store)
    else:
        paths = path_sql(scope, _label_for(by), revenue="last")
        candidates = _candidate_players(store, paths, scope.params(), by)
        players = {f"player_{i}": p for i, p in enumerate(candidates)}
        rows = store.query(channel_sets_sql(paths, len(candidates)), {**scope.params(), **players})
        words = (len(candidates) + MAX_MASK_BITS - 1) // MAX_MASK_BITS
        masked = sorted(
            (sum(int(r[f"mask{w}"] or 0) << (MAX_MASK_BITS * w) for w in range(words)), i)
            for i, r in enumerate(rows)
        )
        # The sets in a fixed order (the engine's grouping has none), as read from the cycles.
        wide = [m for m, _ in masked]
        rows = [rows[i] for _, i in masked]
        counts = [float(r["cycles"]) for r in rows]
        conv = [float(r["conversions"] or 0) for r in rows]
        val = [float(r["value"] or 0) for r in rows]
    _check_cycle_sizes(wide, conv, by)
    union = 0
    for m in wide:
        union |= m
    seen = [i for i in range(len(candidates)) if union >> i & 1]
    if not seen:
        return [], 0.0, 0.0, {}
    if len(seen) <= MAX_DENSE_PLAYERS:
        # Renumber the bits of the players actually seen: 2^n, not 2^(catalog size), sets.
        local = np.array(
            [sum(1 << j for j, i in enumerate(seen) if m >> i & 1) for m in wide], dtype=np.int64
        )
        dense = shapley_from_sets(len(seen), local, np.array(counts), np.array(conv), np.array(val))
        credit = {i: (float(c), float(v)) for i, c, v in zip(seen, *dense, strict=True)}
    else:
        credit = shapley_by_sets(wide, counts, conv, val)
    out = [
        {**_split_label(candidates[i], by), "conversions": c, "value": v}
        for i, (c, v) in credit.items()
    ]
    return out, math.fsum(conv), math.fsum(val), {"channel_sets": len(wide)}


# -- entry point ---------------------------------------------------------------------------
class AttributionOptions(Options):
    model: str = Field(
        "linear", description="first, last, linear, position, time-decay, markov or shapley."
    )
    order: int | str = Field(1, description="Markov order: 1, 2, 3, 4 or auto.")
    half_life: str = Field("7d", description="Half-life of time-decay credit, like 7d.")
    by: str | None = Field(None, description="phase: credit per touchpoint and phase.")
    details: bool = Field(
        False, description="Markov: add the transition matrix and removal effects."
    )


def attribution(store: Store, scope: Scope, options: AttributionOptions) -> dict[str, Any]:
    """Credit of each touchpoint (and phase, with `by="phase"`) for the converting cycles.

    Result: `{"model", "rows": [{"touchpoint", ["phase",] "conversions", "value",
    "share"}], "total_conversions", "total_value"}` sorted by share (largest first); markov
    adds "order" (and "order_scores" with --order auto) and, with `details`,
    "transition_matrix", "removal_effects" and "conversion_probability"; shapley adds
    "channel_sets". Markov and Shapley value = share × revenue.
    """
    model, order, half_life, by = options.model, options.order, options.half_life, options.by
    details = options.details
    checked = _check(model, order, by)
    h = parse_duration(half_life, "--half-life")
    if model == "time-decay" and h <= 0:
        raise UsageError(f"--half-life {half_life!r}: must be more than 0")
    extra: dict[str, Any] = {}
    if model in HEURISTIC_MODELS:
        rows, total, value = _heuristic(store, scope, model, h, by)
    elif model == "markov":
        rows, total, value, extra = _markov(store, scope, checked, by, details)
    else:
        rows, total, value, extra = _shapley(store, scope, by)
    credited = math.fsum(r["conversions"] for r in rows)  # exactly rounded, in any order
    for r in rows:
        r["share"] = r["conversions"] / credited if credited > 0 else 0.0
    rows = [r for r in rows if r["conversions"] > 0 or r["value"] > 0]
    rows.sort(key=lambda r: (-r["share"], r["touchpoint"], r.get("phase", "")))
    result: dict[str, Any] = {"model": model}
    if "order" in extra:
        result["order"] = extra.pop("order")
    result.update(
        {"rows": rows, "total_conversions": int(round(total)), "total_value": value, **extra}
    )
    if model == "time-decay":
        result["half_life_seconds"] = h
    return result


class Credit(ResultModel):
    touchpoint: str
    phase: str | None = Field(None, description="With --by phase only.")
    conversions: float
    value: float
    share: float


class AttributionResult(ResultModel):
    model_config = ConfigDict(extra="allow")  # the model's own details (order, matrix, ...)

    model: str
    order: int | None = None
    rows: list[Credit]
    total_conversions: int
    total_value: float


register(
    Analysis(
        name="attribution",
        summary="Which touchpoints drive conversions: first, last, linear, position, time-decay, Markov, Shapley.",
        run=attribution,
        options=AttributionOptions,
        result=AttributionResult,
        scope=JOURNEY_SCOPE,
    )
)
