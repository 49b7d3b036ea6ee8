"""Absorbing Markov chains over journey states, solved exactly: the arithmetic behind
`attribution --model markov`, `whatif` and the attribution findings of `insights`.

attribution.py counts the transitions in the engine (`transitions_sql`); this module turns
a list of transition counts into the chain, P(conversion) and removal effects, with NumPy
linear algebra for chains up to `DENSE_LIMIT` states and sparse fixed-point products beyond.
Nothing here reads a store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
SEP = ">"  # joins the touchpoints of a k-tuple state, as ChannelAttribution prints them
# Chains with more states than this are solved with sparse products (see sparse_effects):
# a dense (I - Q) of 18,000 order-4 states would need 2.6 GB and minutes per solve.
DENSE_LIMIT = 2000
SPARSE_TOLERANCE = 1e-15
SPARSE_MAX_ITERATIONS = 1_000_000
# Pseudo-count pulling a state's held-out conversion estimate toward the overall rate.
AUTO_PRIOR = 1.0


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
        import numpy as np

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
        import numpy as np

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


def model_from_rows(order: int, rows: list[dict[str, Any]]) -> MarkovModel:
    """The chain from transition rows (src, dst, n, value) as `transitions_sql` groups them;
    states sorted, so the same counts give the same matrix whatever order rows came in."""
    import numpy as np

    states = sorted({r[k] for r in rows for k in ("src", "dst")} - {START, CONVERSION, NULL})
    labels = [START, CONVERSION, NULL, *states]
    index = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), len(labels)), dtype=np.int64)
    conversions, values = 0, []
    for r in rows:
        counts[index[r["src"]], index[r["dst"]]] += int(r["n"])
        if r["dst"] == CONVERSION:
            conversions += int(r["n"])
            values.append(float(r["value"] or 0))
    # fsum is exact whatever the order the engine returned the rows in.
    value = math.fsum(values)
    channels = sorted({c for s in states for c in s.split(SEP)})
    return MarkovModel(order, labels, counts, channels, conversions, value)


def transitions_from_paths(
    order: int, paths: Iterable[tuple[Sequence[str], int, int, Any]]
) -> list[dict[str, Any]]:
    """The rows `attribution.transitions_sql` groups (src, dst, n, value), counted from
    whole paths: `(labels, converts, cycles, value)` for `cycles` cycles that took the path.

    Each path step up to max(n - k + 1, 1) opens the k-tuple starting at it (a path shorter
    than k is one state); the transition into it comes from the previous tuple (or the
    start), and the last one exits to conversion, with the cycles' value, or to null."""
    counts: dict[tuple[str, str], int] = {}
    values: dict[tuple[str, str], Any] = {}
    for labels, converts, cycles, value in paths:
        last = max(len(labels) - order + 1, 1)
        prev = START
        for pos in range(last):
            state = SEP.join(labels[pos : pos + order])
            counts[prev, state] = counts.get((prev, state), 0) + cycles
            prev = state
        edge = (prev, CONVERSION if converts else NULL)
        counts[edge] = counts.get(edge, 0) + cycles
        if converts:
            values[edge] = values.get(edge, 0) + value
    return [
        {"src": src, "dst": dst, "n": n, "value": values.get((src, dst), 0)}
        for (src, dst), n in counts.items()
    ]


def outcome_score(
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


def sparse_effects(
    rows: list[dict[str, Any]],
) -> tuple[dict[str, float], float, list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Removal effects of a chain too large for dense algebra (order 3-4 over many
    touchpoints), from the transition list: x = Q x + r iterated with sparse products until
    no probability moves by more than 1e-15 (Q's spectral radius is below 1 because every
    path is absorbed; no sampling, so the result is deterministic and exact to rounding)."""
    import numpy as np

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
        import numpy as np

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
