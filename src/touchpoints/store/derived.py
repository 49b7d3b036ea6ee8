"""Derived facts kept beside `events`: each event's derived phase and journey cycle, and
one row per journey cycle (SPEC §3), so journey analyses and attribution read them instead
of cutting cycles from the whole history at every question.

- `event_facts` (seq, customer_id, phase, cycle_no, step): every event's phase (the stored
  one, else derived with the `--during`/`--after` windows) and, for journey steps (not
  feedback, not queue entries), its cycle number and position in the cycle.
- `journey_cycles` (customer_id, cycle_no, cycle_id, cycle_start, cycle_end, steps, path,
  converts, revenue): a cycle runs until a purchase (inclusive) or a gap longer than
  `--gap`; `path` is its touchpoints in order, joined by " > ".
- `journey_customers` (customer_id, cycles, path, converts): a customer's whole path (their
  cycles' paths in order) and whether they ever bought, so the customer variants group
  one row per customer instead of ordering every step (`keeps_paths`).
- `journey_steps` (customer_id, touchpoint, next_touchpoint, next_seconds, first_step): each
  journey step with the customer's next one and the seconds to it, so the customer DFG is
  one grouping instead of a window over every step (`keeps_paths`).
- `kpi_facts`: the SPEC §4 counts and sums per customer x UTC hour x touchpoint x agent x
  segment x phase (see `ROLLUP_SUMS`), read by `kpis`, `heatmap` and `summary` whenever a
  question is a sum of its rows (`analytics.kpis.rollup_relation`).
- `agent_facts` and `agent_comments`: the team's scorecards (`analytics.agents`) summed per
  customer x hour x hour of service x touchpoint x agent x segment, a survey answer credited
  to the agent, touchpoint and hour of the contact it rates (`ref_event_id`), and the
  low-rated comments so credited (see `AGENT_SUMS`); `agent_hours`, the same sums per hour
  of service x touchpoint x agent over all customers, kept by adding what a change adds
  and taking away what it removes: what the team page reads when no period or segment
  narrows it.

They are maintained in the transaction that stores the events (`Store.commit_staged`, so
files, `POST /v1/events`, webhooks, surveys and the attendant alike), recomputed only for the customers
that received events: a late event re-cuts that customer's cycles and nothing else. Erasing
a customer removes theirs. The options they were cut with are in `meta`
(`derived_facts`); analyses use them only when a question asks for those same options,
and compute from raw events otherwise. A store that held events before the facts existed
has none until `touchpoints rebuild` (`rebuild`), which also recomputes them after a
change of options and says what changed.
"""

from __future__ import annotations

import hashlib
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
        f"CREATE TABLE IF NOT EXISTS journey_customers (customer_id {text}, cycles {big}, "
        f"path {text}, converts INTEGER)",
        f"CREATE TABLE IF NOT EXISTS journey_steps (customer_id {text}, touchpoint {text}, "
        f"next_touchpoint {text}, next_seconds {dbl}, first_step INTEGER)",
    ]
    tables.append(
        f"CREATE TABLE IF NOT EXISTS kpi_facts (customer_id {text}, customer_key {big}, "
        f"hour {ts}, touchpoint {text}, agent {text}, segment {text}, phase {text}, "
        + ", ".join(f"{name} {_kpi_type(name, big, dbl)}" for name in ROLLUP_SUMS)
        + f", first_ts {ts}, last_ts {ts}, "
        + ", ".join(f"{flag} INTEGER" for flag in FIRST_FLAGS)
        + ")"
    )
    tables += [
        f"CREATE TABLE IF NOT EXISTS agent_facts (customer_id {text}, contact_customer {text}, "
        f"hour {ts}, served_hour {ts}, touchpoint {text}, agent {text}, segment {text}, "
        + ", ".join(f"{name} {_agent_type(name, big)}" for name in AGENT_COLUMNS)
        + ")",
        f"CREATE TABLE IF NOT EXISTS agent_hours (served_hour {ts}, touchpoint {text}, "
        f"agent {text}, "
        + ", ".join(f"{name} {_agent_type(name, big)}" for name in AGENT_COLUMNS)
        + ")",
        f"CREATE TABLE IF NOT EXISTS agent_comments (customer_id {text}, contact_customer {text}, "
        f"ts {ts}, event_id {text}, touchpoint {text}, agent {text}, segment {text}, "
        f"comment {text})",
    ]
    if engine == "postgres":
        tables += [
            "CREATE INDEX IF NOT EXISTS agent_facts_customer ON agent_facts (customer_id)",
            "CREATE INDEX IF NOT EXISTS agent_facts_contact ON agent_facts (contact_customer)",
            "CREATE INDEX IF NOT EXISTS agent_comments_customer ON agent_comments (customer_id)",
            "CREATE INDEX IF NOT EXISTS agent_comments_contact ON agent_comments (contact_customer)",
            "CREATE INDEX IF NOT EXISTS agent_hours_key ON agent_hours (served_hour, agent)",
            # An answer arriving before the contact it rates is found by the contact's id.
            "CREATE INDEX IF NOT EXISTS events_ref_event_id ON events (ref_event_id)",
            "CREATE INDEX IF NOT EXISTS kpi_facts_customer ON kpi_facts (customer_id)",
            "CREATE INDEX IF NOT EXISTS kpi_facts_hour ON kpi_facts (hour)",
            "CREATE INDEX IF NOT EXISTS event_facts_seq ON event_facts (seq)",
            "CREATE INDEX IF NOT EXISTS event_facts_customer ON event_facts (customer_id)",
            "CREATE INDEX IF NOT EXISTS journey_cycles_customer ON journey_cycles (customer_id, cycle_no)",
            "CREATE INDEX IF NOT EXISTS journey_customers_customer ON journey_customers (customer_id)",
            "CREATE INDEX IF NOT EXISTS journey_steps_customer ON journey_steps (customer_id)",
        ]
    return tables


