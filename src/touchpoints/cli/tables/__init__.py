"""Terminal tables of analysis results: every renderer in this package, one table builder.

A renderer turns an analysis's JSON object into Rich renderables for people: labels in the
reader's language (`core.messages`), numbers through `core.format`. The builder `grid()`
never cuts a number: numeric columns keep their full width, text columns wrap, and a table
too wide for the terminal is split into several, each repeating the row labels.
Analyses without a renderer of their own get `generic()`: their main table.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from touchpoints.analytics.results import table_rows
from touchpoints.core import format as fmt
from touchpoints.core.messages import t

BORDER = 3  # a column's padding and rule in Rich's default box
TEXT_MIN = 12


@dataclass
class View:
    """What a renderer needs besides the result: language, names, the options it ran with."""

    lang: str = "en"
    names: dict[str, str] = field(default_factory=dict)  # touchpoint id -> display name
    options: Any = None
    scope: Any = None
    width: int = 100

    def name(self, touchpoint: str | None) -> str:
        if touchpoint is None:
            return fmt.DASH
        return self.names.get(touchpoint, touchpoint)

    def label(self, key: str) -> str:
        """A result column's header: the metric's label in the reader's language."""
        return t(self.lang, "metric." + key)

    def value(self, key: str, x: Any) -> str:
        return fmt.value(key, x, self.lang)


@dataclass(frozen=True)
class Col:
    """One column: its header, and whether it holds numbers (right-aligned, never cut)."""

    header: str
    numeric: bool = True


Renderer = Callable[[dict[str, Any], View], list[RenderableType]]
_RENDERERS: dict[str, Renderer] = {}


def renders(name: str) -> Callable[[Renderer], Renderer]:
    """Register the renderer of analysis `name`."""

    def add(fn: Renderer) -> Renderer:
        _RENDERERS[name] = fn
        return fn

    return add


def render(name: str, table: str, data: dict[str, Any], view: View) -> list[RenderableType]:
    """The tables of analysis `name` (its renderer modules in this package are imported on
    the first call, so the CLI starts without them)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    renderer = _RENDERERS.get(name)
    return renderer(data, view) if renderer else generic(table, data, view)


def generic(table: str, data: dict[str, Any], view: View) -> list[RenderableType]:
    """The main table, one column per key, formatted by what each key measures."""
    rows = table_rows(data, table)
    if not rows:
        return [Text(t(view.lang, "cli.common.nothing"))]
    keys = list(dict.fromkeys(k for r in rows for k in r))
    cols = [Col(view.label(k), numeric=fmt.is_numeric(k, rows[0].get(k))) for k in keys]
    cells = [[view.value(k.rsplit(".", 1)[-1], r.get(k)) for k in keys] for r in rows]
    return grid(cols, cells, view.width)


def _needed(col: Col, cells: Sequence[str]) -> int:
    """The width a numeric column keeps: its widest value or its header (not wrapped)."""
    return max([len(c) for c in cells] + [len(col.header)])


def grid(
    columns: Sequence[Col],
    rows: Sequence[Sequence[str]],
    width: int,
    *,
    title: str | None = None,
    caption: str | None = None,
    keys: int = 1,
) -> list[Table]:
    """Tables of already formatted cells that fit `width` without cutting a number.

    The first `keys` columns label the rows; when the others do not fit beside them, they
    are dealt into several tables, each repeating the label columns.
    """
    needs = [
        _needed(c, [r[i] for r in rows]) if c.numeric else TEXT_MIN for i, c in enumerate(columns)
    ]
    # Row labels keep their length (up to 2/5 of the terminal, then they wrap), so that
    # each row of a split table stays on one line and reads across the tables.
    for i in range(min(keys, len(columns))):
        if not columns[i].numeric:
            longest = max([len(r[i]) for r in rows] + [len(columns[i].header)])
            needs[i] = max(TEXT_MIN, min(longest, width * 2 // 5))
    label_width = sum(needs[:keys]) + BORDER * keys + 1
    chunks: list[list[int]] = [[]]
    used = label_width
    for i in range(keys, len(columns)):
        if chunks[-1] and used + needs[i] + BORDER > width:
            chunks.append([])
            used = label_width
        chunks[-1].append(i)
        used += needs[i] + BORDER
    tables = []
    for n, chunk in enumerate(chunks):
        table = Table(
            title=title if n == 0 else None,
            title_justify="left",
            caption=caption if n == len(chunks) - 1 else None,
            caption_justify="left",
            header_style="bold",
        )
        for i in [*range(keys), *chunk]:
            col = columns[i]
            if col.numeric:
                table.add_column(col.header, justify="right", no_wrap=True, min_width=needs[i])
            elif i < keys:
                table.add_column(col.header, overflow="fold", width=needs[i])
            else:
                table.add_column(col.header, overflow="fold", min_width=min(TEXT_MIN, needs[i]))
        for r in rows:
            table.add_row(*[r[i] for i in [*range(keys), *chunk]])
        tables.append(table)
    return tables
