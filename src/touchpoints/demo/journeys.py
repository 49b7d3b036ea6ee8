"""Journeys of the demo, drawn for a whole chunk of customers at once: discovery, visits
and questions before the purchase, the purchase, what follows it, lost sales; how each
service contact went (waits, handling, agents, resolution) and how customers felt; the
survey and its comments. `simulate()` gives one chunk's events as NumPy columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from touchpoints.demo.story import (
    AFTER,
    APP,
    BANK,
    BROKEN,
    BUY,
    BUY_AT,
    BUY_W,
    CLOSED_SUNDAY,
    COMMENT_SHARE,
    CUM_HOURS,
    DAY,
    DISCOVERY,
    DISCOVERY_W,
    ENGLISH_SHARE,
    FEEDBACK,
    GAP_DAYS,
    GOOD_COMMENT_BY_TP,
    HANDLE_BASE,
    HOUR,
    HOUR_BEFORE,
    HUMAN,
    INFO,
    INFO_W,
    INTERACTION,
    KEPT,
    LOAD,
    LOST,
    MADE,
    MAX_JOURNEYS,
    MESSAGING,
    MONDAY_LOAD,
    NIGHT,
    NO_EMOTION,
    NULL8,
    P_CONVERT,
    P_FIRST_DISCOVERY_REPEAT,
    P_INFO,
    P_MORE_DISCOVERY,
    P_VISIT,
    PATIENCE,
    PHASES,
    PRE,
    PROMISING,
    PURCHASE,
    RATING_SHARE,
    RETAIL,
    ROSTER,
    SEGMENT_SHARE,
    SEGMENTS,
    SERVICE,
    SHORT_ABANDON_SHARE,
    SUPPORT,
    SUPPORT_W,
    SURVEY,
    TP,
    TYRES,
    TYRES_W,
    UTC_OFFSET,
    WAIT_BASE,
    YEAR_DAYS,
    _codes,
)


# -- small vectorized helpers ------------------------------------------------------------------
def _weekday(day: np.ndarray) -> np.ndarray:
    """Monday = 0 for days since 1970-01-01 (a Thursday)."""
    return (day + 3) % 7


def _clock(rng: np.random.Generator, day: np.ndarray, tp: np.ndarray | int) -> np.ndarray:
    """Local epoch seconds on `day` at an hour typical of the touchpoint, skipping its closed Sunday."""
    day = np.asarray(day, dtype=np.int64)
    tp = np.broadcast_to(np.asarray(tp, dtype=np.int64), day.shape)
    day = day + (CLOSED_SUNDAY[tp] & (_weekday(day) == 6))
    u = rng.random(day.shape)
    hour = np.minimum((CUM_HOURS[tp] < u[:, None]).sum(axis=1), 23)
    return day * DAY + hour * HOUR + rng.integers(0, HOUR, day.shape)


def _pick(
    rng: np.random.Generator, choices: np.ndarray, weights: np.ndarray, row: np.ndarray
) -> np.ndarray:
    """One choice per element; `weights[row[i]]` are element i's weights (e.g. by segment)."""
    cum = np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True)
    u = rng.random(len(row))
    return choices[np.minimum((cum[row] < u[:, None]).sum(axis=1), len(choices) - 1)]