# -- KPI roll-up --------------------------------------------------------------------------
# `kpi_facts`: one row per customer x UTC hour x touchpoint x agent x segment x phase, with
# the counts and sums of SPEC §4 (short abandons not left out: `--short-abandon 0`), the
# first and last event time. Every §4 number over a group whose filters are these columns
# (channel and kind through the catalog) and whose period starts and ends on whole hours is
# a sum of these rows; distinct customers are exact, as the distinct `customer_key` (the
# customer's first stored `seq`: unique per customer, a number cheap to count).
# The service level's threshold T is the catalog's `answer_within` per touchpoint (else
# 20 s), kept in `meta` (`kpi_rollup`) beside the facts; a catalog that changes T re-counts.
ROLLUP_KEY = "kpi_rollup"
DEFAULT_ANSWER_WITHIN = 20.0
EXACT = "DECIMAL(38, 6)"
_ANSWERED = "e.abandoned = FALSE"
ROLLUP_SUMS: dict[str, str] = {
    "events": "count(*)",
    "offered": "sum(CASE WHEN e.abandoned IS NOT NULL THEN 1 ELSE 0 END)",
    "answered": f"sum(CASE WHEN {_ANSWERED} THEN 1 ELSE 0 END)",
    "abandoned": "sum(CASE WHEN e.abandoned THEN 1 ELSE 0 END)",
    "wait_sum": f"sum(CASE WHEN {_ANSWERED} THEN CAST(e.wait_seconds AS {EXACT}) END)",
    "wait_n": f"count(CASE WHEN {_ANSWERED} THEN e.wait_seconds END)",
    "handle_sum": f"sum(CASE WHEN {_ANSWERED} THEN CAST(e.handle_seconds AS {EXACT}) END)",
    "handle_n": f"count(CASE WHEN {_ANSWERED} THEN e.handle_seconds END)",
    "within": f"sum(CASE WHEN {_ANSWERED} AND e.wait_seconds <= {{threshold}} THEN 1 ELSE 0 END)",
    "resolved_true": "sum(CASE WHEN e.resolved = TRUE THEN 1 ELSE 0 END)",
    "resolved_n": "count(e.resolved)",
    "csat_good": "sum(CASE WHEN e.csat >= 4 THEN 1 ELSE 0 END)",
    "csat_n": "count(e.csat)",
    "nps_promoters": "sum(CASE WHEN e.nps >= 9 THEN 1 ELSE 0 END)",
    "nps_detractors": "sum(CASE WHEN e.nps <= 6 THEN 1 ELSE 0 END)",
    "nps_n": "count(e.nps)",
    "ces_sum": "sum(e.ces)",
    "ces_n": "count(e.ces)",
    "conversions": "sum(CASE WHEN e.action = 'purchase' THEN 1 ELSE 0 END)",
    "revenue": f"sum(CASE WHEN e.action = 'purchase' THEN CAST(e.value AS {EXACT}) END)",
    "promise_kept": "sum(CASE WHEN e.promise = 'kept' THEN 1 ELSE 0 END)",
    "promise_broken": "sum(CASE WHEN e.promise = 'broken' THEN 1 ELSE 0 END)",
    "reused_true": "sum(CASE WHEN e.data_reused THEN 1 ELSE 0 END)",
    "reused_n": "count(e.data_reused)",
    "emotion_sum": "sum(e.emotion)",
    "emotion_n": "count(e.emotion)",
}
ROLLUP_KEYS = ("touchpoint", "agent", "segment", "phase")
# 1 on one row of each customer (`customer_first`) and of each customer x touchpoint or
# segment (`<key>_first`), 0 elsewhere: over the whole history, distinct customers (per one
# of these keys: the store's summary, the KPIs by touchpoint) are then a sum, as cheap as
# any other. Each flag costs a sort at ingestion: only these.
FLAG_KEYS = ("touchpoint", "segment")
FIRST_FLAGS = ("customer_first", *(f"{k}_first" for k in FLAG_KEYS))


EXACT_SUMS = ("wait_sum", "handle_sum", "revenue")


def _kpi_type(name: str, big: str, dbl: str) -> str:
    return EXACT if name in EXACT_SUMS else big


@dataclass(frozen=True)
class Targets:
    """The service level's threshold T the roll-up counted `within` with: per touchpoint
    (the catalog's `answer_within`), else `default`."""

    default: float = DEFAULT_ANSWER_WITHIN
    touchpoints: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, store: Store) -> Targets:
        """The catalog's targets (what `kpis` uses without `--answer-within`)."""
        return cls(
            DEFAULT_ANSWER_WITHIN,
            tuple(
                sorted(
                    (tp.id, float(tp.target["answer_within"]))
                    for tp in store.catalog().touchpoints
                    if "answer_within" in tp.target
                )
            ),
        )

    def sql(self) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"rollup_default": self.default}
        if not self.touchpoints:
            return "$rollup_default", params
        whens = []
        for i, (touchpoint, seconds) in enumerate(self.touchpoints):
            whens.append(f"WHEN $rollup_tp_{i} THEN $rollup_tp_{i}_seconds")
            params[f"rollup_tp_{i}"] = touchpoint
            params[f"rollup_tp_{i}_seconds"] = seconds
        return f"(CASE e.touchpoint {' '.join(whens)} ELSE $rollup_default END)", params

    def uniform(self) -> float | None:
        """The one T for every touchpoint, if there is one."""
        values = {self.default, *(s for _, s in self.touchpoints)}
        return values.pop() if len(values) == 1 else None


def rollup_targets(store: Store) -> Targets | None:
    """The T the roll-up was counted with; None when the store keeps no roll-up."""
    value = store.meta(ROLLUP_KEY)
    if value is None:
        return None
    raw = json.loads(value)
    return Targets(float(raw["default"]), tuple((tp, float(s)) for tp, s in raw["touchpoints"]))


