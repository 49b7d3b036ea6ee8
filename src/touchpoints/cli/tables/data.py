"""Tables of the data commands: the catalog, an ingestion's summary, the quarantine.

Headers are the labels of the JSON keys (`catalog show --json`, `quarantine --json`),
counts and targets go through `core.format`, like every other table.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table

from touchpoints.cli.tables import Col, grid
from touchpoints.core import format as fmt
from touchpoints.core.messages import t

if TYPE_CHECKING:
    from touchpoints.core.catalog import Catalog, Touchpoint
    from touchpoints.ingest import IngestResult

QUARANTINE_KEYS = ("file", "row", "column", "reason", "raw")
REJECTED_SHOWN = 20
RAW_SHOWN = 120  # characters of the raw record; `quarantine --json` has it whole


def _longest_word(texts: list[str]) -> int:
    return max([len(w) for text in texts for w in text.split()] + [1])


def catalog_table(catalog: Catalog, lang: str, width: int = 100) -> Group:
    """The touchpoints, their targets (numbers, never cut), then the blueprint lanes
    (SPEC §1: entries only the company or only the customer sees; they never receive
    events). Text wraps between words, never inside one."""
    points = [tp for tp in catalog.touchpoints if tp.is_touchpoint]
    lanes = [tp for tp in catalog.touchpoints if not tp.is_touchpoint]
    parts: list[RenderableType] = [
        _entries(points, ("kind", "channel", "phase", "owner"), "cli.data.catalog_title", lang)
    ]
    keys = list(dict.fromkeys(k for tp in points for k in tp.target))
    if keys:
        cols = [
            Col(t(lang, "metric.id"), numeric=False),
            *(Col(t(lang, "metric." + k)) for k in keys),
        ]
        cells = [
            [tp.id, *(fmt.value(k, tp.target.get(k), lang) for k in keys)]
            for tp in points
            if tp.target
        ]
        parts += grid(cols, cells, width, title=t(lang, "cli.data.targets_title"))
    if lanes:
        parts.append(
            _entries(
                lanes, ("kind", "channel", "visibility", "owner"), "cli.data.lanes_title", lang
            )
        )
    return Group(*parts)


def _entries(entries: list[Touchpoint], keys: tuple[str, ...], title: str, lang: str) -> Table:
    """One entry per row: id, name and `keys`. Each column is at least as wide as its
    longest word, so a narrow terminal wraps names between words, not inside one."""

    def text(tp: Touchpoint, key: str) -> str:
        if key == "kind":
            return t(lang, "common." + tp.kind)
        if key == "phase":
            return ", ".join(t(lang, "common." + p) for p in tp.phase)
        if key == "visibility":
            return t(lang, "cli.data.visibility_" + tp.visibility)
        return str(getattr(tp, key) or "")

    rows = [[tp.id, tp.label(lang), *(text(tp, k) for k in keys)] for tp in entries]
    table = Table(title=t(lang, title), title_justify="left", header_style="bold")
    for i, key in enumerate(("id", "name", *keys)):
        header = t(lang, "metric." + key)
        table.add_column(header, min_width=_longest_word([header, *(r[i] for r in rows)]))
    for row in rows:
        table.add_row(*row)
    return table


def ingest_summary(
    console: Console, result: IngestResult, lang: str = "en", db: str | None = None
) -> None:
    """What an ingestion did; the hint to see every rejection repeats the `--db` used."""
    counts = {
        k: fmt.integer(getattr(result, k), lang) for k in ("ingested", "duplicates", "rejected")
    }
    console.print(t(lang, "cli.data.ingested", **counts))
    for source, cols in result.ignored_columns.items():
        columns = escape(", ".join(cols))
        console.print(t(lang, "cli.data.ignored_columns", source=escape(source), columns=columns))
    for w in result.warnings:
        values = {**w, "rows": fmt.integer(int(str(w["rows"])), lang)}
        text = t(lang, f"ingest.warning.{w['code']}", **values)
        console.print(t(lang, "cli.data.warning", source=escape(str(w["file"])), text=escape(text)))
    if result.quarantine:
        rows = [{**q, "raw": None} for q in result.quarantine[:REJECTED_SHOWN]]
        console.print(_problems(rows, t(lang, "cli.data.rejected_title"), lang, raw=False))
        where = f" --db {shlex.quote(db)}" if db else ""
        console.print(t(lang, "cli.data.see_all", db=escape(where)))


def quarantine_table(rows: list[dict[str, Any]], total: int, lang: str = "en") -> Table:
    title = t(lang, "cli.data.quarantine_title", total=fmt.integer(total, lang))
    return _problems(rows, title, lang, raw=True)


def _problems(rows: list[dict[str, Any]], title: str, lang: str, raw: bool) -> Table:
    """Rejected rows: where (file, row, column), why, and the record as it came (cut to
    RAW_SHOWN characters; `quarantine --json` has it whole)."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for key in QUARANTINE_KEYS if raw else QUARANTINE_KEYS[:-1]:
        numeric = key == "row"
        table.add_column(
            t(lang, "metric." + key),
            justify="right" if numeric else "left",
            no_wrap=numeric,
            overflow="fold",
        )
    for r in rows:
        cells = [
            str(r["file"]),
            fmt.integer(r["row"], lang),
            str(r["column"] or ""),
            str(r["reason"]),
        ]
        if raw:
            cells.append(str(r["raw"] or "")[:RAW_SHOWN])
        table.add_row(*cells)
    return table
