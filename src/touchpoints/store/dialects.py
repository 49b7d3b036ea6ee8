"""SQL written once in DuckDB's dialect, run on every engine.

Values never enter SQL text: a query names them with `$name` markers (`params.py`). Each
engine binds them its own way: DuckDB natively, PostgreSQL as psycopg's `%(name)s`, Spark
as `:name` arguments.

Translation is sqlglot's, plus the repairs below where its output would compute something
else on the target engine. Every repair lives here, each with its reason:

- PostgreSQL (`to_postgres`): with values bound, psycopg reads every `%` as a placeholder,
  so the query's own `%` (a modulo, a LIKE pattern) is doubled; markers become `%(name)s`.
- Spark (`to_spark`, `_repair`): DuckDB's `epoch()` is fractional and takes intervals
  (`_epoch_seconds`); `list(x ORDER BY k)` keeps its order and NULLs (`_sorted_list`);
  `date_diff` counts unit boundaries crossed, not whole units elapsed
  (`_boundaries_crossed`); `quantile_cont(x, q)` is Spark's exact `percentile`; and the
  store's table names are qualified with its database.
"""

from __future__ import annotations

import re
from functools import lru_cache

import sqlglot
from sqlglot import exp

from touchpoints.store.params import Params, bound, markers

__all__ = ["Params", "bound", "markers", "to_postgres", "to_spark"]

_SLOT = "tp_param_slot_"
_SLOT_TEXT = re.compile(_SLOT + r"([A-Za-z0-9_]+?)_end")


def _with_slots(tree: exp.Expression) -> exp.Expression:
    """Markers as plain names that survive any dialect's generator untouched."""
    for node in list(tree.find_all(exp.Placeholder, exp.Parameter)):
        name = node.name
        if name:
            node.replace(exp.var(f"{_SLOT}{name}_end"))
    return tree


@lru_cache(maxsize=1024)
def to_postgres(sql: str) -> str:
    """One query from DuckDB's dialect to PostgreSQL's, markers as `%(name)s`.

    With values bound, psycopg reads every `%` as a placeholder, so the ones the query
    itself holds (a modulo, a LIKE pattern) are doubled first.
    """
    tree = sqlglot.parse_one(sql, read="duckdb")
    if not markers(sql):
        return tree.sql(dialect="postgres")
    text = _with_slots(tree).sql(dialect="postgres").replace("%", "%%")
    return _SLOT_TEXT.sub(lambda m: f"%({m.group(1)})s", text)


# -- DuckDB SQL -> Spark SQL ---------------------------------------------------------------------
def _epoch_seconds(node: exp.Expression) -> exp.Expression:
    """Seconds since 1970 of a timestamp, or seconds of a difference of timestamps.

    DuckDB's epoch() is fractional and also accepts intervals; sqlglot writes Spark's
    UNIX_TIMESTAMP, which truncates to whole seconds and rejects intervals.
    """
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Sub):
        return exp.Paren(
            this=exp.Sub(this=_epoch_seconds(node.this), expression=_epoch_seconds(node.expression))
        )
    micros = exp.Anonymous(this="UNIX_MICROS", expressions=[exp.cast(node.copy(), "TIMESTAMP")])
    # A DOUBLE divisor: `1000000.0` would be a DECIMAL in Spark and make the result one too.
    divisor = exp.cast(exp.Literal.number(1000000), "DOUBLE")
    return exp.Paren(this=exp.Div(this=micros, expression=divisor))


