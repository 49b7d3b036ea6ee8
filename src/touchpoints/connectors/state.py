"""Per-conversation connector state in the `connector_state` table (DuckDB and PostgreSQL).

Chatwoot and Twilio report one conversation or call over several webhooks; the state
between them lives in the store, not in process memory, so it survives restarts and is
shared by every worker on PostgreSQL.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from touchpoints.store.base import Store


def load(store: Store, connector: str, key: str) -> dict[str, Any] | None:
    store.refuse_operational(f"the {connector} connector's conversation state")
    rows = store.query(
        "SELECT value FROM connector_state WHERE connector = $connector AND key = $key",
        {"connector": connector, "key": key},
    )
    if not rows:
        return None
    value = json.loads(rows[0]["value"])
    return value if isinstance(value, dict) else None


def save(store: Store, connector: str, key: str, value: dict[str, Any]) -> None:
    """Insert or replace one state row (the same upsert spelling works on both engines)."""
    store.refuse_operational(f"the {connector} connector's conversation state")
    store.execute(
        "INSERT INTO connector_state (connector, key, value, updated_at) "
        "VALUES ($connector, $key, $value, CURRENT_TIMESTAMP) "
        "ON CONFLICT (connector, key) DO UPDATE SET value = excluded.value, "
        "updated_at = excluded.updated_at",
        {
            "connector": connector,
            "key": key,
            "value": json.dumps(value, sort_keys=True, default=str),
        },
    )
