"""Funnels, invisible gaps and step-indexed flows of journeys (SPEC §3), as engine SQL.

A customer alternates between being visible (at a touchpoint) and invisible
(thinking, comparing, budgeting). These analyses measure both sides of that rhythm:

- `funnel`: how many customers get from one phase (or chosen touchpoint) to the next, and
  how long it takes them;
- `gaps`: the invisible time between consecutive touchpoints of a journey cycle;
- `sankey`: where the first N steps of cycles go, as nodes and links for a flow diagram.

Every function works on journey *steps* (feedback rows rate a step, they are not steps),
with the phase derived and cycles cut on the customer's whole history; the Scope's
filters then select steps. The engine does the per-event work (windows, one self-join per
funnel stage, grouping) and returns a handful of rows; Python only shapes the JSON.

The SQL is written in DuckDB's dialect with constructs sqlglot carries to PostgreSQL and
Spark SQL: `date_diff('microsecond', ...)` (PostgreSQL: EXTRACT(epoch ...); Spark:
DATEDIFF(MICROSECOND, ...)), `median` (PostgreSQL: PERCENTILE_CONT(0.5) WITHIN GROUP;
Spark: MEDIAN, all three exact); the 90th percentile is interpolated from row numbers
(see `_p90`), because no quantile function sqlglot emits is both valid and exact on Spark.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from touchpoints.analytics.cycles import (
    cycle_paths,
    filter_steps,
    from_cycles,
    scoped_steps,
)
from touchpoints.analytics.registry import (
    JOURNEY_SCOPE,
    Analysis,
    NoOptions,
    Options,
    ResultModel,
    register,
)
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.sql import median, seconds_between
from touchpoints.core.errors import UsageError
from touchpoints.core.events import PHASES

if TYPE_CHECKING:
    from touchpoints.store.base import Store

CASES: tuple[str, ...] = ("customer", "cycle")
# `--steps ...,purchase` means "bought (at any touchpoint)", unless the catalog has a
# touchpoint with that id: the natural last stage of a sales funnel.
PURCHASE_STEP = "purchase"
# Terminal nodes of the Sankey: where a cycle shorter than the depth goes after its last
# step. Not step-indexed (no colon), so they never collide with "k:touchpoint" ids.
END_NODE = "end"
PURCHASE_NODE = "purchase"
MAX_DEPTH = 50
# Steps of one cycle stay below this (a cycle of 2^32 steps would be 4 billion events).
STEP_SPAN = 2**32
ORDER = "ORDER BY ts, seq"
# Within one cycle, its steps' numbers follow (ts, seq): the same order on one column.
STEP_ORDER = "ORDER BY step"


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


def _rate(num: float, den: float) -> float | None:
    return None if not den else num / den


# -- funnel ------------------------------------------------------------------------------
def _step_predicates(store: Store, names: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """SQL predicates for `--steps` and the values they bind, refusing ids the catalog does
    not know: a typo would otherwise show as a funnel that silently drops everyone at that
    stage."""
    if not names or any(not s for s in names):
        raise UsageError("--steps: give touchpoint ids separated by commas, like website,store")
    known = {t.id for t in store.catalog().touchpoints if t.is_touchpoint}
    predicates: list[str] = []
    params: dict[str, str] = {}
    for k, name in enumerate(names, 1):
        if name in known:
            predicates.append(f"touchpoint = $stage_{k}")
            params[f"stage_{k}"] = name
        elif name == PURCHASE_STEP:
            predicates.append("action = 'purchase'")
        else:
            raise UsageError(
                f"--steps {name!r}: not a touchpoint of the catalog "
                f"(use one of {', '.join(sorted(known))}, or {PURCHASE_STEP})"
            )
    return predicates, params


def funnel_sql(scope: Scope, predicates: Sequence[str], case: str) -> str:
    """One row per stage k (0 = every case in scope): cases reaching it, median seconds
    from stage k-1.

    Greedy earliest match, in order: stage 1 is a case's first event matching predicate 1;
    stage k is its first event matching predicate k strictly after stage k-1's event in
    (ts, seq) order (a step's cycle number, then its step in the cycle, follow that
    order). Each stage is one grouped self-join of the previous stage's matches
    with the events matching its predicate. Because positions follow (ts, seq), the
    earliest matching position also has the earliest ts, so `min(ts)` is the match's time
    and no join back is needed.
    """
    case_col = "cycle_id" if case == "cycle" else "customer_id"
    flags = ", ".join(
        f"CASE WHEN {p} THEN 1 ELSE 0 END AS m{k}" for k, p in enumerate(predicates, 1)
    )
    any_match = " OR ".join(f"m{k} = 1" for k in range(1, len(predicates) + 1))
    # A step's place in its customer's (ts, seq) order, without a window: its cycle's
    # number, then its step in the cycle (cycles split the customer's steps in that order).
    # The relative order is all a funnel needs; every later join runs on matching events.
    position = f"CAST(cycle_no AS BIGINT) * {STEP_SPAN} + step"
    # Every case in scope and its first stage in one grouping of the steps: stage 0 is
    # the number of groups (no separate count of distinct cases over every step).
    ctes = [
        f"base AS (SELECT {case_col} AS case_id, ts, {position} AS pos, {flags} FROM ({scoped_steps(scope)}) s)",
        "cases AS (SELECT case_id, min(CASE WHEN m1 = 1 THEN pos END) AS pos, "
        "min(CASE WHEN m1 = 1 THEN ts END) AS ts FROM base GROUP BY case_id)",
        f"ev AS (SELECT * FROM base WHERE {any_match})",
        "f1 AS (SELECT case_id, pos, CAST(NULL AS TIMESTAMP) AS prev_ts, ts FROM cases WHERE pos IS NOT NULL)",
    ]
    for k in range(2, len(predicates) + 1):
        ctes.append(
            f"""f{k} AS (SELECT f.case_id, min(e.pos) AS pos, min(f.ts) AS prev_ts, min(e.ts) AS ts
          FROM f{k - 1} f JOIN ev e ON e.case_id = f.case_id AND e.pos > f.pos AND e.m{k} = 1
          GROUP BY f.case_id)"""
        )
    stages = ["SELECT 0 AS k, count(*) AS n, CAST(NULL AS DOUBLE) AS median_seconds FROM cases"]
    stages += [
        f"SELECT {k} AS k, count(*) AS n, {median(seconds_between('prev_ts', 'ts'))} AS median_seconds FROM f{k}"
        for k in range(1, len(predicates) + 1)
    ]
    return "WITH " + ",\n  ".join(ctes) + "\n" + "\nUNION ALL\n".join(stages)


class FunnelOptions(Options):
    steps: list[str] | None = Field(
        None,
        description="Touchpoints in order, like website,store,purchase (default: the phases).",
    )
    case: str = Field(
        "customer", description="customer, or cycle (with --steps): what one case is."
    )


def funnel(store: Store, scope: Scope, options: FunnelOptions) -> dict[str, Any]:
    """Phase funnel (before → during → after) or, with `steps`, an ordered touchpoint funnel.

    Result: `{"funnel": "phases"|"steps", "case", "total", "stages": [{"stage", "count",
    "share", "dropped", "drop_rate", "median_seconds"}]}`. `total` counts the cases
    (customers, or cycles with `case="cycle"`) that have any step in scope; `count` those
    that reached the stage after every earlier one, in order; `share` is count / first
    stage's count; `dropped` and `drop_rate` compare with the previous stage (null for the
    first); `median_seconds` is the median time from the previous stage's event to this
    one's (null for the first). Counts never increase from stage to stage.

    A customer reaches a phase with their first step in it after reaching the previous
    phase; a customer whose first step is already `during` (walked in and bought) never
    enters the phase funnel, which `total` makes visible. The phase funnel is per customer
    only: a cycle ends at its purchase, so an `after` step never follows within a cycle.
    A step named `purchase` (not a catalog id) matches a purchase at any touchpoint. Each
    stage is a distinct event: `store,purchase` asks for a purchase *after* a store
    visit, so a sale rung up at that visit counts only for `store` (use `phone,purchase`
    for "called, then bought", wherever the sale happened).
    """
    case = options.case
    if case not in CASES:
        raise UsageError(f"--case {case!r}: use customer or cycle")
    steps = [s.strip() for item in options.steps or () for s in item.split(",")]
    if options.steps is not None and not steps:
        raise UsageError("--steps: give touchpoint ids separated by commas, like website,store")
    if steps:
        kind = "steps"
        labels = steps
        predicates, values = _step_predicates(store, steps)
    else:
        if case == "cycle":
            raise UsageError(
                "--case cycle needs --steps: the phase funnel is per customer, since a cycle "
                "ends at its purchase and never reaches the after phase"
            )
        kind = "phases"
        labels = list(PHASES)
        predicates = [f"phase = $stage_{k}" for k in range(1, len(PHASES) + 1)]
        values = {f"stage_{k}": p for k, p in enumerate(PHASES, 1)}
    rows = store.query(funnel_sql(scope, predicates, case), {**scope.params(), **values})
    by_k = {int(r["k"]): r for r in rows}
    total = int(by_k[0]["n"])
    stages: list[dict[str, Any]] = []
    first = int(by_k[1]["n"])
    previous: int | None = None
    for k, label in enumerate(labels, 1):
        n = int(by_k[k]["n"])
        stages.append(
            {
                "stage": label,
                "count": n,
                "share": _rate(n, first),
                "dropped": None if previous is None else previous - n,
                "drop_rate": None if previous is None else _rate(previous - n, previous),
                "median_seconds": _seconds(by_k[k]["median_seconds"]),
            }
        )
        previous = n
    return {"funnel": kind, "case": case, "total": total, "stages": stages}


# -- gaps --------------------------------------------------------------------------------
# Levels of the gap statistics and the columns each one groups by.
GAP_LEVELS: dict[str, tuple[str, ...]] = {
    "pair": ("prev_touchpoint", "touchpoint"),
    "phase": ("phase",),
    "all": (),
}


def _p90(level: str) -> str:
    """The continuous 90th percentile of `secs` at `level`, from ranks the engine computed.

    percentile_cont is exact on DuckDB and PostgreSQL, but sqlglot turns it into Spark's
    PERCENTILE_APPROX, which returns a sample rather than interpolating; DuckDB's
    quantile_cont becomes a two-argument PERCENTILE_CONT that Spark rejects. Written out
    from row numbers, the same linear interpolation (position 0.9 × (n − 1) between the
    two nearest values, as percentile_cont does) gives one answer on every engine. The
    position is split with integer arithmetic so no engine rounds it differently.
    """
    i, n, nxt = f"i_{level}", f"n_{level}", f"next_{level}"
    lo = f"floor(9 * ({n} - 1) / 10)"
    frac = f"CAST(9 * ({n} - 1) - 10 * {lo} AS DOUBLE) / 10"
    return f"max(CASE WHEN {i} = {lo} THEN secs + {frac} * (coalesce({nxt}, secs) - secs) END)"


def gaps_sql(scope: Scope, sorted_lists: bool = False) -> str:
    """Gap statistics per (previous, next) touchpoint pair, per phase, and overall.

    A gap is the time from one step of a cycle to the next, taken on the *whole* cycle
    (so filtering never invents a gap across steps it hid) and owned by its later step:
    the filters select gaps by that step (`--phase during` = the silences that end in the
    during phase, `--touchpoint store` = the silences before a store visit).

    `sorted_lists` (DuckDB): the median and the 90th percentile are read from each group's
    sorted list of gaps, all three levels in one grouping pass, instead of from three
    window sorts over every gap; the same positions and the same interpolation as
    `median` and `_p90`, so the same percentiles in about 60 % of the time
    (bench/RESULTS.md, analysis-costs). The mean is a float sum, equal to the window
    form's to the last bits only (each adds in its own order)."""
    # cycle_id is customer_id || '#' || cycle_no: partitioning by the two parts gives the
    # same windows without sorting on a built string.
    window = f"OVER (PARTITION BY customer_id, cycle_no {STEP_ORDER})"
    gaps = f"""WITH g AS (
      SELECT prev_touchpoint, touchpoint, phase, {seconds_between("prev_ts", "ts")} AS secs
      FROM (
        SELECT s.*, lag(touchpoint) {window} AS prev_touchpoint, lag(ts) {window} AS prev_ts
        FROM ({filter_steps(scope)}) s
      ) x
      WHERE prev_ts IS NOT NULL AND {scope.where()}
    )"""
    if sorted_lists:
        return gaps + _gaps_from_lists()
    ranks = []
    for level, keys in GAP_LEVELS.items():
        part = f"PARTITION BY {', '.join(keys)} " if keys else ""
        ranks.append(
            f"row_number() OVER ({part}ORDER BY secs) - 1 AS i_{level}, "
            f"count(*) OVER ({part.strip()}) AS n_{level}, "
            f"lead(secs) OVER ({part}ORDER BY secs) AS next_{level}"
        )
    null_text = "CAST(NULL AS VARCHAR)"
    selects = []
    for level, keys in GAP_LEVELS.items():
        src = "prev_touchpoint" if level == "pair" else null_text
        dst = "touchpoint" if level == "pair" else null_text
        phase = "phase" if level == "phase" else null_text
        group = f" GROUP BY {', '.join(keys)}" if keys else ""
        selects.append(
            f"""SELECT '{level}' AS level, {src} AS src, {dst} AS dst, {phase} AS phase,
        count(*) AS n, {median("secs")} AS median_seconds, {_p90(level)} AS p90_seconds,
        avg(secs) AS mean_seconds
      FROM r{group}"""
        )
    union = "\n    UNION ALL\n    ".join(selects)
    return f"""{gaps}, r AS (
      SELECT g.*, {", ".join(ranks)}
      FROM g
    )
    {union}"""


