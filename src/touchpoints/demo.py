"""Demo data: a year of a Brazilian tyre retailer's touchpoint events; the same random
seed always gives the same file.

The story is the tyre retailer's (SPEC §1): a tyre bursts on the road (invisible: no event), the
customer searches online and sees ads or signage, visits a store and talks to a sales rep,
goes away to think (an invisible gap of days), asks for more on WhatsApp, chat or the phone,
decides and buys; contract, SMS, delivery and fitting, support and an NPS survey follow.
Service contacts queue with waits that follow the hour of day, named agents differ in skill,
and satisfaction falls with long waits, unresolved contacts and broken promises, so every
analysis has something true to find.

Scale shapes the code: customers are simulated in fixed chunks, each with its own random
stream seeded from (seed, chunk index), as NumPy arrays over *journeys* and *slots* (a slot
is one step of the story, drawn for all journeys at once). No Python loop runs per event or
per customer. Each chunk becomes one Parquet row group (or CSV / JSON Lines block), so memory
stays flat however many customers are asked for.

Times are drawn in São Paulo local time, where the retailer's opening hours and queues live,
and written in UTC (Brazil has had no daylight-saving time since 2019, so the offset is fixed).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from touchpoints.core.errors import UsageError
from touchpoints.core.events import COLUMN_NAMES, COLUMNS

CHUNK_CUSTOMERS = 50_000
YEAR_DAYS = 365
DAY = 86_400
HOUR = 3_600
UTC_OFFSET = 3 * HOUR  # local (UTC-3) + 3 h = UTC
MAX_JOURNEYS = 12
NULL8 = -1  # null marker of the small int columns (codes, flags, scores)
NO_EMOTION = -128  # emotion runs -2..+2, so -1 is a value there

TOUCHPOINTS = (
    "ads",
    "website",
    "email",
    "direct_mail",
    "phone",
    "sms",
    "pos_display",
    "signage",
    "store",
    "sales_rep",
    "parking",
    "delivery",
    "contract",
    "whatsapp",
    "chat",
    "social",
    "nps_survey",
)
TP = {name: code for code, name in enumerate(TOUCHPOINTS)}
SEGMENTS = ("retail", "app_driver", "fleet")
RETAIL, APP, FLEET = range(3)
ACTIONS = ("interaction", "purchase", "feedback")
INTERACTION, PURCHASE, FEEDBACK = range(3)
PROMISES = ("made", "kept", "broken")
MADE, KEPT, BROKEN = range(3)
PHASES = ("before", "during", "after")
# Stages of a journey: what happens before any decision, the purchase and its hour, after
# sales, the follow-up of a lost sale, and the survey answer.
PRE, BUY, AFTER, LOST, SURVEY = range(5)


def _codes(*names: str) -> np.ndarray:
    return np.array([TP[n] for n in names], dtype=np.int8)


def _by_tp(values: dict[str, float], default: float = np.nan) -> np.ndarray:
    """A per-touchpoint lookup table, so a column of codes indexes it in one step."""
    table = np.full(len(TOUCHPOINTS), default)
    for name, value in values.items():
        table[TP[name]] = value
    return table


# -- when things happen (local hours) ---------------------------------------------------------
def _hours(weights: dict[int, float]) -> np.ndarray:
    """A cumulative distribution over the 24 local hours from {hour: weight}."""
    w = np.zeros(24)
    for hour, weight in weights.items():
        w[hour] = weight
    return np.cumsum(w) / w.sum()


_STORE_HOURS = _hours(
    {8: 0.6, 9: 0.9, 10: 1, 11: 1, 12: 1.3, 13: 1.1, 14: 0.9, 15: 0.9, 16: 1, 17: 1.2, 18: 1.1}
)
_PHONE_HOURS = _hours(
    {8: 0.6, 9: 0.9, 10: 1, 11: 1, 12: 1.3, 13: 1.2, 14: 0.9, 15: 0.9, 16: 1, 17: 1.1, 18: 1.3,
     19: 1.1}
)  # fmt: skip
_MESSAGING_HOURS = _hours(
    {0: 0.08, 1: 0.05, 2: 0.03, 3: 0.03, 4: 0.03, 5: 0.05, 6: 0.15, 7: 0.4, 8: 0.8, 9: 1, 10: 1,
     11: 1.1, 12: 1.4, 13: 1.3, 14: 1, 15: 1, 16: 1, 17: 1.1, 18: 1.3, 19: 1.5, 20: 1.4, 21: 1.1,
     22: 0.6, 23: 0.3}
)  # fmt: skip
_ONLINE_HOURS = _hours(
    {0: 0.3, 1: 0.15, 2: 0.08, 3: 0.05, 4: 0.05, 5: 0.1, 6: 0.3, 7: 0.6, 8: 0.8, 9: 0.9, 10: 0.9,
     11: 1, 12: 1.3, 13: 1.1, 14: 0.9, 15: 0.9, 16: 1, 17: 1.1, 18: 1.3, 19: 1.5, 20: 1.7, 21: 1.6,
     22: 1.1, 23: 0.6}
)  # fmt: skip
_ROAD_HOURS = _hours(
    {6: 0.5, 7: 1.2, 8: 1.3, 9: 0.8, 10: 0.6, 11: 0.6, 12: 0.8, 13: 0.7, 14: 0.6, 15: 0.6,
     16: 0.8, 17: 1.3, 18: 1.4, 19: 0.8}
)  # fmt: skip
_OFFICE_HOURS = _hours({h: 1.0 for h in range(9, 19)})
_PROFILE = {
    "ads": _ONLINE_HOURS,
    "website": _ONLINE_HOURS,
    "email": _ONLINE_HOURS,
    "direct_mail": _OFFICE_HOURS,
    "phone": _PHONE_HOURS,
    "sms": _OFFICE_HOURS,
    "pos_display": _STORE_HOURS,
    "signage": _ROAD_HOURS,
    "store": _STORE_HOURS,
    "sales_rep": _STORE_HOURS,
    "parking": _STORE_HOURS,
    "delivery": _STORE_HOURS,
    "contract": _STORE_HOURS,
    "whatsapp": _MESSAGING_HOURS,
    "chat": _MESSAGING_HOURS,
    "social": _ONLINE_HOURS,
    "nps_survey": _ONLINE_HOURS,
}
CUM_HOURS = np.stack([_PROFILE[name] for name in TOUCHPOINTS])
# Stores, the call centre, reps, the delivery vans and the post office rest on Sundays.
CLOSED_SUNDAY = _by_tp(
    {n: 1 for n in ("phone", "sms", "pos_display", "store", "sales_rep", "parking", "delivery",
                    "contract", "direct_mail")}, 0,
).astype(bool)  # fmt: skip

# -- service contacts ---------------------------------------------------------------------------
SERVICE = _codes("phone", "whatsapp", "chat", "store")
HUMAN = _codes("phone", "whatsapp", "chat", "store", "sales_rep", "delivery")
MESSAGING = _codes("whatsapp", "chat")
# Queue pressure by local hour: lunch (12-13 h) and the end of the working day (18-20 h) are
# when drivers have time to call; mid-morning and mid-afternoon are quiet.
LOAD = np.array(
    [0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.7, 0.8, 0.95, 0.7, 1.0, 1.9, 1.6, 0.85, 0.7, 0.9, 1.2,
     1.8, 2.0, 1.5, 1.0, 0.6, 0.6]
)  # fmt: skip
MONDAY_LOAD = 1.35  # the weekend's flat tyres arrive on Monday
WAIT_BASE = _by_tp({"phone": 18, "whatsapp": 40, "chat": 14, "store": 120})
# Patience: the wait at which about two customers in three have given up. Few leave in the
# first seconds, then more and more (a Weibull hazard that grows with the wait).
PATIENCE = _by_tp({"phone": 260, "whatsapp": 900, "chat": 300, "store": 900})
HANDLE_BASE = _by_tp(
    {"phone": 330, "whatsapp": 600, "chat": 420, "store": 900, "sales_rep": 1100, "delivery": 2400}
)
# Who answers the one-question rating after an interaction (answered contacts: 35 %).
RATING_SHARE = _by_tp({"delivery": 0.4, "sales_rep": 0.2}, 0.0)
SHORT_ABANDON_SHARE = 0.012  # misdials and instant hang-ups, wait < 5 s
NIGHT = (22, 8)  # WhatsApp and chat are answered by the bot from 22 h to 8 h

_FIRST = (
    "Ana", "Bruno", "Carla", "Diego", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabela",
    "João", "Juliana", "Lucas", "Mariana", "Marcos", "Natália", "Otávio", "Patrícia", "Rafael",
    "Renata", "Rodrigo", "Sabrina", "Thiago", "Vanessa", "Vinícius", "Larissa", "Gustavo",
    "Camila", "Leandro", "Aline", "Fernando", "Beatriz", "Caio", "Débora", "Everton", "Fabiana",
    "Igor", "Jéssica", "Kleber", "Luana", "Mateus",
)  # fmt: skip
_LAST = (
    "Silva", "Santos", "Oliveira", "Souza", "Lima", "Pereira", "Costa", "Almeida", "Ferreira",
    "Rodrigues", "Carvalho", "Gomes", "Ribeiro", "Martins", "Araújo", "Barbosa", "Rocha", "Dias",
    "Nascimento", "Moreira",
)  # fmt: skip
ROSTER_SIZES = {
    "phone": 12,
    "whatsapp": 14,
    "chat": 10,
    "store": 11,
    "sales_rep": 9,
    "delivery": 10,
}
BOT = "bot"


@dataclass(frozen=True)
class Roster:
    """The company's staff: the same people (and skills) whatever the seed, like a real team."""

    names: tuple[str, ...]
    speed: np.ndarray  # handle-time multiplier: < 1 is faster
    resolution: np.ndarray  # chance of solving the need in the contact
    first: np.ndarray  # per touchpoint: index of its first agent (-1: nobody)
    size: np.ndarray  # per touchpoint: how many agents
    bot: int


