"""One customer across channels (issue 17): an identity map links aliases of one person —
loaded from a file or learned from Chatwoot contacts — applied at ingestion and to stored
events, with pseudonymisation and erasure working on the merged customer. Every engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import run
from touchpoints.connectors import chatwoot
from touchpoints.ingest import ingest_files, ingest_records
from touchpoints.ingest.identities import link, read_groups
from touchpoints.ingest.privacy import erase_customer, export_customer
from touchpoints.store.base import Store

FIXTURES = Path(__file__).parent / "fixtures" / "connectors"


def ev(event_id: str, customer: str, touchpoint: str, ts: str, **kw: Any) -> dict[str, Any]:
    return {"event_id": event_id, "customer_id": customer, "touchpoint": touchpoint,
            "ts": ts, **kw}  # fmt: skip


ROWS = [
    ev("w1", "+5511999990000", "whatsapp", "2026-01-05T10:00:00Z"),
    ev("e1", "ana@example.com", "email", "2026-01-06T10:00:00Z"),
    ev("s1", "ana@example.com", "store", "2026-01-07T10:00:00Z", action="purchase", value=500),
    ev("x1", "bruno@example.com", "website", "2026-01-05T11:00:00Z"),
]


def customers(store: Store) -> int:
    return int(run(store, "kpis")["rows"][0]["customers"])


@pytest.mark.operational
def test_file_links_stored_events_and_later_rows(
    store: Store, csv_file: Callable[..., Path], tmp_path: Path
) -> None:
    ingest_files(store, csv_file(ROWS))
    assert customers(store) == 3
    people = tmp_path / "people.csv"
    people.write_text(
        "customer_id,phone,email\nana@example.com,+5511999990000,ana@example.com\n",
        encoding="utf-8",
    )
    counts = link(store, read_groups(people), "file:people.csv")
    assert counts == {"people": 1, "aliases": 2, "events": 1}
    assert customers(store) == 2
    ids = store.query("SELECT DISTINCT customer_id FROM events ORDER BY 1")
    assert [r["customer_id"] for r in ids] == ["ana@example.com", "bruno@example.com"]
    # Ana's journey is one cycle: WhatsApp, e-mail, then the purchase in the store.
    variants = run(store, "journeys.variants")["variants"]
    assert {"path": ["whatsapp", "email", "store"], "count": 1, "conversions": 1} in variants
    # Applied at ingestion: a file row and an API record under the phone join Ana.
    ingest_files(store, csv_file([ev("w2", "+5511999990000", "whatsapp", "2026-01-08T10:00:00Z")]))
    result = ingest_records(store, [ev("w3", "+5511999990000", "chat", "2026-01-09T10:00:00Z")],
                            "api:1")  # fmt: skip
    assert result.stored == 1
    ana = store.query("SELECT count(*) AS n FROM events WHERE customer_id = 'ana@example.com'")
    assert ana == [{"n": 5}]
    # Re-sending the original rows is duplicates, not conflicts.
    again = ingest_files(store, csv_file(ROWS))
    assert (again.ingested, again.duplicates, again.rejected) == (0, 4, 0)


@pytest.mark.operational
def test_groups_sharing_an_alias_become_one_person(store: Store) -> None:
    ingest_records(store, [ev("a", "p1", "phone", "2026-01-01T10:00:00Z"),
                           ev("b", "m1", "email", "2026-01-02T10:00:00Z"),
                           ev("c", "c9", "chat", "2026-01-03T10:00:00Z")], "api:1")  # fmt: skip
    link(store, [["p1", "m1"]], "test")
    link(store, [["c9", "m1"]], "test")
    assert customers(store) == 1
    aliases = store.query("SELECT alias, customer_id FROM identities ORDER BY alias")
    assert {r["customer_id"] for r in aliases} == {"p1"}
    assert [r["alias"] for r in aliases] == ["c9", "m1", "p1"]


@pytest.mark.operational
def test_pseudonymised_store_and_erasure_of_the_merged_customer(
    store: Store, csv_file: Callable[..., Path]
) -> None:
    key = "s3cret-key"
    ingest_files(store, csv_file(ROWS), key=key)
    assert store.query("SELECT count(*) AS n FROM events WHERE customer_id LIKE '%@%'") == [
        {"n": 0}
    ]
    link(store, [["+5511999990000", "ana@example.com"]], "test", key=key)
    assert customers(store) == 2
    # The map holds pseudonyms only, like the events.
    assert store.query("SELECT count(*) AS n FROM identities WHERE alias LIKE '%@%'") == [{"n": 0}]
    exported = export_customer(store, "+5511999990000", key=key)
    assert exported["counts"]["events"] == 3 and exported["counts"]["identities"] == 2
    erased = erase_customer(store, "+5511999990000", key=key)
    assert (erased["events"], erased["identities"]) == (3, 2)
    assert store.count() == 1 and store.count("identities") == 0


def test_chatwoot_contacts_teach_phone_and_email() -> None:
    payload = json.loads((FIXTURES / "chatwoot_answered.json").read_text(encoding="utf-8"))[0]
    translation, _ = chatwoot.translate(payload, None)
    assert translation.aliases == [
        ["cust-42", "+5511999990000", "ana@example.com", "chatwoot-contact:4"]
    ]
    assert chatwoot.contact_aliases({"phone_number": "+55", "id": None}) == []


@pytest.mark.operational
def test_linking_recuts_the_journey_facts_of_the_merged_person(
    store: Store, csv_file: Callable[..., Path]
) -> None:
    from touchpoints.store import derived

    ingest_files(store, csv_file(ROWS))
    assert store.query(
        "SELECT count(*) AS n FROM journey_cycles WHERE customer_id = '+5511999990000'"
    ) == [{"n": 1}]
    link(store, [["ana@example.com", "+5511999990000"]], "test")
    # The phone's cycle is gone; Ana's one cycle runs WhatsApp, e-mail, store.
    cycles = store.query(
        "SELECT customer_id, steps, converts FROM journey_cycles ORDER BY customer_id"
    )
    assert [(c["customer_id"], c["steps"], c["converts"]) for c in cycles] == [
        ("ana@example.com", 3, 1),
        ("bruno@example.com", 1, 0),
    ]
    assert derived.rebuild(store)["events_changed"] == 0