def _p90_from_sorted() -> str:
    """The 90th percentile of the sorted list `l` of `n` values (1-based): `_p90`'s
    positions and interpolation."""
    lo = "CAST(floor(9 * (n - 1) / 10) AS BIGINT)"
    frac = f"CAST(9 * (n - 1) - 10 * {lo} AS DOUBLE) / 10"
    at, above = f"l[{lo} + 1]", f"l[{lo} + 2]"
    return f"{at} + {frac} * (coalesce({above}, {at}) - {at})"


def _median_from_sorted() -> str:
    """The median of the sorted list `l` of `n` values, bit for bit DuckDB's `median`:
    the middle value, or the two middle ones halved and added (its interpolation at 0.5,
    which differs from `_p90`'s `at + 0.5 × (above − at)` in the last bit)."""
    mid = "CAST((n - 1) // 2 AS BIGINT) + 1"
    return f"CASE WHEN n % 2 = 1 THEN l[{mid}] ELSE l[{mid}] * 0.5 + l[{mid} + 1] * 0.5 END"


def _gaps_from_lists() -> str:
    """The rest of `gaps_sql` on DuckDB: per level, the count and the sorted gaps (`l`),
    from which the median and the 90th percentile are taken, and the mean: added in the
    list's (sorted) order, so the same gaps give the same mean to the last bit whatever
    order the plan read them in (the journey facts and raw events agree).

    No `median` aggregate beside the lists: at 50M events (34.5M gaps) DuckDB's
    holistic aggregate in a grouping-sets pass fed by the windows wrote temporary files
    without end (over 69 GB); the lists alone take 36 s and no disk."""
    return f""", a AS (
      SELECT CASE grouping(prev_touchpoint, touchpoint, phase)
               WHEN 1 THEN 'pair' WHEN 6 THEN 'phase' ELSE 'all' END AS level,
             prev_touchpoint AS src, touchpoint AS dst, phase,
             count(*) AS n, list_sort(list(secs)) AS l
      FROM g
      GROUP BY GROUPING SETS ((prev_touchpoint, touchpoint), (phase), ())
    )
    SELECT level, src, dst, phase, n, {_median_from_sorted()} AS median_seconds,
           {_p90_from_sorted()} AS p90_seconds, list_avg(l) AS mean_seconds
    FROM a"""