def _roster() -> Roster:
    names: list[str] = []
    first = np.full(len(TOUCHPOINTS), -1, dtype=np.int64)
    size = np.zeros(len(TOUCHPOINTS), dtype=np.int64)
    for tp, count in ROSTER_SIZES.items():
        first[TP[tp]], size[TP[tp]] = len(names), count
        for _ in range(count):
            i = len(names)
            names.append(
                f"{_FIRST[i % len(_FIRST)]} {_LAST[(7 * i + i // len(_FIRST)) % len(_LAST)]}"
            )
    skills = np.random.default_rng(20_250_101)
    speed = np.append(skills.uniform(0.7, 1.45, len(names)), 0.3)
    resolution = np.append(skills.uniform(0.6, 0.93, len(names)), 0.45)
    return Roster((*names, BOT), speed, resolution, first, size, len(names))


ROSTER = _roster()

# -- who buys what, where ----------------------------------------------------------------------
SEGMENT_SHARE = (0.72, 0.18, 0.10)
# Days between a customer's journeys: a retail driver needs tyres again months later, an app
# driver wears them fast, a fleet reorders almost every month.
GAP_DAYS = np.array([[90, 300], [45, 150], [20, 40]])
DISCOVERY = _codes("ads", "website", "social", "signage", "direct_mail", "email")
DISCOVERY_W = np.array([[30, 30, 15, 10, 5, 10], [30, 30, 20, 8, 2, 10], [15, 35, 5, 5, 10, 30]])
INFO = _codes("website", "whatsapp", "phone", "chat", "email")
INFO_W = np.array([[28, 30, 17, 15, 10], [25, 40, 10, 20, 5], [10, 45, 30, 5, 10]])
BUY_AT = _codes("store", "website", "whatsapp", "sales_rep", "phone")
BUY_W = np.array([[40, 25, 15, 10, 10], [35, 25, 30, 0, 10], [10, 0, 30, 45, 15]])
SUPPORT = _codes("whatsapp", "phone", "chat")
SUPPORT_W = np.array([[50, 30, 20]] * 3)
P_FIRST_DISCOVERY_REPEAT = np.array([0.6, 0.5, 0.25])
P_MORE_DISCOVERY = np.array([[0.3, 0.1], [0.25, 0.08], [0.1, 0.03]])
P_VISIT = np.array([0.45, 0.35, 0.2])
P_INFO = np.array([[0.6, 0.2], [0.6, 0.2], [0.5, 0.12]])
P_CONVERT = np.array([0.33, 0.4, 0.65])
TYRES = ((1, 2, 4), (2, 4), (4, 6, 8, 12))
TYRES_W = ((0.3, 0.25, 0.45), (0.5, 0.5), (0.3, 0.3, 0.25, 0.15))
PROMISING = _codes("store", "whatsapp", "sales_rep")
# The hour before a purchase, by where it happens: (touchpoint, chance, minutes before).
HOUR_BEFORE = {
    "store": (("parking", 0.45, 20, 50), ("pos_display", 0.4, 5, 20), ("sales_rep", 0.3, 1, 5)),
    "sales_rep": (("whatsapp", 0.35, 10, 55),),
    "website": (("website", 0.85, 5, 40), ("chat", 0.2, 2, 30)),
    "whatsapp": (("website", 0.35, 10, 55),),
    "phone": (("website", 0.3, 10, 55),),
}

