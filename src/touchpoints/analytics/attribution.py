"""Attribution: which touchpoints of converting journey cycles get the credit (SPEC §5).

Every model distributes each converting cycle (SPEC §3) over the touchpoints of its path,
so for every model the `conversions` sum to the number of converting cycles in scope, the
`value` (the cycle's purchase `value`, its revenue) sums to their revenue and `share` sums
to 1. The path is the cycle's steps that pass the filters, in order; the purchase's
touchpoint is its last step.

Where the work runs:
- heuristic models (first, last, linear, position, time-decay): each step's credit is a
  window expression in the engine, grouped by touchpoint there; one row per touchpoint
  comes back;
- markov: states (k-tuples of consecutive touchpoints, ChannelAttribution's convention)
  and transition counts are built and grouped in the engine; Python receives the count
  matrix and solves the absorbing chain exactly (NumPy linear algebra, no simulation);
- shapley: cycles are grouped by their channel set (a bitmask) in the engine; Python
  receives at most 2^n rows and computes exact Shapley values with subset-sum transforms.

SQL is DuckDB's dialect, carried to PostgreSQL and Spark by sqlglot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from touchpoints.analytics.cycles import steps_relation
from touchpoints.analytics.registry import JOURNEY_SCOPE, Analysis, Options, register
from touchpoints.analytics.scope import Scope
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
START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
SEP = ">"  # joins the touchpoints of a k-tuple state, as ChannelAttribution prints them
PHASE_SEP = "|"  # joins touchpoint and phase into one label with --by phase
MAX_SHAPLEY_PLAYERS = 20
# Chains with more states than this are solved with sparse products (see _sparse_effects):
# a dense (I - Q) of 18,000 order-4 states would need 2.6 GB and minutes per solve.
DENSE_LIMIT = 2000
SPARSE_TOLERANCE = 1e-15
SPARSE_MAX_ITERATIONS = 1_000_000
MAX_MASK_BITS = 62  # a channel set travels from the engine as a BIGINT bitmask
# --order auto: cycles whose md5 starts with one of these hex digits are held out (1/4).
HELD_OUT_DIGITS = ("0", "1", "2", "3")
# Pseudo-count pulling a state's held-out conversion estimate toward the overall rate.
AUTO_PRIOR = 1.0


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
def _credit_sql(model: str, half_life_seconds: float) -> str:
    """Each step's share of its cycle's conversion (shares of a cycle sum to 1)."""
    one = "CAST(1 AS DOUBLE)"
    if model == "first":
        return f"CASE WHEN pos = 1 THEN {one} ELSE 0 END"
    if model == "last":
        return f"CASE WHEN pos = n THEN {one} ELSE 0 END"
    if model == "linear":
        return f"{one} / n"
    if model == "position":
        return (
            f"CASE WHEN n = 1 THEN {one} WHEN n = 2 THEN 0.5 "
            "WHEN pos = 1 OR pos = n THEN 0.4 ELSE 0.2 / (n - 2) END"
        )
    # time-decay: 0.5^(t/H), t = seconds before the conversion. Weights are taken relative to
    # the cycle's latest step (exponent t - min t), so the largest is 1 and a tiny half-life
    # cannot underflow every weight of a cycle to 0.
    return "power(0.5, (t - min(t) OVER (PARTITION BY cycle_id)) / $half_life)"


def _heuristic(
    store: Store, scope: Scope, model: str, h: float, by: str | None
) -> tuple[list[dict[str, Any]], float, float]:
    credit = _credit_sql(model, h)
    secs = seconds_between("ts", "cycle_end")
    paths = path_sql(scope, phase=by == "phase")
    inner = f"SELECT p.*, {secs} AS t FROM ({paths}) p WHERE p.converts = 1"
    if model == "time-decay":
        weighted = f"""SELECT w.*, w.raw / sum(w.raw) OVER (PARTITION BY w.cycle_id) AS credit
          FROM (SELECT q.*, {credit} AS raw FROM ({inner}) q) w"""
    else:
        weighted = f"SELECT q.*, {credit} AS credit FROM ({inner}) q"
    keys = "touchpoint, phase" if by == "phase" else "touchpoint"
    # A cycle's first step also carries the cycle into the totals (count and exact revenue).
    sql = f"""SELECT {keys}, sum(credit) AS conversions, sum(credit * cycle_value) AS value,
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
    return out, float(total), float(sum(float(r["revenue"] or 0) for r in rows))


