"""Privacy (LGPD/GDPR): pseudonymous customer ids, a customer's data export and erasure,
and the retention period of free-text comments.

Pseudonymisation happens while a file or an API batch is staged (`pseudonymize_sql`, called
by ingestion on the typed `customer_id`), so the raw id never reaches the `events` table and
the derived `event_id` hashes the pseudonymised row. `pseudonymize` computes the same value
in Python, which lets an operator export or erase a customer by the id the customer gives.

Export, erase and purge work on DuckDB and PostgreSQL; erase and purge leave an
`audit_log` row that holds counts only, never the customer's id or a hash of it.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from touchpoints.core.errors import UsageError

if TYPE_CHECKING:
    import duckdb
    from pydantic import SecretStr

    from touchpoints.store.base import Store

PREFIX = "p:"
# A value already in this shape is left alone, so re-ingesting pseudonymised rows (a
# survey answer copies the rated event's customer_id) does not hash twice.
PSEUDONYM_PATTERN = r"p:[0-9a-f]{64}"
_PSEUDONYM = re.compile(PSEUDONYM_PATTERN)
# The key travels to DuckDB as a bound parameter into this session variable, never inside
# SQL text, so no error message or query log can show it.
KEY_VARIABLE = "touchpoints_pseudonymize_key"

_UNSET = object()
_key_override: object = _UNSET


# -- pseudonymisation ----------------------------------------------------------------------
def _secret(value: SecretStr | str | None) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else value.get_secret_value()
    return text or None


def set_pseudonymize_key(key: SecretStr | str | None) -> None:
    """Use this key for every ingestion in this process (the server calls it with its
    Settings); without a call the key comes from `TOUCHPOINTS_PSEUDONYMIZE_KEY`."""
    global _key_override
    _key_override = _secret(key)


def reset_pseudonymize_key() -> None:
    """Forget `set_pseudonymize_key`: back to the environment's setting."""
    global _key_override
    _key_override = _UNSET


def pseudonymize_key() -> str | None:
    """The active key, or None when pseudonymisation is off."""
    if _key_override is not _UNSET:
        return _key_override  # type: ignore[return-value]
    from touchpoints.core.settings import get_settings

    return _secret(get_settings().pseudonymize_key)


def is_pseudonym(customer_id: str) -> bool:
    return bool(_PSEUDONYM.fullmatch(customer_id))


def pseudonymize(customer_id: str, key: SecretStr | str) -> str:
    """`'p:' + sha256(key + ':' + customer_id)` in hex, as ingestion stores it."""
    secret = _secret(key)
    if secret is None:
        raise UsageError("pseudonymisation needs a non-empty key")
    value = customer_id.strip()
    if is_pseudonym(value):
        return value
    return PREFIX + hashlib.sha256(f"{secret}:{value}".encode()).hexdigest()


def pseudonymize_sql(con: duckdb.DuckDBPyConnection, expr: str) -> str:
    """The typed `customer_id` expression of the staging SELECT, pseudonymised when a key
    is active (binds the key on `con` first). Same value as `pseudonymize`."""
    key = pseudonymize_key()
    if key is None:
        return expr
    con.execute(f"SET VARIABLE {KEY_VARIABLE} = ?", [key])
    return (
        f"(CASE WHEN {expr} IS NULL OR regexp_full_match({expr}, '{PSEUDONYM_PATTERN}') "
        f"THEN {expr} ELSE '{PREFIX}' || sha256(getvariable('{KEY_VARIABLE}') || ':' || {expr}) END)"
    )


def stored_ids(customer_id: str, key: SecretStr | str | None = None) -> list[str]:
    """Every value under which this customer may be stored: the id as given and, when a
    key is active, its pseudonym (rows ingested before the key was set keep the raw id)."""
    value = customer_id.strip()
    if not value:
        raise UsageError("give a customer id")
    ids = [value]
    secret = _secret(key) if key is not None else pseudonymize_key()
    if secret is not None and not is_pseudonym(value):
        ids.append(pseudonymize(value, secret))
    return ids


# -- engine helpers ------------------------------------------------------------------------
def _check_engine(store: Store) -> None:
    if store.engine not in ("duckdb", "postgres"):
        raise UsageError(f"privacy commands need a DuckDB or PostgreSQL store, not {store.engine}")


def param_rows(store: Store, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """A parameterised SELECT (`?` marks): ids typed by people are never spliced in."""
    return store.query_params(sql, params)


def param_exec(store: Store, sql: str, params: Sequence[Any] = ()) -> None:
    """A parameterised write in the engine's own dialect (`?` as placeholder)."""
    store.execute(sql.replace("?", store.placeholder), list(params))


@contextmanager
def transaction(store: Store) -> Iterator[None]:
    """All or nothing: an erase that fails half-way leaves every row in place."""
    _check_engine(store)
    if store.engine == "postgres":
        with store.conn.transaction():  # type: ignore[attr-defined]
            yield
        return
    con = store.con  # type: ignore[attr-defined]
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _audit(store: Store, action: str, detail: dict[str, Any]) -> None:
    param_exec(
        store,
        "INSERT INTO audit_log VALUES (?, ?, ?)",
        [_now(), action, json.dumps(detail, sort_keys=True)],
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _json_value(v) for k, v in r.items()} for r in rows]


