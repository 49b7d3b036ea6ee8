"""The scope of an analysis: which events it reads and how it cuts them, as one value.

Every analysis takes a `Scope` the same way: the row filters (period, touchpoint, channel,
kind, phase, segment, agent), the SPEC §3 phase windows (`--during`, `--after`), the
journey-cycle gap (`--gap`) and the time zone that periods, hours of the week and bare
dates are read in. Interfaces build it from option values with `Scope.build`; analyses
turn it into SQL with `where()` and bind `params()` — values never enter the SQL text.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, get_args

from touchpoints.core.catalog import Kind
from touchpoints.core.errors import UsageError
from touchpoints.core.events import PHASES
from touchpoints.core.time import parse_duration, parse_when, zone_info

if TYPE_CHECKING:
    from touchpoints.store.base import Store

DEFAULT_DURING = "1h"
DEFAULT_AFTER = "90d"
DEFAULT_GAP = "30d"
# (option name, Scope attribute, events column)
LIST_FILTERS = (
    ("touchpoint", "touchpoints", "touchpoint"),
    ("channel", "channels", "channel"),
    ("kind", "kinds", "kind"),
    ("phase", "phases", "phase"),
    ("segment", "segments", "segment"),
    ("agent", "agents", "agent"),
)

Many = str | list[str] | tuple[str, ...] | None


def _many(value: Many) -> tuple[str, ...]:
    """Repeated options and comma lists alike: `--touchpoint a,b --touchpoint c`."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    return tuple(x.strip() for item in items for x in str(item).split(",") if x.strip())


@dataclass(frozen=True)
class Scope:
    """Filters (times naive UTC, bounds inclusive), phase windows, cycle gap, time zone."""

    date_from: datetime | None = None
    date_to: datetime | None = None
    touchpoints: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    during_seconds: float = 3600.0
    after_seconds: float = 90 * 86400.0
    gap_seconds: float = 30 * 86400.0
    timezone: str = "UTC"
    # The store keeps journey facts cut with these very windows (`store.derived`): journey
    # steps are then read from them instead of cut from raw events. Set by the registry.
    facts: bool = False

    @classmethod
    def build(
        cls,
        date_from: str | datetime | date | None = None,
        date_to: str | datetime | date | None = None,
        touchpoint: Many = None,
        channel: Many = None,
        kind: Many = None,
        phase: Many = None,
        segment: Many = None,
        agent: Many = None,
        during: str | float = DEFAULT_DURING,
        after: str | float = DEFAULT_AFTER,
        gap: str | float = DEFAULT_GAP,
        timezone: str = "UTC",
    ) -> Scope:
        """Parse option values as users type them; bare dates and naive times in
        `date_from`/`date_to` are read in `timezone` (a day in São Paulo starts at 03:00Z)."""
        zone_info(timezone)  # an unknown zone is the user's mistake, before any SQL
        phases = _many(phase)
        for p in phases:
            if p not in PHASES:
                raise UsageError(unknown_value("phase", p, PHASES))
        start = parse_when(date_from, "--from", tz=timezone)
        stop = parse_when(date_to, "--to", end=True, tz=timezone)
        if start and stop and start > stop:
            raise UsageError("--from is after --to")
        return cls(
            start,
            stop,
            _many(touchpoint),
            _many(channel),
            _many(kind),
            phases,
            _many(segment),
            _many(agent),
            parse_duration(during, "--during"),
            parse_duration(after, "--after"),
            parse_duration(gap, "--gap"),
            timezone,
        )

    def replace(self, **changes: Any) -> Scope:
        return dataclasses.replace(self, **changes)

    def without_period(self) -> Scope:
        """The same scope over all time (retention looks past the period it reports)."""
        return self.replace(date_from=None, date_to=None)

    @property
    def needs_phase(self) -> bool:
        """The derived phase costs a window over every event: only when filtered on."""
        return bool(self.phases)

    @property
    def needs_catalog(self) -> bool:
        return bool(self.channels or self.kinds)

    @property
    def filter_columns(self) -> tuple[str, ...]:
        """The columns `where()` may read, whichever filters are set."""
        return ("ts", *(column for _, _, column in LIST_FILTERS))

    def where(self, alias: str = "") -> str:
        """The filters as one SQL predicate over `alias.`-qualified columns, with `$scope_*`
        markers for the values (bind `params()`)."""
        col = f"{alias}." if alias else ""
        parts = ["TRUE"]
        if self.date_from:
            parts.append(f"{col}ts >= $scope_from")
        if self.date_to:
            parts.append(f"{col}ts <= $scope_to")
        for option, attr, column in LIST_FILTERS:
            values = getattr(self, attr)
            if values:
                marks = ", ".join(f"$scope_{option}_{i}" for i in range(len(values)))
                parts.append(f"{col}{column} IN ({marks})")
        return " AND ".join(parts)

    def params(self) -> dict[str, Any]:
        """Values for the markers of `where()` and of the scope's SQL idioms
        (`$scope_timezone`); a query binds only the ones it names."""
        values: dict[str, Any] = {"scope_timezone": self.timezone}
        if self.date_from:
            values["scope_from"] = self.date_from
        if self.date_to:
            values["scope_to"] = self.date_to
        for option, attr, _ in LIST_FILTERS:
            for i, v in enumerate(getattr(self, attr)):
                values[f"scope_{option}_{i}"] = v
        return values