# -- markov --------------------------------------------------------------------------------
@dataclass
class MarkovModel:
    """Transition counts of an order-k Markov chain over journey states, solved exactly.

    `labels[0..2]` are start, conversion and null; the rest are transient states, each a
    k-tuple of consecutive labels joined by ">" (a path shorter than k is one state holding
    the whole path, as in ChannelAttribution).
    """

    order: int
    labels: list[str]
    counts: np.ndarray
    channels: list[str]
    conversions: int
    value: float
    _state_channels: list[frozenset[str]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if not self._state_channels:
            self._state_channels = [frozenset()] * 3 + [
                frozenset(label.split(SEP)) for label in self.labels[3:]
            ]

    def probabilities(self) -> np.ndarray:
        """Row-stochastic matrix; conversion and null absorb, a state never left (start of
        an empty log) goes to null."""
        counts = self.counts.astype(float)
        totals = counts.sum(axis=1)
        P = np.divide(counts, totals[:, None], out=np.zeros_like(counts), where=totals[:, None] > 0)
        P[1, :], P[2, :] = 0.0, 0.0
        P[1, 1] = P[2, 2] = 1.0
        for i in np.flatnonzero(totals == 0):
            if i > 2:
                P[i, 2] = 1.0
        if totals[0] == 0:
            P[0, 2] = 1.0
        return P

    def conversion_probability(
        self, removed: frozenset[str] = frozenset(), P: np.ndarray | None = None
    ) -> float:
        """P(reaching conversion from start), with every state that contains a removed
        channel turned into null: solve (I − Q) x = r on the remaining transient states."""
        P = self.probabilities() if P is None else P
        keep = [0] + [
            i for i in range(3, len(self.labels)) if not (self._state_channels[i] & removed)
        ]
        Q = P[np.ix_(keep, keep)]
        r = P[keep, 1]
        x = np.linalg.solve(np.eye(len(keep)) - Q, r)
        return float(x[0])

    def removal_effects(self) -> dict[str, float]:
        """1 − P(conversion without c) / P(conversion), per channel (0 when nothing converts)."""
        P = self.probabilities()
        base = self.conversion_probability(P=P)
        if base <= 0:
            return {c: 0.0 for c in self.channels}
        return {
            c: 1.0 - self.conversion_probability(frozenset({c}), P) / base for c in self.channels
        }


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


def _model_from_rows(order: int, rows: list[dict[str, Any]]) -> MarkovModel:
    states = sorted({r[k] for r in rows for k in ("src", "dst")} - {START, CONVERSION, NULL})
    labels = [START, CONVERSION, NULL, *states]
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    conversions, value = 0, 0.0
    for r in rows:
        counts[index[r["src"]], index[r["dst"]]] += int(r["n"])
        if r["dst"] == CONVERSION:
            conversions += int(r["n"])
            value += float(r["value"] or 0)
    channels = sorted({c for s in states for c in s.split(SEP)})
    return MarkovModel(order, labels, counts, channels, conversions, value)


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
    return _model_from_rows(order, store.query(transitions_sql(scope, order, label_sql), values))


def _outcome_score(
    train_rows: list[dict[str, Any]], test_rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """Mean held-out log-likelihood of each cycle's outcome (conversion or null) given the
    state it ends in, the estimate smoothed toward the training conversion rate."""
    conv: dict[str, float] = {}
    null: dict[str, float] = {}
    for r in train_rows:
        if r["dst"] in (CONVERSION, NULL):
            side = conv if r["dst"] == CONVERSION else null
            side[r["src"]] = side.get(r["src"], 0.0) + int(r["n"])
    c_all, z_all = sum(conv.values()), sum(null.values())
    p0 = (c_all + 1.0) / (c_all + z_all + 2.0)
    total, cycles = 0.0, 0
    for r in test_rows:
        if r["dst"] not in (CONVERSION, NULL):
            continue
        c, z = conv.get(r["src"], 0.0), null.get(r["src"], 0.0)
        p = (c + AUTO_PRIOR * p0) / (c + z + AUTO_PRIOR)
        k = int(r["n"])
        total += k * math.log(p if r["dst"] == CONVERSION else 1.0 - p)
        cycles += k
    return {"log_likelihood": total / cycles if cycles else None, "held_out_cycles": cycles}


def choose_order(
    store: Store, scope: Scope, label_sql: str = "touchpoint"
) -> tuple[int, list[dict[str, Any]]]:
    """The order 1..4 whose chain, fitted on 3/4 of the cycles (split by md5 of cycle_id),
    best predicts the outcome of the held-out quarter; ties go to the lower order."""
    scores = []
    for order in MARKOV_ORDERS:
        rows = store.query(transitions_sql(scope, order, label_sql, folds=True), scope.params())
        train = [r for r in rows if int(r["fold"]) == 0]
        score = _outcome_score(train, [r for r in rows if int(r["fold"]) == 1])
        scores.append({"order": order, **score})
    valid = [s for s in scores if s["log_likelihood"] is not None]
    best = max(valid, key=lambda s: (s["log_likelihood"], -s["order"]))["order"] if valid else 1
    return best, scores


def _sparse_effects(
    rows: list[dict[str, Any]],
) -> tuple[dict[str, float], float, list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Removal effects of a chain too large for dense algebra (order 3-4 over many
    touchpoints), from the transition list: x = Q x + r iterated with sparse products until
    no probability moves by more than 1e-15 (Q's spectral radius is below 1 because every
    path is absorbed; no sampling, so the result is deterministic and exact to rounding)."""
    # Sorted, so the sums run in the same order whatever order the engine returned rows in.
    rows = sorted(rows, key=lambda r: (r["src"], r["dst"]))
    states = sorted({r[k] for r in rows for k in ("src", "dst")} - {START, CONVERSION, NULL})
    labels = [START, CONVERSION, NULL, *states]
    index = {label: i for i, label in enumerate(labels)}
    src = np.array([index[r["src"]] for r in rows], dtype=np.int64)
    dst = np.array([index[r["dst"]] for r in rows], dtype=np.int64)
    count = np.array([float(r["n"]) for r in rows])
    out = np.bincount(src, weights=count, minlength=len(labels))
    prob = count / out[src]
    channels = sorted({c for st in states for c in st.split(SEP)})
    members = {c: np.zeros(len(labels), dtype=bool) for c in channels}
    for i, st in enumerate(labels[3:], start=3):
        for c in set(st.split(SEP)):
            members[c][i] = True

    def reach(removed: np.ndarray) -> float:
        x = np.zeros(len(labels))
        x[1] = 1.0
        for _ in range(SPARSE_MAX_ITERATIONS):
            y = np.bincount(src, weights=prob * x[dst], minlength=len(labels))
            y[1], y[2] = 1.0, 0.0
            y[removed] = 0.0
            if np.max(np.abs(y - x)) <= SPARSE_TOLERANCE:
                return float(y[0])
            x = y
        return float(x[0])

    base = reach(np.zeros(len(labels), dtype=bool))
    effects = {c: (1.0 - reach(members[c]) / base if base > 0 else 0.0) for c in channels}
    return effects, base, labels, src, dst, count, prob


def _markov(
    store: Store,
    scope: Scope,
    order: int | str,
    by: str | None,
    details: bool,
) -> tuple[list[dict[str, Any]], float, float, dict[str, Any]]:
    label = _label_for(by)
    extra: dict[str, Any] = {}
    if order == "auto":
        order, scores = choose_order(store, scope, label)
        extra["order_scores"] = scores
    extra["order"] = int(order)
    transitions = store.query(transitions_sql(scope, int(order), label), scope.params())
    conversions = sum(int(r["n"]) for r in transitions if r["dst"] == CONVERSION)
    value = sum(float(r["value"] or 0) for r in transitions if r["dst"] == CONVERSION)
    states = {r[k] for r in transitions for k in ("src", "dst")}
    if len(states) <= DENSE_LIMIT:
        model = _model_from_rows(int(order), transitions)
        effects = model.removal_effects()
        P = model.probabilities()
        matrix = [
            (model.labels[i], model.labels[j], int(model.counts[i, j]), float(P[i, j]))
            for i, j in zip(*np.nonzero(model.counts), strict=True)
        ]
        probability = model.conversion_probability(P=P)
    else:
        effects, probability, labels, src, dst, count, prob = _sparse_effects(transitions)
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
def _zeta_subsets(a: np.ndarray, n: int) -> np.ndarray:
    """out[S] = Σ_{T ⊆ S} a[T] (subset-sum transform, n·2^n additions)."""
    a = a.copy()
    for i in range(n):
        v = a.reshape(-1, 2, 1 << i)
        v[:, 1, :] += v[:, 0, :]
    return a


def _zeta_supersets(a: np.ndarray, n: int) -> np.ndarray:
    """out[T] = Σ_{S ⊇ T} a[S]."""
    a = a.copy()
    for i in range(n):
        v = a.reshape(-1, 2, 1 << i)
        v[:, 0, :] += v[:, 1, :]
    return a


def shapley_from_sets(
    n: int, masks: np.ndarray, cycles: np.ndarray, conversions: np.ndarray, value: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact Shapley credit per player (conversions, value) from per-channel-set counts.

    r(T) = conversions(T) / cycles(T) is the conversion rate of cycles whose channel set is
    exactly T, and v(S) = Σ_{T ⊆ S} r(T). The Shapley value of player j in the game
    restricted to a converting set S is φ_j(S) = Σ_{T ⊆ S, j ∈ T} r(T)/|T| (r are the
    game's Harsanyi dividends), and Σ_j φ_j(S) = v(S); each converting set's conversions
    (and value) are split in proportion φ_j(S)/v(S). Summed over sets:
    credit_j = Σ_{T ∋ j} r(T)/|T| · W(T), W(T) = Σ_{S ⊇ T} conversions(S)/v(S).
    """
    size = 1 << n
    rate = np.zeros(size)
    conv = np.zeros(size)
    val = np.zeros(size)
    rate[masks] = np.where(cycles > 0, conversions / np.maximum(cycles, 1), 0.0)
    conv[masks] = conversions
    val[masks] = value
    v = _zeta_subsets(rate, n)
    bits = np.arange(size, dtype=np.int64)
    popcount = np.zeros(size, dtype=np.int64)
    for i in range(n):
        popcount += (bits >> i) & 1
    dividend = np.divide(rate, popcount, out=np.zeros(size), where=popcount > 0)
    converting = conv > 0
    w_conv = np.divide(conv, v, out=np.zeros(size), where=converting)
    w_val = np.divide(val, v, out=np.zeros(size), where=converting)
    W_conv = _zeta_supersets(w_conv, n) * dividend
    W_val = _zeta_supersets(w_val, n) * dividend
    credit_conv = np.empty(n)
    credit_val = np.empty(n)
    for j in range(n):
        member = ((bits >> j) & 1).astype(bool)
        credit_conv[j] = W_conv[member].sum()
        credit_val[j] = W_val[member].sum()
    return credit_conv, credit_val


def _candidate_players(
    store: Store, paths: str, params: dict[str, Any], by: str | None
) -> list[str]:
    """Every label a step can carry: the catalog's touchpoints (× phases with --by phase),
    known without reading the events; or, for a catalog too large for a 63-bit mask, the
    distinct labels in scope (one more pass)."""
    ids = sorted(t.id for t in store.catalog().touchpoints)
    labels = ids if by is None else [f"{t}{PHASE_SEP}{p}" for t in ids for p in PHASES]
    if len(labels) <= MAX_MASK_BITS:
        return labels
    rows = store.query(f"SELECT DISTINCT label FROM ({paths}) p ORDER BY label", params)
    return [r["label"] for r in rows]


def _shapley(
    store: Store, scope: Scope, by: str | None
) -> tuple[list[dict[str, Any]], float, float, dict[str, Any]]:
    paths = path_sql(scope, _label_for(by), revenue="last")
    candidates = _candidate_players(store, paths, scope.params(), by)
    if len(candidates) > MAX_MASK_BITS:
        raise UsageError(
            f"--model shapley: {len(candidates)} touchpoints in scope, exact Shapley supports "
            f"at most {MAX_SHAPLEY_PLAYERS}; narrow it with --touchpoint, --channel or --phase"
        )
    bit = " ".join(f"WHEN $player_{i} THEN {1 << i}" for i in range(len(candidates)))
    players = {f"player_{i}": p for i, p in enumerate(candidates)}
    sql = f"""SELECT mask, count(*) AS cycles, sum(converts) AS conversions,
        sum(CAST(cycle_value AS DECIMAL(38, 6)) * converts) AS value
      FROM (
        SELECT cycle_id, max(converts) AS converts, sum(cycle_value) AS cycle_value,
          sum(DISTINCT CASE label {bit} END) AS mask
        FROM ({paths}) p GROUP BY cycle_id
      ) c GROUP BY mask"""
    rows = store.query(sql, {**scope.params(), **players})
    wide = np.array([int(r["mask"]) for r in rows], dtype=np.int64)
    seen = [i for i in range(len(candidates)) if any((wide >> i) & 1)]
    n = len(seen)
    if n > MAX_SHAPLEY_PLAYERS:
        raise UsageError(
            f"--model shapley: {n} touchpoints in scope, exact Shapley supports at most "
            f"{MAX_SHAPLEY_PLAYERS}; narrow it with --touchpoint, --channel or --phase"
        )
    if n == 0:
        return [], 0.0, 0.0, {}
    # Renumber the bits of the players actually seen: 2^n, not 2^(catalog size), sets.
    masks = np.zeros(len(rows), dtype=np.int64)
    for j, i in enumerate(seen):
        masks |= ((wide >> i) & 1) << j
    counts = np.array([float(r["cycles"]) for r in rows])
    conv = np.array([float(r["conversions"] or 0) for r in rows])
    val = np.array([float(r["value"] or 0) for r in rows])
    credit_conv, credit_val = shapley_from_sets(n, masks, counts, conv, val)
    out = [
        {**_split_label(candidates[i], by), "conversions": float(c), "value": float(v)}
        for i, c, v in zip(seen, credit_conv, credit_val, strict=True)
    ]
    return out, float(conv.sum()), float(val.sum()), {"channel_sets": len(rows)}


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
    credited = sum(r["conversions"] for r in rows)
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


class Credit(BaseModel):
    touchpoint: str
    phase: str | None = Field(None, description="With --by phase only.")
    conversions: float
    value: float
    share: float


class AttributionResult(BaseModel):
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
