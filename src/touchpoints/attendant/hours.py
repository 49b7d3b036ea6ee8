"""When people are at work: several periods a day, national and state holidays, extra
closed days — and, outside them, when a person will answer next.

A hand-off outside these hours is queued; the reply says when, so the customer is told
once by the bot instead of receiving an out-of-office message on top of its answer.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from touchpoints.attendant.config import DAYS, AttendantConfig
from touchpoints.core import format as fmt
from touchpoints.core.messages import t

# How far ahead to look for the next open period (a long holiday season fits in it).
HORIZON_DAYS = 60


class Hours:
    """Opening hours of one configuration, in its time zone."""

    def __init__(self, config: AttendantConfig) -> None:
        self.zone = ZoneInfo(config.timezone)
        self.periods: dict[int, list[tuple[time, time | None]]] = {}
        for day, spans in config.hours.items():
            weekday = DAYS.index(day)
            self.periods[weekday] = sorted(_period(p) for p in spans)
        self.closed = set(config.closed)
        self._holidays = None
        if config.holidays is not None:
            import holidays

            self._holidays = holidays.country_holidays(
                config.holidays.country, subdiv=config.holidays.subdivision
            )

    def is_closed_day(self, day: date) -> bool:
        return day in self.closed or (self._holidays is not None and day in self._holidays)

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.zone)
        if self.is_closed_day(local.date()):
            return False
        now = local.time()
        return any(
            start <= now and (end is None or now < end)
            for start, end in self.periods.get(local.weekday(), [])
        )

    def next_open(self, at: datetime) -> datetime | None:
        """The first moment at or after `at` when people are at work (None: not within
        HORIZON_DAYS, e.g. a file with no hours at all)."""
        local = at.astimezone(self.zone)
        if self.is_open(local):
            return local
        for offset in range(HORIZON_DAYS + 1):
            day = local.date() + timedelta(days=offset)
            if self.is_closed_day(day):
                continue
            for start, _end in self.periods.get(day.weekday(), []):
                moment = datetime.combine(day, start, tzinfo=self.zone)
                if moment > local:
                    return moment
        return None

    def when(self, at: datetime, lang: str) -> str:
        """'today at 13:00', 'tomorrow at 08:00', 'on Monday 12/7/2026 at 08:00'."""
        moment = self.next_open(at)
        if moment is None:
            return "—"
        local = at.astimezone(self.zone).date()
        clock = fmt.time(moment, lang, seconds=False)
        if moment.date() == local:
            return t(lang, "attendant.today_at", time=clock)
        if moment.date() == local + timedelta(days=1):
            return t(lang, "attendant.tomorrow_at", time=clock)
        from babel.dates import format_date

        weekday = format_date(moment.date(), "EEEE", locale=fmt.locale(lang))
        return t(
            lang, "attendant.on_day_at", weekday=weekday, date=fmt.date(moment, lang), time=clock
        )


def _period(text: str) -> tuple[time, time | None]:
    start, end = text.split("-")
    h, m = (int(x) for x in start.split(":"))
    eh, em = (int(x) for x in end.split(":"))
    return time(h, m), (None if eh == 24 else time(eh, em))
