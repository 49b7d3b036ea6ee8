"""Numbers, shares, money, durations and dates as a reader of each language writes them.

The one place where values are rounded for people: CLI tables, dashboard pages, reports,
insight sentences and notebooks' HTML tables all format through here, with Babel's locale
data (a Brazilian reads 5.410.019 and 26,3 %, an English reader 5,410,019 and 26.3%).
JSON never passes through this module: it carries full precision.

`value(key, x, lang)` formats a SPEC §4 metric (or any result column) by what it measures,
so every table shows the same metric the same way; `filters(lang)` hands all of this to a
Jinja environment made for one language (dashboard, survey pages, reports).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, timedelta
from datetime import date as Date
from datetime import datetime as DateTime
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.dates import (
    format_date,
    format_datetime,
    format_skeleton,
    format_time,
    format_timedelta,
    get_day_names,
)
from babel.numbers import format_currency, format_decimal, format_percent
from babel.units import format_unit

from touchpoints.core.messages import capitalized, t
from touchpoints.core.time import zone_info

DASH = "—"
CURRENCY = "BRL"

# What each result column measures; anything not listed is shown as it is.
COUNTS = frozenset(
    {
        "events",
        "customers",
        "offered",
        "answered",
        "abandoned",
        "conversions",
        "count",
        "cases",
        "reached",
        "buyers",
        "retained",
        "agents",
        "scheduled_agents",
        "arrivals",
        "made",
        "kept",
        "broken",
        "answers",
        "n",
        "total",
    }
)
SHARES = frozenset(
    {
        "abandonment_rate",
        "service_level",
        "fcr",
        "promise_kept_rate",
        "data_reuse_rate",
        "retention",
        "churn",
        "share",
        "conversion_rate",
        "occupancy",
        "waiting_probability",
        "target_service_level",
        "share_of_first",
        "drop_off",
        "share_of_cycles",
    }
)
SECONDS = frozenset(
    {
        "tme_seconds",
        "tma_seconds",
        "mean_seconds",
        "median_seconds",
        "p90_seconds",
        "asa_seconds",
        "aht_seconds",
        "seconds",
        "wait_seconds",
        "handle_seconds",
        "answer_within",
    }
)
MONEY = frozenset({"revenue", "value"})
SCORES = frozenset({"nps", "nps_margin"})  # -100..100
# CSAT is the share of satisfied answers (4-5 of 5) on a 0-100 scale: read as a percentage
# everywhere, so "85" on one page is never "4,3" or "0,85" on another.
PERCENT_SCORES = frozenset({"csat", "csat_margin"})
MEANS = frozenset({"ces", "emotion", "traffic_erlangs", "events_per_customer"})
TIMES = frozenset({"first_event", "last_event"})  # ISO 8601 text in results


@lru_cache(maxsize=8)
def locale(lang: str) -> Locale:
    """`en` or `pt-BR` as a Babel locale."""
    return Locale.parse("pt_BR" if lang == "pt-BR" else "en")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def number(value: float | int | None, lang: str, digits: int = 0) -> str:
    """`value` with exactly `digits` decimals and the locale's grouping."""
    if _missing(value):
        return DASH
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(value, format=pattern, locale=locale(lang))


def integer(value: float | int | None, lang: str) -> str:
    return number(value, lang, 0)


def percent(share: float | None, lang: str, digits: int = 1) -> str:
    """A share (0.263) as a percentage ('26,3%' / '26.3%')."""
    if _missing(share):
        return DASH
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "") + "%"
    return format_percent(share, format=pattern, locale=locale(lang))


def money(
    value: float | None, lang: str, currency: str = CURRENCY, digits: int | None = None
) -> str:
    """Revenue as the reader writes it: 'R$ 1.234,56' in pt-BR. `digits=0` rounds to
    whole reais ('R$ 355.473') where a headline number must fit a card."""
    if _missing(value):
        return DASH
    if digits is None:
        return format_currency(value, currency, locale=locale(lang))
    pattern = locale(lang).currency_formats["standard"].pattern.split(";")[0]
    pattern = pattern.replace("0.00", "0" + ("." + "0" * digits if digits > 0 else ""))
    return format_currency(
        value, currency, format=pattern, currency_digits=False, locale=locale(lang)
    )


_UNITS = (
    ("duration-day", 86400),
    ("duration-hour", 3600),
    ("duration-minute", 60),
    ("duration-second", 1),
)


def _unit(amount: int, unit: str, lang: str) -> str:
    # Babel's short unit data says "1 horas" in pt-BR; format_timedelta has it right
    # ("1 h") but turns 40 days into "1 mês", so days come from the unit data.
    if unit == "duration-day":
        return format_unit(amount, unit, length="short", locale=locale(lang))
    size = dict(_UNITS)[unit]
    return format_timedelta(
        timedelta(seconds=amount * size), format="short", threshold=1, locale=locale(lang)
    )