# -- what customers write ----------------------------------------------------------------------
COMMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "broken": (
        ("Entrega atrasou, ninguém avisou", "Prometeram entrega para amanhã e só chegou dias depois",
         "Fiquei o dia todo esperando o montador e ele não veio", "Prazo prometido não foi cumprido"),
        ("Delivery was late and nobody told me", "They promised next-day fitting and missed it"),
    ),
    "unresolved": (
        ("Não resolveram meu problema", "Tive que ligar de novo para resolver",
         "Cada atendente falava uma coisa diferente"),
        ("My issue was never solved",),
    ),
    "wait": (
        ("Fiquei muito tempo esperando no telefone", "Demoraram demais para responder no WhatsApp",
         "Fila enorme na loja na hora do almoço"),
        ("Waited far too long on hold",),
    ),
    "repeat": (
        ("Tive que repetir meus dados várias vezes", "Pediram a placa do carro de novo"),
        ("Had to repeat my details every time",),
    ),
    "price": (("Achei o preço alto", "Pneu bom, mas caro"), ("Too expensive for what it is",)),
    "neutral": (
        ("Atendimento ok, nada demais", "Poderia ser mais rápido", "Preço justo, entrega no prazo"),
        ("It was fine", "Decent service overall"),
    ),
    "good_delivery": (
        ("Montagem impecável, equipe muito educada", "Entregaram no prazo e montaram rapidinho"),
        ("Fitting was quick and tidy",),
    ),
    "good_whatsapp": (
        ("Atendimento rápido no WhatsApp", "Resolvi tudo pelo WhatsApp em minutos"),
        ("Quick answers on WhatsApp",),
    ),
    "good_store": (
        ("Vendedor explicou tudo com paciência", "Ótimo atendimento na loja"),
        ("Great service at the store",),
    ),
    "good_online": (
        ("Site fácil de usar, comprei em minutos", "Comprei pelo site sem complicação"),
        ("Easy to order online",),
    ),
    "good_phone": (("Atendente muito educada ao telefone",), ("Friendly and helpful on the phone",)),
}  # fmt: skip
ENGLISH_SHARE = 0.15
COMMENT_SHARE = 0.55


