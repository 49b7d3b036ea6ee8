"""The shortest path through the product: a file in, KPIs out, on every engine."""

from conftest import run
from touchpoints.ingest import ingest_files
from touchpoints.store.base import Store


def test_ingest_and_kpis_round_trip(store: Store, csv_file) -> None:
    path = csv_file(
        [
            {
                "event_id": "a",
                "customer_id": "c1",
                "touchpoint": "phone",
                "ts": "2026-01-01T10:00:00Z",
                "abandoned": "false",
                "wait_seconds": 10,
                "handle_seconds": 100,
            },
            {
                "event_id": "b",
                "customer_id": "c1",
                "touchpoint": "store",
                "ts": "2026-01-01T10:30:00Z",
                "action": "purchase",
                "value": 200,
            },
        ]
    )
    result = ingest_files(store, [path])
    assert (result.ingested, result.duplicates, result.rejected) == (2, 0, 0)
    rows = {r["group"]: r for r in run(store, "kpis", by="phase")["rows"]}
    assert rows["during"]["events"] == 2
    assert rows["during"]["tme_seconds"] == 10.0
    assert rows["during"]["service_level"] == 1.0
    assert rows["during"]["revenue"] == 200.0
