"""No value is ever spliced into SQL text (docs/architecture.md, "SQL").

Values reach SQL only as `$name` markers bound from a mapping. This module scans the
package for the ways values used to be written into SQL text, and names the file and line
of each; then it sends hostile filter values through every analysis, on DuckDB and
PostgreSQL, and checks they are refused or match nothing, and the data is left intact.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import run
from touchpoints.analytics.registry import analyses
from touchpoints.core.errors import UsageError
from touchpoints.ingest import ingest_files
from touchpoints.store.base import Store

SRC = Path(__file__).resolve().parents[1] / "src" / "touchpoints"

# The old ways, line by line. `query_params(` is the call (Starlette's
# `request.query_params.get` is the URL's query string, not SQL); `lit(` is the bare helper
# (PySpark's `F.lit(...)` makes a Column value in the DataFrame API, never SQL text).
OLD_WAYS = (
    (re.compile(r"\bdef lit\("), "a helper that quotes values into SQL text"),
    (re.compile(r"(?<![\w.])lit\("), "a value quoted into SQL text by lit()"),
    (re.compile(r"\.placeholder\b"), "positional markers spliced into SQL text"),
    (re.compile(r"""replace\(\s*(["'])'\1\s*,\s*(["'])''\2\s*\)"""), "quotes escaped by hand"),
    (re.compile(r"\bquery_params\s*\("), "the positional query path (use $name markers)"),
    (re.compile(r"\bparam_(exec|rows)\b"), "the positional query helpers (use $name markers)"),
)
# An f-string is SQL when its text holds one of these (upper-case keywords, `||`, or the
# DuckDB functions analytics use), or is nothing but a quoted value (`f"'{x}'"`, an item of
# an IN list): messages that quote a value for people are not SQL.
SQL_TEXT = re.compile(
    r"\b(SELECT|FROM|WHERE|INSERT|UPDATE|DELETE|CASE|WHEN|THEN|COPY|VALUES|JOIN|INTERVAL|AS)\b"
    r"|\|\||\b(date_trunc|concat_ws|string_agg|regexp_full_match|getvariable)\("
)

# `'{expression}'` in SQL that provably holds no value, by file: why each is safe.
ALLOWED = {
    ("analytics/sql.py", "int(seconds)"): "interval(): a Python int (no engine binds an "
    "interval's length); a number cannot close the quote",
    ("store/derived.py", "int(seconds)"): "_interval(): as analytics/sql.py interval(), "
    "a Python int from the stored FactOptions; a number cannot close the quote",
    ("analytics/attribution.py", "d"): "each d is one of the module constant HELD_OUT_DIGITS",
    ("analytics/flows.py", "level"): "level iterates the keys of the module constant GAP_LEVELS",
    ("analytics/strength.py", "part"): "_block()'s tag: every caller passes a literal "
    "('steps', 'ratings', 'cycles')",
    ("analytics/retention.py", "period"): "checked against PERIODS (day, week, month) "
    "before any SQL is built",
    ("store/spark.py", "table"): "the name of an existing lakehouse table from the target, "
    "checked against TABLE_NAME (letters, digits, _ and dots: no quote can pass)",
}


def _constants(tree: ast.Module) -> set[str]:
    """Upper-case names bound at module level to string literals (plain, annotated or
    tuple assignment): text of the code, not values."""
    names: set[str] = set()
    for node in tree.body:
        pairs: list[tuple[ast.expr, ast.expr | None]] = []
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs += list(zip(target.elts, node.value.elts, strict=False))
                else:
                    pairs.append((target, node.value))
        elif isinstance(node, ast.AnnAssign):
            pairs.append((node.target, node.value))
        for target, value in pairs:
            if (
                isinstance(target, ast.Name)
                and target.id.isupper()
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                names.add(target.id)
    return names


def _imported_constants(tree: ast.Module) -> set[str]:
    """Upper-case names imported from another module of the package that are constants there."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("touchpoints."):
            source = SRC.joinpath(*node.module.split(".")[1:]).with_suffix(".py")
            if source.exists():
                there = _constants(ast.parse(source.read_text(encoding="utf-8")))
                names |= {a.asname or a.name for a in node.names if a.name in there}
    return names


def _quoted_values(tree: ast.Module, lines: list[str]) -> Iterator[tuple[int, str]]:
    """(line, expression) of each `'{expression}'` in an f-string that reads as SQL."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.JoinedStr):
            continue
        parts = node.values
        text = "".join(str(p.value) for p in parts if isinstance(p, ast.Constant))
        if not SQL_TEXT.search(text) and text.strip("' ,()"):
            continue
        for i, part in enumerate(parts):
            if not isinstance(part, ast.FormattedValue) or not 0 < i < len(parts) - 1:
                continue
            before, after = parts[i - 1], parts[i + 1]
            if (
                isinstance(before, ast.Constant)
                and str(before.value).endswith("'")
                and isinstance(after, ast.Constant)
                and str(after.value).startswith("'")
            ):
                expression = ast.unparse(part.value)
                yield _line_of(node, lines, "'{" + expression), expression


def _line_of(node: ast.JoinedStr, lines: list[str], needle: str) -> int:
    """The line of `needle` inside a (possibly multi-line) f-string."""
    end = node.end_lineno or node.lineno
    for number in range(node.lineno, end + 1):
        if needle in lines[number - 1]:
            return number
    return node.lineno


def spliced(path: Path, rel: str | None = None) -> list[str]:
    """`file:line: why` for every old way of writing a value into SQL text in `path`
    (`rel`: its name in the package, for messages and the allow-list)."""
    rel = rel or path.relative_to(SRC).as_posix()
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    found = []
    for number, line in enumerate(lines, 1):
        code = line.split("#", 1)[0] if line.lstrip().startswith("#") else line
        for pattern, why in OLD_WAYS:
            if pattern.search(code):
                found.append(f"{rel}:{number}: {why}: {line.strip()}")
    tree = ast.parse(text)
    safe = _constants(tree) | _imported_constants(tree)
    for number, expression in _quoted_values(tree, lines):
        if expression in safe or (rel, expression) in ALLOWED:
            continue
        found.append(
            f"{rel}:{number}: '{{{expression}}}' writes a value into SQL text "
            f"(bind it as a $name marker): {lines[number - 1].strip()}"
        )
    return found


def _files() -> list[Any]:
    params = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        params.append(pytest.param(path, id=rel))
    return params


@pytest.mark.parametrize("path", _files())
def test_no_value_is_spliced_into_sql_text(path: Path) -> None:
    found = spliced(path)
    assert not found, "values written into SQL text:\n" + "\n".join(found)


def test_every_allowed_entry_is_still_needed() -> None:
    """An allow-list entry whose code changed must go, not linger as a blanket pass."""
    for (rel, expression), reason in ALLOWED.items():
        path = SRC / rel
        tree = ast.parse(path.read_text(encoding="utf-8"))
        lines = path.read_text(encoding="utf-8").splitlines()
        quoted = {e for _, e in _quoted_values(tree, lines)}
        assert expression in quoted, f"{rel}: '{{{expression}}}' is gone ({reason})"


def test_the_scan_finds_each_old_way(tmp_path: Path) -> None:
    """The scanner itself: every old way in a sample file is named with its line."""
    sample = tmp_path / "sample.py"
    body = """
def lit(v):
    return "'" + str(v).replace("'", "''") + "'"
PREFIX = "tp:"
def q(store, x, period, who):
    store.execute(f"DELETE FROM t WHERE a = {store.placeholder}", [x])
    store.query_params("SELECT 1", [x])
    sql = f"SELECT date_trunc('{period}', ts), '{PREFIX}' || id FROM events WHERE a = {lit(x)}"
    message = f"no store at '{who}'"
    return request.query_params.get("by"), F.lit(x), sql, message
"""
    sample.write_text(body, encoding="utf-8")
    found = spliced(sample, "sample.py")
    lines = sorted({int(f.split(":")[1]) for f in found})
    assert lines == [2, 3, 6, 7, 8], found
    quoted = [f.split(": ")[1] for f in found if "writes a value" in f]
    assert quoted == ["'{period}' writes a value into SQL text (bind it as a $name marker)"]


# -- hostile values at run time -----------------------------------------------------------------
HOSTILE: list[tuple[str, dict[str, Any]]] = [
    ("quote", {"touchpoint": ["x' OR '1'='1"]}),
    ("marker", {"segment": ["$scope_from"], "date_from": "2026-01-01"}),
    ("percent", {"agent": ["%(scope_from)s", "%s", ":scope_to"]}),
    ("timezone", {"timezone": "UTC'; DROP TABLE events; --"}),
]
# Options some analyses need before they read anything.
NEEDS = {"whatif": {"touchpoint": "phone", "remove": True}}
ROWS = [
    {
        "event_id": f"e{i}",
        "customer_id": f"c{i % 3}",
        "touchpoint": tp,
        "ts": f"2026-01-{10 + i:02d}T12:00:00Z",
        "segment": "gold",
        "agent": "ann",
        **extra,
    }
    for i, (tp, extra) in enumerate(
        [
            ("website", {}),
            ("phone", {"abandoned": "false", "wait_seconds": 10, "handle_seconds": 60}),
            ("store", {"action": "purchase", "value": 120}),
            ("phone", {"abandoned": "true", "wait_seconds": 30}),
            ("store", {"action": "purchase", "value": 80}),
        ]
    )
]


def _state(store: Store) -> dict[str, Any]:
    return {
        "events": store.query("SELECT * FROM events ORDER BY seq"),
        "touchpoints": store.count("touchpoints"),
    }


@pytest.fixture
def loaded(store: Store, csv_file: Callable[..., Path]) -> Store:
    result = ingest_files(store, [csv_file(ROWS)])
    assert result.ingested == len(ROWS), result.quarantine
    return store


@pytest.mark.parametrize("values", [v for _, v in HOSTILE], ids=[n for n, _ in HOSTILE])
def test_hostile_filter_values_are_refused_or_match_nothing(
    loaded: Store, values: dict[str, Any]
) -> None:
    before = _state(loaded)
    ran = checked = 0
    for analysis in analyses():
        given = {k: v for k, v in values.items() if k in analysis.scope}
        if not given:
            continue
        try:
            result = run(loaded, analysis.name, **NEEDS.get(analysis.name, {}), **given)
        except UsageError as exc:
            # A sentence for the user (a bad option, or nothing to analyse), not a crash.
            if "timezone" in values:
                assert str(exc).startswith("--timezone "), (analysis.name, str(exc))
            elif ": no such " in str(exc):
                # Refused by the filter-value check, whose own query bound the value.
                checked += 1
            continue
        ran += 1
        if analysis.name == "kpis":
            assert [r["events"] for r in result["rows"]] == [0], result
    assert _state(loaded) == before
    if "timezone" in values:
        assert ran == 0, "an unknown time zone is refused by every analysis"
    else:
        assert ran + checked >= 10, "the hostile value reached the analyses' SQL"


def test_a_value_that_looks_like_a_marker_is_a_value(loaded: Store) -> None:
    """A stored value spelled like a marker still matches itself, and only itself."""
    # Not stored: refused by name (the filter-value check binds it like any value).
    with pytest.raises(UsageError, match=r"--segment '\$scope_from': no such segment"):
        run(loaded, "kpis", segment="$scope_from")
    assert run(loaded, "kpis", segment="gold", agent="ann")["rows"][0]["events"] == len(ROWS)