@dataclass(frozen=True)
class CommentBank:
    """Every comment in one flat list; a (category, language) is a slice of it."""

    texts: tuple[str, ...]
    offset: np.ndarray  # [category, language]
    count: np.ndarray
    category: dict[str, int]


def _comment_bank() -> CommentBank:
    texts: list[str] = []
    offset = np.zeros((len(COMMENTS), 2), dtype=np.int64)
    count = np.zeros((len(COMMENTS), 2), dtype=np.int64)
    for c, (pt, en) in enumerate(COMMENTS.values()):
        for lang, items in enumerate((pt, en)):
            offset[c, lang], count[c, lang] = len(texts), len(items)
            texts.extend(items)
    return CommentBank(tuple(texts), offset, count, {k: i for i, k in enumerate(COMMENTS)})


BANK = _comment_bank()
GOOD_COMMENT_BY_TP = _by_tp(
    {"delivery": BANK.category["good_delivery"], "whatsapp": BANK.category["good_whatsapp"],
     "store": BANK.category["good_store"], "sales_rep": BANK.category["good_store"],
     "website": BANK.category["good_online"], "phone": BANK.category["good_phone"]},
    BANK.category["neutral"],
).astype(np.int64)  # fmt: skip


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


# -- to Arrow and to files ---------------------------------------------------------------------
ARROW_TYPES = {
    "text": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "double": pa.float64(),
    "int": pa.int8(),
    "bool": pa.bool_(),
}
SCHEMA = pa.schema([pa.field(c.name, ARROW_TYPES[c.type]) for c in COLUMNS])