def keeps_rollup(store: Store) -> bool:
    """Whether this engine keeps the KPI roll-up: DuckDB and PostgreSQL do; a Spark
    warehouse answers KPIs from its events (one pass in the cluster is the roll-up)."""
    return store.has_table("kpi_facts")


def _set_targets(store: Store, targets: Targets) -> None:
    value = {"default": targets.default, "touchpoints": [list(t) for t in targets.touchpoints]}
    store.set_meta({ROLLUP_KEY: json.dumps(value)})


def rollup_select(
    targets: Targets, source: str = "events", facts: str = "event_facts"
) -> tuple[str, dict[str, Any]]:
    """`kpi_facts` rows for the events in `source` (every event of the customers it holds),
    their phase from `event_facts` (already refreshed)."""
    threshold, params = targets.sql()
    sums = ", ".join(
        f"{expr.format(threshold=threshold)} AS {name}" for name, expr in ROLLUP_SUMS.items()
    )
    keys = ", ".join(f"e.{k}" for k in ROLLUP_KEYS if k != "phase")
    # The flags mark the row holding the customer's first event (its smallest seq: the
    # customer key), and the one holding its first event per touchpoint or segment: joins
    # on seq, no sort of the wide rows.
    firsts = "".join(
        f"""
      LEFT JOIN (SELECT min(seq) AS seq FROM {source} GROUP BY customer_id, {k}) first_{k}
        ON first_{k}.seq = e.seq"""
        for k in FLAG_KEYS
    )
    flags = ", ".join(
        [
            "max(CASE WHEN e.seq = k.customer_key THEN 1 ELSE 0 END) AS customer_first",
            *(
                f"max(CASE WHEN first_{k}.seq IS NULL THEN 0 ELSE 1 END) AS {k}_first"
                for k in FLAG_KEYS
            ),
        ]
    )
    sql = f"""SELECT e.customer_id, min(k.customer_key) AS customer_key,
        date_trunc('hour', e.ts) AS hour, {keys}, f.phase, {sums},
        min(e.ts) AS first_ts, max(e.ts) AS last_ts, {flags}
      FROM {source} e
      JOIN {facts} f ON f.seq = e.seq
      JOIN (SELECT customer_id, min(seq) AS customer_key FROM {source} GROUP BY customer_id) k
        ON k.customer_id = e.customer_id{firsts}
      GROUP BY e.customer_id, date_trunc('hour', e.ts), {keys}, f.phase"""
    return sql, params


def rollup_columns() -> list[str]:
    return [
        "customer_id",
        "customer_key",
        "hour",
        *ROLLUP_KEYS,
        *ROLLUP_SUMS,
        "first_ts",
        "last_ts",
        *FIRST_FLAGS,
    ]


# Events per pass of the roll-up on DuckDB (`_insert_rollup`).
ROLLUP_PASS_EVENTS = 5_000_000


def _insert_rollup(
    store: Store, targets: Targets, source: str = "events", facts: str = "event_facts"
) -> None:
    """Insert the roll-up of the customers in `source`. On DuckDB, a source of more than
    `ROLLUP_PASS_EVENTS` events is rolled up in passes, each over the customers whose id
    hashes to it: a row's group holds one customer, so the passes add up to the same rows,
    and each pass's joins and grouping fit under a memory limit where the whole did not
    (a 50M-event first ingestion ran out of 2.5GB in one pass)."""
    columns = ", ".join(rollup_columns())
    passes = _rollup_passes(store, source)
    if passes == 1:
        sql, params = rollup_select(targets, source, facts)
        store.execute(f"INSERT INTO kpi_facts ({columns}) {sql}", params)
        return
    part = f"(SELECT * FROM {source} WHERE hash(customer_id) % $tp_passes = $tp_pass)"
    sql, params = rollup_select(targets, part, facts)
    for n in range(passes):
        store.execute(
            f"INSERT INTO kpi_facts ({columns}) {sql}",
            {**params, "tp_passes": passes, "tp_pass": n},
        )


