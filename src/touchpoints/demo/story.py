"""The tyre retailer's story as numbers: its touchpoints, opening hours and queues, its staff,
who buys what and where, and what customers write. `data.py` draws a year from it.

Times are in São Paulo local time, where the retailer's opening hours and queues live
(Brazil has had no daylight-saving time since 2019, so the offset to UTC is fixed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    """The company's staff: the same people (and skills) whatever the random seed, like a real
    team."""

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