def _text(codes: np.ndarray, names: tuple[str, ...]) -> pa.Array:
    return pc.take(pa.array(names, pa.string()), pa.array(codes.astype(np.int64), mask=codes < 0))


def _ints(values: np.ndarray, null: int) -> pa.Array:
    return pa.array(values, pa.int8(), mask=values == null)


def _bools(values: np.ndarray) -> pa.Array:
    return pa.array(values == 1, pa.bool_(), mask=values == NULL8)


def _floats(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.float64(), mask=np.isnan(values))


def _ids(
    prefix: str, numbers: np.ndarray, mask: np.ndarray | None = None, width: int = 0
) -> pa.Array:
    digits = pc.cast(pa.array(numbers, pa.int64(), mask=mask), pa.string())
    if width:
        digits = pc.utf8_lpad(digits, width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def to_table(
    ev: dict[str, np.ndarray], seed: int, first_event: int, first_customer: int, width: int
) -> pa.Table:
    """The chunk as an Arrow table with exactly the canonical columns (SPEC §2), ts in UTC."""
    n = len(ev["t"])
    ref = ev["ref"]
    columns = {
        "event_id": _ids(f"ev-{seed}-", first_event + np.arange(n)),
        "customer_id": _ids("C", first_customer + ev["customer"] + 1, width=width),
        "touchpoint": _text(ev["tp"], TOUCHPOINTS),
        "ts": pa.array((ev["t"] + UTC_OFFSET) * 1_000_000, pa.timestamp("us", tz="UTC")),
        "action": _text(ev["action"], ACTIONS),
        "value": _floats(ev["value"]),
        "phase": _text(ev["phase"], PHASES),
        "agent": _text(ev["agent"], ROSTER.names),
        "wait_seconds": _floats(ev["wait"]),
        "handle_seconds": _floats(ev["handle"]),
        "abandoned": _bools(ev["abandoned"]),
        "resolved": _bools(ev["resolved"]),
        "nps": _ints(ev["nps"], NULL8),
        "csat": _ints(ev["csat"], NULL8),
        "ces": _ints(ev["ces"], NULL8),
        "comment": _text(ev["comment"], BANK.texts),
        "promise": _text(ev["promise"], PROMISES),
        "emotion": _ints(ev["emotion"], NO_EMOTION),
        "data_reused": _bools(ev["data_reused"]),
        "segment": _text(ev["segment"], SEGMENTS),
        "ref_event_id": _ids(f"ev-{seed}-", first_event + np.maximum(ref, 0), mask=ref < 0),
    }
    return pa.table([columns[c] for c in COLUMN_NAMES], schema=SCHEMA)


def _iso_ts(table: pa.Table) -> pa.Table:
    """Text formats carry ts as ISO-8601 with Z, whole seconds."""
    seconds = pc.cast(table["ts"], pa.timestamp("s", tz="UTC"))
    text = pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ")
    return table.set_column(table.schema.get_field_index("ts"), "ts", text)


class Sink(Protocol):
    """Where chunks go: one appended block per chunk, then `close` once."""

    def write(self, table: pa.Table) -> None: ...
    def close(self) -> None: ...


class _ParquetSink:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table, row_group_size=max(len(table), 1))

    def close(self) -> None:
        self._writer.close()