def _rollup_passes(store: Store, source: str) -> int:
    if store.engine != "duckdb":
        return 1
    return max(1, -(-store.count(source) // ROLLUP_PASS_EVENTS))


def catalog_changed(store: Store) -> None:
    """After the catalog changed: a roll-up counted with other thresholds T is counted
    again from the events (in one transaction), so it always answers the catalog's T."""
    stored = rollup_targets(store)
    if stored is None or stored == Targets.of(store):
        return
    with store.transaction():
        targets = Targets.of(store)
        store.execute("DELETE FROM kpi_facts")
        _insert_rollup(store, targets)
        _set_targets(store, targets)


# -- the team's scorecards ------------------------------------------------------------------
# `agent_facts`: the sums `analytics.agents` builds its scorecards from, per customer x hour
# (of the row itself, UTC: what a period filters) x hour of service (UTC: the hour of the
# contact an answer rates) x touchpoint x agent (the contact's) x segment (the row's own).
# A row naming an agent is a contact, credited to itself; a survey answer (no agent,
# `ref_event_id` set) is credited to the contact it rates, wherever and whenever that
# contact arrives. `contact_customer` is the customer of that contact, so a contact that
# arrives, moves (identity link) or is erased re-credits the answers of other customers that
# rate it. Counted as `--short-abandon 0` counts; sums of seconds and their squares are
# exact decimals, so margins summed from these rows equal those from raw events.
# `agent_comments`: each low-rated comment (CSAT 1-3 or NPS 0-6) so credited, with its
# own time and id: what the comment themes are made of.
SQUARE = EXACT  # a square is DECIMAL(38, 12): exact (DECIMAL(18) factors overflow)


def _answered(row: str = "") -> str:
    return f"{row}abandoned = FALSE"


def agent_sums(offered: str, row: str = "") -> dict[str, str]:
    """Name -> aggregate of the scorecards' sums over credited rows (columns qualified by
    `row`); `offered` is the predicate of an offered contact (the analysis's, with its
    `--short-abandon`; the stored facts count with 0 seconds, `OFFERED_KEPT`)."""
    answered = _answered(row)

    def sq(column: str) -> str:
        return f"CAST({row}{column} AS {SQUARE}) * CAST({row}{column} AS {SQUARE})"

    return {
        "contacts": f"sum(CASE WHEN {offered} THEN 1 ELSE 0 END)",
        "answered": f"sum(CASE WHEN {answered} THEN 1 ELSE 0 END)",
        "wait_sum": f"sum(CASE WHEN {answered} THEN CAST({row}wait_seconds AS {EXACT}) END)",
        "wait_sq": f"sum(CASE WHEN {answered} THEN {sq('wait_seconds')} END)",
        "wait_n": f"count(CASE WHEN {answered} THEN {row}wait_seconds END)",
        "handle_sum": f"sum(CASE WHEN {answered} THEN CAST({row}handle_seconds AS {EXACT}) END)",
        "handle_sq": f"sum(CASE WHEN {answered} THEN {sq('handle_seconds')} END)",
        "handle_n": f"count(CASE WHEN {answered} THEN {row}handle_seconds END)",
        "resolved": f"sum(CASE WHEN {row}resolved = TRUE THEN 1 ELSE 0 END)",
        "resolved_n": f"count({row}resolved)",
        "csat_good": f"sum(CASE WHEN {row}csat >= 4 THEN 1 ELSE 0 END)",
        "csat_n": f"count({row}csat)",
        "promoters": f"sum(CASE WHEN {row}nps >= 9 THEN 1 ELSE 0 END)",
        "detractors": f"sum(CASE WHEN {row}nps <= 6 THEN 1 ELSE 0 END)",
        "nps_n": f"count({row}nps)",
        "kept": f"sum(CASE WHEN {row}promise = 'kept' THEN 1 ELSE 0 END)",
        "broken": f"sum(CASE WHEN {row}promise = 'broken' THEN 1 ELSE 0 END)",
        "reused": f"sum(CASE WHEN {row}data_reused THEN 1 ELSE 0 END)",
        "reused_n": f"count({row}data_reused)",
    }


def offered(short_abandon: str, row: str = "") -> str:
    """An offered contact (SPEC §4): an abandon shorter than `short_abandon` seconds is
    not offered."""
    return (
        f"({row}abandoned IS NOT NULL AND NOT ({row}abandoned AND "
        f"coalesce({row}wait_seconds < {short_abandon}, FALSE)))"
    )


OFFERED_KEPT = offered("0")
AGENT_SUMS = agent_sums(OFFERED_KEPT)
# The stored columns: how many credited rows a sum holds (a group of no rows is dropped
# from `agent_hours`; one of rows with nothing to count still names its agent), the sums.
AGENT_COLUMNS = {"credited": "count(*)", **AGENT_SUMS}
HOUR_KEYS = ("served_hour", "touchpoint", "agent")
# A low rating with a comment: what comment themes are made of.
LOW_RATED = "comment IS NOT NULL AND (csat <= 3 OR nps <= 6)"
AGENTS_KEY = "agent_facts"
_AGENT_ROW = (
    "event_id, customer_id, ts, action, segment, abandoned, wait_seconds, handle_seconds, "
    "resolved, nps, csat, promise, data_reused, comment"
)


def _agent_type(name: str, big: str) -> str:
    if name.endswith("_sq"):
        return "DECIMAL(38, 12)"
    return EXACT if name.endswith("_sum") else big


def contact_rows(source: str = "events") -> str:
    """Each contact in `source` (a row naming its agent), credited to itself."""
    return (
        f"SELECT {_AGENT_ROW}, agent, touchpoint, ts AS served_ts, customer_id AS contact_customer "
        f"FROM {source} WHERE agent IS NOT NULL"
    )


def answer_rows(answers: str, contacts: str = "events", narrow: bool = True) -> str:
    """Each survey answer in the relation `answers` credited to the agent, touchpoint and
    time (`served_ts`) of the contact in `contacts` it rates, with that contact's customer
    (`contact_customer`). `narrow`: the contacts are first narrowed to those some answer
    rates, so the engine matches a few ids, not every stored contact's (not needed when
    `contacts` are a batch's few)."""
    rated = ", ".join(f"a.{c.strip()}" for c in _AGENT_ROW.split(","))
    rates = f" AND event_id IN (SELECT ref_event_id FROM {answers} x)" if narrow else ""
    return f"""SELECT {rated}, r.agent, r.touchpoint, r.ts AS served_ts,
        r.customer_id AS contact_customer
      FROM {answers} a
      JOIN (SELECT event_id, agent, touchpoint, ts, customer_id FROM {contacts} k
            WHERE agent IS NOT NULL{rates}) r
        ON r.event_id = a.ref_event_id"""


def answers_in(source: str) -> str:
    """The survey answers among the events of `source`: no agent, `ref_event_id` set."""
    return f"(SELECT * FROM {source} WHERE agent IS NULL AND ref_event_id IS NOT NULL)"


def keeps_agents(store: Store) -> bool:
    """Whether `agent_facts` and `agent_comments` hold every customer's rows: DuckDB and
    PostgreSQL keep them (a Spark warehouse computes the scorecards from its events); a
    store whose facts predate them has them once filled (`start_if_empty`, `rebuild`).
    Only while the store keeps its facts at all: `refresh` maintains them only then."""
    return (
        store.has_table("agent_facts")
        and store.meta(AGENTS_KEY) is not None
        and stored_options(store) is not None
    )


def _insert_agents(
    store: Store, credited: str, params: Params | None = None, delta: bool = False
) -> None:
    """Sum the credited rows of the relation `credited` into `agent_facts`, and keep their
    low-rated comments in `agent_comments`; `delta`: add their sums per hour of service,
    touchpoint and agent to `_agent_delta` too (what they add to `agent_hours`)."""
    store.execute("DROP TABLE IF EXISTS _agent_rows")
    store.execute(f"CREATE TEMPORARY TABLE _agent_rows AS {credited}", params)
    store.analyze("_agent_rows")
    keys = "customer_id, contact_customer, hour, served_hour, touchpoint, agent, segment"
    sums = ", ".join(f"{expr} AS {name}" for name, expr in AGENT_COLUMNS.items())
    store.execute(
        f"""INSERT INTO agent_facts ({keys}, {", ".join(AGENT_COLUMNS)})
        SELECT customer_id, contact_customer, date_trunc('hour', ts) AS hour,
          date_trunc('hour', served_ts) AS served_hour, touchpoint, agent, segment, {sums}
        FROM _agent_rows
        GROUP BY customer_id, contact_customer, date_trunc('hour', ts),
          date_trunc('hour', served_ts), touchpoint, agent, segment"""
    )
    store.execute(
        """INSERT INTO agent_comments (customer_id, contact_customer, ts, event_id, touchpoint,
          agent, segment, comment)
        SELECT customer_id, contact_customer, ts, event_id, touchpoint, agent, segment, comment
        FROM _agent_rows WHERE """
        + LOW_RATED
    )
    if delta:
        store.execute(
            f"""INSERT INTO _agent_delta ({", ".join(HOUR_KEYS)}, {", ".join(AGENT_COLUMNS)})
            SELECT date_trunc('hour', served_ts) AS served_hour, touchpoint, agent, {sums}
            FROM _agent_rows GROUP BY date_trunc('hour', served_ts), touchpoint, agent"""
        )
    store.execute("DROP TABLE _agent_rows")


def _fill_agents(store: Store) -> None:
    store.execute("DELETE FROM agent_facts")
    store.execute("DELETE FROM agent_comments")
    _insert_agents(store, f"{contact_rows()} UNION ALL {answer_rows(answers_in('events'))}")
    keys = ", ".join(HOUR_KEYS)
    store.execute("DELETE FROM agent_hours")
    store.execute(
        f"INSERT INTO agent_hours ({keys}, {', '.join(AGENT_COLUMNS)}) "
        f"SELECT {keys}, {', '.join(f'sum({c})' for c in AGENT_COLUMNS)} "
        f"FROM agent_facts GROUP BY {keys}"
    )
    store.set_meta({AGENTS_KEY: "1"})


def _agent_slice(customers: str) -> str:
    """The `agent_facts` rows of customers in `customers` and of the answers rating their
    contacts: what a change of their events removes, and after it, adds. Two scans, one
    per column, rather than one with an OR, which keeps DuckDB from pushing the customers
    into the scan: at 10M events the team's part of a one-event commit fell from 0.33 s to
    0.04 s (bench/RESULTS.md, beside)."""
    return (
        f"SELECT * FROM agent_facts WHERE customer_id IN ({customers}) "
        f"UNION ALL SELECT * FROM agent_facts WHERE contact_customer IN ({customers}) "
        f"AND {_outside('agent_facts.customer_id', customers)}"
    )


def _outside(column: str, customers: str) -> str:
    """`column NOT IN (customers)`, written so that PostgreSQL runs it as an anti-join.
    PostgreSQL checks `NOT IN (SELECT ...)` row by row against the list unless the whole
    list fits in `work_mem`: the first ingestion of 1M events (156,000 customers) into
    PostgreSQL was still in one statement after 12 minutes. `customers`: a SELECT of a
    `customer_id` column, or a few values (kept as NOT IN: a list of constants is cheap);
    `column`: qualified, as the outer query names it."""
    if not customers.lstrip().upper().startswith("SELECT"):
        return f"{column} NOT IN ({customers})"
    return f"NOT EXISTS (SELECT 1 FROM ({customers}) n WHERE n.customer_id = {column})"


def _take_away(store: Store, customers: str, params: Params | None) -> None:
    """Start `_agent_delta` with the slice of `customers` taken away, per hour of
    service, touchpoint and agent."""
    keys = ", ".join(HOUR_KEYS)
    sums = ", ".join(f"-sum({c}) AS {c}" for c in AGENT_COLUMNS)
    store.execute("DROP TABLE IF EXISTS _agent_delta")
    store.execute(
        f"CREATE TEMPORARY TABLE _agent_delta AS SELECT {keys}, {sums} "
        f"FROM ({_agent_slice(customers)}) f GROUP BY {keys}",
        params,
    )


def _merge_hours(store: Store) -> None:
    """Apply `_agent_delta` to `agent_hours`: each touched hour's sums recomputed as what
    it held plus the change (exact decimals), a group left with no rows dropped."""
    keys = ", ".join(HOUR_KEYS)
    cols = ", ".join(AGENT_COLUMNS)
    same = (
        "d.served_hour = h.served_hour AND d.agent = h.agent "
        "AND d.touchpoint IS NOT DISTINCT FROM h.touchpoint"
    )
    touched = f"EXISTS (SELECT 1 FROM _agent_delta d WHERE {same})"
    store.analyze("_agent_delta")
    store.execute("DROP TABLE IF EXISTS _agent_merged")
    store.execute(
        f"""CREATE TEMPORARY TABLE _agent_merged AS
        SELECT {keys}, {", ".join(f"sum({c}) AS {c}" for c in AGENT_COLUMNS)}
        FROM (SELECT {keys}, {cols} FROM agent_hours h WHERE {touched}
              UNION ALL SELECT {keys}, {cols} FROM _agent_delta) u
        GROUP BY {keys} HAVING sum(credited) <> 0"""
    )
    store.execute(f"DELETE FROM agent_hours h WHERE {touched}")
    store.execute(
        f"INSERT INTO agent_hours ({keys}, {cols}) SELECT {keys}, {cols} FROM _agent_merged"
    )
    store.execute("DROP TABLE _agent_merged")
    store.execute("DROP TABLE _agent_delta")


def _drop_agents(store: Store, customers: str, params: Params | None = None) -> None:
    """Drop the rows of customers in `customers` and of the answers rating their
    contacts, taking them away from `agent_hours` (in `_agent_delta`)."""
    _take_away(store, customers, params)
    for table in ("agent_facts", "agent_comments"):
        for column in ("customer_id", "contact_customer"):  # as in `_agent_slice`
            store.execute(f"DELETE FROM {table} WHERE {column} IN ({customers})", params)


def _refresh_agents(store: Store, touched: str, params: Params | None) -> None:
    """Recount the credited rows of the customers in `touched`, whose events are in
    `_fact_events`: their contacts, their answers (rating any stored contact) and the
    answers of other customers rating their contacts (an answer may come first); then
    `agent_hours` changes by the difference."""
    _drop_agents(store, touched, params)
    others = f"""(SELECT * FROM events o
        WHERE agent IS NULL AND ref_event_id IN (
          SELECT event_id FROM _fact_events WHERE agent IS NOT NULL)
        AND {_outside("o.customer_id", touched)})"""
    # The contacts the batch's answers rate: among its customers' events, else (an answer
    # rating another customer's contact) looked up in the store, which the engine skips
    # when every rated contact is at hand.
    rated = f"""(SELECT event_id, agent, touchpoint, ts, customer_id FROM _fact_events
        UNION ALL
        SELECT event_id, agent, touchpoint, ts, customer_id FROM events r
        WHERE event_id IN (
          SELECT ref_event_id FROM _fact_events a
          WHERE agent IS NULL AND ref_event_id IS NOT NULL
            AND NOT EXISTS (
              SELECT 1 FROM _fact_events k WHERE k.event_id = a.ref_event_id))
        AND {_outside("r.customer_id", touched)})"""
    _insert_agents(
        store,
        f"""{contact_rows("_fact_events")}
        UNION ALL {answer_rows(answers_in("_fact_events"), rated, narrow=False)}
        UNION ALL {answer_rows(others, "_fact_events", narrow=False)}""",
        params,
        delta=True,
    )
    _merge_hours(store)


def purge_comments(store: Store, cutoff: Any) -> None:
    """After comments older than `cutoff` were dropped from the events: drop them here."""
    if store.has_table("agent_comments"):
        store.execute("DELETE FROM agent_comments WHERE ts < $cutoff", {"cutoff": cutoff})


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


def step_columns(*columns: str) -> str:
    """Every journey step's kept phase and step number with `columns` of its event (`e.`),
    without the cycles' columns: the steps of `relation()` for a question over the whole
    history that needs none of them (one join instead of three)."""
    picked = "".join(f", e.{c}" for c in columns)
    return f"""SELECT f.phase AS phase, f.step AS step{picked}
      FROM event_facts f JOIN events e ON e.seq = f.seq
      WHERE f.cycle_no IS NOT NULL"""


def filter_steps(*columns: str, cycles: bool = False) -> str:
    """Every journey step's cycle (`customer_id`, `cycle_no`), step number and phase, its
    event's `columns` and the catalog's `channel` and `kind`: the steps of `relation()`
    for a window over each cycle's steps under any filter, without the cycles' join or the
    events' other columns, which the window would otherwise carry through its sort (at
    50M events the gaps' windows took 42 s over `relation()`, 36 s over these).

    `cycles` adds the cycle's length (`steps`) and `cycle_converts` (a join with
    `journey_cycles`), still without the events' other columns: a query that reads its
    steps several times (a CTE) then holds a few narrow columns per step, not every
    column of every event (touchpoint strength at 10M events: under 1 GB of DuckDB's
    memory instead of over it)."""
    picked = "".join(f", e.{c}" for c in columns)
    whole = ", c.steps, c.converts AS cycle_converts" if cycles else ""
    join = (
        " JOIN journey_cycles c ON c.customer_id = f.customer_id AND c.cycle_no = f.cycle_no"
        if cycles
        else ""
    )
    return f"""SELECT f.customer_id, f.cycle_no, f.step, f.phase AS phase{picked}{whole},
        t.channel AS channel, t.kind AS kind
      FROM event_facts f JOIN events e ON e.seq = f.seq{join}
      LEFT JOIN touchpoints t ON t.id = e.touchpoint
      WHERE f.cycle_no IS NOT NULL"""


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


def cycles_select(source: str = "events", facts: str = "event_facts") -> str:
    """`journey_cycles` rows from `event_facts` (already refreshed) and `source` (the
    events of the customers to recompute)."""
    return f"""SELECT f.customer_id, f.cycle_no,
        f.customer_id || '#' || CAST(f.cycle_no AS VARCHAR) AS cycle_id,
        min(e.ts) AS cycle_start, max(e.ts) AS cycle_end, count(*) AS steps,
        string_agg(e.touchpoint, '{PATH_SEPARATOR}' ORDER BY e.ts, e.seq) AS path,
        max(CASE WHEN e.action = 'purchase' THEN 1 ELSE 0 END) AS converts,
        sum(CASE WHEN e.action = 'purchase' THEN e.value END) AS revenue
      FROM {source} e JOIN {facts} f ON f.seq = e.seq
      WHERE f.cycle_no IS NOT NULL
      GROUP BY f.customer_id, f.cycle_no"""


def customers_select(cycles: str = "journey_cycles") -> str:
    """`journey_customers` rows from the cycles in `cycles`: a customer's cycles split
    their steps in the same (ts, seq) order, so their paths in cycle order are the whole
    path; a customer converts when one of their cycles holds a purchase."""
    return f"""SELECT customer_id, count(*) AS cycles,
        string_agg(path, '{PATH_SEPARATOR}' ORDER BY cycle_no) AS path,
        max(converts) AS converts
      FROM {cycles} GROUP BY customer_id"""


def steps_select(source: str = "events") -> str:
    """`journey_steps` rows for the customers in `source`: each journey step (not feedback,
    not a queue entry) in (ts, seq) order with the customer's next step, the seconds to it
    (as `analytics.sql.seconds_between` counts them) and 1 on the customer's first step."""
    window = "OVER (PARTITION BY customer_id ORDER BY ts, seq)"
    return f"""SELECT customer_id, touchpoint,
        lead(touchpoint) {window} AS next_touchpoint,
        date_diff('microsecond', ts, lead(ts) {window}) / 1e6 AS next_seconds,
        CASE WHEN row_number() {window} = 1 THEN 1 ELSE 0 END AS first_step
      FROM {source} WHERE action NOT IN {NON_STEP_SQL}"""


# `journey_customers` and `journey_steps` came after the other facts: a store whose facts
# were cut before them has them empty until filled once (`start_if_empty`, `rebuild`),
# which this key marks.
PATHS_KEY = "journey_paths"


def keeps_paths(store: Store) -> bool:
    """Whether `journey_customers` and `journey_steps` hold every customer of the facts."""
    return store.meta(PATHS_KEY) is not None


def _fill_paths(store: Store) -> None:
    store.execute("DELETE FROM journey_customers")
    store.execute(f"INSERT INTO journey_customers {customers_select()}")
    store.execute("DELETE FROM journey_steps")
    store.execute(f"INSERT INTO journey_steps {steps_select()}")
    store.set_meta({PATHS_KEY: "1"})


def stored_options(store: Store) -> FactOptions | None:
    """The options the facts were cut with; None when the store keeps none."""
    value = store.meta(META_KEY)
    if value is None:
        return None
    return FactOptions(**json.loads(value))


def suspend(store: Store) -> FactOptions | None:
    """Mark the facts absent (analyses read raw events) before a change that commits in
    several steps; `refresh(..., options=)` with the returned options restores them."""
    options = stored_options(store)
    if options is not None:
        _clear_options(store)
    return options


def _clear_options(store: Store) -> None:
    store.set_meta({META_KEY: None})


def _set_options(store: Store, options: FactOptions) -> None:
    store.set_meta({META_KEY: json.dumps(asdict(options))})


def start_if_empty(store: Store) -> None:
    """A store without events starts with facts at the default options (complete, being
    empty); one that has events keeps none until `rebuild`. A store whose facts predate
    `journey_customers` and `journey_steps` has them filled, once."""
    if stored_options(store) is not None:
        if not keeps_paths(store):
            with store.transaction():
                if not keeps_paths(store):
                    _fill_paths(store)
        if store.has_table("agent_facts") and not keeps_agents(store):
            with store.transaction():
                if not keeps_agents(store):
                    _fill_agents(store)
        return
    if store.holds_rows("events"):
        return
    with store.transaction():
        if stored_options(store) is None and not store.holds_rows("events"):
            _set_options(store, FactOptions())
            _fill_paths(store)
            if store.has_table("agent_facts"):
                _fill_agents(store)
            if keeps_rollup(store):
                _set_targets(store, Targets.of(store))


VERSION_KEY = "events_version"


def data_version(store: Store) -> int:
    """A counter every change of stored events raises (ingestion, erase, identity links:
    the callers of `refresh` and `forget`), in the same transaction."""
    value = store.meta(VERSION_KEY)
    return int(value) if value is not None else 0


def answer_stamp(store: Store) -> str | None:
    """What every analysis's answer depends on, read from the store (so equal in every
    process and on every connection to it): ingestions logged, generation (erase, purge),
    the events' version (`data_version`: ingestion, erase, identity links, rebuild), the
    catalog and the change log. Two reads with the same stamp see the same data. The
    server's answer cache (`server.cache`) and the stores' memo (`core.memo`, through
    `analytics.registry.shared`) key answers by it. None on an engine that keeps no
    answers (Spark)."""
    if store.engine not in ("duckdb", "postgres"):
        return None
    counts = [
        store.query("SELECT count(*) AS n FROM ingest_log")[0]["n"],
        store.generation(),
        data_version(store),
    ]
    changes = store.query("SELECT * FROM changes ORDER BY 1")
    text = json.dumps(
        [[int(c) for c in counts], store.meta("catalog"), changes],
        default=str,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _bump_version(store: Store, clear_options: bool = False) -> None:
    """Raise `data_version`; with `clear_options`, mark the facts absent in the same write."""
    values: dict[str, str | None] = {VERSION_KEY: str(data_version(store) + 1)}
    if clear_options:
        values[META_KEY] = None
    store.set_meta(values)


# The journey facts, each with a row per customer or per event of one (`refresh`, `forget`).
FACT_TABLES = ("journey_cycles", "journey_customers", "journey_steps", "event_facts")


def refresh(
    store: Store, customers: str, params: Params | None = None, options: FactOptions | None = None
) -> None:
    """Recompute the facts of the customers in `customers` (a SELECT of customer_id); call
    inside the transaction that changed their events. Nothing when the store keeps no facts.

    Their events are read once into a temporary table, so the windows and the grouping
    run over those customers' rows only, however long the stored history."""
    suspended = options is not None  # the caller already marked the facts absent
    options = options or stored_options(store)
    # Each statement commits alone on Spark: until the last one, the facts are marked
    # absent, so a failure in between leaves analyses reading raw events, never facts
    # missing some customers' rows (`rebuild` restores them).
    _bump_version(store, clear_options=options is not None and not store.atomic and not suspended)
    if options is None:
        return
    targets = rollup_targets(store)
    if _all_new(store):
        _fill_all(store, options, targets)
        return
    touched = f"SELECT customer_id FROM ({customers}) t"
    store.execute("DROP TABLE IF EXISTS _fact_events")
    store.execute(
        f"CREATE TEMPORARY TABLE _fact_events AS SELECT {SOURCE_COLUMNS} FROM events "
        f"WHERE customer_id IN ({touched})",
        params,
    )
    store.analyze("_fact_events")
    # Their facts too, so the cycles and the roll-up join these rows, not the whole table.
    store.execute("DROP TABLE IF EXISTS _fact_rows")
    store.execute(f"CREATE TEMPORARY TABLE _fact_rows AS {facts_select(options, '_fact_events')}")
    store.analyze("_fact_rows")
    store.execute("DROP TABLE IF EXISTS _fact_cycles")
    store.execute(
        f"CREATE TEMPORARY TABLE _fact_cycles AS {cycles_select('_fact_events', '_fact_rows')}"
    )
    store.analyze("_fact_cycles")
    store.replace_customers(
        touched,
        {
            "event_facts": "SELECT seq, customer_id, phase, cycle_no, step FROM _fact_rows",
            "journey_cycles": "SELECT * FROM _fact_cycles",
            "journey_customers": customers_select("_fact_cycles"),
            "journey_steps": steps_select("_fact_events"),
            **({"kpi_facts": None} if targets is not None else {}),
        },
        params,
    )
    store.execute("DROP TABLE _fact_cycles")
    if targets is not None:
        _insert_rollup(store, targets, "_fact_events", "_fact_rows")
    if keeps_agents(store):
        _refresh_agents(store, touched, params)
    store.execute("DROP TABLE _fact_rows")
    store.execute("DROP TABLE _fact_events")
    if not store.atomic:
        _set_options(store, options)


def _fill_journeys(store: Store, options: FactOptions) -> None:
    """Every event's facts, cycle and path rows made again from all of `events`."""
    store.execute("DELETE FROM journey_cycles")
    store.execute("DELETE FROM event_facts")
    store.execute(f"INSERT INTO event_facts {facts_select(options)}")
    store.execute(f"INSERT INTO journey_cycles {cycles_select()}")
    _fill_paths(store)


def _all_new(store: Store) -> bool:
    """Whether every stored event came in this transaction (a first ingestion into a DuckDB
    store): no event has facts yet, and the facts of every customer are to be made."""
    return store.engine == "duckdb" and not store.holds_rows("event_facts")


def _fill_all(store: Store, options: FactOptions, targets: Targets | None) -> None:
    """`refresh` when every customer is new, as `rebuild` fills the tables: straight from
    `events`, without copying them into temporary tables first. DuckDB keeps a temporary
    table written inside a transaction in memory: under a memory limit the copy of every
    event of a 10M-event first ingestion ran out of 500MB, where these statements spill
    to disk (and are faster: 72 s instead of 82 s for those 10M events with no limit)."""
    _fill_journeys(store, options)
    store.execute("DELETE FROM kpi_facts")
    if targets is not None:
        _insert_rollup(store, targets)
    if keeps_agents(store):
        _fill_agents(store)


SOURCE_COLUMNS = (
    "seq, customer_id, ts, action, phase, touchpoint, value, agent, segment, abandoned, "
    "wait_seconds, handle_seconds, resolved, nps, csat, ces, promise, data_reused, emotion, "
    "event_id, ref_event_id, comment"
)


def forget_answers(store: Store) -> None:
    """Empty the answers the dashboard keeps in the store (`answer_cache`, made by the
    server) after data was erased or purged: none outlives the data it was computed from."""
    if store.has_table("answer_cache"):
        store.execute("DELETE FROM answer_cache")


def forget(store: Store, customers: str, params: Params | None = None) -> None:
    """Drop the facts of customers whose events were all removed (erasure, identity links),
    and every answer kept for the dashboard (`answer_cache`, made by the server): an erased
    customer's data outlives the erase nowhere."""
    options = None if store.atomic else stored_options(store)
    _bump_version(store, clear_options=options is not None)  # as in `refresh`
    forget_answers(store)
    if rollup_targets(store) is not None:
        store.execute(f"DELETE FROM kpi_facts WHERE customer_id IN ({customers})", params)
    if keeps_agents(store):
        _drop_agents(store, customers, params)
        _merge_hours(store)
    store.replace_customers(customers, dict.fromkeys(FACT_TABLES), params)
    if options is not None:
        _set_options(store, options)


def rebuild(store: Store, options: FactOptions | None = None) -> dict[str, Any]:
    """Recompute every fact from the events (at `options`, else the stored ones, else the
    defaults) in one transaction; returns what changed. Events are only read."""
    with store.transaction():
        # Facts recomputed after an upgrade may differ under the same options: answers
        # kept for the old ones (`answer_stamp`) must not outlive them.
        _bump_version(store)
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
        _fill_journeys(store, chosen)
        _set_options(store, chosen)
        old_rollup = rollup_rows = 0
        if keeps_rollup(store):
            old_rollup = _count(store, "SELECT count(*) AS n FROM kpi_facts")
            store.execute("DELETE FROM kpi_facts")
            targets = Targets.of(store)
            _insert_rollup(store, targets)
            _set_targets(store, targets)
            rollup_rows = _count(store, "SELECT count(*) AS n FROM kpi_facts")
        agent_rows = old_agents = 0
        if store.has_table("agent_facts"):
            old_agents = _count(store, "SELECT count(*) AS n FROM agent_facts")
            _fill_agents(store)
            agent_rows = _count(store, "SELECT count(*) AS n FROM agent_facts")
        return {
            "options": asdict(chosen),
            "previous_options": asdict(before) if before else None,
            "events": _count(store, "SELECT count(*) AS n FROM event_facts"),
            "cycles": _count(store, "SELECT count(*) AS n FROM journey_cycles"),
            "previous_cycles": old_cycles,
            "events_changed": changed_events,
            "rollup_rows": rollup_rows,
            "previous_rollup_rows": old_rollup,
            "agent_rows": agent_rows,
            "previous_agent_rows": old_agents,
        }


def _count(store: Store, sql: str) -> int:
    return int(store.query(sql)[0]["n"])
