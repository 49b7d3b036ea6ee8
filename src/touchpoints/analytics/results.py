"""What an analysis hands to Python: the JSON object, its main table, and ways to read it.

`to_dict()` is exactly the object the CLI prints with `--json` and the API answers (full
precision); `to_arrow()`/`to_pandas()` give the main table (`rows`, `edges`, `variants`,
...) one row per item, nested objects flattened to `parent.child` columns; in Jupyter the
result shows as that table with numbers formatted for reading. A result also reads like
the dict it holds (`result["rows"]`).
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from touchpoints.core.errors import UsageError
from touchpoints.core.format import safe_cell
from touchpoints.core.messages import t

if TYPE_CHECKING:
    import pyarrow as pa

    from touchpoints.analytics.registry import Analysis

HTML_ROWS = 50


def dumps(obj: Any) -> str:
    """The one JSON encoding of results (CLI, API, files): full precision, UTF-8 text."""
    return json.dumps(obj, ensure_ascii=False, default=str)


def _flat(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, name + "."))
        else:
            out[name] = value
    return out


def _long(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The list of objects `key` inside each row (retention's `cells`) becomes one row per
    object, its keys prefixed with the list's name, beside its parent's columns: CSV,
    pandas and Arrow get a tidy table instead of Python reprs. A row whose list is empty
    stays one row without it."""
    out = []
    for r in rows:
        parent = {k: v for k, v in r.items() if k != key}
        items = r.get(key) or []
        out += [{**parent, **_flat(item, key + ".")} for item in items] or [parent]
    return out


def table_rows(data: Mapping[str, Any], table: str, explode: str = "") -> list[dict[str, Any]]:
    """The main table of a result as flat rows. A mapping (`{"phone": 12}`) becomes
    key/value rows; a list of objects is flattened, and the list `explode` inside its rows
    (declared by the analysis) becomes one row per item; anything else is one `value`
    column. A result without a table (`table` empty, or its key absent: one what-if
    scenario, one staffing interval) is one row, the object itself flattened.

    A dotted `table` names a list inside each item of another (`cycles.steps`): one row per
    inner item, led by its parent's plain fields (`cycle`, `converts`)."""
    outer, _, inner = table.partition(".")
    if inner:
        return [
            {
                **{k: v for k, v in parent.items() if not isinstance(v, list | Mapping)},
                **row,
            }
            for parent in data.get(outer) or []
            for row in table_rows(parent, inner)
        ]
    if not table or table not in data:
        return [_flat(data)] if data else []
    items = data.get(table, [])
    if isinstance(items, Mapping):
        return [{"key": k, **(_flat(v) if isinstance(v, Mapping) else {"value": v})}
                for k, v in items.items()]  # fmt: skip
    rows = [_flat(r) if isinstance(r, Mapping) else {"value": r} for r in items or []]
    return _long(rows, explode) if explode else rows


def _cell(value: Any) -> Any:
    """A list of plain values (a path) joined with ' > '; anything nested as JSON."""
    if isinstance(value, list) and not any(isinstance(v, Mapping | list) for v in value):
        return " > ".join(map(str, value))
    if isinstance(value, Mapping | list):
        return dumps(value)
    return value


def to_csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV at full precision; lists (paths) joined with ' > '. The machine-readable
    CSV (CLI `--format csv`, `/v1` CSV); the dashboard's downloads in the reader's language
    are `core.format.spreadsheet`. In both, every text cell passes `safe_cell`, and so do
    the column names."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([safe_cell(c) for c in columns])
    for r in rows:
        writer.writerow([safe_cell(_cell(r.get(k))) for k in columns])
    return buffer.getvalue()


class Result(Mapping[str, Any]):
    """One analysis's answer (see the module docstring)."""

    def __init__(self, analysis: Analysis, data: dict[str, Any]) -> None:
        self.analysis = analysis
        self._data = data

    # -- the JSON object ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Exactly the `--json` object (the API body), at full precision."""
        return self._data

    def to_json(self) -> str:
        return dumps(self._data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    # -- the main table ------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """The main table as flat dicts (`parent.child` columns)."""
        return table_rows(self._data, self.analysis.table, self.analysis.explode)

    def to_arrow(self) -> pa.Table:
        import pyarrow as pa

        return pa.Table.from_pylist(self.rows())

    def to_pandas(self) -> Any:
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise UsageError("to_pandas() needs pandas: pip install pandas") from None
        return self.to_arrow().to_pandas()

    def to_csv(self) -> str:
        return to_csv(self.rows())

    def __repr__(self) -> str:
        return f"<{self.analysis.name}: {len(self.rows())} {self.analysis.table}>"

    def _repr_html_(self, lang: str = "en") -> str:
        """The main table for Jupyter, numbers formatted for reading (the first rows)."""
        from touchpoints.core import format as fmt  # Babel: only for people reading

        rows = self.rows()
        columns = list(dict.fromkeys(k for r in rows[:HTML_ROWS] for k in r))
        head = "".join(f"<th>{html.escape(t(lang, 'metric.' + c) if '.' not in c else c)}</th>"
                       for c in columns)  # fmt: skip
        body = "".join(
            "<tr>"
            + "".join(
                f"<td style='text-align:{'right' if fmt.is_numeric(c, r.get(c)) else 'left'}'>"
                f"{html.escape(fmt.value(c.rsplit('.', 1)[-1], r.get(c), lang))}</td>"
                for c in columns
            )
            + "</tr>"
            for r in rows[:HTML_ROWS]
        )
        more = (
            f"<p>… {len(rows) - HTML_ROWS:,} more rows: to_pandas() has them all</p>"
            if len(rows) > HTML_ROWS
            else ""
        )
        title = html.escape(f"{self.analysis.name} — {self.analysis.summary}")
        return (
            f"<div><strong>{title}</strong><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>{more}</div>"
        )
