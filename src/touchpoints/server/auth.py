"""API keys with scopes for `/v1/*` (SPEC §6).

A key is 32 random bytes (`secrets.token_urlsafe`) shown once; the store keeps only its
SHA-256 hash in `api_keys`, so a stolen database does not yield usable keys. Scopes are
`ingest`, `read` and `admin`; `admin` implies the other two.

Verified keys are cached in memory for `CACHE_SECONDS` so that a single-event post does
not pay a database round trip. `revoke_key` drops the key from this process's cache at
once; another process (a PostgreSQL worker) notices within `CACHE_SECONDS`, when its
entry expires and the key is looked up again.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from touchpoints.core.errors import UsageError
from touchpoints.store.base import Store

SCOPES = ("ingest", "read", "admin")
CACHE_SECONDS = 3.0
KEY_PREFIX = "tp_"
KEY_ID = re.compile(r"^k_[0-9a-f]{12}$")


@dataclass(frozen=True)
class ApiKey:
    """What a request learns about the key it presented (never the key itself)."""

    id: str
    name: str | None
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _rows(store: Store, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """A SELECT with `$name` markers, as tuples; keys live in DuckDB or PostgreSQL."""
    if store.engine not in ("duckdb", "postgres"):
        raise UsageError(f"API keys need a DuckDB or PostgreSQL store, not {store.engine}")
    return [tuple(r.values()) for r in store.query(sql, params)]


def _audit(store: Store, action: str, detail: str) -> None:
    store.execute(
        "INSERT INTO audit_log VALUES ($at, $action, $detail)",
        {"at": _now(), "action": action, "detail": detail},
    )


def normalise_scopes(scopes: Sequence[str]) -> list[str]:
    """Validated, de-duplicated scopes in canonical order."""
    wanted = {s.strip().lower() for s in scopes if s.strip()}
    if not wanted:
        raise UsageError("give at least one --scope (ingest, read, admin)")
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise UsageError(f"unknown scope {unknown[0]!r}; use ingest, read or admin")
    return [s for s in SCOPES if s in wanted]


def create_key(store: Store, scopes: Sequence[str], name: str | None = None) -> tuple[str, str]:
    """Create a key; returns `(id, key)`. The key is not stored and cannot be shown again."""
    store.refuse_operational("API keys")
    canonical = normalise_scopes(scopes)
    key_id = "k_" + secrets.token_hex(6)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    store.execute(
        "INSERT INTO api_keys (id, name, key_hash, scopes, created_at, revoked_at) "
        "VALUES ($id, $name, $key_hash, $scopes, $created_at, NULL)",
        {
            "id": key_id,
            "name": name,
            "key_hash": hash_key(key),
            "scopes": ",".join(canonical),
            "created_at": _now(),
        },
    )
    _audit(store, "key.create", f"{key_id} scopes={','.join(canonical)}")
    return key_id, key


def list_keys(store: Store) -> list[dict[str, Any]]:
    """Every key without its hash: id, name, scopes, created_at, revoked_at."""
    store.refuse_operational("API keys")
    rows = _rows(
        store,
        "SELECT id, name, scopes, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
    )
    return [
        {
            "id": r[0],
            "name": r[1],
            "scopes": [s for s in (r[2] or "").split(",") if s],
            "created_at": r[3].isoformat() if r[3] else None,
            "revoked_at": r[4].isoformat() if r[4] else None,
        }
        for r in rows
    ]


def revoke_key(store: Store, key_id: str) -> None:
    """Revoke a key; effective at once in this process (its cache entry is dropped)."""
    store.refuse_operational("API keys")
    if not KEY_ID.match(key_id) or not _rows(
        store, "SELECT 1 FROM api_keys WHERE id = $id", {"id": key_id}
    ):
        raise UsageError(f"no API key with id {key_id!r} (see `touchpoints keys list`)")
    store.execute(
        "UPDATE api_keys SET revoked_at = $revoked_at WHERE id = $id AND revoked_at IS NULL",
        {"revoked_at": _now(), "id": key_id},
    )
    _CACHE.forget(key_id)
    _audit(store, "key.revoke", key_id)


def lookup_key(store: Store, key: str) -> ApiKey | None:
    """The active key with this value, or None (unknown or revoked)."""
    store.refuse_operational("API keys")
    rows = _rows(
        store,
        "SELECT id, name, scopes FROM api_keys WHERE key_hash = $key_hash AND revoked_at IS NULL",
        {"key_hash": hash_key(key)},
    )
    if not rows:
        return None
    key_id, name, scopes = rows[0]
    return ApiKey(key_id, name, frozenset(s for s in (scopes or "").split(",") if s))


class _KeyCache:
    """(store target, key hash) -> (ApiKey, expiry). Only verified keys are cached, so an
    unknown key always reaches the store and a new key works at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[ApiKey, float]] = {}

    def get(self, target: str, digest: str) -> ApiKey | None:
        entry = self._entries.get((target, digest))
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, target: str, digest: str, key: ApiKey) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[(target, digest)] = (key, time.monotonic() + CACHE_SECONDS)

    def forget(self, key_id: str) -> None:
        with self._lock:
            for k in [k for k, (v, _) in self._entries.items() if v.id == key_id]:
                del self._entries[k]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_CACHE = _KeyCache()


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, detail=message, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized("missing API key: send the header 'Authorization: Bearer <key>'")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("malformed Authorization header: use 'Bearer <key>'")
    return token


def require_scope(scope: str) -> Callable[[Request], Awaitable[ApiKey]]:
    """A FastAPI dependency: the request's key must exist, be active and hold `scope`.

    Missing, unknown or revoked key → 401 (with `WWW-Authenticate: Bearer`); a key
    without the scope → 403. The route receives the `ApiKey`.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def dependency(request: Request) -> ApiKey:
        token = bearer_token(request)
        service = request.app.state.service
        digest = hash_key(token)
        target = service.store.target
        key = _CACHE.get(target, digest)
        if key is None:
            key = await run_in_threadpool(service.read, lookup_key, token)
            if key is None:
                raise _unauthorized("unknown or revoked API key")
            _CACHE.put(target, digest, key)
        if not key.allows(scope):
            raise HTTPException(403, detail=f"this API key lacks the {scope!r} scope")
        request.state.api_key = key
        return key

    dependency.__name__ = f"require_{scope}"
    return dependency