def _in(ids: Sequence[str]) -> str:
    return "(" + ", ".join("?" for _ in ids) + ")"


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
    where = " OR ".join("strpos(raw, ?) > 0" for _ in ids)
    candidates = param_rows(
        store,
        f'SELECT source, "row", "column", reason, raw, quarantined_at FROM quarantine WHERE {where}',
        ids,
    )
    return [r for r in candidates if _mentions(r["raw"], ids)]


# -- export and erase -------------------------------------------------------------------
def export_customer(
    store: Store, customer_id: str, key: SecretStr | str | None = None
) -> dict[str, Any]:
    """Everything held about one customer (LGPD art. 18 / GDPR art. 15): their events
    (feedback answers and comments included), survey links of those events, and
    quarantined records that name them."""
    _check_engine(store)
    ids = stored_ids(customer_id, key)
    events = param_rows(
        store,
        f"SELECT * FROM events WHERE customer_id IN {_in(ids)} ORDER BY ts, seq",
        ids,
    )
    tokens = param_rows(
        store,
        "SELECT t.token_id, t.event_id, t.used_at FROM survey_tokens t WHERE t.event_id IN "
        f"(SELECT event_id FROM events WHERE customer_id IN {_in(ids)}) ORDER BY t.token_id",
        ids,
    )
    quarantine = _quarantine_rows(store, ids)
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
        },
        "events": _plain(events),
        "survey_tokens": _plain(tokens),
        "quarantine": _plain(quarantine),
    }


def erase_customer(
    store: Store, customer_id: str, key: SecretStr | str | None = None
) -> dict[str, Any]:
    """Remove one customer's events, feedback, comments, survey links and quarantined
    records in one transaction (LGPD art. 18 VI / GDPR art. 17).

    The audit row holds the counts and a random `erasure_id` (printed here, to file with
    the request), never the id or a hash of it: a hash of a phone number is easily reversed.
    """
    _check_engine(store)
    ids = stored_ids(customer_id, key)
    mine = f"customer_id IN {_in(ids)}"
    with transaction(store):
        counts = param_rows(
            store,
            "SELECT count(*) FILTER (WHERE action <> 'feedback') AS events, "
            "count(*) FILTER (WHERE action = 'feedback') AS feedback, "
            "count(comment) AS comments FROM events WHERE " + mine,
            ids,
        )[0]
        tokens = param_rows(
            store,
            "SELECT count(*) AS n FROM survey_tokens WHERE event_id IN "
            f"(SELECT event_id FROM events WHERE {mine})",
            ids,
        )[0]["n"]
        param_exec(
            store,
            f"DELETE FROM survey_tokens WHERE event_id IN (SELECT event_id FROM events WHERE {mine})",
            ids,
        )
        param_exec(store, f"DELETE FROM events WHERE {mine}", ids)
        quarantine = _quarantine_rows(store, ids)
        for q in quarantine:
            param_exec(
                store,
                'DELETE FROM quarantine WHERE source = ? AND "row" = ? AND "column" IS NOT '
                "DISTINCT FROM ? AND reason = ? AND raw = ?",
                [q["source"], q["row"], q["column"], q["reason"], q["raw"]],
            )
        result: dict[str, Any] = {
            "erasure_id": "er_" + uuid.uuid4().hex[:16],
            "events": int(counts["events"]),
            "feedback": int(counts["feedback"]),
            "comments": int(counts["comments"]),
            "survey_tokens": int(tokens),
            "quarantine": len(quarantine),
        }
        _audit(store, "erase", result)
    return result


# -- comment retention ---------------------------------------------------------------------
def purge_comments(
    store: Store, retention_days: int | None, now: datetime | None = None
) -> dict[str, Any]:
    """Drop (set to NULL) the free-text `comment` of events older than the retention
    period; the scores and the rest of the row stay, so NPS/CSAT history is unchanged.

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
    due = "comment IS NOT NULL AND ts < ?"
    with transaction(store):
        n = int(
            param_rows(store, f"SELECT count(*) AS n FROM events WHERE {due}", [cutoff])[0]["n"]
        )
        result = {"comments": n, "retention_days": retention_days, "before": cutoff.isoformat()}
        if n:
            param_exec(store, f"UPDATE events SET comment = NULL WHERE {due}", [cutoff])
            _audit(store, "purge_comments", result)
    return result