def _minutes(rng: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
    return rng.integers(low * 60, high * 60 + 1, n)


def _day_of(t: np.ndarray) -> np.ndarray:
    return t // DAY


# -- journeys and their steps ------------------------------------------------------------------
@dataclass(frozen=True)
class Journeys:
    """One row per journey: whose it is, the segment, the day it starts (the tyre bursts)."""

    customer: np.ndarray
    segment: np.ndarray
    day0: np.ndarray
    repeat: np.ndarray  # not the customer's first journey: they know the shop

    def __len__(self) -> int:
        return len(self.customer)


def _journeys(rng: np.random.Generator, n_customers: int, first_day: int) -> Journeys:
    """Customers' journeys over the year: one for most, a few more for app drivers, monthly for fleets."""
    seg = rng.choice(3, size=n_customers, p=SEGMENT_SHARE)
    extra = np.select(
        [seg == RETAIL, seg == APP],
        [(rng.random(n_customers) < 0.15).astype(np.int64) + (rng.random(n_customers) < 0.03),
         rng.binomial(2, 0.35, n_customers)],
        rng.poisson(2.5, n_customers),
    )  # fmt: skip
    count = 1 + np.minimum(extra, MAX_JOURNEYS - 1)
    gaps = rng.integers(GAP_DAYS[seg, :1], GAP_DAYS[seg, 1:] + 1, (n_customers, MAX_JOURNEYS))
    gaps[:, 0] = rng.integers(0, YEAR_DAYS - 5, n_customers)
    offset = np.cumsum(gaps, axis=1)
    ok = (np.arange(MAX_JOURNEYS) < count[:, None]) & (offset < YEAR_DAYS - 2)
    cust, k = np.nonzero(ok)
    return Journeys(cust, seg[cust], first_day + offset[cust, k], k > 0)


class _Rows:
    """Event rows collected slot by slot; `build` concatenates them into columns."""

    DEFAULTS: dict[str, tuple[type, float]] = {
        "journey": (np.int64, 0),
        "tp": (np.int8, 0),
        "t": (np.int64, 0),
        "stage": (np.int8, PRE),
        "slot": (np.int16, 0),
        "action": (np.int8, INTERACTION),
        "value": (np.float64, np.nan),
        "promise": (np.int8, NULL8),
        "phase": (np.int8, NULL8),
        "repeat": (np.bool_, False),
    }

    def __init__(self) -> None:
        self._parts: list[dict[str, np.ndarray]] = []

    def add(
        self, journey: np.ndarray, tp: np.ndarray | int, t: np.ndarray, stage: int, **extra: object
    ) -> None:
        n = len(journey)
        given = {
            "journey": journey,
            "tp": tp,
            "t": t,
            "stage": stage,
            "slot": len(self._parts),
            **extra,
        }
        self._parts.append(
            {
                k: np.broadcast_to(np.asarray(v, dtype=self.DEFAULTS[k][0]), (n,))
                for k, v in given.items()
            }
        )

    def build(self) -> dict[str, np.ndarray]:
        columns = {}
        for key, (dtype, default) in self.DEFAULTS.items():
            pieces = [p.get(key, np.full(len(p["t"]), default, dtype=dtype)) for p in self._parts]
            columns[key] = np.concatenate(pieces) if pieces else np.zeros(0, dtype=dtype)
        return columns


def _before_purchase(rng: np.random.Generator, jr: Journeys, rows: _Rows) -> np.ndarray:
    """Discovery, a store visit, the invisible think, more information. Returns each journey's
    last day with an event so far (-1: none yet, as for a fleet's direct reorder)."""
    n = len(jr)
    seg = jr.segment
    last = np.full(n, -1, dtype=np.int64)

    def record(idx: np.ndarray, tp: np.ndarray | int, t: np.ndarray, **extra: object) -> None:
        rows.add(idx, tp, t, PRE, **extra)
        np.maximum.at(last, idx, _day_of(t))

    p_first = np.where(jr.repeat, P_FIRST_DISCOVERY_REPEAT[seg], 1.0)
    for i, p in enumerate((p_first, P_MORE_DISCOVERY[seg, 0], P_MORE_DISCOVERY[seg, 1])):
        idx = np.nonzero(rng.random(n) < p)[0]
        tp = _pick(rng, DISCOVERY, DISCOVERY_W, seg[idx])
        day = jr.day0[idx] + (rng.integers(0, 2, len(idx)) if i else 0)
        record(idx, tp, _clock(rng, day, tp))

    # The store visit: parking, the display at the door, the counter queue, the sales rep.
    visit = np.nonzero(rng.random(n) < P_VISIT[seg] * np.where(jr.repeat, 0.5, 1.0))[0]
    arrive = _clock(rng, jr.day0[visit] + rng.integers(1, 5, len(visit)), TP["store"])
    for tp, p, lo, hi in (("parking", 0.5, 0, 0), ("pos_display", 0.4, 1, 8), ("store", 0.9, 2, 10),
                          ("sales_rep", 0.55, 10, 30)):  # fmt: skip
        keep = rng.random(len(visit)) < p
        record(visit[keep], TP[tp], arrive[keep] + _minutes(rng, lo, hi, int(keep.sum())))

    # Away to think for days (no event), then back for more information.
    base = np.where(last >= 0, last, jr.day0)
    for i in range(2):
        idx = np.nonzero(rng.random(n) < P_INFO[seg, i])[0]
        tp = _pick(rng, INFO, INFO_W, seg[idx])
        day = base[idx] + rng.integers(2, 11 + 2 * i, len(idx))
        record(idx, tp, _clock(rng, day, tp), repeat=i == 1)
    return last


@dataclass(frozen=True)
class Purchases:
    """Every journey's would-be purchase (kept only if the journey converts)."""

    tp: np.ndarray
    t: np.ndarray
    promised: np.ndarray


def _purchase(rng: np.random.Generator, jr: Journeys, rows: _Rows, last: np.ndarray) -> Purchases:
    """The decision: where and when each journey would buy, and the hour before it."""
    n = len(jr)
    day = np.where(last >= 0, last + rng.integers(1, 5, n), jr.day0 + rng.integers(0, 3, n))
    tp = _pick(rng, BUY_AT, BUY_W, jr.segment)
    t = _clock(rng, day, tp)
    for name, steps in HOUR_BEFORE.items():
        at = np.nonzero(tp == TP[name])[0]
        for before, p, lo, hi in steps:
            idx = at[rng.random(len(at)) < p]
            rows.add(idx, TP[before], t[idx] - _minutes(rng, lo, hi, len(idx)), BUY)
    tyres = np.zeros(n)
    for s in range(len(SEGMENTS)):
        at = jr.segment == s
        tyres[at] = rng.choice(TYRES[s], size=int(at.sum()), p=TYRES_W[s])
    unit = np.clip(rng.lognormal(math.log(420), 0.3, n), 260, 900)
    value = np.round(tyres * unit, 2)
    promised = np.isin(tp, PROMISING) & (rng.random(n) < 0.6)
    promise = np.where(promised, MADE, NULL8)
    rows.add(np.arange(n), tp, t, BUY, action=PURCHASE, value=value, promise=promise)
    return Purchases(tp, t, promised)


def _after_purchase(rng: np.random.Generator, jr: Journeys, rows: _Rows, buy: Purchases) -> None:
    """Contract, SMS, delivery and fitting (where promises are kept or broken), support, e-mail."""
    n = len(jr)
    every = np.arange(n)

    def maybe(p: float | np.ndarray) -> np.ndarray:
        return np.nonzero(rng.random(n) < p)[0]

    idx = maybe(0.55)
    # The warranty is signed at the counter: a few shops tag it "during" themselves.
    phase = np.where(rng.random(len(idx)) < 0.04, PHASES.index("during"), NULL8)
    rows.add(idx, TP["contract"], buy.t[idx] + _minutes(rng, 2, 15, len(idx)), AFTER, phase=phase)
    idx = maybe(0.45)
    rows.add(idx, TP["sms"], buy.t[idx] + _minutes(rng, 10, 180, len(idx)), AFTER)

    # "Entrega amanhã": promised for the next open day; broken more often after Friday.
    buy_day = _day_of(buy.t)
    promised_day = buy_day + 1 + (_weekday(buy_day + 1) == 6)
    p_broken = np.where(_weekday(buy_day) >= 4, 0.3, 0.15)
    broken = buy.promised & (rng.random(n) < p_broken)
    day = np.where(buy.promised, promised_day, buy_day + rng.integers(1, 5, n))
    day = np.where(broken, promised_day + rng.integers(1, 5, n), day)
    delivered = (rng.random(n) < np.where(buy.tp == TP["website"], 0.95, 0.75)) | buy.promised
    outcome = np.where(broken, BROKEN, np.where(buy.promised, KEPT, NULL8))
    idx = every[delivered]
    day = day[idx]
    rows.add(idx, TP["delivery"], _clock(rng, day, TP["delivery"]), AFTER, promise=outcome[idx])

    # Support: "where is my order?" on the promised day when it was broken, later questions otherwise.
    idx = maybe(0.12 + 0.55 * broken)
    tp = _pick(rng, SUPPORT, SUPPORT_W, jr.segment[idx])
    day = np.where(broken[idx], promised_day[idx], buy_day[idx] + rng.integers(2, 41, len(idx)))
    rows.add(idx, tp, _clock(rng, day, tp), AFTER, repeat=broken[idx])
    idx = maybe(0.06 + 0.25 * broken)
    tp = _pick(rng, SUPPORT, SUPPORT_W, jr.segment[idx])
    rows.add(
        idx, tp, _clock(rng, buy_day[idx] + rng.integers(5, 61, len(idx)), tp), AFTER, repeat=True
    )
    for tp, p, lo, hi in (("email", 0.15, 15, 80), ("social", 0.04, 1, 30)):
        idx = maybe(p)
        rows.add(
            idx,
            TP[tp],
            _clock(rng, buy_day[idx] + rng.integers(lo, hi + 1, len(idx)), TP[tp]),
            AFTER,
        )


def _lost_sale(rng: np.random.Generator, jr: Journeys, rows: _Rows, last: np.ndarray) -> None:
    """Remarketing after a journey that did not buy (kept only for those)."""
    n = len(jr)
    for tp, p, lo, hi in (("email", 0.25, 3, 12), ("ads", 0.15, 1, 7)):
        idx = np.nonzero((rng.random(n) < p) & (last >= 0))[0]
        rows.add(
            idx, TP[tp], _clock(rng, last[idx] + rng.integers(lo, hi + 1, len(idx)), TP[tp]), LOST
        )


# -- how each contact went ---------------------------------------------------------------------
def _serve(rng: np.random.Generator, ev: dict[str, np.ndarray]) -> None:
    """Queues, abandonment, agents, handle time and resolution of every service contact."""
    tp, t = ev["tp"].astype(np.int64), ev["t"]
    n = len(t)
    hour = (t // HOUR) % 24
    service = np.isin(tp, SERVICE)
    bot = np.isin(tp, MESSAGING) & ((hour >= NIGHT[0]) | (hour < NIGHT[1]))
    monday = np.where(_weekday(_day_of(t)) == 0, MONDAY_LOAD, 1.0)
    would_wait = WAIT_BASE[tp] * LOAD[hour] * monday * rng.lognormal(0.0, 1.0, n)
    would_wait = np.where(bot, rng.uniform(0, 3, n), would_wait)
    p_abandon = np.where(bot, 0.01, 1 - np.exp(-((would_wait / PATIENCE[tp]) ** 2)))
    purchase = ev["action"] == PURCHASE
    short = service & ~purchase & (rng.random(n) < SHORT_ABANDON_SHARE)
    abandoned = service & ~purchase & (short | (rng.random(n) < p_abandon))
    # An abandoned contact records how long the customer held on before giving up.
    wait = np.where(short, rng.uniform(0, 5, n), would_wait)
    ev["wait"] = np.where(service, np.floor(wait), np.nan)
    ev["abandoned"] = np.where(service, abandoned, NULL8).astype(np.int8)

    served = (service & ~abandoned) | np.isin(tp, _codes("sales_rep", "delivery"))
    first, size = ROSTER.first[tp], ROSTER.size[tp]
    agent = np.where(
        bot, ROSTER.bot, first + np.floor(rng.random(n) * np.maximum(size, 1)).astype(np.int64)
    )
    ev["agent"] = np.where(served, agent, NULL8)
    base = np.where(bot, 150.0, HANDLE_BASE[tp])
    handle = base * ROSTER.speed[agent] * rng.lognormal(0.0, 0.45, n)
    ev["handle"] = np.where(served, np.round(handle), np.nan)
    resolved = purchase | (rng.random(n) < ROSTER.resolution[agent])
    ev["resolved"] = np.where(service & ~abandoned, resolved, NULL8).astype(np.int8)
    ev["short"] = short


def _feel(rng: np.random.Generator, ev: dict[str, np.ndarray]) -> None:
    """Data reuse, the post-contact CSAT and the customer's emotion, all hurt by the same pains."""
    tp, n = ev["tp"], len(ev["t"])
    answered = ev["abandoned"] == 0
    human = np.isin(tp, HUMAN) & (ev["abandoned"] != 1)
    p_forgot = 0.12 + 0.2 * ev["repeat"]
    ev["data_reused"] = np.where(human, rng.random(n) >= p_forgot, NULL8).astype(np.int8)

    wait_pain = np.where(answered, np.minimum(np.nan_to_num(ev["wait"]) / 240, 2.5), 0.0)
    unresolved = ev["resolved"] == 0
    forgot = ev["data_reused"] == 0
    broken, kept = ev["promise"] == BROKEN, ev["promise"] == KEPT
    csat = 4.7 - 0.8 * wait_pain - 1.5 * unresolved - 0.5 * forgot - 2.2 * broken + 0.2 * kept
    rated = rng.random(n) < np.where(answered, 0.35, RATING_SHARE[tp])
    csat = np.clip(np.rint(csat + rng.normal(0, 0.6, n)), 1, 5)
    ev["csat"] = np.where(rated, csat, NULL8).astype(np.int8)

    gave_up = (ev["abandoned"] == 1) & ~ev["short"]
    mood = (
        0.9
        - 0.55 * wait_pain
        - 1.0 * unresolved
        - 0.4 * forgot
        - 2.6 * broken
        + 0.5 * kept
        - 1.5 * gave_up
    )
    felt = (np.isin(tp, HUMAN) | (ev["action"] == PURCHASE)) & ~ev["short"] & (rng.random(n) < 0.6)
    mood = np.clip(np.rint(mood + rng.normal(0, 0.6, n)), -2, 2)
    ev["emotion"] = np.where(felt, mood, NO_EMOTION).astype(np.int8)


def _pains(ev: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per row: what went wrong (each a 0/1 array), for journeys and surveys to add up."""
    answered = ev["abandoned"] == 0
    return {
        "gave_up": ((ev["abandoned"] == 1) & ~ev["short"]).astype(float),
        "unresolved": (ev["resolved"] == 0).astype(float),
        "long_wait": (answered & (ev["wait"] > 300)).astype(float),
        "forgot": (ev["data_reused"] == 0).astype(float),
        "broken": (ev["promise"] == BROKEN).astype(float),
        "contact": (ev["abandoned"] != NULL8).astype(float),
    }


def _decide(
    rng: np.random.Generator, ev: dict[str, np.ndarray], jr: Journeys, last: np.ndarray
) -> np.ndarray:
    """Which journeys buy: the segment's propensity, loyalty, minus the friction met before."""
    pre = ev["stage"] == PRE
    pain = _pains(ev)
    friction = (
        pain["gave_up"] + 0.7 * pain["unresolved"] + 0.5 * pain["long_wait"] + 0.3 * pain["forgot"]
    )
    per_journey = np.bincount(ev["journey"][pre], weights=friction[pre], minlength=len(jr))
    p = P_CONVERT[jr.segment] + 0.1 * jr.repeat - 0.08 * per_journey
    p = np.where(last >= 0, p, 0.9)  # a fleet's direct reorder nearly always goes through
    return rng.random(len(jr)) < np.clip(p, 0.02, 0.95)


def _kept(ev: dict[str, np.ndarray], converts: np.ndarray, last: np.ndarray) -> np.ndarray:
    stage, bought = ev["stage"], converts[ev["journey"]]
    return (
        (stage == PRE)
        | (((stage == BUY) | (stage == AFTER)) & bought)
        | ((stage == LOST) & ~bought & (last[ev["journey"]] >= 0))
    )


def _subset(ev: dict[str, np.ndarray], sel: np.ndarray) -> dict[str, np.ndarray]:
    """Rows `sel` (a mask or an order) of every column; `ref` follows the rows it points at."""
    index = np.nonzero(sel)[0] if sel.dtype == np.bool_ else sel
    out = {k: v[index] for k, v in ev.items()}
    if "ref" in ev:
        where = np.full(len(ev["t"]), -1, dtype=np.int64)
        where[index] = np.arange(len(index))
        out["ref"] = np.where(out["ref"] >= 0, where[np.maximum(out["ref"], 0)], -1)
    return out


# -- the survey --------------------------------------------------------------------------------
def _surveys(
    rng: np.random.Generator, ev: dict[str, np.ndarray], jr: Journeys
) -> dict[str, np.ndarray]:
    """NPS survey answers of buyers, rating the delivery (else the purchase) and the whole journey."""
    n_j = len(jr)
    rows = np.arange(len(ev["t"]))
    rated = np.full(n_j, -1, dtype=np.int64)
    buy = ev["action"] == PURCHASE
    rated[ev["journey"][buy]] = rows[buy]
    delivery = ev["tp"] == TP["delivery"]
    rated[ev["journey"][delivery]] = rows[delivery]
    pain = {k: np.bincount(ev["journey"], weights=v, minlength=n_j) for k, v in _pains(ev).items()}
    experience = (3.0 * pain["broken"] + 0.9 * pain["unresolved"] + 0.8 * pain["gave_up"]
                  + 0.6 * pain["long_wait"] + 0.5 * pain["forgot"])  # fmt: skip
    answers = (rated >= 0) & (rng.random(n_j) < 0.3 + 0.12 * (experience > 1))
    j = np.nonzero(answers)[0]
    r, m, e = rated[j], len(j), experience[j]
    nps = np.clip(np.rint(9.1 - 1.1 * e + rng.normal(0, 1.2, m)), 0, 10)
    csat = np.clip(np.rint(4.6 - 0.5 * e + rng.normal(0, 0.6, m)), 1, 5)
    effort = 2 + 0.45 * pain["contact"][j] + 0.8 * pain["broken"][j] + 0.5 * pain["forgot"][j]
    ces = np.clip(np.rint(effort + rng.normal(0, 0.8, m)), 1, 7)
    comment = _comment(rng, nps, {k: v[j] for k, v in pain.items()}, ev["tp"][r])
    t = _clock(rng, _day_of(ev["t"][r]) + rng.integers(1, 4, m), TP["nps_survey"])
    return {
        "journey": j, "tp": np.full(m, TP["nps_survey"], np.int8), "t": t,
        "stage": np.full(m, SURVEY, np.int8), "slot": np.full(m, np.iinfo(np.int16).max, np.int16),
        "action": np.full(m, FEEDBACK, np.int8), "nps": nps.astype(np.int8),
        "csat": csat.astype(np.int8), "ces": ces.astype(np.int8), "comment": comment, "ref": r,
    }  # fmt: skip


def _comment(
    rng: np.random.Generator, nps: np.ndarray, pain: dict[str, np.ndarray], rated_tp: np.ndarray
) -> np.ndarray:
    """A comment matching the score and its likely cause; most in pt-BR, some in English."""
    m = len(nps)
    cat = BANK.category
    cause = np.select(
        [
            pain["broken"] > 0,
            pain["unresolved"] > 0,
            (pain["long_wait"] + pain["gave_up"]) > 0,
            pain["forgot"] > 0,
        ],
        [cat["broken"], cat["unresolved"], cat["wait"], cat["repeat"]],
        cat["price"],
    )
    category = np.where(
        nps <= 6, cause, np.where(nps <= 8, cat["neutral"], GOOD_COMMENT_BY_TP[rated_tp])
    )
    lang = (rng.random(m) < ENGLISH_SHARE).astype(np.int64)
    pick = BANK.offset[category, lang] + np.floor(
        rng.random(m) * BANK.count[category, lang]
    ).astype(np.int64)
    return np.where(rng.random(m) < COMMENT_SHARE, pick, NULL8)


# -- one chunk ---------------------------------------------------------------------------------
def simulate(rng: np.random.Generator, n_customers: int, first_day: int) -> dict[str, np.ndarray]:
    """Events of `n_customers` customers (numbered 0..n-1) as columns, ordered by customer and time."""
    jr = _journeys(rng, n_customers, first_day)
    rows = _Rows()
    last = _before_purchase(rng, jr, rows)
    buy = _purchase(rng, jr, rows, last)
    _after_purchase(rng, jr, rows, buy)
    _lost_sale(rng, jr, rows, last)
    ev = rows.build()
    _serve(rng, ev)
    _feel(rng, ev)
    converts = _decide(rng, ev, jr, last)
    ev = _with_surveys(rng, _subset(ev, _kept(ev, converts, last)), jr)
    ev["customer"] = jr.customer[ev["journey"]]
    ev["segment"] = jr.segment[ev["journey"]]
    # The year ends at UTC midnight, so monthly reports show twelve whole months.
    ev = _subset(ev, ev["t"] + UTC_OFFSET < (first_day + YEAR_DAYS) * DAY)
    return _subset(ev, np.lexsort((ev["slot"], ev["t"], ev["customer"])))


def _with_surveys(
    rng: np.random.Generator, ev: dict[str, np.ndarray], jr: Journeys
) -> dict[str, np.ndarray]:
    """The events plus the survey answers, as rows of the same columns."""
    n = len(ev["t"])
    ev.update(nps=np.full(n, NULL8, np.int8), ces=np.full(n, NULL8, np.int8),
              comment=np.full(n, NULL8, np.int64), ref=np.full(n, -1, np.int64))  # fmt: skip
    survey = _surveys(rng, ev, jr)
    m = len(survey["t"])
    return {k: np.concatenate([v, survey.get(k, _nulls(k, v, m))]) for k, v in ev.items()}


def _nulls(column: str, like: np.ndarray, n: int) -> np.ndarray:
    """Filler for a column the survey rows do not set: its null marker (False for flags)."""
    if like.dtype == np.float64:
        return np.full(n, np.nan)
    if like.dtype == np.bool_:
        return np.zeros(n, dtype=np.bool_)
    return np.full(n, NO_EMOTION if column == "emotion" else NULL8, dtype=like.dtype)
