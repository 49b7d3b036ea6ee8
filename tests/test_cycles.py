"""Journey cycles (SPEC §3): cut at a purchase (inclusive) or a gap of more than --gap."""

from __future__ import annotations

from touchpoints.analytics.cycles import scoped_steps
from touchpoints.analytics.scope import Scope
from touchpoints.ingest import ingest_files
from touchpoints.store.base import Store


def _steps(store: Store, gap: str = "30d") -> list[tuple[str, int, int, str, int, int]]:
    rows = store.query(
        f"SELECT event_id, cycle_no, step, cycle_id, steps, cycle_converts FROM ({scoped_steps(Scope.build(gap=gap))}) s "
        "ORDER BY customer_id, ts, seq"
    )
    return [
        (
            r["event_id"],
            int(r["cycle_no"]),
            int(r["step"]),
            r["cycle_id"],
            int(r["steps"]),
            int(r["cycle_converts"]),
        )
        for r in rows
    ]


def test_cycles_cut_at_purchase_and_gap(store: Store, csv_file) -> None:
    rows = [
        # c1: website -> phone -> purchase (cycle 1, converts); 40 days later email (cycle 2)
        {
            "event_id": "a1",
            "customer_id": "c1",
            "touchpoint": "website",
            "ts": "2026-01-01T10:00:00Z",
        },
        {
            "event_id": "a2",
            "customer_id": "c1",
            "touchpoint": "phone",
            "ts": "2026-01-02T10:00:00Z",
        },
        {
            "event_id": "a3",
            "customer_id": "c1",
            "touchpoint": "store",
            "ts": "2026-01-03T10:00:00Z",
            "action": "purchase",
        },
        # feedback is not a step and does not open a cycle
        {
            "event_id": "a4",
            "customer_id": "c1",
            "touchpoint": "nps_survey",
            "ts": "2026-01-04T10:00:00Z",
            "action": "feedback",
            "nps": 9,
        },
        {
            "event_id": "a5",
            "customer_id": "c1",
            "touchpoint": "email",
            "ts": "2026-01-05T10:00:00Z",
        },
        # a gap of 31 days (> 30d) opens cycle 3
        {"event_id": "a6", "customer_id": "c1", "touchpoint": "ads", "ts": "2026-02-05T10:00:01Z"},
        # c2: one cycle, ties in ts broken by ingestion order
        {"event_id": "b2", "customer_id": "c2", "touchpoint": "chat", "ts": "2026-01-01T09:00:00Z"},
        {
            "event_id": "b1",
            "customer_id": "c2",
            "touchpoint": "whatsapp",
            "ts": "2026-01-01T09:00:00Z",
        },
    ]
    ingest_files(store, [csv_file(rows)])
    assert _steps(store) == [
        ("a1", 1, 1, "c1#1", 3, 1),
        ("a2", 1, 2, "c1#1", 3, 1),
        ("a3", 1, 3, "c1#1", 3, 1),
        ("a5", 2, 1, "c1#2", 1, 0),
        ("a6", 3, 1, "c1#3", 1, 0),
        ("b2", 1, 1, "c2#1", 2, 0),
        ("b1", 1, 2, "c2#1", 2, 0),
    ]
    # A longer --gap keeps a5 and a6 in one cycle.
    assert [s[3] for s in _steps(store, "40d")][3:5] == ["c1#2", "c1#2"]