def _sorted_list(node: exp.ArrayAgg) -> exp.Expression:
    """`list(x ORDER BY k...)`: sqlglot writes COLLECT_LIST(x), which drops the order (and
    the NULLs). Collect (k..., x) structs, sort them by a comparator that follows each key's
    direction and NULLS placement, and keep x."""
    order: exp.Order = node.this
    value = order.this
    keys: list[exp.Ordered] = list(order.expressions)
    fields = [f"k{i}" for i in range(len(keys))]
    struct = exp.Anonymous(
        this="NAMED_STRUCT",
        expressions=[
            item
            for name, key in zip([*fields, "v"], [*(k.this for k in keys), value], strict=True)
            for item in (exp.Literal.string(name), key.copy())
        ],
    )
    clauses = []
    for name, key in zip(fields, keys, strict=True):
        desc = bool(key.args.get("desc"))
        # DuckDB's default: NULLS LAST whatever the direction.
        nulls_first = bool(key.args.get("nulls_first"))
        lt, gt = ("-1", "1") if not desc else ("1", "-1")
        nf, nl = ("-1", "1") if nulls_first else ("1", "-1")
        clauses.append(
            f"WHEN l.{name} IS NULL AND r.{name} IS NULL THEN 0 "
            f"WHEN l.{name} IS NULL THEN {nf} WHEN r.{name} IS NULL THEN {nl} "
            f"WHEN l.{name} < r.{name} THEN {lt} WHEN l.{name} > r.{name} THEN {gt}"
        )
    # Keys compare one after another: the first that differs decides.
    comparator = "0"
    for clause in reversed(clauses):
        comparator = f"CASE {clause} ELSE {comparator} END"
    collected = exp.Anonymous(this="COLLECT_LIST", expressions=[struct])
    sorted_sql = (
        f"TRANSFORM(ARRAY_SORT({collected.sql('spark')}, (l, r) -> {comparator}), e -> e.v)"
    )
    return sqlglot.parse_one(sorted_sql, read="spark")


UNIT_MICROS = {
    "MICROSECOND": 1,
    "MILLISECOND": 1_000,
    "SECOND": 1_000_000,
    "MINUTE": 60_000_000,
    "HOUR": 3_600_000_000,
    "DAY": 86_400_000_000,
}


def _boundaries_crossed(node: exp.DateDiff) -> exp.Expression | None:
    """DuckDB's date_diff(unit, a, b) counts unit boundaries between a and b (10:00:00.5 to
    10:00:01 is 1 second); Spark's TIMESTAMPDIFF counts whole elapsed units (0). For fixed
    units, floor both instants to the unit and subtract. Calendar units stay with Spark."""
    unit = node.args.get("unit")
    size = UNIT_MICROS.get(unit.name.upper() if unit is not None else "DAY")
    if size is None:
        return None

    def floored(value: exp.Expression) -> str:
        micros = exp.Anonymous(
            this="UNIX_MICROS", expressions=[exp.cast(value.copy(), "TIMESTAMP")]
        )
        return f"FLOOR({micros.sql('spark')} / {size})"

    return sqlglot.parse_one(
        f"CAST({floored(node.this)} - {floored(node.expression)} AS BIGINT)", read="spark"
    )


def _repair(node: exp.Expression) -> exp.Expression:
    """Rewrite the constructs whose direct Spark translation computes something else."""
    if isinstance(node, exp.DateDiff):
        return _boundaries_crossed(node) or node
    if isinstance(node, exp.TimeToUnix):
        return _epoch_seconds(node.this)
    if isinstance(node, exp.PercentileCont) and not isinstance(node.parent, exp.WithinGroup):
        # DuckDB quantile_cont(x, q): Spark's exact interpolated percentile(x, q).
        return exp.Anonymous(this="PERCENTILE", expressions=[node.this, node.expression])
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order):
        return _sorted_list(node)
    return node


@lru_cache(maxsize=1024)
def to_spark(sql: str, tables: tuple[tuple[str, str], ...] = ()) -> str:
    """Translate one analytics query from DuckDB's dialect to Spark SQL.

    `tables` maps the store's table names (`events`, ...) to the qualified Spark tables of
    this store, so several stores can share one session; names a CTE defines are left alone.
    `$name` markers come out as Spark's `:name`, bound from `spark.sql(text, args=...)`.
    """
    tree = sqlglot.parse_one(sql, read="duckdb")
    mapping = dict(tables)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}

    # Children before parents, so a repaired node wraps already repaired arguments.
    for node in reversed(list(tree.dfs())):
        if (
            isinstance(node, exp.Table)
            and not node.args.get("db")
            and node.name in mapping
            and node.name not in ctes
        ):
            target = exp.to_table(mapping[node.name], dialect="spark")
            alias = node.args.get("alias")
            if alias is None and isinstance(node.parent, exp.From | exp.Join):
                # `events.col` references keep resolving after qualification.
                alias = exp.TableAlias(this=exp.to_identifier(node.name))
            target.set("alias", alias)
            node.replace(target)
            continue
        repaired = _repair(node)
        if repaired is not node:
            if node is tree:
                tree = repaired
            else:
                node.replace(repaired)
    return tree.sql(dialect="spark")
