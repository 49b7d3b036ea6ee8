"""Journey cycles (SPEC §3), written once as SQL in DuckDB's dialect.

A customer's cycle runs until a purchase (inclusive) or until a gap of more than `--gap`
(30 days) without events; the next event opens a new cycle. Feedback rows are not steps.
Cycles are cut on the customer's whole history, so a filter (period, phase, touchpoint)
selects steps of cycles without changing where the cycles begin and end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from touchpoints.analytics.scope import Scope
from touchpoints.analytics.sql import events_relation, interval
from touchpoints.core.events import NON_STEP_SQL
from touchpoints.store import derived

if TYPE_CHECKING:
    from touchpoints.store.base import Store

# A distinct stored path: (its touchpoints, converts, cycles, exact sum of their revenue).
CyclePath = tuple[tuple[str, ...], int, int, Any]
PATHS_MEMO = ("cycle_paths",)


def steps_relation(scope: Scope, base: str | None = None) -> str:
    """Every journey step with its cycle.

    Columns: the events' columns (with derived `phase`, `channel`, `kind`) plus
    `cycle_no` (1, 2, ... per customer), `cycle_id` (customer_id || '#' || cycle_no),
    `step` (1-based position in the cycle), `steps` (cycle length), `cycle_converts`
    (1 when the cycle holds a purchase), `cycle_start`, `cycle_end`. Unfiltered: apply
    `scope.where()` on top (see `scoped_steps`); the cycles are cut at `scope.gap_seconds`.

    With `scope.facts` (the store keeps facts cut with the scope's windows) and no `base`,
    the steps are read from the facts (`store.derived.relation`), with the same columns.

    `base` replaces the events relation (with its derived phase) by a relation the caller
    already has, such as a CTE it also reads for feedback rows: the phase windows over
    every event then run once per query instead of once per reference.
    """
    if scope.facts and base is None:
        return derived.relation()
    base = base or events_relation(scope, with_phase=True)
    return f"""SELECT c.*,
        c.customer_id || '#' || CAST(c.cycle_no AS VARCHAR) AS cycle_id,
        row_number() OVER (PARTITION BY c.customer_id, c.cycle_no ORDER BY c.ts, c.seq) AS step,
        count(*) OVER (PARTITION BY c.customer_id, c.cycle_no) AS steps,
        max(CASE WHEN c.action = 'purchase' THEN 1 ELSE 0 END) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_converts,
        min(c.ts) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_start,
        max(c.ts) OVER (PARTITION BY c.customer_id, c.cycle_no) AS cycle_end
    FROM (
      SELECT b.*,
        sum(CASE WHEN b._prev_ts IS NULL OR b._prev_action = 'purchase'
                   OR b.ts > b._prev_ts + {interval(scope.gap_seconds)} THEN 1 ELSE 0 END)
          OVER (PARTITION BY b.customer_id ORDER BY b.ts, b.seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
          AS cycle_no
      FROM (
        SELECT x.*,
          lag(x.ts) OVER (PARTITION BY x.customer_id ORDER BY x.ts, x.seq) AS _prev_ts,
          lag(x.action) OVER (PARTITION BY x.customer_id ORDER BY x.ts, x.seq) AS _prev_action
        FROM ({base}) x
        WHERE x.action NOT IN {NON_STEP_SQL}
      ) b
    ) c"""


def from_cycles(scope: Scope) -> bool:
    """Whole cycles can be read from `journey_cycles` (path, converts, revenue): the store
    keeps the facts and no filter selects steps (a filter makes a path the selected steps
    only)."""
    return scope.facts and scope.where() == "TRUE"


def cycle_paths(store: Store) -> tuple[CyclePath, ...]:
    """Every stored journey cycle grouped by path: `(labels, converts, cycles, value)`,
    the value the exact sum of the cycles' revenue. A cycle holds at most one purchase
    (the cycle ends with it), so its revenue is that purchase's value: what the models
    read from the steps as the cycle's value. Far fewer rows than steps: the models that
    need only the order of touchpoints (not their times) walk each distinct path once.

    Read once per data stamp for a store and its readers (`Store.remembered`: a warmer
    round's Sankey and attribution models, and visitors' requests, share one read) and
    once per `analytics.attribution.sharing_paths` block where no stamp holds (inside a
    transaction, on Spark). Immutable (tuples), so every caller gets the one object
    rather than a copy: at 10M events a copy cost more than the read."""
    shared = getattr(store, "shared_paths", False)
    if shared:
        return shared  # type: ignore[no-any-return]
    paths = store.remembered(PATHS_MEMO, lambda: _read_cycle_paths(store), copy=False)
    if shared is None:
        store.shared_paths = paths  # type: ignore[attr-defined]
    return paths


def _read_cycle_paths(store: Store) -> tuple[CyclePath, ...]:
    rows = store.query(
        "SELECT path, converts, count(*) AS n, "
        "sum(CAST(coalesce(revenue, 0) AS DECIMAL(38, 6))) AS value "
        "FROM journey_cycles GROUP BY path, converts"
    )
    # The labels are a few touchpoint ids repeated over every path: one string each.
    labels: dict[str, str] = {}
    return tuple(
        (
            tuple(labels.setdefault(x, x) for x in r["path"].split(derived.PATH_SEPARATOR)),
            int(r["converts"]),
            int(r["n"]),
            r["value"],
        )
        for r in rows
    )


def filter_steps(scope: Scope, *columns: str, cycles: bool = False) -> str:
    """Journey steps with their cycle keys (`customer_id`, `cycle_no`), `step`, `phase`,
    every column `scope.where()` reads (`ts` and `touchpoint` among them) and the events'
    `columns`, unfiltered: apply the filters on top, after the caller's windows. `cycles`
    adds `steps` and `cycle_converts`. From the facts, nothing more: a window over every
    step then sorts a few columns instead of all of `steps_relation`'s, and a CTE holds
    them."""
    if not scope.facts:
        return steps_relation(scope)
    kept = ("channel", "kind", "phase")  # the catalog's and the facts' own
    wanted = dict.fromkeys((*scope.filter_columns, *columns))
    return derived.filter_steps(*(c for c in wanted if c not in kept), cycles=cycles)


def scoped_steps(scope: Scope, with_phase: bool = True) -> str:
    """Journey steps that pass the filters, with their (unfiltered) cycles.

    `with_phase=False` is for analyses that never read the derived phase (flows, paths):
    the phase windows over every event are then computed only when a phase filter needs
    them, and `phase` holds the stored column otherwise.
    """
    base = None
    if not with_phase and not scope.needs_phase and not scope.facts:
        base = events_relation(scope, with_phase=False)
    return f"SELECT * FROM ({steps_relation(scope, base)}) s WHERE {scope.where()}"
