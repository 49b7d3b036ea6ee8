"""Privacy: pseudonymised ingestion (files and records), export and erase by the original
id, an audit row without the id, and comment retention — on DuckDB and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from touchpoints.core.errors import UsageError
from touchpoints.ingest import ingest_files, ingest_records, privacy, quarantine_raw
from touchpoints.ingest.pseudonymize import pseudonymize
from touchpoints.store import open_store
from touchpoints.store.base import Store

KEY = "k'ey with quote"


@pytest.fixture
def pseudonymized() -> str:
    """The key ingestion, export and erase are given (explicitly: there is no global)."""
    return KEY


def test_pseudonymize_is_keyed_sha256_and_idempotent() -> None:
    expected = "p:" + hashlib.sha256(f"{KEY}:ana@example.com".encode()).hexdigest()
    assert pseudonymize(" ana@example.com ", KEY) == expected
    assert pseudonymize(expected, KEY) == expected
    assert pseudonymize("ana@example.com", "other") != expected
    with pytest.raises(UsageError, match="non-empty key"):
        pseudonymize("ana", "")


def test_pseudonymised_ingest_of_files_and_records(
    store: Store, pseudonymized: str, csv_file: Callable[..., Path]
) -> None:
    path = csv_file(
        [
            {"customer_id": "ana", "touchpoint": "website", "ts": "2026-01-01T10:00:00Z"},
            {"customer_id": "bia", "touchpoint": "phone", "ts": "2026-01-01T11:00:00Z"},
        ]
    )
    assert ingest_files(store, [path], key=pseudonymized).ingested == 2
    # idempotent on the pseudonymised row
    assert ingest_files(store, [path], key=pseudonymized).duplicates == 2
    result = ingest_records(
        store,
        [{"customer_id": "ana", "touchpoint": "store", "ts": "2026-01-02T10:00:00Z"}],
        "api",
        key=pseudonymized,
    )
    assert result.stored == 1
    ids = {r["customer_id"] for r in store.query("SELECT customer_id FROM events")}
    assert ids == {pseudonymize("ana", KEY), pseudonymize("bia", KEY)}
    # A pseudonym coming back (a survey answer copies it) is not hashed again.
    again = ingest_records(
        store,
        [
            {
                "customer_id": pseudonymize("ana", KEY),
                "touchpoint": "store",
                "ts": "2026-01-03T10:00:00Z",
            }
        ],
        "api",
        key=pseudonymized,
    )
    assert again.stored == 1
    assert store.query("SELECT count(DISTINCT customer_id) AS n FROM events")[0]["n"] == 2


def test_without_key_ids_are_stored_as_given(store: Store) -> None:
    ingest_records(
        store,
        [{"customer_id": "ana", "touchpoint": "store", "ts": "2026-01-02T10:00:00Z"}],
        "api",
        key=None,
    )
    assert store.query("SELECT customer_id FROM events") == [{"customer_id": "ana"}]


def _seed(store: Store, key: str | None = None) -> None:
    records = [
        {
            "event_id": "a1",
            "customer_id": "ana",
            "touchpoint": "phone",
            "ts": "2026-01-01T10:00:00Z",
        },
        {
            "event_id": "a2",
            "customer_id": "ana",
            "touchpoint": "phone",
            "ts": "2026-01-01T12:00:00Z",
            "action": "feedback",
            "ref_event_id": "a1",
            "nps": 3,
            "comment": "Demorou demais",
        },
        {
            "event_id": "b1",
            "customer_id": "ana2",
            "touchpoint": "store",
            "ts": "2026-01-01T10:00:00Z",
        },
        # Rejected (unknown touchpoint): quarantined with the raw id.
        {"customer_id": "ana", "touchpoint": "nowhere", "ts": "2026-01-01T10:00:00Z"},
    ]
    result = ingest_records(store, records, "api", key=key)
    assert [i["status"] for i in result.items] == ["stored", "stored", "stored", "rejected"]
    if store.has_table("survey_tokens"):  # not on Spark: survey links are operational state
        store.execute("INSERT INTO survey_tokens VALUES ($token, 'a1', NULL)", {"token": "tok1"})
    quarantine_raw(store, "whatsapp:x", 1, None, "unmapped", json.dumps({"from": "ana2"}))


def test_export_and_erase_by_original_id(store: Store, pseudonymized: str) -> None:
    _seed(store, pseudonymized)
    data = privacy.export_customer(store, "ana", pseudonymized)
    assert data["customer_id"] == "ana"
    assert data["stored_as"] == [pseudonymize("ana", KEY)]
    assert [e["event_id"] for e in data["events"]] == ["a1", "a2"]
    assert data["events"][1]["comment"] == "Demorou demais"
    tokens = 1 if store.has_table("survey_tokens") else 0
    assert data["counts"] == {
        "events": 1,
        "feedback": 1,
        "comments": 1,
        "survey_tokens": tokens,
        "quarantine": 1,
        "connector_state": 0,
        "identities": 0,  # no aliases linked (tests/test_identities.py)
        "attendant_conversations": 0,  # no attendant (tests/test_security.py has one)
        "attendant_messages": 0,
    }
    assert [t["token_id"] for t in data["survey_tokens"]] == ["tok1"][:tokens]
    assert '"nowhere"' in data["quarantine"][0]["raw"]
    json.dumps(data)  # JSON-ready

    erased = privacy.erase_customer(store, "ana", pseudonymized)
    assert {k: v for k, v in erased.items() if k != "erasure_id"} == data["counts"]
    assert store.query("SELECT event_id FROM events") == [{"event_id": "b1"}]
    assert not tokens or store.count("survey_tokens") == 0
    # "ana2"'s quarantined payload is not "ana"'s.
    assert [r["source"] for r in store.query("SELECT source FROM quarantine")] == ["whatsapp:x"]
    audit = store.query("SELECT * FROM audit_log")
    assert [a["action"] for a in audit] == ["erase"]
    text = json.dumps(audit, default=str)
    assert "ana" not in text
    assert pseudonymize("ana", KEY)[2:] not in text
    assert json.loads(audit[0]["detail"])["erasure_id"] == erased["erasure_id"]
    assert privacy.export_customer(store, "ana", pseudonymized)["counts"]["events"] == 0


def test_erase_without_pseudonymisation_and_whole_value_matching(store: Store) -> None:
    _seed(store)
    erased = privacy.erase_customer(store, "ana2")
    assert (erased["events"], erased["quarantine"]) == (1, 1)
    assert {r["event_id"] for r in store.query("SELECT event_id FROM events")} == {"a1", "a2"}


def test_erase_is_all_or_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(store)

    def broken(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(privacy, "_audit", broken)
    with pytest.raises(RuntimeError):
        privacy.erase_customer(store, "ana")
    if store.atomic:
        assert store.count() == 3
        assert store.count("quarantine") == 2
        return
    # Spark commits each statement on its own (docs/spark.md): what ran stays done, and
    # running the erase again finishes it.
    monkeypatch.undo()
    privacy.erase_customer(store, "ana")
    assert store.query("SELECT count(*) AS n FROM events WHERE customer_id = 'ana'") == [{"n": 0}]
    assert [a["action"] for a in store.query("SELECT action FROM audit_log")] == ["erase"]


def test_purge_comments_after_retention(store: Store) -> None:
    _seed(store)
    ingest_records(
        store,
        [
            {
                "event_id": "new",
                "customer_id": "c",
                "touchpoint": "phone",
                "ts": "2026-03-01T00:00:00Z",
                "action": "feedback",
                "nps": 10,
                "comment": "ótimo",
            }
        ],
        "api",
    )
    result = privacy.purge_comments(store, 30, now=datetime(2026, 3, 10))
    assert result == {
        "comments": 1,
        "attendant_messages": 0,
        "attendant_conversations": 0,
        "retention_days": 30,
        "before": "2026-02-08T00:00:00",
    }
    rows = store.query("SELECT event_id, comment, nps FROM events WHERE action = 'feedback'")
    assert sorted((r["event_id"], r["comment"], r["nps"]) for r in rows) == [
        ("a2", None, 3),
        ("new", "ótimo", 10),
    ]
    assert [a["action"] for a in store.query("SELECT action FROM audit_log")] == ["purge_comments"]
    assert privacy.purge_comments(store, 30, now=datetime(2026, 3, 10))["comments"] == 0
    with pytest.raises(UsageError, match="no comment retention configured"):
        privacy.purge_comments(store, None)


@pytest.mark.operational
def test_purge_drops_the_attendants_old_text_and_keeps_its_measures(store: Store) -> None:
    """What customers wrote to the 24/7 attendant follows the comment retention: an old
    conversation loses its messages' text, transcript and missed phrases; its intents,
    hand-off and times stay; a recent one keeps everything."""
    from touchpoints.attendant import conversation as conv
    from touchpoints.attendant.bot import Attendant
    from touchpoints.attendant.config import default_config

    bot = Attendant(default_config())

    def say(message_id: str, thread: str, text: str, at: datetime) -> None:
        inbound = conv.Inbound("whatsapp", thread, thread, message_id, at, text=text)
        conv.handle(store, bot, inbound, now=at)

    old = datetime(2026, 1, 5, 13, 0, tzinfo=UTC)
    say("m1", "5531911110000", "preciso de uma coisa sobre o pneu", old)  # missed: asked back
    say("m2", "5531911110000", "aceita pix?", old.replace(minute=1))
    new = datetime(2026, 3, 5, 13, 0, tzinfo=UTC)
    say("m3", "5531922220000", "onde fica a loja?", new)

    result = privacy.purge_comments(store, 30, now=datetime(2026, 3, 10))
    assert result == {
        "comments": 0,
        "attendant_messages": 2,
        "attendant_conversations": 1,
        "retention_days": 30,
        "before": "2026-02-08T00:00:00",
    }
    messages = store.query(
        "SELECT message_id, text, intent, kind FROM attendant_messages ORDER BY message_id"
    )
    assert messages == [
        {"message_id": "m1", "text": None, "intent": None, "kind": "clarify"},
        {"message_id": "m2", "text": None, "intent": "payment", "kind": "answer"},
        {"message_id": "m3", "text": "onde fica a loja?", "intent": "stores", "kind": "answer"},
    ]
    states = {
        r["thread"]: (json.loads(r["state"]), r["misses"], r["version"])
        for r in store.query("SELECT thread, state, misses, version FROM attendant_conversations")
    }
    purged, misses, version = states["5531911110000"]
    assert purged == {"intents": ["payment"], "slots": {}, "transcript": []}
    assert (misses, version) == (1, 3)  # two writes by the bot, one by the purge
    kept = states["5531922220000"][0]
    assert [turn["text"] for turn in kept["transcript"]][:1] == ["onde fica a loja?"]
    audit = store.query("SELECT action, detail FROM audit_log")
    assert [(a["action"], json.loads(a["detail"])) for a in audit] == [("purge_comments", result)]
    # nothing left to drop: the same run again changes nothing and writes no audit row
    again = privacy.purge_comments(store, 30, now=datetime(2026, 3, 10))
    assert (again["attendant_messages"], again["attendant_conversations"]) == (0, 0)
    assert store.count("audit_log") == 1


def test_cli_export_erase_purge(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from touchpoints.cli import app
    from touchpoints.store import open_store

    db = str(tmp_path / "p.duckdb")
    with open_store(db) as s:
        _seed(s)
    runner = CliRunner()
    out = tmp_path / "ana.json"
    res = runner.invoke(app, ["customer", "export", "ana", "--db", db, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["counts"]["events"] == 1
    res = runner.invoke(app, ["customer", "erase", "ana", "--db", db, "--yes", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["feedback"] == 1
    res = runner.invoke(app, ["customer", "erase", "ana", "--db", db], input="n\n")
    assert res.exit_code == 1
    res = runner.invoke(app, ["privacy", "purge", "--days", "0", "--db", db, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["comments"] == 0


def test_server_applies_comment_retention_at_start(tmp_path: Path) -> None:
    """`serve` with TOUCHPOINTS_COMMENT_RETENTION_DAYS drops old comments on start-up (and
    daily); a recent comment stays."""
    import time

    from fastapi.testclient import TestClient

    from touchpoints.core.settings import Settings
    from touchpoints.server.app import create_app

    db = str(tmp_path / "r.duckdb")
    recent = datetime.now(UTC).replace(tzinfo=None).isoformat()
    with open_store(db) as s:
        ingest_records(s,
            [
                {"event_id": "old", "customer_id": "c", "touchpoint": "phone",
                 "ts": "2020-01-01T00:00:00Z", "action": "feedback", "nps": 3, "comment": "ruim"},
                {"event_id": "new", "customer_id": "c", "touchpoint": "phone",
                 "ts": recent, "action": "feedback", "nps": 10, "comment": "ótimo"},
            ],
            "api",
        )  # fmt: skip
    app = create_app(settings=Settings(comment_retention_days=30), target=db)
    service = app.state.service
    with TestClient(app):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rows = service.read(
                lambda st: st.query("SELECT event_id, comment FROM events ORDER BY event_id")
            )
            if rows[1]["comment"] is None:
                break
            time.sleep(0.05)
    assert rows == [{"event_id": "new", "comment": "ótimo"}, {"event_id": "old", "comment": None}]
