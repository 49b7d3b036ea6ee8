"""The tables of `heatmap` and `feedback comments|first-heard` in both languages: weekdays
named and Monday first, local times, translated sentiment, no number cut at 100 columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cli_tables import assert_fits, cli, table_cells
from touchpoints.ingest import ingest_records
from touchpoints.store import open_store

ROWS: list[dict[str, Any]] = [
    # Monday 2026-01-05, 12:00 UTC = 09:00 in São Paulo: two answered calls, one slow.
    {"event_id": "p1", "customer_id": "c1", "touchpoint": "phone", "ts": "2026-01-05T12:00:00Z",
     "abandoned": False, "wait_seconds": 10},
    {"event_id": "p2", "customer_id": "c2", "touchpoint": "phone", "ts": "2026-01-05T12:10:00Z",
     "abandoned": False, "wait_seconds": 50},
    # Sunday 2026-01-11, 01:30 UTC = Saturday 22:30 in São Paulo: one abandoned chat.
    {"event_id": "c1", "customer_id": "c3", "touchpoint": "chat", "ts": "2026-01-11T01:30:00Z",
     "abandoned": True, "wait_seconds": 90},
    {"event_id": "f1", "customer_id": "c1", "touchpoint": "phone", "ts": "2026-01-05T13:00:00Z",
     "action": "feedback", "nps": 10, "comment": "Atendimento excelente, muito rápido"},
    {"event_id": "f2", "customer_id": "c2", "touchpoint": "phone", "ts": "2026-01-05T14:00:00Z",
     "action": "feedback", "csat": 1, "comment": "Péssimo, fiquei esperando demais"},
]  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "fb.duckdb")
    with open_store(path) as store:
        assert ingest_records(store, ROWS, "test").stored == len(ROWS)
    return path


def test_heatmap_weeks_are_local_and_monday_first(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["heatmap", "--timezone", "America/Sao_Paulo", "--db", db]
    pt = cli([*args, "--lang", "pt-BR"], monkeypatch)
    assert pt.exit_code == 0, pt.output
    assert_fits(pt.stdout)
    assert "Ofertados por hora da semana (America/Sao_Paulo)" in pt.stdout
    cells = table_cells(pt.stdout)
    assert cells[0] == ["hora", "seg.", "ter.", "qua.", "qui.", "sex.", "sáb.", "dom."]
    nine = next(r for r in cells if r[0] == "09:00")
    assert nine[1] == "2" and nine[7] == "0"  # two calls on Monday 09:00 local
    late = next(r for r in cells if r[0] == "22:00")
    assert late[6] == "1"  # the chat: Saturday 22:30 local, not Sunday (UTC)
    assert "100,0%" in pt.stdout  # service level of Monday 09:00: 2 of 2 within the phone's 60 s
    en = cli([*args, "--lang", "en"], monkeypatch)
    assert en.exit_code == 0 and "Offered per hour of the week" in en.stdout
    assert table_cells(en.stdout)[0][1:3] == ["Mon", "Tue"] and "100.0%" in en.stdout


def test_comments_in_local_time_with_their_sentiment(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["feedback", "comments", "--timezone", "America/Sao_Paulo", "--db", db]
    pt = cli([*args, "--lang", "pt-BR"], monkeypatch)
    assert pt.exit_code == 0, pt.output
    assert_fits(pt.stdout)
    text = " ".join(pt.stdout.split())
    assert "05/01/2026 11:00" in text and "05/01/2026 10:00" in text  # 14:00Z, 13:00Z
    assert text.index("05/01/2026 11:00") < text.index("05/01/2026 10:00")  # newest first
    assert "negativo" in text and "positivo" in text and "CSAT 1" in text and "NPS 10" in text
    assert "sentimento médio" in text
    en = cli([*args, "--lang", "en"], monkeypatch)
    assert "1/5/2026 11:00" in en.stdout and "negative" in en.stdout


def test_first_heard_says_when_nobody_answered(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pt = cli(["feedback", "first-heard", "--db", db, "--lang", "pt-BR"], monkeypatch)
    assert pt.exit_code == 0
    assert "nenhuma resposta de pesquisa" in pt.stdout


def test_kpis_note_names_the_catalog_targets(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --answer-within, T comes from each touchpoint's target (SPEC §4): the note
    under the table says so instead of printing a dash."""
    shown = cli(["kpis", "--db", db, "--lang", "pt-BR"], monkeypatch)
    assert "dentro da meta answer_within de cada ponto de contato" in " ".join(shown.stdout.split())
    fixed = cli(["kpis", "--db", db, "--answer-within", "60"], monkeypatch)
    assert "answered within 1 min" in fixed.stdout and "—" not in fixed.stdout.split("\n")[-2]
