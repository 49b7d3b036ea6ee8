"""Privacy (LGPD/GDPR): a customer's data export and erasure, and the retention period
of free-text comments.

Customers are found by the id they give: with the pseudonymisation `key` the events were
ingested with (see `ingest.pseudonymize`), its pseudonym is looked up too.

Export, erase and purge work on DuckDB, PostgreSQL and Spark (where each table an erase
touches is rewritten: staged, then swapped in); erase and purge leave an `audit_log` row
that holds counts only, never the customer's id or a hash of it. Tables a store does not
hold (a Spark store keeps no survey links or connector state) are skipped.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from touchpoints.core.errors import UsageError
from touchpoints.ingest.identities import forget, merged_ids, rows_of
from touchpoints.ingest.pseudonymize import stored_ids
from touchpoints.store import derived

if TYPE_CHECKING:
    from touchpoints.store.base import Store

# Every table of store/schema.py, by what it may hold about a customer. Export and erase
# cover CUSTOMER_TABLES; docs/privacy.md lists the same split, and a test compares both
# with the schema, so a new table cannot be forgotten.
CUSTOMER_TABLES = (
    "events",
    "quarantine",
    "survey_tokens",
    "connector_state",
    "identities",
    "event_facts",
    "journey_cycles",
    "journey_customers",
    "journey_steps",
    "kpi_facts",
    "agent_facts",
    "agent_comments",
    "attendant_conversations",
    "attendant_messages",
)
OTHER_TABLES = (
    "meta",
    "touchpoints",
    "ingest_log",
    "api_keys",
    "users",
    "audit_log",
    "quarantine_resolved",
    "changes",
    "agent_hours",
    "alert_state",
    "answer_cache",
)


# -- helpers ---------------------------------------------------------------------------------
def _check_engine(store: Store) -> None:
    if store.engine not in ("duckdb", "postgres", "spark"):
        raise UsageError(
            f"privacy commands need a DuckDB, PostgreSQL or Spark store, not {store.engine}"
        )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _audit(store: Store, action: str, detail: dict[str, Any]) -> None:
    store.execute(
        "INSERT INTO audit_log VALUES ($at, $action, $detail)",
        {"at": _now(), "action": action, "detail": json.dumps(detail, sort_keys=True)},
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _json_value(v) for k, v in r.items()} for r in rows]


def _customer(ids: Sequence[str]) -> tuple[str, dict[str, str]]:
    """`customer_id IN ($id0, ...)` and its values: one marker per id the customer may be
    stored under (one or two, see `stored_ids`)."""
    params = {f"id{i}": value for i, value in enumerate(ids)}
    return "customer_id IN (" + ", ".join(f"${name}" for name in params) + ")", params


def _mentions(raw: str | None, ids: Sequence[str]) -> bool:
    """The id appears in `raw` as a whole value: `"c1"` in JSON or `c1` between CSV
    separators, but not inside `c10` or `c1@example.com`."""
    if not raw:
        return False
    edge = r"[\w@.+\-]"
    return any(re.search(rf"(?<!{edge}){re.escape(i)}(?!{edge})", raw) for i in ids)


def _quarantine_rows(store: Store, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Quarantined records whose raw text names the customer (a cheap substring filter in
    SQL, the exact whole-value test in Python)."""
    params = {f"id{i}": value for i, value in enumerate(ids)}
    where = " OR ".join(f"strpos(raw, ${name}) > 0" for name in params)
    candidates = store.query(
        f'SELECT source, "row", "column", reason, raw, quarantined_at FROM quarantine WHERE {where}',
        params,
    )
    return [r for r in candidates if _mentions(r["raw"], ids)]


