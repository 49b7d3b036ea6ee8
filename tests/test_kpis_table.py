"""`touchpoints kpis` as people read it: a table that never cuts a number, in English and
Brazilian Portuguese, that fits the width it is given (also when piped), its CSV, and the
order of commands in `touchpoints --help`.

The CLI runs in a subprocess, as a person or a script runs it: output piped, `COLUMNS` set
or not. The data is the tyre retailer's demo year, for a few hundred customers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from rich.console import Console

from touchpoints.analytics.kpis import KPI_KEYS, KpisOptions
from touchpoints.cli.tables import View, render
from touchpoints.cli.tables.kpis import SHOWN
from touchpoints.core import format as fmt
from touchpoints.core.catalog import default_catalog
from touchpoints.ingest import ingest_files
from touchpoints.store import open_store

BORDERS = "│┃"


def cli(*args: str, columns: int | None = 100) -> subprocess.CompletedProcess[str]:
    """`touchpoints ARGS` with its output piped; `COLUMNS` as given (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TOUCHPOINTS_LANG")}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    proc = subprocess.run(
        [sys.executable, "-c", "from touchpoints.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from touchpoints.demo import generate

    base = tmp_path_factory.mktemp("kpis_table")
    generate(customers=400, seed=7, out=base / "events.parquet")
    db = base / "demo.duckdb"
    with open_store(str(db)) as store:
        ingest_files(store, [base / "events.parquet"])
    return str(db)


def cells_by_label(text: str) -> dict[str, list[str]]:
    """Each table row's cells, by its label (the first cell), over every split table."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip(BORDERS).split("│")]
            rows.setdefault(cells[0], []).extend(cells[1:])
    return rows


def shown(row: dict[str, Any], key: str, lang: str) -> str:
    """A metric as the table must show it, formatted here from the JSON value."""
    if key == "nps" and row["nps_margin"] is not None and row["nps"] is not None:
        return f"{fmt.number(row['nps'], lang)} ±{fmt.number(row['nps_margin'], lang)}"
    return fmt.value(key, row[key], lang)


@pytest.mark.parametrize("lang", ["en", "pt-BR"])
def test_no_number_is_cut_at_100_columns(demo_db: str, lang: str) -> None:
    data = json.loads(cli("kpis", "--by", "touchpoint", "--db", demo_db, "--json").stdout)
    text = cli("kpis", "--by", "touchpoint", "--db", demo_db, "--lang", lang).stdout
    assert max(len(line) for line in text.splitlines()) <= 100
    names = {tp.id: tp.label(lang) for tp in default_catalog().touchpoints}
    table = cells_by_label(text)
    assert len(data["rows"]) >= 10, "a small table proves little"
    checked = 0
    for row in data["rows"]:
        label = f"{names[row['group']]} ({row['group']})"
        assert label in table, f"{label!r} is not one row on one line"
        for key in SHOWN:
            if row[key] is not None:
                assert shown(row, key, lang) in table[label], (label, key, table[label])
                checked += 1
    assert checked > 100


def test_piped_output_honours_columns(demo_db: str) -> None:
    narrow = cli("kpis", "--by", "touchpoint", "--db", demo_db, columns=60).stdout
    assert max(len(line) for line in narrow.splitlines()) <= 60
    assert narrow.count("┏") > 4  # split into more tables, each within 60 columns
    # Without COLUMNS, piped output is not squeezed into a terminal's 80 columns.
    wide = cli("kpis", "--by", "touchpoint", "--db", demo_db, columns=None).stdout
    widths = [len(line) for line in wide.splitlines()]
    assert 100 < max(widths) <= 200


def test_csv_is_the_json_rows_at_full_precision(demo_db: str) -> None:
    data = json.loads(cli("kpis", "--by", "channel", "--db", demo_db, "--json").stdout)
    text = cli("kpis", "--by", "channel", "--db", demo_db, "--format", "csv").stdout
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == ["group", *KPI_KEYS]
    got = list(reader)
    assert len(got) == len(data["rows"])
    for line, row in zip(got, data["rows"], strict=True):
        for key, value in row.items():
            if value is None:
                assert line[key] == "", key
            elif isinstance(value, float):
                assert float(line[key]) == value, key  # every digit, not a rounded copy
            else:
                assert line[key] == str(value), key


def _render(data: dict[str, Any], lang: str, **options: Any) -> str:
    console = Console(width=100, record=True, file=io.StringIO())
    view = View(lang, {"phone": "Phone call centre"}, KpisOptions(**options), None, 100)
    for renderable in render("kpis", "rows", data, view):
        console.print(renderable)
    return console.export_text()


def _row(group: str | None, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"group": group, **dict.fromkeys(KPI_KEYS)}
    row.update(events=1, customers=1, offered=0, answered=0, abandoned=0, conversions=0)
    row.update({"revenue": 0.0, **values})
    return row


BIG = _row(
    "phone",
    events=5_410_019,
    customers=32_036,
    offered=1_234_567,
    abandonment_rate=0.263,
    tme_seconds=95.5,
    tma_seconds=3 * 86400 + 4 * 3600,
    revenue=1234.56,
    nps=29.4,
    nps_margin=2.2,
)


def test_numbers_as_a_brazilian_reader_writes_them() -> None:
    text = _render({"rows": [BIG]}, "pt-BR", by="touchpoint")
    for expected in ("5.410.019", "32.036", "1.234.567", "26,3%", "1 min 36 s", "3 dias 4 h"):
        assert expected in text, expected
    assert "R$\xa01.234,56" in text or "R$ 1.234,56" in text
    assert "29 ±2" in text
    assert "Indicadores — ponto de contato" in text
    assert "TME" in text and "TMA" in text and "ASA" not in text


def test_numbers_as_an_english_reader_writes_them() -> None:
    text = _render({"rows": [BIG]}, "en", by="touchpoint")
    for expected in ("5,410,019", "32,036", "26.3%", "1 min 36 sec", "R$1,234.56"):
        assert expected in text, expected
    assert "Phone call centre (phone)" in text
    assert "ASA" in text and "AHT" in text


@pytest.mark.parametrize(
    ("by", "lang", "label"),
    [
        ("agent", "en", "(no agent)"),
        ("agent", "pt-BR", "(sem agente)"),
        ("segment", "pt-BR", "(sem segmento)"),
        ("channel", "en", "(not in the catalog)"),
    ],
)
def test_a_group_without_a_value_is_named(by: str, lang: str, label: str) -> None:
    text = _render({"rows": [_row("ann"), _row(None)]}, lang, by=by)
    assert label in cells_by_label(text)


def test_the_service_level_note_names_the_threshold() -> None:
    row = _row(None, offered=4, answered=3, abandoned=1, service_level=0.5)
    text = _render({"rows": [row]}, "pt-BR", answer_within=60)
    assert "nível de serviço: parcela dos contatos ofertados atendidos em até 1 min" in text


def help_panels(text: str) -> dict[str, list[str]]:
    """`--help`'s panels in order, each with its commands in order."""
    panels: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("╭─ "):
            current = line.removeprefix("╭─ ").split(" ─")[0].strip()
            panels[current] = []
        elif current and line.startswith("│ ") and line[2] != " ":
            panels[current].append(line[2:].split()[0])
    return panels


def test_help_lists_commands_in_a_deliberate_order() -> None:
    panels = help_panels(cli("--help").stdout)
    assert list(panels) == ["Options", "Data", "Analyses", "Server and dashboard", "Privacy"]
    # Data in, then checked, then described; the example data last.
    assert panels["Data"] == [
        "ingest",
        "source",
        "import",
        "quarantine",
        "identities",
        "catalog",
        "rebuild",
        "demo-data",
    ]
    analyses = panels["Analyses"]
    # the registry's order: a first look at the store, then the KPIs
    assert analyses[:4] == ["summary", "kpis", "heatmap", "events"]
    assert analyses[-1] == "report"
    assert panels["Server and dashboard"][:2] == ["serve", "demo-serve"]
