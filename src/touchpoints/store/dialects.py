"""SQL written once in DuckDB's dialect, run on every engine.

Values never enter SQL text: a query names them with `$name` markers and passes them in a
mapping. Named markers (rather than positional `?`) let analyses compose a query from
fragments — the scope's filters, a phase window, an option — without tracking the order in
which each fragment's values appear. Each engine binds them its own way: DuckDB natively,
PostgreSQL as psycopg's `%(name)s`, Spark as `:name` arguments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp

Params = Mapping[str, Any]

MARKER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_LITERAL = re.compile(r"'(?:[^']|'')*'")
_SLOT = "tp_param_slot_"
_SLOT_TEXT = re.compile(_SLOT + r"([A-Za-z0-9_]+?)_end")


def markers(sql: str) -> frozenset[str]:
    """The `$name` markers of a DuckDB-dialect query."""
    return _markers(sql)


@lru_cache(maxsize=4096)
def _markers(sql: str) -> frozenset[str]:
    return frozenset(MARKER.findall(_LITERAL.sub("''", sql)))


def bound(sql: str, params: Params | None) -> dict[str, Any] | None:
    """The values `sql` uses, by name (DuckDB refuses values a query does not name); a
    marker without a value is the caller's bug and says which."""
    names = markers(sql)
    if not names:
        return None
    given = params or {}
    missing = sorted(names - given.keys())
    if missing:
        raise KeyError(f"query parameters without a value: {', '.join(missing)}")
    return {name: given[name] for name in names}


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


def spark_markers(text: str) -> str:
    """Slots (see `_with_slots`) as Spark's `:name` markers."""
    return _SLOT_TEXT.sub(lambda m: f":{m.group(1)}", text)