def duration(seconds: float | None, lang: str) -> str:
    """The one duration style: the two largest units ('3 days 4 hr', '3 dias 4 h',
    '12 min 5 s'); under ten seconds one decimal ('2.5 sec'). Waits, handle times and the
    invisible gaps between touchpoints span seconds to months, so one unit is not enough."""
    if _missing(seconds):
        return DASH
    assert seconds is not None
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 10:
        return sign + format_unit(
            round(seconds, 1), "duration-second", length="short", locale=locale(lang),
            format="#,##0.#",
        )  # fmt: skip
    total = round(seconds)
    for i, (unit, size) in enumerate(_UNITS):
        if total >= size or unit == "duration-second":
            whole, rest = divmod(total, size)
            text = _unit(whole, unit, lang)
            if i + 1 < len(_UNITS):
                sub_unit, sub_size = _UNITS[i + 1]
                sub = rest // sub_size
                if sub:
                    text += " " + _unit(sub, sub_unit, lang)
            return sign + text
    return DASH  # unreachable: seconds always matches


def date(value: Date | DateTime | str | None, lang: str) -> str:
    """A day: '05/01/2026' in pt-BR, '1/5/2026' in en (short, unambiguous for each)."""
    if value is None:
        return DASH
    if isinstance(value, str):
        value = Date.fromisoformat(value[:10])
    if isinstance(value, DateTime):
        value = value.date()
    return format_date(value, "dd/MM/yyyy" if lang == "pt-BR" else "M/d/yyyy", locale=locale(lang))


def month(value: Date | DateTime | str | None, lang: str) -> str:
    """A calendar month ('2025-10', as `kpis --by month` names it): 'Oct 2025' in English,
    'out. de 2025' in Portuguese."""
    if value is None:
        return DASH
    if isinstance(value, str):
        value = Date.fromisoformat(value[:7] + "-01")
    return format_skeleton("yMMM", value, locale=locale(lang))


def month_name(value: Date | DateTime | str | None, lang: str) -> str:
    """A calendar month written out, for a caption: 'December 2025', 'dezembro de 2025'."""
    if value is None:
        return DASH
    if isinstance(value, str):
        value = Date.fromisoformat(value[:7] + "-01")
    return format_skeleton("yMMMM", value, locale=locale(lang))


def datetime(value: DateTime | str | None, lang: str, seconds: bool = False) -> str:
    """A local date and time (convert to the reader's zone first). A string is read as
    ISO 8601, so results that carry times as text ('2025-06-01 10:00') read the same."""
    if value is None:
        return DASH
    if isinstance(value, str):
        value = DateTime.fromisoformat(value)
    time = "HH:mm:ss" if seconds else "HH:mm"
    day = "dd/MM/yyyy" if lang == "pt-BR" else "M/d/yyyy"
    return format_datetime(value, f"{day} {time}", locale=locale(lang))


def local(value: DateTime | str | None, timezone: str) -> DateTime | None:
    """A naive UTC time (as the store and results hold them) as naive wall time in
    `timezone`: what a reader in that zone calls the moment."""
    if value is None:
        return None
    if isinstance(value, str):
        value = DateTime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone_info(timezone)).replace(tzinfo=None)


def time(value: DateTime | None, lang: str, seconds: bool = True) -> str:
    if value is None:
        return DASH
    return format_time(value, "HH:mm:ss" if seconds else "HH:mm", locale=locale(lang))


def weekdays(lang: str) -> list[str]:
    """Abbreviated weekday names, Monday first (ISO 8601 order, as `isodow` counts):
    'Mon'… in English, 'seg.'… in Portuguese, from Babel's locale data."""
    names = get_day_names("abbreviated", locale=locale(lang))
    return [names[i] for i in range(7)]


def change(key: str, delta: float | None, lang: str, currency: str = CURRENCY) -> str:
    """The size of a change between two periods in the unit of what `key` measures. A
    share moves in percentage points ('2.1 pp', '2,1 p.p.'): 20% → 25% is 5 points, and
    a percentage of a percentage would read as 25%."""
    if _missing(delta):
        return DASH
    assert delta is not None
    size = abs(delta)
    if key in SHARES or key.endswith("_rate") or key.endswith("_share"):
        return f"{number(100 * size, lang, 1)} {t(lang, 'common.pp')}"
    if key in PERCENT_SCORES:
        return f"{number(size, lang, 1)} {t(lang, 'common.pp')}"
    return value(key, size, lang, currency)


def value(key: str, x: Any, lang: str, currency: str = CURRENCY) -> str:
    """A result column formatted by what it measures (see the sets above)."""
    if _missing(x):
        return DASH
    if isinstance(x, bool):
        return "✓" if x else "✗"
    if key in COUNTS or key.endswith("_count"):
        return integer(x, lang)
    if key in SHARES or key.endswith("_rate") or key.endswith("_share"):
        return percent(x, lang)
    if key in SECONDS or key.endswith("_seconds"):
        return duration(x, lang)
    if key in MONEY:
        return money(x, lang, currency)
    if key in SCORES:
        return number(x, lang, 1)
    if key in PERCENT_SCORES:
        return percent(x / 100, lang)
    if key in MEANS:
        return number(x, lang, 2)
    if key in TIMES:
        return datetime(x, lang)
    if isinstance(x, int):
        return integer(x, lang)
    if isinstance(x, float):
        return number(x, lang, 2)
    if isinstance(x, list | tuple):
        return " › ".join(str(v) for v in x)
    return str(x)


