"""Values reach SQL as `$name` markers bound from a mapping, never as text.

Named markers (rather than positional `?`) let analyses compose a query from fragments —
the scope's filters, a phase window, an option — without tracking the order in which each
fragment's values appear. Finding them needs no SQL parser, so a DuckDB store binds without
loading sqlglot; the other engines translate markers in `dialects.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

Params = Mapping[str, Any]

MARKER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
# String literals and quoted identifiers: a `$` inside them is text, never a marker.
_LITERAL = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


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
