"""Running an analysis command in-process and reading the tables it draws, for the CLI
tests of attribution, what-if, insights, staffing and live."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner


def cli(args: list[str], monkeypatch: pytest.MonkeyPatch, width: int = 100) -> Any:
    """`touchpoints ARGS` in-process, its tables drawn for a terminal `width` columns wide."""
    from touchpoints.cli import app  # late: importing it adds `tp.cli` before test_api looks

    monkeypatch.setattr("touchpoints.cli.analyses.out", Console(width=width))
    return CliRunner().invoke(app, args)


def table_cells(text: str) -> list[list[str]]:
    """The header and body cells of the tables in `text` (Babel's no-break spaces as spaces)."""
    rows = []
    for line in text.replace("\xa0", " ").splitlines():
        if line.startswith(("│", "┃")):
            rows.append([c.strip() for c in line.replace("┃", "│").split("│")[1:-1]])
    return rows


def assert_fits(text: str, width: int = 100) -> None:
    """Nothing cut, nothing wider than the terminal."""
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width, text
