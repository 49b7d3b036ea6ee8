"""Derived facts kept beside `events`: each event's derived phase and journey cycle, and
one row per journey cycle (SPEC §3), so journey analyses and attribution read them instead
of cutting cycles from the whole history at every question.

- `event_facts` (seq, customer_id, phase, cycle_no, step): every event's phase (the stored
  one, else derived with the `--during`/`--after` windows) and, for journey steps (not
  feedback, not queue entries), its cycle number and position in the cycle.
- `journey_cycles` (customer_id, cycle_no, cycle_id, cycle_start, cycle_end, steps, path,
  converts, revenue): a cycle runs until a purchase (inclusive) or a gap longer than
  `--gap`; `path` is its touchpoints in order, joined by " > ".

They are maintained in the transaction that stores the events (`Store.commit_staged`, so
files, `POST /v1/events`, webhooks and surveys alike), recomputed only for the customers
that received events: a late event re-cuts that customer's cycles and nothing else. Erasing
a customer removes theirs. The options they were cut with are in `meta`
(`derived_facts`); analyses use them only when a question asks for those same options,
and compute from raw events otherwise. A store that held events before the facts existed
has none until `touchpoints rebuild` (`rebuild`), which also recomputes them after a
change of options and says what changed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from touchpoints.core.events import NON_STEP_SQL
from touchpoints.store.params import Params

if TYPE_CHECKING:
    from touchpoints.store.base import Store

META_KEY = "derived_facts"
PATH_SEPARATOR = " > "


@dataclass(frozen=True)
class FactOptions:
    """The SPEC §3 windows facts are cut with, in whole seconds (the analyses' defaults)."""

    gap_seconds: int = 30 * 86400
    during_seconds: int = 3600
    after_seconds: int = 90 * 86400

    @classmethod
    def of(cls, gap: float, during: float, after: float) -> FactOptions:
        return cls(int(gap), int(during), int(after))


def ddl(engine: str) -> list[str]:
    text, big, ts, dbl = (
        ("VARCHAR", "BIGINT", "TIMESTAMP", "DOUBLE")
        if engine == "duckdb"
        else ("TEXT", "BIGINT", "TIMESTAMP", "DOUBLE PRECISION")
    )
    tables = [
        f"CREATE TABLE IF NOT EXISTS event_facts (seq {big} NOT NULL, customer_id {text}, "
        f"phase {text}, cycle_no {big}, step {big})",
        f"CREATE TABLE IF NOT EXISTS journey_cycles (customer_id {text}, cycle_no {big}, "
        f"cycle_id {text}, cycle_start {ts}, cycle_end {ts}, steps {big}, path {text}, "
        f"converts INTEGER, revenue {dbl})",
    ]
    if engine == "postgres":
        tables += [
            "CREATE INDEX IF NOT EXISTS event_facts_seq ON event_facts (seq)",
            "CREATE INDEX IF NOT EXISTS event_facts_customer ON event_facts (customer_id)",
            "CREATE INDEX IF NOT EXISTS journey_cycles_customer ON journey_cycles (customer_id, cycle_no)",
        ]
    return tables


def _interval(seconds: int) -> str:
    return f"INTERVAL '{int(seconds)}' SECOND"


def relation() -> str:
    """Journey steps with their cycle from the facts: the columns of
    `analytics.cycles.steps_relation` (events, catalog channel/kind, phase, cycle_no,
    cycle_id, step, steps, cycle_converts, cycle_start, cycle_end)."""
    from touchpoints.core.events import COLUMN_NAMES

    kept = ", ".join(f"e.{c}" for c in COLUMN_NAMES if c != "phase")
    return f"""SELECT e.seq, e.source, t.channel AS channel, t.kind AS kind, {kept},
        f.phase AS phase, f.cycle_no, c.cycle_id, f.step, c.steps,
        c.converts AS cycle_converts, c.cycle_start, c.cycle_end
      FROM event_facts f
      JOIN events e ON e.seq = f.seq
      JOIN journey_cycles c ON c.customer_id = f.customer_id AND c.cycle_no = f.cycle_no
      LEFT JOIN touchpoints t ON t.id = e.touchpoint"""


def facts_select(options: FactOptions, source: str = "events") -> str:
    """`event_facts` rows for the events in `source` (every event of the customers it
    holds): the same windows as the analyses' raw path (`analytics.sql.events_relation`,
    `analytics.cycles.steps_relation`)."""
    return f"""SELECT p.seq, p.customer_id, p.phase, c.cycle_no, c.step
    FROM (
      SELECT seq, customer_id,
        coalesce(phase, CASE
          WHEN action = 'purchase' OR _next_purchase <= ts + {_interval(options.during_seconds)} THEN 'during'
          WHEN _prev_purchase >= ts - {_interval(options.after_seconds)} THEN 'after'
          ELSE 'before' END) AS phase
      FROM (
        SELECT seq, customer_id, ts, action, phase,
          min(CASE WHEN action = 'purchase' THEN ts END) OVER (
            PARTITION BY customer_id ORDER BY ts RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS _next_purchase,
          max(CASE WHEN action = 'purchase' THEN ts END) OVER (
            PARTITION BY customer_id ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS _prev_purchase
        FROM {source}
      ) w
    ) p
    LEFT JOIN (
      SELECT seq, cycle_no,
        row_number() OVER (PARTITION BY customer_id, cycle_no ORDER BY ts, seq) AS step
      FROM (
        SELECT seq, customer_id, ts,
          sum(CASE WHEN _prev_ts IS NULL OR _prev_action = 'purchase'
                     OR ts > _prev_ts + {_interval(options.gap_seconds)} THEN 1 ELSE 0 END)
            OVER (PARTITION BY customer_id ORDER BY ts, seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
            AS cycle_no
        FROM (
          SELECT seq, customer_id, ts,
            lag(ts) OVER (PARTITION BY customer_id ORDER BY ts, seq) AS _prev_ts,
            lag(action) OVER (PARTITION BY customer_id ORDER BY ts, seq) AS _prev_action
          FROM {source}
          WHERE action NOT IN {NON_STEP_SQL}
        ) b
      ) s
    ) c ON c.seq = p.seq"""


def cycles_select(source: str = "events") -> str:
    """`journey_cycles` rows from `event_facts` (already refreshed) and `source` (the
    events of the customers to recompute)."""
    return f"""SELECT f.customer_id, f.cycle_no,
        f.customer_id || '#' || CAST(f.cycle_no AS VARCHAR) AS cycle_id,
        min(e.ts) AS cycle_start, max(e.ts) AS cycle_end, count(*) AS steps,
        string_agg(e.touchpoint, '{PATH_SEPARATOR}' ORDER BY e.ts, e.seq) AS path,
        max(CASE WHEN e.action = 'purchase' THEN 1 ELSE 0 END) AS converts,
        sum(CASE WHEN e.action = 'purchase' THEN e.value END) AS revenue
      FROM {source} e JOIN event_facts f ON f.seq = e.seq
      WHERE f.cycle_no IS NOT NULL
      GROUP BY f.customer_id, f.cycle_no"""


def stored_options(store: Store) -> FactOptions | None:
    """The options the facts were cut with; None when the store keeps none."""
    rows = store.query("SELECT value FROM meta WHERE key = $key", {"key": META_KEY})
    if not rows:
        return None
    return FactOptions(**json.loads(rows[0]["value"]))


def suspend(store: Store) -> FactOptions | None:
    """Mark the facts absent (analyses read raw events) before a change that commits in
    several steps; `refresh(..., options=)` with the returned options restores them."""
    options = stored_options(store)
    if options is not None:
        _clear_options(store)
    return options


def _clear_options(store: Store) -> None:
    store.execute("DELETE FROM meta WHERE key = $key", {"key": META_KEY})


def _set_options(store: Store, options: FactOptions) -> None:
    _clear_options(store)
    store.execute(
        "INSERT INTO meta VALUES ($key, $value)",
        {"key": META_KEY, "value": json.dumps(asdict(options))},
    )


def start_if_empty(store: Store) -> None:
    """A store without events starts with facts at the default options (complete, being
    empty); one that has events keeps none until `rebuild`."""
    if stored_options(store) is not None or store.query("SELECT 1 AS x FROM events LIMIT 1"):
        return
    with store.transaction():
        if stored_options(store) is None and not store.query("SELECT 1 AS x FROM events LIMIT 1"):
            _set_options(store, FactOptions())


def refresh(
    store: Store, customers: str, params: Params | None = None, options: FactOptions | None = None
) -> None:
    """Recompute the facts of the customers in `customers` (a SELECT of customer_id); call
    inside the transaction that changed their events. Nothing when the store keeps no facts.

    Their events are read once into a temporary table, so the windows and the grouping
    run over those customers' rows only, however long the stored history."""
    suspended = options is not None  # the caller already marked the facts absent
    options = options or stored_options(store)
    if options is None:
        return
    if not store.atomic and not suspended:
        # Each statement commits alone (Spark): until the last one, the facts are marked
        # absent, so a failure in between leaves analyses reading raw events, never facts
        # missing some customers' rows (`rebuild` restores them).
        _clear_options(store)
    touched = f"SELECT customer_id FROM ({customers}) t"
    store.execute(f"DELETE FROM journey_cycles WHERE customer_id IN ({touched})", params)
    store.execute(f"DELETE FROM event_facts WHERE customer_id IN ({touched})", params)
    store.execute("DROP TABLE IF EXISTS _fact_events")
    store.execute(
        f"CREATE TEMPORARY TABLE _fact_events AS SELECT {SOURCE_COLUMNS} FROM events "
        f"WHERE customer_id IN ({touched})",
        params,
    )
    store.execute(f"INSERT INTO event_facts {facts_select(options, '_fact_events')}")
    store.execute(f"INSERT INTO journey_cycles {cycles_select('_fact_events')}")
    store.execute("DROP TABLE _fact_events")
    if not store.atomic:
        _set_options(store, options)


SOURCE_COLUMNS = "seq, customer_id, ts, action, phase, touchpoint, value"


def forget(store: Store, customers: str, params: Params | None = None) -> None:
    """Drop the facts of customers whose events were all removed (erasure)."""
    options = None if store.atomic else stored_options(store)
    if options is not None:
        _clear_options(store)  # as in `refresh`
    store.execute(f"DELETE FROM journey_cycles WHERE customer_id IN ({customers})", params)
    store.execute(f"DELETE FROM event_facts WHERE customer_id IN ({customers})", params)
    if options is not None:
        _set_options(store, options)


def rebuild(store: Store, options: FactOptions | None = None) -> dict[str, Any]:
    """Recompute every fact from the events (at `options`, else the stored ones, else the
    defaults) in one transaction; returns what changed. Events are only read."""
    with store.transaction():
        before = stored_options(store)
        chosen = options or before or FactOptions()
        changed_events = _count(
            store,
            f"""SELECT count(*) AS n FROM (
              SELECT seq, customer_id, phase, cycle_no, step FROM ({facts_select(chosen)}) x
              EXCEPT SELECT seq, customer_id, phase, cycle_no, step FROM event_facts) d""",
        )
        old_cycles = _count(store, "SELECT count(*) AS n FROM journey_cycles")
        if not store.atomic:
            _clear_options(store)  # as in `refresh`: no half-rebuilt facts are ever read
        store.execute("DELETE FROM journey_cycles")
        store.execute("DELETE FROM event_facts")
        store.execute(f"INSERT INTO event_facts {facts_select(chosen)}")
        store.execute(f"INSERT INTO journey_cycles {cycles_select()}")
        _set_options(store, chosen)
        return {
            "options": asdict(chosen),
            "previous_options": asdict(before) if before else None,
            "events": _count(store, "SELECT count(*) AS n FROM event_facts"),
            "cycles": _count(store, "SELECT count(*) AS n FROM journey_cycles"),
            "previous_cycles": old_cycles,
            "events_changed": changed_events,
        }


def _count(store: Store, sql: str) -> int:
    return int(store.query(sql)[0]["n"])