class _CsvSink:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        text_schema = schema.set(schema.get_field_index("ts"), pa.field("ts", pa.string()))
        self._writer = pa_csv.CSVWriter(path, text_schema)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(_iso_ts(table))

    def close(self) -> None:
        self._writer.close()


class _JsonlSink:
    """DuckDB turns each chunk into JSON objects (keys in column order; null keys left out,
    as hand-written JSON would, which also halves the file)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        import duckdb

        self._file = path.open("wb")
        self._con = duckdb.connect()

    def write(self, table: pa.Table) -> None:
        self._con.register("chunk", _iso_ts(table))
        sql = "SELECT json_strip_nulls(to_json(chunk))::VARCHAR AS line FROM chunk"
        lines = self._con.sql(sql).to_arrow_table()
        self._con.unregister("chunk")
        text = lines.column("line").to_pylist()
        if text:
            self._file.write(("\n".join(text) + "\n").encode("utf-8"))

    def close(self) -> None:
        self._con.close()
        self._file.close()


SINKS: dict[str, Callable[[Path, pa.Schema], Sink]] = {
    ".parquet": _ParquetSink,
    ".pq": _ParquetSink,
    ".csv": _CsvSink,
    ".jsonl": _JsonlSink,
    ".ndjson": _JsonlSink,
}


def _first_day(start: str) -> int:
    """Days since 1970-01-01 of `start` (YYYY-MM-DD, or an ISO date-time whose date is used)."""
    try:
        day = datetime.fromisoformat(start).date()
    except ValueError:
        raise UsageError(f"--start {start!r}: use a date like 2025-01-01") from None
    return (day - date(1970, 1, 1)).days


def _seed_sequence(seed: int, chunk: int) -> np.random.SeedSequence:
    """Chunk k's stream depends only on (seed, k): output never depends on how chunks are run."""
    return np.random.SeedSequence([seed & 0xFFFF_FFFF_FFFF_FFFF, chunk])


def generate(
    customers: int, seed: int, out: str | Path, start: str = "2025-01-01"
) -> dict[str, int]:
    """Write a year of events from `start` for `customers` customers to `out` (.parquet, .csv,
    .jsonl); the same arguments always write the same bytes. Returns {"events", "customers"}
    (customers who have at least one event in the year)."""
    if customers < 0:
        raise UsageError(f"--customers {customers}: use a number >= 0")
    path = Path(out)
    sink_type = SINKS.get(path.suffix.lower())
    if sink_type is None:
        raise UsageError(f"--out {str(path)!r}: name it .parquet, .csv or .jsonl")
    first_day = _first_day(start)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    width = max(6, len(str(customers)))
    events = seen = 0
    sink = sink_type(partial, SCHEMA)
    try:
        try:
            for chunk in range(math.ceil(customers / CHUNK_CUSTOMERS)):
                size = min(CHUNK_CUSTOMERS, customers - chunk * CHUNK_CUSTOMERS)
                ev = simulate(np.random.default_rng(_seed_sequence(seed, chunk)), size, first_day)
                sink.write(to_table(ev, seed, events, chunk * CHUNK_CUSTOMERS, width))
                events += len(ev["t"])
                seen += len(np.unique(ev["customer"]))
        finally:
            sink.close()
    except BaseException:
        # A half-written file would ingest as if complete: leave nothing rather than that.
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    return {"events": events, "customers": seen}