# -- filter values checked against what exists ----------------------------------------------
SHOWN_VALUES = 12


def closest(value: str, valid: list[str] | tuple[str, ...], n: int = 3) -> list[str]:
    """The valid values a typo most likely meant: the same text in another case first, then
    the nearest spellings."""
    same_case = [v for v in valid if v.lower() == value.lower()]
    near = difflib.get_close_matches(value.lower(), [v.lower() for v in valid], n=n, cutoff=0.6)
    by_lower = {v.lower(): v for v in valid}
    return list(dict.fromkeys([*same_case, *(by_lower[x] for x in near)]))[:n]


def unknown_value(option: str, value: str, valid: list[str] | tuple[str, ...]) -> str:
    """`--touchpoint 'whatsap': no such touchpoint; did you mean whatsapp?`"""
    text = f"--{option} {value!r}: no such {option}"
    guesses = closest(value, valid)
    if guesses:
        return f"{text}; did you mean {' or '.join(guesses)}?"
    if not valid:
        return f"{text} (none stored)"
    shown = ", ".join(sorted(valid)[:SHOWN_VALUES])
    more = ", ..." if len(valid) > SHOWN_VALUES else ""
    return f"{text}; valid: {shown}{more}"


def _stored(store: Store, column: str, value: str) -> list[str] | None:
    """None when `value` is stored in `column`; else every distinct stored value (for the
    suggestion). The first query stops at one row, so a valid filter costs little."""
    if store.query(f"SELECT 1 AS x FROM events WHERE {column} = $value LIMIT 1", {"value": value}):
        return None
    rows = store.query(
        f"SELECT DISTINCT {column} AS v FROM events WHERE {column} IS NOT NULL ORDER BY 1"
    )
    return [str(r["v"]) for r in rows]


def check_values(store: Store, scope: Scope) -> None:
    """Every filter value names something that exists: touchpoints, channels and kinds in
    the catalog (or, for touchpoints, stored), segments and agents stored. A typo is a
    UsageError naming the closest valid values (exit 2 on the command line, HTTP 400),
    never a row of zeros."""
    if not (scope.touchpoints or scope.channels or scope.kinds or scope.segments or scope.agents):
        return
    catalog = store.catalog()
    touchpoints = [t.id for t in catalog.touchpoints if t.is_touchpoint]
    known = set(catalog.ids)  # every entry, also the steps that are not touchpoints
    for tp in scope.touchpoints:
        if tp not in known and _stored(store, "touchpoint", tp) is not None:
            raise UsageError(unknown_value("touchpoint", tp, touchpoints))
    channels = sorted({t.channel for t in catalog.touchpoints if t.is_touchpoint})
    for channel in scope.channels:
        if channel not in channels:
            raise UsageError(unknown_value("channel", channel, channels))
    kinds = get_args(Kind)
    for kind in scope.kinds:
        if kind not in kinds:
            raise UsageError(unknown_value("kind", kind, kinds))
    for option, column, values in (
        ("segment", "segment", scope.segments),
        ("agent", "agent", scope.agents),
    ):
        for value in values:
            stored = _stored(store, column, value)
            if stored is not None:
                raise UsageError(unknown_value(option, value, stored))
