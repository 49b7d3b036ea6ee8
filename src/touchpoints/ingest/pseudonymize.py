"""Pseudonymous customer ids (LGPD/GDPR): `'p:' + sha256(key + ':' + customer_id)`.

Pseudonymisation happens while a file or a batch is staged (`pseudonymize_sql` wraps the
typed `customer_id` of the staging SELECT), so the raw id never reaches the `events` table
and the derived `event_id` hashes the pseudonymised row. `pseudonymize` computes the same
value in Python (the fast path of records, and an operator exporting or erasing a customer
by the id the customer gives).

The key is always an explicit argument: each caller passes the one its settings hold, so
two stores in one process (a server and a test, two tenants) never share a key by accident.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from touchpoints.core.errors import UsageError

if TYPE_CHECKING:
    from pydantic import SecretStr

PREFIX = "p:"
# A value already in this shape is left alone, so re-ingesting pseudonymised rows (a
# survey answer copies the rated event's customer_id) does not hash twice.
PSEUDONYM_PATTERN = r"p:[0-9a-f]{64}"
_PSEUDONYM = re.compile(PSEUDONYM_PATTERN)
# The staging SELECT names the key with this marker; the key is bound to it, never written
# into SQL text, so no error message or query log can show it.
KEY_PARAM = "pseudonymize_key"


def key_text(value: SecretStr | str | None) -> str | None:
    """The key as text, or None when pseudonymisation is off (no key, or an empty one):
    what callers pass as `key=` from their settings' `pseudonymize_key`."""
    if value is None:
        return None
    text = value if isinstance(value, str) else value.get_secret_value()
    return text or None


def is_pseudonym(customer_id: str) -> bool:
    return bool(_PSEUDONYM.fullmatch(customer_id))


def pseudonymize(customer_id: str, key: str) -> str:
    """`'p:' + sha256(key + ':' + customer_id)` in hex, as ingestion stores it."""
    secret = key_text(key)
    if secret is None:
        raise UsageError("pseudonymisation needs a non-empty key")
    value = customer_id.strip()
    if is_pseudonym(value):
        return value
    return PREFIX + hashlib.sha256(f"{secret}:{value}".encode()).hexdigest()


def pseudonymize_sql(expr: str) -> str:
    """The typed `customer_id` expression of the staging SELECT, pseudonymised with the key
    bound to `$pseudonymize_key` (see `KEY_PARAM`). Same value as `pseudonymize`."""
    return (
        f"(CASE WHEN {expr} IS NULL OR regexp_full_match({expr}, '{PSEUDONYM_PATTERN}') "
        f"THEN {expr} ELSE '{PREFIX}' || sha256(${KEY_PARAM} || ':' || {expr}) END)"
    )


def stored_ids(customer_id: str, key: str | None = None) -> list[str]:
    """Every value under which this customer may be stored: the id as given and, with a
    key, its pseudonym (rows ingested before the key was set keep the raw id)."""
    value = customer_id.strip()
    if not value:
        raise UsageError("give a customer id")
    ids = [value]
    secret = key_text(key)
    if secret is not None and not is_pseudonym(value):
        ids.append(pseudonymize(value, secret))
    return ids
