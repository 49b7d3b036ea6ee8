"""Read-time analysis of survey answers: where customers say they first heard of us.

Survey answers are stored by `ingest.surveys` as ordinary `feedback` events; this reads
them back. Like `sentiment`, it is an analysis that sits outside `analytics/` for now.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from touchpoints.ingest.surveys import EVENT_PREFIX, FIRST_HEARD_SUFFIX

if TYPE_CHECKING:
    from touchpoints.analytics.base import Scope
    from touchpoints.store.base import Store


def first_heard(store: Store, scope: Scope | None = None) -> dict[str, Any]:
    """Where surveyed customers say they first heard of the company:
    `{"answers": n, "rows": [{"touchpoint", "customers", "share"}]}`, most named first;
    a customer who answered several surveys counts once, with their latest answer."""
    from touchpoints.analytics.base import Scope, scoped_events

    scope = scope or Scope()
    rows = store.query(
        f"""
        WITH heard AS (
          SELECT customer_id, touchpoint,
                 row_number() OVER (PARTITION BY customer_id ORDER BY ts DESC, seq DESC) AS k
          FROM ({scoped_events(scope)}) e
          WHERE action = 'feedback' AND event_id LIKE $first_heard_ids
        )
        SELECT touchpoint, count(*) AS customers FROM heard WHERE k = 1
        GROUP BY touchpoint ORDER BY customers DESC, touchpoint""",
        {"first_heard_ids": f"{EVENT_PREFIX}%{FIRST_HEARD_SUFFIX}"},
    )
    total = sum(int(r["customers"]) for r in rows)
    return {
        "answers": total,
        "rows": [
            {
                "touchpoint": r["touchpoint"],
                "customers": int(r["customers"]),
                "share": round(int(r["customers"]) / total, 4),
            }
            for r in rows
        ],
    }
