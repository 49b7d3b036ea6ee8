"""SQL every analysis shares, written once in DuckDB's dialect.

The portable idioms (local time, ISO weekday, hour, seconds between two times, percentiles,
an interval of N seconds) are spelled here and only here, in forms the store translates
for PostgreSQL and Spark (`touchpoints.store.dialects`; tests/test_dialects.py pins the
translations). Then the two relations analyses start from: every event with its catalog
channel/kind and derived phase (SPEC §3), and the same filtered by the scope.

Values reach SQL only as `$name` markers (the scope's are `$scope_*`). The one exception
is an interval's length, which no engine takes as a parameter: `interval()` writes it from
a Python `int`, never from text.
"""

from __future__ import annotations

from touchpoints.analytics.scope import Scope
from touchpoints.core.events import COLUMN_NAMES


def interval(seconds: float) -> str:
    """`INTERVAL 'n' SECOND` for a length computed in Python (whole seconds)."""
    return f"INTERVAL '{int(seconds)}' SECOND"


def local_ts(scope: Scope, column: str = "ts") -> str:
    """A stored (naive UTC) time as wall time in the scope's zone."""
    if scope.timezone == "UTC":
        return column
    return f"(({column} AT TIME ZONE 'UTC') AT TIME ZONE $scope_timezone)"


def iso_weekday(expr: str) -> str:
    """1 = Monday ... 7 = Sunday, on every engine: days since Monday 2001-01-01 modulo 7.

    Plain date arithmetic reads the same on DuckDB, PostgreSQL and Spark; ISODOW and
    DAYOFWEEK do not (sqlglot turns DuckDB's isodow into a Spark expression that is off by
    one and a PostgreSQL function that does not exist).
    """
    return f"(((date_diff('day', DATE '2001-01-01', CAST({expr} AS DATE)) % 7) + 7) % 7 + 1)"


def hour(expr: str) -> str:
    return f"EXTRACT(HOUR FROM {expr})"


def seconds_between(start: str, end: str) -> str:
    """Seconds from `start` to `end`, with microseconds (Spark's epoch would drop them)."""
    return f"date_diff('microsecond', {start}, {end}) / 1e6"


def median(expr: str) -> str:
    return f"median({expr})"


def percentile(expr: str, q: float) -> str:
    """The exact interpolated percentile (`q` a constant of the code, 0..1)."""
    return f"quantile_cont({expr}, {float(q)!r})"


def events_relation(
    scope: Scope, with_phase: bool, with_catalog: bool = True, source: str = "events"
) -> str:
    """Events with the catalog's channel/kind and, if asked, the derived phase (unfiltered).

    `with_catalog=False` skips the join (channel/kind come back NULL): a KPI query by
    touchpoint over millions of rows need not pay for it. `source` replaces the events
    table by a relation over it holding every event of the customers it holds (the phase
    windows run per customer), such as one customer's rows found before any window runs.
    With `scope.facts` (the store keeps facts cut with the scope's windows) the derived
    phase is each event's kept one (`event_facts`), the same value without the windows.
    """
    if with_catalog:
        joined = f"SELECT e.*, t.channel AS channel, t.kind AS kind FROM {source} e LEFT JOIN touchpoints t ON t.id = e.touchpoint"
    else:
        joined = f"SELECT e.*, CAST(NULL AS VARCHAR) AS channel, CAST(NULL AS VARCHAR) AS kind FROM {source} e"
    if not with_phase:
        return joined
    kept = ", ".join(
        ["seq", "source", "channel", "kind"] + [c for c in COLUMN_NAMES if c != "phase"]
    )
    if scope.facts and source == "events":
        # The store keeps every event's phase cut with these windows (`event_facts`): a
        # join on `seq` instead of two windows over every event (a fifth of the time).
        picked = ", ".join(f"j.{c}" for c in kept.split(", "))
        return f"SELECT {picked}, f.phase AS phase FROM ({joined}) j JOIN event_facts f ON f.seq = j.seq"
    # RANGE frames include same-ts peers, so a purchase tied in time counts as "in the hour before".
    return f"""SELECT {kept},
      coalesce(phase, CASE
        WHEN action = 'purchase' OR _next_purchase <= ts + {interval(scope.during_seconds)} THEN 'during'
        WHEN _prev_purchase >= ts - {interval(scope.after_seconds)} THEN 'after'
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
    """The filtered events relation every analysis starts from (bind `scope.params()`)."""
    catalog = with_catalog or scope.needs_catalog
    relation = events_relation(scope, with_phase or scope.needs_phase, catalog)
    return f"SELECT * FROM ({relation}) r WHERE {scope.where()}"