def filters(
    lang: str, currency: str = CURRENCY, timezone: str = "UTC"
) -> dict[str, Callable[..., str]]:
    """This module's formats bound to one language, under the names templates use:
    `{{ x | num(1) }}`, `pct`, `money`, `dur`, `date`, `month`, `datetime`, `time`,
    `{{ x | metric("tme_seconds") }}` (by what a column measures), `change(key)`,
    `{{ utc | localtime }}` (a stored UTC time as the company's wall time) and `cap`
    (first letter up, for a label that opens a heading). Each Jinja environment is made
    for one language and one company (currency, time zone), so a template never passes
    them along."""
    return {
        "num": lambda x, digits=0: number(x, lang, digits),
        "pct": lambda x, digits=1: percent(x, lang, digits),
        "money": lambda x, digits=None: money(x, lang, currency, digits=digits),
        "localtime": lambda x, seconds=False: datetime(local(x, timezone), lang, seconds),
        "dur": lambda x: duration(x, lang),
        "date": lambda x: date(x, lang),
        "month": lambda x: month(x, lang),
        "datetime": lambda x, seconds=False: datetime(x, lang, seconds),
        "time": lambda x, seconds=True: time(x, lang, seconds),
        "metric": lambda x, key: value(key, x, lang, currency),
        "change": lambda x, key: change(key, x, lang, currency),
        "cap": capitalized,
    }


def code(kind: str, value: str | None, lang: str) -> str:
    """A code of the data or the catalog (a channel, a segment, an owner) in the reader's
    words when the message catalog names it (`pages.<kind>_<code>`), else as it is."""
    if not value:
        return ""
    key = f"pages.{kind}_{value.strip().lower().replace(' ', '_')}"
    word = t(lang, key)
    return value if word == key else word


# Codes a reader knows by a word of `common.*`, in the columns that hold them (a `group`
# of `kpis --by phase` holds phases).
CODE_COLUMNS = frozenset({"phase", "kind", "stage", "group"})
CODES = frozenset({"before", "during", "after", "static", "interactive", "human"})


# A text cell starting with one of these is a formula to Excel, LibreOffice and Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """OWASP's rule against CSV injection: a text cell that a spreadsheet would run as a
    formula (a comment `=HYPERLINK(...)`, an agent named `@SUM(...)`) is prefixed with `'`,
    so it is shown as the text it is. Numbers stay numbers (-3 is not text)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet(rows: list[dict[str, Any]], lang: str) -> str:
    """Rows as a CSV file a spreadsheet in the reader's language opens right, every number
    at full precision (never rounded: it is data to compute with).

    English keeps the JSON keys as headers, ',' and '.'; Brazilian Portuguese Excel splits
    on ';' and reads '3,5' as a number, so pt-BR gets ';', decimal commas, the columns'
    Portuguese labels and codes as words ('antes', not 'before'), behind a UTF-8 byte
    order mark that tells Excel the encoding (accents intact). Every cell passes `safe_cell`,
    like `analytics.results.to_csv`'s."""
    import csv
    import io
    import json

    columns = list(dict.fromkeys(k for r in rows for k in r))
    pt = lang == "pt-BR"

    def cell(key: str, x: Any) -> Any:
        if isinstance(x, bool):
            return t(lang, "pages.yes" if x else "pages.no") if pt else x
        if isinstance(x, float):
            text = repr(x) if math.isfinite(x) else ""
            return text.replace(".", ",") if pt else text
        if isinstance(x, list) and not any(isinstance(v, dict | list) for v in x):
            return safe_cell(" > ".join(map(str, x)))
        if isinstance(x, dict | list):
            return json.dumps(x, ensure_ascii=False)
        if pt and key in CODE_COLUMNS and x in CODES:
            return t(lang, f"common.{x}")
        return safe_cell(x)  # text only: a pt-BR "-3,5" made above stays a number

    def header(key: str) -> str:
        label = t(lang, f"metric.{key}")
        return capitalized(label) if pt and label != f"metric.{key}" else key

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if pt else ",", lineterminator="\r\n" if pt else "\n")
    writer.writerow([safe_cell(header(k)) for k in columns])
    for r in rows:
        writer.writerow([cell(k, r.get(k)) for k in columns])
    return ("\ufeff" if pt else "") + buffer.getvalue()


def is_numeric(key: str, x: Any) -> bool:
    """Right-aligned, never cut in a table."""
    return isinstance(x, int | float) and not isinstance(x, bool)
