"""Service contacts drawn from rates that are known, for checking forecasts and effects.

The demo year tells a story; these series tell the truth: every hour's arrival rate and
every day's abandonment probability is written down before the contacts are drawn, so a
forecast can be scored against the rates themselves and an effect against the effect
that was put in.

- `hourly_rates`: a weekly profile (busy weekday afternoons, quiet nights and Sundays), a
  trend, holidays that look like Sundays, and optional one-off outliers (an outage of a
  day, a campaign spike);
- `contacts`: Poisson draws of those rates as SPEC §2 events (one per contact);
- `abandonment_days`: several touchpoints' daily contacts with an abandonment probability
  that shares a common shock (a season, a campaign) and, at one touchpoint, moves by a
  known amount from a given day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

# Relative contacts per hour of the day (a shop's day: 8:00 to 20:00, peaks at 11 and 16).
DAY_SHAPE = np.array(
    [0.05, 0.03, 0.02, 0.02, 0.03, 0.08, 0.2, 0.5, 0.9, 1.2, 1.4, 1.5,
     1.3, 1.2, 1.3, 1.45, 1.5, 1.3, 1.0, 0.8, 0.6, 0.4, 0.2, 0.1]
)  # fmt: skip
# Monday .. Sunday
WEEK_SHAPE = np.array([1.15, 1.05, 1.0, 1.0, 1.1, 0.8, 0.35])


@dataclass(frozen=True)
class Rates:
    """Hourly rates from local midnight of `first_day` (`len(rates)` hours)."""

    first_day: date
    rates: np.ndarray
    timezone: str


def hourly_rates(
    first_day: date,
    days: int,
    level: float = 10.0,
    trend_per_year: float = 0.3,
    holidays: frozenset[date] = frozenset(),
    holiday_factor: float = 1.0,
    outliers: tuple[tuple[int, int, float], ...] = (),
    timezone: str = "America/Sao_Paulo",
) -> Rates:
    """Rates per hour: `level` contacts at an average hour, times the hour and weekday
    shapes, times exp(trend · years); a holiday takes Sunday's shape times
    `holiday_factor`; each outlier (first hour, hours, factor) multiplies a stretch."""
    hours = days * 24
    out = np.empty(hours)
    for d in range(days):
        day = first_day + timedelta(days=d)
        weekday = 6 if day in holidays else day.weekday()
        factor = holiday_factor if day in holidays else 1.0
        out[d * 24 : (d + 1) * 24] = level * DAY_SHAPE * WEEK_SHAPE[weekday] * factor
    years = np.arange(hours) / (24 * 365.25)
    out *= np.exp(trend_per_year * years)
    for first, length, factor in outliers:
        out[first : first + length] *= factor
    return Rates(first_day, out, timezone)


def contacts(
    rates: Rates,
    touchpoint: str,
    rng: np.random.Generator,
    upto: int | None = None,
) -> list[dict[str, Any]]:
    """One event per contact, Poisson counts of each hour's rate (hours before `upto`),
    at uniform times within the hour; every contact answered after 10 s."""
    zone = ZoneInfo(rates.timezone)
    start = datetime(rates.first_day.year, rates.first_day.month, rates.first_day.day)
    counts = rng.poisson(rates.rates[:upto])
    events = []
    for h in np.nonzero(counts)[0]:
        local = start + timedelta(hours=int(h))
        base = local.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
        for k, offset in enumerate(np.sort(rng.uniform(0, 3600, counts[h]))):
            events.append(
                {
                    "event_id": f"{touchpoint}-{h}-{k}",
                    "customer_id": f"c{int(rng.integers(0, 10**9))}",
                    "touchpoint": touchpoint,
                    "ts": base + timedelta(seconds=float(offset)),
                    "abandoned": False,
                    "wait_seconds": 10.0,
                    "handle_seconds": 240.0,
                }
            )
    return events


def abandonment_days(
    touchpoints: list[str],
    first_day: date,
    days: int,
    treated: str,
    change_day: date,
    effect: float,
    rng: np.random.Generator,
    per_day: int = 200,
    base: float = 0.12,
    shock: float = 0.05,
    noise: float = 0.01,
) -> list[dict[str, Any]]:
    """Daily contacts at each touchpoint with a known abandonment probability.

    Every touchpoint has its own level near `base`, the same weekly wave and a common
    shock of `shock` from the change day on (what a season or campaign does to everyone:
    a naive before/after at the treated touchpoint credits it to the change); the treated
    touchpoint's probability moves by `effect` from `change_day`. Each touchpoint-day
    also has its own noise (sd `noise`), then `per_day` contacts are drawn."""
    events = []
    levels = {tp: base + rng.normal(0, 0.02) for tp in touchpoints}
    for d in range(days):
        day = first_day + timedelta(days=d)
        common = 0.01 * math.sin(2 * math.pi * day.weekday() / 7)
        common += shock if day >= change_day else 0.0
        for tp in touchpoints:
            p = levels[tp] + common + rng.normal(0, noise)
            if tp == treated and day >= change_day:
                p += effect
            p = min(max(p, 0.0), 1.0)
            abandoned = rng.random(per_day) < p
            noon = datetime(day.year, day.month, day.day, 15)  # noon in São Paulo, in UTC
            for k in range(per_day):
                events.append(
                    {
                        "event_id": f"{tp}-{d}-{k}",
                        "customer_id": f"c{tp}{d}{k}",
                        "touchpoint": tp,
                        "ts": noon + timedelta(seconds=k),
                        "abandoned": bool(abandoned[k]),
                        "wait_seconds": 30.0,
                        "handle_seconds": None if abandoned[k] else 200.0,
                    }
                )
    return events
