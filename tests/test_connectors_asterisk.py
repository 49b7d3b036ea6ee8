"""Asterisk queue_log import: hand-computed waits, handle times, abandons and agents for a
small log with requeues, transfers, agent lines, an open call and broken lines; the
`touchpoints import asterisk` command; re-import stores nothing twice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from touchpoints.cli import app
from touchpoints.cli.connectors import import_queue_log
from touchpoints.connectors.asterisk import parse_queue_log
from touchpoints.store import open_store
from touchpoints.store.base import Store

FIXTURE = Path(__file__).parent / "fixtures" / "connectors" / "asterisk_queue_log"
CONTACTS = [
    {
        # ENTERQUEUE 22:16:40, RINGNOANSWER, CONNECT after 45 s, COMPLETEAGENT 45|300
        "event_id": "asterisk:1700000200.11",
        "customer_id": "5511999990000",
        "touchpoint": "phone",
        "ts": "2023-11-14T22:16:40Z",
        "action": "interaction",
        "wait_seconds": 45.0,
        "abandoned": False,
        "handle_seconds": 300.0,
        "agent": "SIP/1002",
    },
    {
        # ABANDON after 90 s waiting
        "event_id": "asterisk:1700000300.13",
        "customer_id": "5511888880000",
        "touchpoint": "phone",
        "ts": "2023-11-14T22:18:20Z",
        "action": "interaction",
        "wait_seconds": 90.0,
        "abandoned": True,
    },
    {
        # timed out of `suporte` after 120 s, entered `retencao`, answered after 30 s more
        "event_id": "asterisk:1700000400.14",
        "customer_id": "5521977770000",
        "touchpoint": "phone",
        "ts": "2023-11-14T22:20:00Z",
        "action": "interaction",
        "wait_seconds": 150.0,
        "abandoned": False,
        "handle_seconds": 180.0,
        "agent": "Agent/2001",
    },
    {
        # answered after 10 s, transferred after 90 s of talk (TRANSFER data3/data4)
        "event_id": "asterisk:1700000600.16",
        "customer_id": "5531966660000",
        "touchpoint": "phone",
        "ts": "2023-11-14T22:23:20Z",
        "action": "interaction",
        "wait_seconds": 10.0,
        "abandoned": False,
        "handle_seconds": 90.0,
        "agent": "SIP/1001",
    },
]
UNMAPPED = [
    (18, "1 fields; a queue_log line has at least 5 (time|callid|queue|agent|event)"),
    (19, "time '17000008x0' is neither unix seconds nor YYYY-MM-DD HH:MM:SS"),
    (21, "ABANDON without a numeric waittime (data3)"),
    (22, "event 'SOMETHINGNEW' is not mapped"),
    (23, "call 1699999000.01 has no ENTERQUEUE with a caller id in this file (rotated log?)"),
]


def test_contacts_are_hand_computed() -> None:
    result = parse_queue_log(FIXTURE.read_text().splitlines())
    events = sorted(result.translation.events, key=lambda e: e["event_id"])
    assert events == CONTACTS
    assert [(u.row, u.reason) for u in result.translation.unmapped] == UNMAPPED
    assert result.open_calls == ["1700000800.18", "1700000805.20"]
    assert result.calls == 5  # four contacts and the orphan ending
    assert result.skipped_lines == 3  # QUEUESTART, ADDMEMBER, REMOVEMEMBER


def test_realtime_dates_use_the_timezone() -> None:
    lines = [
        "2023-11-14 19:16:40|c1|suporte|NONE|ENTERQUEUE||5511999990000|1",
        "2023-11-14 19:17:25.5|c1|suporte|SIP/1002|CONNECT|45|x|3",
        "2023-11-14 19:22:25|c1|suporte|SIP/1002|COMPLETECALLER|45|300|1",
    ]
    (event,) = parse_queue_log(lines, "phone", "America/Sao_Paulo").translation.events
    assert event["ts"] == "2023-11-14T22:16:40Z"


def test_exit_with_key_and_empty_are_abandons() -> None:
    lines = [
        "1700000000|k1|q|NONE|ENTERQUEUE||111|1",
        "1700000020|k1|q|NONE|EXITWITHKEY|5|1|1|20",
        "1700000000|e1|q|NONE|ENTERQUEUE||222|1",
        "1700000007|e1|q|NONE|EXITEMPTY|1|1|7",
    ]
    events = parse_queue_log(lines).translation.events
    assert [(e["customer_id"], e["wait_seconds"], e["abandoned"]) for e in events] == [
        ("111", 20.0, True),
        ("222", 7.0, True),
    ]


def run(*args: str) -> dict:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_import_command_stores_quarantines_and_reimport_dedupes(tmp_path: Path) -> None:
    db = str(tmp_path / "pbx.duckdb")
    log = tmp_path / "queue_log"
    shutil.copy(FIXTURE, log)
    first = run("import", "asterisk", str(log), "--db", db, "--json")
    assert {
        k: first[k]
        for k in (
            "calls",
            "stored",
            "duplicates",
            "rejected",
            "quarantined_lines",
            "skipped_lines",
            "open",
        )
    } == {
        "calls": 5,
        "stored": 4,
        "duplicates": 0,
        "rejected": 0,
        "quarantined_lines": 5,
        "skipped_lines": 3,
        "open": ["1700000800.18", "1700000805.20"],
    }
    assert [(q["row"], q["reason"]) for q in first["quarantine"]] == UNMAPPED
    # The log grows: the open call ends. Re-import: only it is new.
    with log.open("a") as fh:
        fh.write("1700000860|1700000800.18|suporte|NONE|ABANDON|1|1|60\n")
    second = run("import", "asterisk", str(log), "--db", db, "--json")
    assert (second["stored"], second["duplicates"], second["open"]) == (1, 4, ["1700000805.20"])

    with open_store(db) as store:
        assert store.count("events") == 5
        rows = store.query('SELECT source, "row", reason FROM quarantine ORDER BY "row"')
    assert {r["source"] for r in rows} == {str(log)}
    assert [r["row"] for r in rows][:5] == [18, 18, 19, 19, 21]  # quarantined once per import


def test_import_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from touchpoints.cli import main

    db = str(tmp_path / "x.duckdb")
    cases = [
        (
            ["import", "asterisk", str(tmp_path / "nope"), "--db", db],
            f"{tmp_path / 'nope'}: no such file",
        ),
        (
            ["import", "asterisk", str(FIXTURE), "--timezone", "Mars/Olympus", "--db", db],
            "--timezone 'Mars/Olympus': not an IANA zone name (e.g. America/Sao_Paulo)",
        ),
    ]
    for argv, message in cases:
        monkeypatch.setattr("sys.argv", ["touchpoints", *argv])
        with pytest.raises(SystemExit) as stop:
            main()
        assert stop.value.code == 2
        assert message in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("touchpoint", ["sales_rep"])
def test_other_touchpoint(tmp_path: Path, touchpoint: str) -> None:
    db = str(tmp_path / "pbx.duckdb")
    out = run("import", "asterisk", str(FIXTURE), "--touchpoint", touchpoint, "--db", db, "--json")
    assert out["stored"] == 4


def test_import_on_every_engine(store: Store, tmp_path: Path) -> None:
    """The importer only uses ingest_records and quarantine_raw: same result on
    DuckDB and PostgreSQL, and a second import is all duplicates."""
    first = import_queue_log(store, FIXTURE, "phone", "UTC")
    second = import_queue_log(store, FIXTURE, "phone", "UTC")
    assert (first["stored"], second["stored"], second["duplicates"]) == (4, 0, 4)
    rows = store.query(
        "SELECT event_id, wait_seconds, handle_seconds, abandoned, agent FROM events ORDER BY event_id"
    )
    assert rows == [
        {
            "event_id": c["event_id"],
            "wait_seconds": c["wait_seconds"],
            "handle_seconds": c.get("handle_seconds"),
            "abandoned": c["abandoned"],
            "agent": c.get("agent"),
        }
        for c in CONTACTS
    ]
    assert store.count("quarantine") == 2 * len(UNMAPPED)
