"""Directly-follows graph and path variants of journeys (SPEC §3, §5), as engine SQL.

A *case* is one customer's whole ordered sequence of steps (`case="customer"`, the
default) or one journey cycle (`case="cycle"`). Steps are ordered by `ts`, ties by
ingestion order (`seq`); feedback rows are not steps. Filters select steps first (the
phase is derived on the full history, cycles are cut on it), then cases are built from
what is left, so `--touchpoint a,b` shows how customers move between a and b.

The engine does all the per-event work in one window pass (LAG/LEAD) and one grouping;
Python only turns a few hundred rows into the JSON shape. The SQL is written in DuckDB's
dialect with constructs sqlglot carries over to PostgreSQL and Spark SQL:
`date_diff('microsecond', ...)` (not `epoch`, which Spark would read as whole seconds),
`median` (PERCENTILE_CONT in PostgreSQL) and `string_agg(... ORDER BY ts, seq)`
(LISTAGG ... WITHIN GROUP in Spark).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from touchpoints.analytics.cycles import from_cycles, scoped_steps
from touchpoints.analytics.registry import JOURNEY_SCOPE, Analysis, Options, ResultModel, register
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.sql import scoped_events, seconds_between
from touchpoints.core.collector import gc_paused
from touchpoints.core.errors import UsageError
from touchpoints.core.events import NON_STEP_SQL
from touchpoints.store import derived

if TYPE_CHECKING:
    from touchpoints.store.base import Store

Case = Literal["customer", "cycle"]
CASES: tuple[str, ...] = ("customer", "cycle")
# Touchpoint ids are slugs ([a-z0-9_-]), so a space can join a path and split it again.
PATH_SEPARATOR = " "
ORDER = "ORDER BY ts, seq"


def check_case(case: str) -> Case:
    """The --case value, or a usage error naming the choices."""
    if case not in CASES:
        raise UsageError(f"--case {case!r}: use customer or cycle")
    return case  # type: ignore[return-value]


def cases_relation(scope: Scope, case: str, converts: bool = True) -> str:
    """The selected steps with their case: `case_id, touchpoint, ts, seq[, converts]`.

    `converts` (asked for by variants only: the DFG does not pay for the join) is 1 when
    the case's whole history (not only the selected steps) holds a purchase: the cycle
    converts, or the customer has bought. Otherwise a `--phase before` view would never
    show a conversion, since purchases are `during` by definition.
    """
    if check_case(case) == "cycle":
        flag = ", cycle_converts AS converts" if converts else ""
        return f"""SELECT cycle_id AS case_id, touchpoint, ts, seq{flag}
        FROM ({scoped_steps(scope, with_phase=False)}) s"""
    if not converts:
        return f"""SELECT customer_id AS case_id, touchpoint, ts, seq
        FROM ({scoped_events(scope)}) e WHERE action NOT IN {NON_STEP_SQL}"""
    return f"""SELECT e.customer_id AS case_id, e.touchpoint, e.ts, e.seq,
          CASE WHEN b.customer_id IS NULL THEN 0 ELSE 1 END AS converts
        FROM ({scoped_events(scope)}) e
        LEFT JOIN (SELECT DISTINCT customer_id FROM events WHERE action = 'purchase') b
          ON b.customer_id = e.customer_id
        WHERE e.action NOT IN {NON_STEP_SQL}"""


def dfg_sql(scope: Scope, case: str) -> str:
    """One row per (touchpoint, next touchpoint) pair, the next being NULL at a case's end.

    Each row carries the transitions' count, mean and median seconds, and how many cases
    start at `src` within that group, so starts, ends and edges come from one grouping.
    """
    window = f"OVER (PARTITION BY case_id {ORDER})"
    return f"""SELECT src, dst, count(*) AS n, sum(is_start) AS starts,
        avg(secs) AS mean_seconds, median(secs) AS median_seconds
      FROM (
        SELECT src, dst, is_start,
          CASE WHEN dst IS NULL THEN NULL ELSE {seconds_between("ts", "next_ts")} END AS secs
        FROM (
          SELECT touchpoint AS src, ts,
            lead(touchpoint) {window} AS dst,
            lead(ts) {window} AS next_ts,
            CASE WHEN row_number() {window} = 1 THEN 1 ELSE 0 END AS is_start
          FROM ({cases_relation(scope, case, converts=False)}) c
        ) w
      ) t
      GROUP BY src, dst"""


# `dfg_sql`'s rows for whole customers, from the steps kept with their next one.
STEPS_DFG = """SELECT touchpoint AS src, next_touchpoint AS dst, count(*) AS n,
    sum(first_step) AS starts, avg(next_seconds) AS mean_seconds, median(next_seconds) AS median_seconds
  FROM journey_steps GROUP BY touchpoint, next_touchpoint"""


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


def _by_count(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


class PathOptions(Options):
    case: str = Field(
        "customer",
        description="customer: each customer's whole sequence; cycle: each journey cycle.",
    )
    top: int | None = Field(None, ge=1, description="Keep only the N most frequent.")


def dfg(store: Store, scope: Scope, options: PathOptions) -> dict[str, Any]:
    """Directly-follows graph (SPEC §3): which touchpoint follows which, how often and
    after how long (mean and median seconds), and where cases start and end.

    Edges are sorted by count (desc), then from, then to; `top` keeps the first N edges (a
    readable map of a busy journey) while starts and ends still count every case. Starts
    and ends are sorted by count, then id.
    """
    top = options.top
    if top is not None and top < 1:
        raise UsageError(f"--top {top}: use a number >= 1")
    if options.case == "customer" and from_cycles(scope) and derived.keeps_paths(store):
        rows = store.query(STEPS_DFG)
    else:
        rows = store.query(dfg_sql(scope, options.case), scope.params())
    edges: list[dict[str, Any]] = []
    starts: dict[str, int] = {}
    ends: dict[str, int] = {}
    for r in rows:
        n = int(r["n"])
        if int(r["starts"] or 0):
            starts[r["src"]] = starts.get(r["src"], 0) + int(r["starts"])
        if r["dst"] is None:
            ends[r["src"]] = n
        else:
            edges.append(
                {
                    "from": r["src"],
                    "to": r["dst"],
                    "count": n,
                    "mean_seconds": _seconds(r["mean_seconds"]),
                    "median_seconds": _seconds(r["median_seconds"]),
                }
            )
    edges.sort(key=lambda e: (-e["count"], e["from"], e["to"]))
    return {
        "edges": edges if top is None else edges[:top],
        "starts": _by_count(starts),
        "ends": _by_count(ends),
    }


def _cases_sql(scope: Scope, case: str, customers: bool = False) -> tuple[str, str]:
    """(SELECT of one `path, converts` row per case, the separator its paths use).

    Whole cases come from the facts when no filter selects steps: a cycle's row of
    `journey_cycles`, or a customer's of `journey_customers` (`customers`: the store keeps
    it). Otherwise the paths are aggregated from the scoped steps."""
    if from_cycles(scope):
        if check_case(case) == "cycle":
            return "SELECT path, converts FROM journey_cycles", derived.PATH_SEPARATOR
        if customers:
            return "SELECT path, converts FROM journey_customers", derived.PATH_SEPARATOR
    return (
        f"""SELECT string_agg(touchpoint, '{PATH_SEPARATOR}' {ORDER}) AS path,
          max(converts) AS converts
        FROM ({cases_relation(scope, case)}) c
        GROUP BY case_id""",
        PATH_SEPARATOR,
    )


def variants_sql(scope: Scope, case: str, top: int | None = None, customers: bool = False) -> str:
    """Distinct paths with their case count and converting cases, most frequent first.

    With `top`, only paths ranked within the top N by count come back, ties at the cut
    included (RANK), so the final order by path can be decided in Python: engines sort
    text by different collations, and the answer must not depend on which one runs. The
    engine's ORDER BY still leaves the rows (nearly) sorted, which Python's sort then
    only has to confirm.
    """
    cases, _ = _cases_sql(scope, case, customers)
    grouped = f"""SELECT path, count(*) AS n, sum(converts) AS conversions
      FROM ({cases}) p
      GROUP BY path"""
    if top is None:
        return f"{grouped}\n      ORDER BY n DESC, path"
    return f"""SELECT path, n, conversions FROM (
        SELECT path, n, conversions, rank() OVER (ORDER BY n DESC) AS r FROM ({grouped}) g
      ) ranked WHERE r <= $top
      ORDER BY n DESC, path"""


def variants(store: Store, scope: Scope, options: PathOptions) -> dict[str, Any]:
    """Path variants (SPEC §3): each distinct path with how many cases took it and how many
    of those converted; by count (desc), then path; `top` keeps the first N."""
    top = options.top
    if top is not None and top < 1:
        raise UsageError(f"--top {top}: use a number >= 1")
    customers = from_cycles(scope) and derived.keeps_paths(store)
    separator = _cases_sql(scope, options.case, customers)[1]
    with gc_paused():
        params = {**scope.params(), "top": top}
        rows = store.query(variants_sql(scope, options.case, top, customers), params)
        # The joined text sorts like the list of ids: either separator starts with a space,
        # which sorts before every character a slug may hold, in Python's code-point order.
        rows.sort(key=lambda r: (-int(r["n"]), r["path"]))
        if top is not None:
            rows = rows[:top]
        return {
            "variants": [
                {
                    "path": r["path"].split(separator),
                    "count": int(r["n"]),
                    "conversions": int(r["conversions"] or 0),
                }
                for r in rows
            ]
        }


class Edge(ResultModel):
    from_: str = Field(alias="from")
    to: str
    count: int
    mean_seconds: float | None
    median_seconds: float | None


class DfgResult(ResultModel):
    edges: list[Edge]
    starts: dict[str, int]
    ends: dict[str, int]


class Variant(ResultModel):
    path: list[str]
    count: int
    conversions: int = Field(description="Cases of this path whose history holds a purchase.")


class VariantsResult(ResultModel):
    variants: list[Variant]


register(
    Analysis(
        name="journeys.dfg",
        summary="Directly-follows graph: which touchpoint follows which, how often, how long.",
        run=dfg,
        options=PathOptions,
        result=DfgResult,
        scope=JOURNEY_SCOPE,
        table="edges",
    )
)
register(
    Analysis(
        name="journeys.variants",
        summary="Path variants: the distinct journeys, how many took each and converted.",
        run=variants,
        options=PathOptions,
        result=VariantsResult,
        scope=JOURNEY_SCOPE,
        table="variants",
    )
)
