"""Durations and points in time as users type them (`30d`, `2026-01-31`), and time zones.

Every interface parses options the same way: a bare date as `--to` covers that whole day,
and bare dates and naive times are read in the user's `--timezone`.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from touchpoints.core.errors import UsageError

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str | float | int, option: str = "duration") -> float:
    """'30d', '1h', '90d', '15m', '45s' or plain seconds -> seconds."""
    if isinstance(text, int | float):
        return float(text)
    m = DURATION.match(text)
    if not m:
        raise UsageError(f"{option} {text!r}: use a number with a unit, like 30d, 1h, 15m or 45s")
    return float(m.group(1)) * UNIT_SECONDS[m.group(2) or "s"]


def parse_when(
    text: str | datetime | date | None, option: str, end: bool = False, tz: str = "UTC"
) -> datetime | None:
    """A --from/--to value as naive UTC. A bare date as --to covers that whole day.

    Bare dates and naive timestamps are read in `tz` (a day in São Paulo starts at 03:00Z).
    """
    if text is None:
        return None
    zone = zone_info(tz)
    if isinstance(text, datetime):
        return _utc(text, zone)
    raw = text.isoformat() if isinstance(text, date) else text.strip()
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        day = None
    if day is not None:
        _check_year(day.year, option, text)
        if end:
            day += timedelta(days=1)
        start = _utc(datetime(day.year, day.month, day.day), zone)
        return start - timedelta(microseconds=1) if end else start
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {text!r}: use a date (2026-01-31) or an ISO timestamp"
        ) from None
    _check_year(moment.year, option, text)
    return _utc(moment, zone)


# Dates users may ask for: wide enough for any history or plan, far from the calendar's
# ends (9999-12-31 plus a day, or a period before year 1, overflow).
YEARS = (1900, 2200)


def _check_year(year: int, option: str, text: object) -> None:
    if not YEARS[0] <= year <= YEARS[1]:
        raise UsageError(f"{option} {str(text)!r}: use a date between {YEARS[0]} and {YEARS[1]}")


# Files of a zoneinfo directory that are not zones every engine knows.
NOT_ZONES = {"posixrules", "localtime", "Factory"}


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(
        name
        for name in available_timezones()
        if name not in NOT_ZONES and not name.startswith(("right/", "posix/"))
    )


def zone_info(tz: str) -> ZoneInfo:
    """An IANA time zone; an unknown one is the user's mistake (exit 2), not an engine error.
    Only names of the IANA list are taken: a 300-letter name, `localtime`, `posixrules` or
    `right/UTC` would reach the file system or an engine that does not know them."""
    shown = tz if len(str(tz)) <= 64 else str(tz)[:64] + "…"
    if not isinstance(tz, str) or tz not in _zone_names():
        raise UsageError(
            f"--timezone {shown!r}: unknown time zone (use an IANA name like America/Sao_Paulo)"
        )
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(
            f"--timezone {shown!r}: unknown time zone (use an IANA name like America/Sao_Paulo)"
        ) from None


def _utc(dt: datetime, zone: ZoneInfo | None = None) -> datetime:
    """Naive UTC; a naive `dt` is wall time in `zone` (UTC when not given)."""
    if dt.tzinfo is None:
        if zone is None or zone.key == "UTC":
            return dt
        dt = dt.replace(tzinfo=zone)
    return dt.astimezone(UTC).replace(tzinfo=None)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def whole_months(first: date, last: date) -> int:
    """How many calendar months `first`..`last` spans exactly (0: not whole months)."""
    if first.day != 1 or last != month_end(last):
        return 0
    return (last.year - first.year) * 12 + last.month - first.month + 1


def previous_period(first: date, last: date) -> tuple[date, date]:
    """The period of the same kind just before the days `first`..`last` (inclusive): the
    previous calendar month(s) for whole months (May for June, not 2-31 May), else as
    many days just before."""
    months = whole_months(first, last)
    if months:
        end = first - timedelta(days=1)
        start = end.replace(day=1)
        for _ in range(months - 1):
            start = (start - timedelta(days=1)).replace(day=1)
        return start, end
    end = first - timedelta(days=1)
    return end - (last - first), end
