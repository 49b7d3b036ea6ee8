"""Conflicts are not duplicates (SPEC §2): an event_id already stored (or repeated in the
same input) with other content is rejected into quarantine with both contents; the same
content sent again stays a duplicate. Files, records (fast and staged paths), every engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from touchpoints.ingest import ingest_files, ingest_records
from touchpoints.store.base import Store


def ev(event_id: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": event_id,
        "customer_id": "c1",
        "touchpoint": "phone",
        "ts": "2026-01-01T10:00:00Z",
    }
    row.update(kw)
    return row


def quarantined(store: Store) -> list[dict[str, Any]]:
    return store.query(
        'SELECT source, "row", "column", reason, raw FROM quarantine ORDER BY source, "row"'
    )


def test_colliding_ids_from_another_tool_are_rejected_with_both_contents(
    store: Store, csv_file: Callable[..., Path]
) -> None:
    chatwoot = csv_file([ev("1040"), ev("1041", customer_id="c2")], name="chatwoot.csv")
    first = ingest_files(store, chatwoot)
    assert (first.ingested, first.duplicates, first.rejected) == (2, 0, 0)
    zendesk = csv_file(
        [ev("1040", customer_id="z9", touchpoint="email"), ev("1041", customer_id="c2"), ev("z1")],
        name="zendesk.csv",
    )
    result = ingest_files(store, zendesk)
    # 1041 is the same content again (a duplicate); 1040 is another ticket (a conflict).
    assert (result.ingested, result.duplicates, result.rejected) == (1, 1, 1)
    assert [(q["row"], q["column"]) for q in result.quarantine] == [(1, "event_id")]
    reason = result.quarantine[0]["reason"]
    assert "already stored with other content" in str(reason)
    assert "customer_id, touchpoint" in str(reason) and "chatwoot.csv" in str(reason)
    (row,) = quarantined(store)
    both = json.loads(row["raw"])
    assert both["incoming"]["customer_id"] == "z9" and both["incoming"]["touchpoint"] == "email"
    assert both["stored"]["customer_id"] == "c1" and both["stored"]["touchpoint"] == "phone"
    # Nothing stored was overwritten.
    stored = store.query("SELECT event_id, customer_id FROM events ORDER BY event_id")
    assert [(r["event_id"], r["customer_id"]) for r in stored] == [
        ("1040", "c1"),
        ("1041", "c2"),
        ("z1", "c1"),
    ]


def test_identical_resend_stays_a_duplicate(store: Store, csv_file: Callable[..., Path]) -> None:
    path = csv_file([ev("a", value=12.5, action="purchase"), ev("b", wait_seconds=3)])
    ingest_files(store, path)
    again = ingest_files(store, path)
    assert (again.ingested, again.duplicates, again.rejected) == (0, 2, 0)
    assert quarantined(store) == []


def test_repeat_within_one_file_with_other_content_is_a_conflict(
    store: Store, csv_file: Callable[..., Path]
) -> None:
    path = csv_file([ev("a"), ev("a"), ev("a", value=3.0), ev("b")])
    result = ingest_files(store, path)
    assert (result.ingested, result.duplicates, result.rejected) == (2, 1, 1)
    assert [(q["row"], q["column"]) for q in result.quarantine] == [(3, "event_id")]
    assert "repeats the event_id of row 1" in str(result.quarantine[0]["reason"])
    assert "differs in value" in str(result.quarantine[0]["reason"])


def test_records_items_say_rejected_for_a_conflict(store: Store) -> None:
    ingest_records(store, [ev("x1"), ev("x2")], source="api:1")
    # Fast path input (every record certainly valid) that collides with the store.
    result = ingest_records(store, [ev("x1", csat=5), ev("x2"), ev("x3")], source="api:2")
    statuses = [(i["index"], i["status"]) for i in result.items]
    assert statuses == [(0, "rejected"), (1, "duplicate"), (2, "stored")]
    assert "already stored with other content" in str(result.items[0]["reason"])
    assert (result.stored, result.duplicates, result.rejected) == (1, 1, 1)
    # A batch conflicting with itself.
    inner = ingest_records(store, [ev("y1"), ev("y1", agent="ana")], source="api:3")
    assert [i["status"] for i in inner.items] == ["stored", "rejected"]
    rows = store.query('SELECT source, "row" FROM quarantine ORDER BY source')
    assert [(r["source"], r["row"]) for r in rows] == [("api:2", 1), ("api:3", 2)]


def test_fast_and_staged_paths_answer_a_conflict_alike(
    make_store: Callable[[], Store], monkeypatch: Any
) -> None:
    """The records fast path looks conflicts up only among its duplicates, after the
    commit; the staged path before it. Same items, same quarantine rows."""

    def answer(store: Store) -> tuple[Any, Any, Any]:
        ingest_records(store, [ev("k1"), ev("k2")], source="api:1")
        result = ingest_records(store, [ev("k1", agent="zoe"), ev("k2"), ev("k3")], "api:2")
        rows = store.query('SELECT source, "row", "column", reason FROM quarantine')
        log = store.query(
            "SELECT source, ingested, duplicates, rejected FROM ingest_log ORDER BY source"
        )
        return result.to_json(), rows, log

    fast = answer(make_store())
    monkeypatch.setattr("touchpoints.ingest.pipeline.check_records", lambda *a, **k: None)
    staged = answer(make_store())
    assert fast == staged
    assert fast[0]["items"][0]["status"] == "rejected"
    # The ingest_log counts the conflict as rejected, not as a duplicate (hand-counted:
    # k3 new, k2 the same again, k1 other content).
    assert fast[2] == [
        {"source": "api:1", "ingested": 2, "duplicates": 0, "rejected": 0},
        {"source": "api:2", "ingested": 1, "duplicates": 1, "rejected": 1},
    ]


def test_fast_path_log_agrees_with_its_answer_when_a_batch_repeats_itself(store: Store) -> None:
    """In-batch repeats of the same content (duplicates) beside a conflict with the store:
    the answer and its ingest_log row count the same, and nothing is logged twice."""
    ingest_records(store, [ev("m1")], source="api:1")
    batch = [ev("m1", csat=2), ev("m2"), ev("m2"), ev("m3")]
    result = ingest_records(store, batch, source="api:2")
    assert [i["status"] for i in result.items] == ["rejected", "stored", "duplicate", "stored"]
    (row,) = store.query(
        "SELECT ingested, duplicates, rejected, ingested_at FROM ingest_log WHERE source = 'api:2'"
    )
    assert (row["ingested"], row["duplicates"], row["rejected"]) == (2, 1, 1)
    assert row["ingested_at"] is not None
    assert store.count("ingest_log") == 2