def _state_rows(store: Store, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Connector state (a Chatwoot conversation between webhooks) naming the customer."""
    if not store.has_table("connector_state"):
        return []
    params = {f"id{i}": value for i, value in enumerate(ids)}
    where = " OR ".join(f"strpos(value, ${name}) > 0" for name in params)
    candidates = store.query(
        f"SELECT connector, key, value, updated_at FROM connector_state WHERE {where}", params
    )
    return [r for r in candidates if _mentions(r["value"], ids)]


def _attendant_rows(
    store: Store, ids: Sequence[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The attendant's conversations with the customer and their messages (the text they
    sent); none where the store has no attendant tables (read-only, older)."""
    if not store.has_table("attendant_conversations"):
        return [], []
    mine, params = _customer(ids)
    conversations = store.query(
        f"SELECT * FROM attendant_conversations WHERE {mine} ORDER BY started_at, conversation_id",
        params,
    )
    messages = store.query(
        "SELECT * FROM attendant_messages WHERE conversation_id IN "
        f"(SELECT conversation_id FROM attendant_conversations WHERE {mine}) "
        "ORDER BY received_at, message_id",
        params,
    )
    return conversations, messages


# -- export and erase -------------------------------------------------------------------
def export_customer(store: Store, customer_id: str, key: str | None = None) -> dict[str, Any]:
    """Everything held about one customer (LGPD art. 18 / GDPR art. 15): their events
    (feedback answers and comments included), survey links of those events, and
    quarantined records that name them. `key`: the pseudonymisation key of ingestion."""
    _check_engine(store)
    ids = merged_ids(store, stored_ids(customer_id, key))
    mine, params = _customer(ids)
    events = store.query(f"SELECT * FROM events WHERE {mine} ORDER BY ts, seq", params)
    tokens = (
        store.query(
            "SELECT t.token_id, t.event_id, t.used_at FROM survey_tokens t WHERE t.event_id IN "
            f"(SELECT event_id FROM events WHERE {mine}) ORDER BY t.token_id",
            params,
        )
        if store.has_table("survey_tokens")
        else []
    )
    quarantine = _quarantine_rows(store, ids)
    states = _state_rows(store, ids)
    identities = rows_of(store, ids)
    conversations, messages = _attendant_rows(store, ids)
    for e in events:
        e.pop("seq", None)
    return {
        "customer_id": customer_id.strip(),
        "stored_as": sorted({e["customer_id"] for e in events}),
        "exported_at": _now().isoformat() + "Z",
        "counts": {
            "events": sum(1 for e in events if e["action"] != "feedback"),
            "feedback": sum(1 for e in events if e["action"] == "feedback"),
            "comments": sum(1 for e in events if e["comment"] is not None),
            "survey_tokens": len(tokens),
            "quarantine": len(quarantine),
            "connector_state": len(states),
            "identities": len(identities),
            "attendant_conversations": len(conversations),
            "attendant_messages": len(messages),
        },
        "events": _plain(events),
        "survey_tokens": _plain(tokens),
        "quarantine": _plain(quarantine),
        "connector_state": [{**s, "value": json.loads(s["value"])} for s in _plain(states)],
        "identities": _plain(identities),
        "attendant_conversations": _plain(conversations),
        "attendant_messages": _plain(messages),
    }


def erase_customer(store: Store, customer_id: str, key: str | None = None) -> dict[str, Any]:
    """Remove one customer's events, feedback, comments, survey links and quarantined
    records in one transaction (LGPD art. 18 VI / GDPR art. 17). `key`: as for export.

    The audit row holds the counts and a random `erasure_id` (printed here, to file with
    the request), never the id or a hash of it: a hash of a phone number is easily reversed.
    """
    _check_engine(store)
    ids = merged_ids(store, stored_ids(customer_id, key))
    mine, params = _customer(ids)
    with store.transaction():
        counts = store.query(
            "SELECT count(*) FILTER (WHERE action <> 'feedback') AS events, "
            "count(*) FILTER (WHERE action = 'feedback') AS feedback, "
            f"count(comment) AS comments FROM events WHERE {mine}",
            params,
        )[0]
        tokens = 0
        if store.has_table("survey_tokens"):
            tokens = store.query(
                "SELECT count(*) AS n FROM survey_tokens WHERE event_id IN "
                f"(SELECT event_id FROM events WHERE {mine})",
                params,
            )[0]["n"]
            store.execute(
                "DELETE FROM survey_tokens WHERE event_id IN "
                f"(SELECT event_id FROM events WHERE {mine})",
                params,
            )
        derived.forget(store, f"SELECT customer_id FROM events WHERE {mine}", params)
        store.execute(f"DELETE FROM events WHERE {mine}", params)
        quarantine = _quarantine_rows(store, ids)
        for q in quarantine:
            store.execute(
                'DELETE FROM quarantine WHERE source = $source AND "row" = $row_number AND '
                '"column" IS NOT DISTINCT FROM $column_name AND reason = $reason AND raw = $raw',
                {
                    "source": q["source"],
                    "row_number": q["row"],
                    "column_name": q["column"],
                    "reason": q["reason"],
                    "raw": q["raw"],
                },
            )
        conversations, messages = _attendant_rows(store, ids)
        if conversations:
            store.execute(
                "DELETE FROM attendant_messages WHERE conversation_id IN "
                f"(SELECT conversation_id FROM attendant_conversations WHERE {mine})",
                params,
            )
            store.execute(f"DELETE FROM attendant_conversations WHERE {mine}", params)
        states = _state_rows(store, ids)
        for st in states:
            store.execute(
                "DELETE FROM connector_state WHERE connector = $connector AND key = $key",
                {"connector": st["connector"], "key": st["key"]},
            )
        result: dict[str, Any] = {
            "erasure_id": "er_" + uuid.uuid4().hex[:16],
            "events": int(counts["events"]),
            "feedback": int(counts["feedback"]),
            "comments": int(counts["comments"]),
            "survey_tokens": int(tokens),
            "quarantine": len(quarantine),
            "connector_state": len(states),
            "identities": forget(store, ids),
            "attendant_conversations": len(conversations),
            "attendant_messages": len(messages),
        }
        _audit(store, "erase", result)
        store.bump_generation()
    store.scrub([t for t in CUSTOMER_TABLES if store.has_table(t)])
    return result


# -- comment retention ---------------------------------------------------------------------
def purge_comments(
    store: Store, retention_days: int | None, now: datetime | None = None, scrub: bool = True
) -> dict[str, Any]:
    """Drop (set to NULL) the free-text `comment` of events older than the retention
    period; the scores and the rest of the row stay, so NPS/CSAT history is unchanged.
    The 24/7 attendant's text goes by the same rule: the `text` customers sent
    (`attendant_messages`, by `received_at`) and each conversation's transcript and missed
    phrases (`attendant_conversations.state`, by the customer's last message); the
    intents, hand-offs, times and CSAT stay, so the attendant's measures are unchanged.

    `scrub`: rewrite the store's files so the dropped text is gone from them too (see
    `Store.scrub`). The server's daily run passes False: a rewrite locks the table (and on
    DuckDB reconnects under the server's readers); `touchpoints privacy purge` does it.

    Idempotent and cheap when nothing is due, so a server can run it daily.
    """
    _check_engine(store)
    if retention_days is None:
        raise UsageError(
            "no comment retention configured: set TOUCHPOINTS_COMMENT_RETENTION_DAYS or pass --days"
        )
    if retention_days < 0:
        raise UsageError(f"--days {retention_days}: use 0 or more days")
    current = now.astimezone(UTC).replace(tzinfo=None) if now and now.tzinfo else now
    cutoff = (current or _now()) - timedelta(days=retention_days)
    due = "comment IS NOT NULL AND ts < $cutoff"
    with store.transaction():
        n = int(
            store.query(f"SELECT count(*) AS n FROM events WHERE {due}", {"cutoff": cutoff})[0]["n"]
        )
        if n:
            store.execute(f"UPDATE events SET comment = NULL WHERE {due}", {"cutoff": cutoff})
            derived.purge_comments(store, cutoff)
        texts, transcripts = _purge_attendant_text(store, cutoff)
        result = {
            "comments": n,
            "attendant_messages": texts,
            "attendant_conversations": transcripts,
            "retention_days": retention_days,
            "before": cutoff.isoformat(),
        }
        if n or texts or transcripts:
            derived.forget_answers(store)  # kept answers may quote the comments
            _audit(store, "purge_comments", result)
            store.bump_generation()
    touched = [
        table
        for table, count in (
            ("events", n),
            ("agent_comments", n if store.has_table("agent_comments") else 0),
            ("attendant_messages", texts),
            ("attendant_conversations", transcripts),
        )
        if count
    ]
    if touched and scrub:
        store.scrub(tuple(touched))
    return result


def _purge_attendant_text(store: Store, cutoff: datetime) -> tuple[int, int]:
    """The attendant's text older than `cutoff` dropped: (messages, conversations)."""
    if not store.has_table("attendant_messages"):
        return 0, 0
    due = "text IS NOT NULL AND received_at < $cutoff"
    texts = int(
        store.query(
            f"SELECT count(*) AS n FROM attendant_messages WHERE {due}", {"cutoff": cutoff}
        )[0]["n"]
    )
    if texts:
        store.execute(f"UPDATE attendant_messages SET text = NULL WHERE {due}", {"cutoff": cutoff})
    if not store.has_table("attendant_conversations"):
        return texts, 0
    # A transcript turn always has "who"; the JSON is written with sorted keys and no
    # other free text, so these two patterns find exactly the states that still hold text.
    rows = store.query(
        "SELECT conversation_id, state FROM attendant_conversations "
        "WHERE COALESCE(last_customer_at, started_at) < $cutoff "
        "AND (state LIKE $turn OR state LIKE $missed) ORDER BY conversation_id",
        {"cutoff": cutoff, "turn": '%"who"%', "missed": '%"missed"%'},
    )
    for row in rows:
        state = json.loads(row["state"] or "{}")
        state.pop("missed", None)
        state["transcript"] = []
        # `version` bumped: a worker holding the conversation must re-read it, not write
        # the old transcript back (the attendant's optimistic locking).
        store.execute(
            "UPDATE attendant_conversations SET state = $state, version = version + 1 "
            "WHERE conversation_id = $id",
            {
                "id": row["conversation_id"],
                "state": json.dumps(state, ensure_ascii=False, sort_keys=True),
            },
        )
    return texts, len(rows)
