"""The weekly report, written by `touchpoints serve` when `TOUCHPOINTS_REPORT_DIR` is set.

Every week, from `report_weekday` at `report_hour` (local time in `report_timezone`, else
the company's `timezone`; in `report_lang`, else the company's `locale`), the
report of the previous Monday–Sunday is written once to the directory; a server that was
down at that hour writes it when it comes back. The file name carries the period, so an
existing file means the week is done (restarts and several workers write it once).
"""

from __future__ import annotations

import os
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from touchpoints.core.settings import Settings
    from touchpoints.store.base import Store


def previous_week(today: date) -> tuple[date, date]:
    """Monday and Sunday of the week before the one holding `today`."""
    monday = today - timedelta(days=today.weekday() + 7)
    return monday, monday + timedelta(days=6)


def last_complete_month(today: date) -> tuple[date, date]:
    """First and last day of the month before the one holding `today`: what `touchpoints
    report` covers when no period is given."""
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def due_report(settings: Settings, now: datetime) -> Path | None:
    """The file the schedule wants written at `now` (aware), or None (not set, too early
    in the week, or already written)."""
    if not settings.report_dir:
        return None
    local = now.astimezone(ZoneInfo(settings.report_timezone or settings.timezone))
    start, end = previous_week(local.date())
    written_from = start + timedelta(days=7 + settings.report_weekday)
    if (local.date(), local.hour) < (written_from, settings.report_hour):
        start, end = start - timedelta(days=7), end - timedelta(days=7)
    lang = settings.report_lang or settings.locale
    name = f"touchpoints-{start.isoformat()}_{end.isoformat()}.{lang}.{settings.report_format}"
    path = Path(settings.report_dir) / name
    return None if path.exists() else path


def write_due_report(store: Store, settings: Settings, now: datetime) -> Path | None:
    """Write the due report (atomically: a reader never sees half a PDF); the path or None."""
    from touchpoints.reports.report import build_report

    path = due_report(settings, now)
    if path is None:
        return None
    start, end = path.name.removeprefix("touchpoints-").split(".")[0].split("_")
    data = build_report(
        store,
        start,
        end,
        settings.report_lang or settings.locale,
        settings.report_format,
        settings.report_timezone or settings.timezone,
        settings.currency,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".report-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path
