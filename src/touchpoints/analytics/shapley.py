"""Exact Shapley credit over channel sets: the arithmetic behind `attribution --model shapley`.

The game (docs/attribution.md): r(T) = conversions / cycles of the cycles whose set of
labels (touchpoints, or touchpoint|phase pairs) is exactly T, and v(S) = Σ_{T ⊆ S} r(T).
v is a sum of unanimity games whose Harsanyi dividends are the r(T), so in the game
restricted to a converting set S the Shapley value of player j is
φ_j(S) = Σ_{T ⊆ S, j ∈ T} r(T)/|T|, and Σ_j φ_j(S) = v(S). Each converting set's
conversions (and revenue) are split in proportion φ_j(S)/v(S).

Two ways to the same numbers, chosen by `attribution._shapley` by cost:

- `shapley_from_sets`: dense subset/superset-sum transforms over all 2^n sets of n players,
  n·2^n additions whatever the number of observed sets (fast for a few players and many
  sets);
- `shapley_by_sets`: per observed converting set, over its own subsets (2^|S|, |S| the
  labels of one cycle) or over the observed sets (whichever is fewer), so the cost does not
  depend on the total number of players: 39 touchpoint|phase labels of a tyre retailer's
  journeys cost what their longest cycles cost, not 2^39.

Nothing here reads a store: attribution.py groups cycles by channel set in the engine and
hands over one row per set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

from collections.abc import Sequence


# -- dense: every subset of n players ------------------------------------------------------
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
    """Exact Shapley credit per player (conversions, value) from per-channel-set counts,
    by dense transforms over the 2^n sets of `n` players (`masks` use bits 0..n-1).

    Summed over converting sets S: credit_j = Σ_{T ∋ j} r(T)/|T| · W(T), with
    W(T) = Σ_{S ⊇ T} conversions(S)/v(S).
    """
    import numpy as np

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


# -- sparse: the subsets of each observed converting set -----------------------------------
def _subsets_with_dividends(s: int, rate: dict[int, float], dividends: list[int]) -> list[int]:
    """The sets T ⊆ s with a dividend r(T) > 0, walking whichever is shorter: the 2^|s|
    submasks of s, or the list of sets that have a dividend."""
    if 1 << s.bit_count() <= len(dividends):
        found = []
        sub = s
        while sub:
            if sub in rate:
                found.append(sub)
            sub = (sub - 1) & s
        return found
    return [t for t in dividends if t & s == t]


def shapley_by_sets(
    masks: Sequence[int],
    cycles: Sequence[float],
    conversions: Sequence[float],
    value: Sequence[float],
) -> dict[int, tuple[float, float]]:
    """Exact Shapley credit per player bit -> (conversions, value), from one row per
    observed channel set; `masks` are Python ints of any width (bit i = player i).

    Same game and same numbers as `shapley_from_sets` (to rounding), but the work is the
    sum over converting sets S of min(2^|S|, sets with conversions): it grows with the
    labels of the longest converting cycles, not with the number of players.
    """
    rate: dict[int, float] = {}
    for m, c, k in zip(masks, cycles, conversions, strict=True):
        if m and k > 0 and c > 0:
            rate[m] = rate.get(m, 0.0) + k / c
    dividends = sorted(rate)
    w_conv = dict.fromkeys(dividends, 0.0)
    w_val = dict.fromkeys(dividends, 0.0)
    for s, k, money in sorted(zip(masks, conversions, value, strict=True)):
        if not s or k <= 0:
            continue
        subsets = _subsets_with_dividends(s, rate, dividends)
        v = sum(rate[t] for t in subsets)  # > 0: s converts, so r(s) > 0
        for t in subsets:
            w_conv[t] += k / v
            w_val[t] += money / v
    credit: dict[int, list[float]] = {}
    for t in dividends:
        share = rate[t] / t.bit_count()
        rest = t
        while rest:
            low = rest & -rest
            j = low.bit_length() - 1
            entry = credit.setdefault(j, [0.0, 0.0])
            entry[0] += share * w_conv[t]
            entry[1] += share * w_val[t]
            rest ^= low
    return {j: (c, v) for j, (c, v) in sorted(credit.items())}