def _gap_stats(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {"count": 0, "median_seconds": None, "p90_seconds": None, "mean_seconds": None}
    return {
        "count": int(row["n"]),
        "median_seconds": _seconds(row["median_seconds"]),
        "p90_seconds": _seconds(row["p90_seconds"]),
        "mean_seconds": _seconds(row["mean_seconds"]),
    }


def gaps(store: Store, scope: Scope, options: NoOptions) -> dict[str, Any]:
    """The invisible time between consecutive touchpoints of journey cycles.

    Result: `{"overall": stats, "phases": [{"phase", **stats}] (before, during, after,
    always all three), "pairs": [{"from", "to", **stats}]}` where stats are `count`,
    `median_seconds`, `p90_seconds` (continuous percentile, interpolated) and
    `mean_seconds`; pairs are sorted by count (desc), then from, then to. A phase is the
    phase of the gap's later step: "how long were customers out of sight before this
    during-phase contact". A cycle's first step has no gap; cycles never span a silence
    longer than `--gap`, so neither does any gap.
    """
    rows = store.query(gaps_sql(scope, sorted_lists=store.engine == "duckdb"), scope.params())
    overall = next((r for r in rows if r["level"] == "all"), None)
    per_phase = {r["phase"]: r for r in rows if r["level"] == "phase"}
    pairs = [
        {"from": r["src"], "to": r["dst"], **_gap_stats(r)} for r in rows if r["level"] == "pair"
    ]
    pairs.sort(key=lambda p: (-p["count"], p["from"], p["to"]))
    # An empty scope still answers with one aggregate row of count 0 on every engine.
    overall_stats = _gap_stats(overall if overall and int(overall["n"]) else None)
    return {
        "overall": overall_stats,
        "phases": [{"phase": p, **_gap_stats(per_phase.get(p))} for p in PHASES],
        "pairs": pairs,
    }


# -- sankey ------------------------------------------------------------------------------
def sankey_sql(scope: Scope) -> str:
    """Cycles per (step k, touchpoint, next touchpoint, terminal) for k up to `depth`.

    Steps are renumbered among the selected steps of each cycle (like `journeys dfg`:
    filters select steps, then cases are built from what is left). `nxt` is null at the
    last shown step; `terminal` is set when the cycle's selected steps end at step k:
    'purchase' when the cycle converts (its whole history, so a `--phase before` view
    still tells which journeys ended in a sale), 'end' otherwise.
    """
    # A cycle as its two parts and its steps by `step` (their (ts, seq) order): no sort on
    # a built string or on two columns.
    window = f"OVER (PARTITION BY customer_id, cycle_no {STEP_ORDER})"
    return f"""SELECT k, touchpoint, nxt, terminal, count(*) AS n
      FROM (
        SELECT k, touchpoint,
          CASE WHEN k < $depth THEN nxt END AS nxt,
          CASE WHEN k = n_steps THEN CASE WHEN cycle_converts = 1 THEN '{PURCHASE_NODE}' ELSE '{END_NODE}' END END AS terminal
        FROM (
          SELECT touchpoint, cycle_converts,
            row_number() {window} AS k,
            count(*) OVER (PARTITION BY customer_id, cycle_no) AS n_steps,
            lead(touchpoint) {window} AS nxt
          FROM ({scoped_steps(scope, with_phase=False)}) s
        ) w
        WHERE k <= $depth
      ) t
      GROUP BY k, touchpoint, nxt, terminal"""


def sankey_rows_from_cycles(store: Store, depth: int) -> list[dict[str, Any]]:
    """`sankey_sql`'s rows for whole, unfiltered cycles, from the stored cycles' distinct
    paths (`cycles.cycle_paths`): each path and outcome walks its first `depth` steps
    (counts, so the same numbers as the steps give)."""
    counts: dict[tuple[int, str, str | None, str | None], int] = {}
    for labels, converts, n, _ in cycle_paths(store):
        steps = len(labels)
        end = PURCHASE_NODE if converts == 1 else END_NODE
        for k in range(1, min(depth, steps) + 1):
            nxt = labels[k] if k < depth and k < steps else None
            key = (k, labels[k - 1], nxt, end if k == steps else None)
            counts[key] = counts.get(key, 0) + n
    return [
        {"k": k, "touchpoint": tp, "nxt": nxt, "terminal": terminal, "n": n}
        for (k, tp, nxt, terminal), n in counts.items()
    ]


def node_id(step: int, touchpoint: str) -> str:
    """Step-indexed node id, like retention/flow tools: the same touchpoint at step 1 and
    at step 3 are different nodes, so the diagram stays acyclic."""
    return f"{step}:{touchpoint}"


class SankeyOptions(Options):
    depth: int = Field(5, description=f"Steps to show (1 to {MAX_DEPTH}).")


def sankey(store: Store, scope: Scope, options: SankeyOptions) -> dict[str, Any]:
    """Nodes and links of a flow diagram over the first `depth` steps of journey cycles.

    Result: `{"depth", "cycles", "nodes": [{"id", "step", "touchpoint", "value"}],
    "links": [{"source", "target", "value"}]}`. Node ids are "k:touchpoint" (step k,
    1-based); a node's value is the number of cycles at that touchpoint at step k. A
    cycle shorter than `depth` flows from its last step into one of two terminal nodes,
    "purchase" (the cycle converts) or "end" (it stopped: a silence longer than --gap, or
    the data ends); terminal nodes have `step` and `touchpoint` null. Cycles longer than
    `depth` simply stop at step `depth`. Flow is conserved: the links into a node at step
    k+1 sum to its value, and a node's outgoing links sum to its value unless it is at
    step `depth`. Nodes are sorted by step, then value (desc), then id; terminals last.
    """
    depth = int(options.depth)
    if depth < 1 or depth > MAX_DEPTH:
        raise UsageError(f"--depth {depth}: use a number of steps from 1 to {MAX_DEPTH}")
    if from_cycles(scope):
        rows = sankey_rows_from_cycles(store, depth)
    else:
        rows = store.query(sankey_sql(scope), {**scope.params(), "depth": depth})
    nodes: dict[str, dict[str, Any]] = {}
    links: dict[tuple[str, str], int] = {}
    cycles_total = 0
    for r in rows:
        k, tp, n = int(r["k"]), r["touchpoint"], int(r["n"])
        source = node_id(k, tp)
        node = nodes.setdefault(source, {"id": source, "step": k, "touchpoint": tp, "value": 0})
        node["value"] += n
        if k == 1:
            cycles_total += n
        if r["nxt"] is not None:
            target = node_id(k + 1, r["nxt"])
        elif r["terminal"] is not None:
            target = r["terminal"]
            terminal = nodes.setdefault(
                target, {"id": target, "step": None, "touchpoint": None, "value": 0}
            )
            terminal["value"] += n
        else:
            continue
        links[(source, target)] = links.get((source, target), 0) + n
    ordered = sorted(
        nodes.values(),
        key=lambda nd: (nd["step"] is None, nd["step"] or 0, -nd["value"], nd["id"]),
    )
    rank = {nd["id"]: i for i, nd in enumerate(ordered)}
    link_list = [{"source": s, "target": t, "value": v} for (s, t), v in links.items()]
    link_list.sort(key=lambda li: (rank[li["source"]], -li["value"], rank[li["target"]]))
    return {"depth": int(depth), "cycles": cycles_total, "nodes": ordered, "links": link_list}


class Stage(ResultModel):
    stage: str
    count: int
    share: float | None
    dropped: int | None
    drop_rate: float | None
    median_seconds: float | None


class FunnelResult(ResultModel):
    funnel: str = Field(description="phases or steps")
    case: str
    total: int
    stages: list[Stage]


class GapStats(ResultModel):
    count: int
    median_seconds: float | None
    p90_seconds: float | None
    mean_seconds: float | None


class PhaseGap(GapStats):
    phase: str


class PairGap(GapStats):
    from_: str = Field(alias="from")
    to: str


class GapsResult(ResultModel):
    overall: GapStats
    phases: list[PhaseGap]
    pairs: list[PairGap]


class Node(ResultModel):
    id: str
    step: int | None
    touchpoint: str | None
    value: int


class Link(ResultModel):
    source: str
    target: str
    value: int


class SankeyResult(ResultModel):
    depth: int
    cycles: int
    nodes: list[Node]
    links: list[Link]


register(
    Analysis(
        name="journeys.funnel",
        summary="Funnel by phase or by chosen touchpoints: who gets to the next step, how fast.",
        run=funnel,
        options=FunnelOptions,
        result=FunnelResult,
        scope=JOURNEY_SCOPE,
        table="stages",
    )
)
register(
    Analysis(
        name="journeys.gaps",
        summary="Invisible gaps: the time customers spend out of sight between touchpoints.",
        run=gaps,
        options=NoOptions,
        result=GapsResult,
        scope=JOURNEY_SCOPE,
        table="pairs",
    )
)
register(
    Analysis(
        name="journeys.sankey",
        summary="Where the first steps of journey cycles go: nodes and links of a flow diagram.",
        run=sankey,
        options=SankeyOptions,
        result=SankeyResult,
        scope=JOURNEY_SCOPE,
        table="links",
    )
)
