"""What is it worth to fix a touchpoint? (`touchpoints whatif`)

The answer runs through the same absorbing Markov chain as `attribution --model markov`
(order 1), solved exactly. For `--abandonment` and `--csat` the touchpoint X is split by
outcome in the state labels, so the chain learns where each kind of contact leads:

- abandonment: `X~abandoned` (abandoned = true), `X~answered` (abandoned = false) and `X`
  (no service outcome recorded: not a service contact);
- csat: `X~unsatisfied` (csat 1-3), `X~satisfied` (csat 4-5) and `X` (not rated).

The observed bad share o is the share of the measured transitions into X (abandoned among
offered, or 1-3 among rated) that go to the bad sub-state: SPEC §4's abandonment rate, or
1 - CSAT/100, over journey steps. The scenario moves probability mass between the two
measured sub-states in every row of the transition matrix, proportionally, so that the
overall bad share becomes the target t: towards t < o each bad transition keeps t/o of its
mass and hands the rest to the good sub-state; towards t > o each good transition keeps
(1 - t)/(1 - o). Rows keep their sums, the unmeasured `X` state is untouched, and t = o
leaves the chain as it is. P(conversion) is then solved again; the predicted conversions
are the converting cycles x P'/P (revenue likewise: the mean purchase value is assumed
unchanged). `--remove` is the removal effect: conversions lost when X is taken out of
every path (its transitions go to null).

CSAT targets use the 0-100 scale of SPEC §4 and the catalog (`target: {csat: 85}`);
abandonment targets are shares 0-1 like `abandonment_rate`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import Field

from touchpoints.analytics.registry import JOURNEY_SCOPE, Analysis, Options, ResultModel, register
from touchpoints.analytics.scope import Scope
from touchpoints.core.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

    from touchpoints.store.base import Store

# Per scenario: the sub-state suffixes (bad, good) and the SQL condition of each.
SPLITS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "abandonment": (("abandoned", "abandoned = TRUE"), ("answered", "abandoned = FALSE")),
    "csat": (("unsatisfied", "csat <= 3"), ("satisfied", "csat >= 4")),
}
METHOD = {
    "abandonment": (
        "Order-1 absorbing Markov chain with {tp} split into abandoned/answered contacts; every "
        "transition into {tp} is re-weighted so that the abandoned share equals the target, "
        "P(conversion) is solved exactly again, and conversions scale by P'/P."
    ),
    "csat": (
        "Order-1 absorbing Markov chain with {tp} split into unsatisfied (CSAT 1-3) and "
        "satisfied (4-5) contacts; every transition into {tp} is re-weighted so that the "
        "satisfied share equals the target, P(conversion) is solved exactly again, and "
        "conversions scale by P'/P."
    ),
    "remove": (
        "Removal effect in the order-1 absorbing Markov chain: {tp} is taken out of every path "
        "(its transitions go to null) and P(conversion) is solved exactly again; conversions "
        "scale by P'/P."
    ),
}


def split_label_sql(touchpoint: str, scenario: str) -> tuple[str, dict[str, str]]:
    """The state label: X's steps tagged by outcome, every other step by its touchpoint;
    with the values its markers bind."""
    (bad, bad_when), (good, good_when) = SPLITS[scenario]
    sql = (
        f"CASE WHEN touchpoint = $whatif_tp AND {bad_when} THEN $whatif_bad "
        f"WHEN touchpoint = $whatif_tp AND {good_when} THEN $whatif_good "
        "ELSE touchpoint END"
    )
    values = {
        "whatif_tp": touchpoint,
        "whatif_bad": f"{touchpoint}~{bad}",
        "whatif_good": f"{touchpoint}~{good}",
    }
    return sql, values


def reweight(P: np.ndarray, bad: int, good: int, observed: float, target: float) -> np.ndarray:
    """P with every row's mass into columns `bad`/`good` re-split so that the overall bad
    share moves from `observed` to `target` (see the module docstring); rows keep their sums."""
    Q = P.copy()
    if target <= observed:
        keep = 1.0 if observed == 0 else target / observed
        moved = Q[:, bad] * (1.0 - keep)
        Q[:, bad] -= moved
        Q[:, good] += moved
    else:
        keep = (1.0 - target) / (1.0 - observed)
        moved = Q[:, good] * (1.0 - keep)
        Q[:, good] -= moved
        Q[:, bad] += moved
    return Q


def close_traps(P: np.ndarray) -> np.ndarray:
    """P with every state that can no longer reach conversion or null sent to null.

    Re-weighting can close a loop: if every answered contact at X was followed by an
    abandoned one, abandonment 0 turns X~answered into a state that only returns to itself.
    Such a state never converts (its conversion probability is exactly 0), which is what
    sending it to null says, while keeping I - Q invertible.
    """
    import numpy as np

    edges = P > 0
    reach = np.zeros(len(P), dtype=bool)
    reach[[1, 2]] = True
    while True:
        more = reach | (edges & reach[None, :]).any(axis=1)
        if (more == reach).all():
            break
        reach = more
    if reach.all():
        return P
    Q = P.copy()
    Q[~reach, :] = 0.0
    Q[~reach, 2] = 1.0
    return Q


def _check(touchpoint: str, abandonment: float | None, csat: float | None, remove: bool) -> str:
    """The one scenario asked for, after checking its value; UsageError otherwise."""
    chosen = [
        name
        for name, given in (
            ("abandonment", abandonment is not None),
            ("csat", csat is not None),
            ("remove", remove),
        )
        if given
    ]
    if not chosen:
        raise UsageError(
            "whatif needs a scenario: --abandonment RATE (0-1), --csat SCORE (0-100) or --remove"
        )
    if len(chosen) > 1:
        raise UsageError(
            "whatif takes one scenario at a time: --abandonment, --csat or --remove, not "
            + " and ".join(f"--{c}" for c in chosen)
        )
    if abandonment is not None and not (math.isfinite(abandonment) and 0.0 <= abandonment <= 1.0):
        raise UsageError(
            f"--abandonment {abandonment:g}: use a share between 0 and 1 (0.05 = 5 % abandoned)"
        )
    if csat is not None and not (math.isfinite(csat) and 0.0 <= csat <= 100.0):
        raise UsageError(
            f"--csat {csat:g}: use a CSAT score between 0 and 100 (85 = 85 % of answers are 4 or 5)"
        )
    if not touchpoint:
        raise UsageError("whatif needs --touchpoint ID")
    return chosen[0]


def _transitions_into(model: Any, label: str) -> float:
    return float(model.counts[:, model.labels.index(label)].sum()) if label in model.labels else 0.0


def _result(
    touchpoint: str,
    scenario: dict[str, Any],
    observed: dict[str, Any],
    model: Any,
    p_now: float,
    p_new: float,
    method: str,
) -> dict[str, Any]:
    ratio = p_new / p_now if p_now > 0 else 0.0
    conv_now = float(model.conversions)
    value_now = float(model.value)
    conv_new, value_new = conv_now * ratio, value_now * ratio
    return {
        "touchpoint": touchpoint,
        "scenario": scenario,
        "observed": observed,
        "conversion_probability": {"now": p_now, "scenario": p_new},
        "conversions": {
            "now": int(model.conversions),
            "scenario": conv_new,
            "change": conv_new - conv_now,
        },
        "value": {
            "now": value_now,
            "scenario": value_new,
            "change": value_new - value_now,
        },
        "method": method,
    }


class WhatifOptions(Options):
    touchpoint: str | None = Field(
        None, description="The touchpoint to change (an id of the catalog)."
    )
    abandonment: float | None = Field(
        None, description="Target abandonment rate, a share 0-1 (0.05 = 5 %)."
    )
    csat: float | None = Field(None, description="Target CSAT, 0-100 (share of answers 4-5).")
    remove: bool = Field(False, description="Take the touchpoint out of every journey.")


def whatif(store: Store, scope: Scope, options: WhatifOptions) -> dict[str, Any]:
    """Predicted conversions and revenue if a touchpoint met a target abandonment rate
    (share 0-1), a target CSAT (0-100), or disappeared (`remove`): an order-1 Markov chain
    of the journeys, re-solved exactly with the touchpoint changed."""
    from touchpoints.analytics.attribution import fit_markov

    touchpoint = options.touchpoint or ""
    abandonment, csat, remove = options.abandonment, options.csat, options.remove
    kind = _check(touchpoint, abandonment, csat, remove)
    entry = store.catalog().get(touchpoint)
    if entry is None or not entry.is_touchpoint:
        raise UsageError(f"--touchpoint {touchpoint!r}: not a touchpoint of the catalog")
    method = METHOD[kind].format(tp=touchpoint)

    if kind == "remove":
        model = fit_markov(store, scope, order=1)
        steps = _transitions_into(model, touchpoint)
        if not steps:
            raise UsageError(f"no journey steps at {touchpoint!r} in the selected events")
        p_now = model.conversion_probability()
        p_new = model.conversion_probability(frozenset({touchpoint}))
        return _result(
            touchpoint, {"remove": True}, {"steps": int(steps)}, model, p_now, p_new, method
        )

    (bad_suffix, _), (good_suffix, _) = SPLITS[kind]
    bad, good = f"{touchpoint}~{bad_suffix}", f"{touchpoint}~{good_suffix}"
    label, values = split_label_sql(touchpoint, kind)
    model = fit_markov(store, scope, order=1, label_sql=label, params=values)
    n_bad, n_good = _transitions_into(model, bad), _transitions_into(model, good)
    if not (n_bad + n_good + _transitions_into(model, touchpoint)):
        raise UsageError(f"no journey steps at {touchpoint!r} in the selected events")
    if not n_bad + n_good:
        what = (
            "service contacts (rows with 'abandoned' set)"
            if kind == "abandonment"
            else "CSAT answers"
        )
        raise UsageError(f"no {what} at {touchpoint!r} in the selected events: nothing to change")
    observed_bad = n_bad / (n_bad + n_good)
    target_bad = float(abandonment) if kind == "abandonment" else 1.0 - float(csat or 0.0) / 100.0
    if kind == "abandonment":
        scenario: dict[str, Any] = {"abandonment": float(abandonment or 0.0)}
        observed: dict[str, Any] = {
            "abandonment": observed_bad,
            "contacts": int(n_bad + n_good),
            "abandoned": int(n_bad),
        }
    else:
        scenario = {"csat": float(csat or 0.0)}
        observed = {
            "csat": 100.0 * (1.0 - observed_bad),
            "answers": int(n_bad + n_good),
            "unsatisfied": int(n_bad),
        }
    P = model.probabilities()
    p_now = model.conversion_probability(P=P)
    if math.isclose(target_bad, observed_bad, rel_tol=0.0, abs_tol=1e-12):
        return _result(touchpoint, scenario, observed, model, p_now, p_now, method)
    missing = bad if target_bad > observed_bad else good
    if missing not in model.labels:
        raise UsageError(
            f"no {missing.split('~')[1]} contacts at {touchpoint!r} in the selected events: "
            "the chain cannot tell where they would lead"
        )
    Q = reweight(P, model.labels.index(bad), model.labels.index(good), observed_bad, target_bad)
    p_new = model.conversion_probability(P=close_traps(Q))
    return _result(touchpoint, scenario, observed, model, p_now, p_new, method)


class Change(ResultModel):
    now: float
    scenario: float
    change: float


class WhatifResult(ResultModel):
    touchpoint: str
    scenario: dict[str, float | bool]
    observed: dict[str, float | int]
    conversion_probability: dict[str, float]
    conversions: Change
    value: Change
    method: str


register(
    Analysis(
        name="whatif",
        summary="What if a touchpoint met a target (abandonment, CSAT) or disappeared: conversions and revenue.",
        run=whatif,
        options=WhatifOptions,
        result=WhatifResult,
        # --touchpoint names the touchpoint to change, not a filter.
        scope=tuple(f for f in JOURNEY_SCOPE if f != "touchpoint"),
        table="",  # one scenario: the whole answer is one row (CSV, to_pandas)
    )
)
