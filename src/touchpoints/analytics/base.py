"""What every analysis shares: filters, durations, and the events relation with the
derived phase (SPEC §3), written once as SQL in DuckDB's dialect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from touchpoints.core.errors import UsageError
from touchpoints.core.events import COLUMN_NAMES, PHASES
from touchpoints.core.time import parse_duration, parse_when


def lit(value: object) -> str:
    """A SQL literal for values that reach queries (strings quoted, times typed)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Filters:
    """Row filters every analysis accepts; times are naive UTC, bounds inclusive."""

    date_from: datetime | None = None
    date_to: datetime | None = None
    touchpoints: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        date_from: str | datetime | date | None = None,
        date_to: str | datetime | date | None = None,
        touchpoint: str | list[str] | tuple[str, ...] | None = None,
        channel: str | list[str] | tuple[str, ...] | None = None,
        kind: str | list[str] | tuple[str, ...] | None = None,
        phase: str | list[str] | tuple[str, ...] | None = None,
        segment: str | list[str] | tuple[str, ...] | None = None,
        agent: str | list[str] | tuple[str, ...] | None = None,
        timezone: str = "UTC",
    ) -> Filters:
        """Parse option values; bare dates and naive times in --from/--to are read in
        `timezone` (pass the --timezone the periods are cut in)."""

        def many(v: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
            if v is None:
                return ()
            items = [v] if isinstance(v, str) else list(v)
            return tuple(x.strip() for item in items for x in item.split(",") if x.strip())

        phases = many(phase)
        for p in phases:
            if p not in PHASES:
                raise UsageError(f"--phase {p!r}: use before, during or after")
        start = parse_when(date_from, "--from", tz=timezone)
        stop = parse_when(date_to, "--to", end=True, tz=timezone)
        if start and stop and start > stop:
            raise UsageError("--from is after --to")
        return cls(
            start,
            stop,
            many(touchpoint),
            many(channel),
            many(kind),
            phases,
            many(segment),
            many(agent),
        )

    @property
    def needs_phase(self) -> bool:
        return bool(self.phases)

    def where(self) -> str:
        parts = ["TRUE"]
        if self.date_from:
            parts.append(f"ts >= {lit(self.date_from)}")
        if self.date_to:
            parts.append(f"ts <= {lit(self.date_to)}")
        for column, values in (
            ("touchpoint", self.touchpoints),
            ("channel", self.channels),
            ("kind", self.kinds),
            ("phase", self.phases),
            ("segment", self.segments),
            ("agent", self.agents),
        ):
            if values:
                parts.append(f"{column} IN ({', '.join(lit(v) for v in values)})")
        return " AND ".join(parts)


@dataclass(frozen=True)
class PhaseOptions:
    """SPEC §3 windows: `during` = the hour before a purchase, `after` = 90 days after."""

    during_seconds: float = 3600.0
    after_seconds: float = 90 * 86400.0

    @classmethod
    def build(cls, during: str | float = "1h", after: str | float = "90d") -> PhaseOptions:
        return cls(parse_duration(during, "--during"), parse_duration(after, "--after"))


@dataclass(frozen=True)
class Scope:
    filters: Filters = field(default_factory=Filters)
    phase: PhaseOptions = field(default_factory=PhaseOptions)


def events_relation(scope: Scope, with_phase: bool, with_catalog: bool = True) -> str:
    """Events with the catalog's channel/kind and, if asked, the derived phase (unfiltered).

    `with_catalog=False` skips the join (channel/kind come back NULL): a KPI query by
    touchpoint over millions of rows need not pay for it.
    """
    if with_catalog:
        joined = "SELECT e.*, t.channel AS channel, t.kind AS kind FROM events e LEFT JOIN touchpoints t ON t.id = e.touchpoint"
    else:
        joined = "SELECT e.*, CAST(NULL AS VARCHAR) AS channel, CAST(NULL AS VARCHAR) AS kind FROM events e"
    if not with_phase:
        return joined
    during = int(scope.phase.during_seconds)
    after = int(scope.phase.after_seconds)
    # RANGE frames include same-ts peers, so a purchase tied in time counts as "in the hour before".
    kept = ", ".join(
        ["seq", "source", "channel", "kind"] + [c for c in COLUMN_NAMES if c != "phase"]
    )
    return f"""SELECT {kept},
      coalesce(phase, CASE
        WHEN action = 'purchase' OR _next_purchase <= ts + INTERVAL '{during}' SECOND THEN 'during'
        WHEN _prev_purchase >= ts - INTERVAL '{after}' SECOND THEN 'after'
        ELSE 'before' END) AS phase
    FROM (
      SELECT j.*,
        min(CASE WHEN action = 'purchase' THEN ts END) OVER (
          PARTITION BY customer_id ORDER BY ts RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS _next_purchase,
        max(CASE WHEN action = 'purchase' THEN ts END) OVER (
          PARTITION BY customer_id ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS _prev_purchase
      FROM ({joined}) j
    ) w"""


def scoped_events(scope: Scope, with_phase: bool = False, with_catalog: bool = True) -> str:
    """The filtered events relation every analysis starts from."""
    catalog = with_catalog or bool(scope.filters.channels or scope.filters.kinds)
    relation = events_relation(scope, with_phase or scope.filters.needs_phase, catalog)
    return f"SELECT * FROM ({relation}) r WHERE {scope.filters.where()}"
