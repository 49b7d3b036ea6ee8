"""The local door of a server holding a DuckDB file: other processes of the same user on
this machine (the CLI, `touchpoints.open()`) reach the store through it while `serve` runs
(the client is `touchpoints.store.remote.RemoteStore`).

Only the random token written in the store's announcement (mode 0600, see
`store.remote.announce`) opens it: an API key, a session cookie or a remote address never
does, and the routes are not in the OpenAPI document. Each client process gets a
*session*: a DuckDB connection of its own to the server's database, on a thread of its own,
so its transactions are real DuckDB transactions. Writes take the Service lock that the
server's own ingestion takes (a client transaction holds it from BEGIN to COMMIT), so the
order of events (`seq`) and duplicate detection are exactly those of one writer. A session
left idle (its process died) is closed, and its open transaction rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import duckdb
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from touchpoints.server import cache
from touchpoints.server.service import Service
from touchpoints.store import derived
from touchpoints.store.base import Staging
from touchpoints.store.remote import PREFIX, TOKEN_HEADER, dumps, loads

T = TypeVar("T")
log = logging.getLogger("touchpoints.server")

# A session unused this long is closed: sooner while it holds the write lock.
IDLE_SECONDS = 3600.0
IDLE_IN_TRANSACTION_SECONDS = 60.0
REAP_EVERY_SECONDS = 10.0
STAGED_TABLES = ("_good", "_bad")

router = APIRouter(prefix=PREFIX, include_in_schema=False)


class Session:
    """One client process: a DuckDB connection and the one thread that uses it."""

    def __init__(self, service: Service) -> None:
        self.service = service
        base = service.store
        with service.lock:
            store = copy.copy(base)
            store.con = base.con.cursor()  # type: ignore[attr-defined]
        store.con.execute("SET TimeZone = 'UTC'")
        store._catalog = None
        store._in_transaction = False  # type: ignore[attr-defined]
        self.store = store
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="touchpoints-local")
        self.locked = False  # holds service.lock (taken and released on the pool's thread)
        self.busy = 0
        self.last_used = time.monotonic()
        self.closed = False

    def run(self, fn: Callable[[], T]) -> T:
        self.busy += 1
        try:
            return self.pool.submit(fn).result()
        finally:
            self.busy -= 1
            self.last_used = time.monotonic()

    # -- operations, each run on the session's thread ------------------------------------------
    def query(self, sql: str, params: dict[str, Any] | None) -> dict[str, Any]:
        con = self.store.con
        cur = con.execute(sql, params) if params else con.execute(sql)
        return {"columns": [d[0] for d in cur.description], "rows": cur.fetchall()}

    def execute(self, sql: str, params: dict[str, Any] | None) -> None:
        with self._writing():
            con = self.store.con
            con.execute(sql, params) if params else con.execute(sql)

    def begin(self) -> None:
        self.service.lock.acquire()
        try:
            self.store.con.execute("BEGIN TRANSACTION")
        except BaseException:
            self.service.lock.release()
            raise
        self.locked = True
        self.store._in_transaction = True

    def end(self, commit: bool) -> None:
        if not self.locked:
            return
        try:
            self.store.con.execute("COMMIT" if commit else "ROLLBACK")
        finally:
            self.store._in_transaction = False
            self.locked = False
            self.service.version += 1
            self.service.lock.release()

    def stage(self, table: str, mode: str, body: bytes) -> None:
        import pyarrow as pa

        con = self.store.con
        con.register("_upload", pa.ipc.open_stream(body).read_all())
        try:
            if mode == "create":
                con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM _upload")
            else:
                con.execute(f"INSERT INTO {table} SELECT * FROM _upload")
        finally:
            con.unregister("_upload")

    def commit_staged(self, body: dict[str, Any]) -> dict[str, Any]:
        staging = Staging(
            str(body["source"]),
            int(body["good"]),
            int(body["in_file_duplicates"]),
            int(body["rejected"]),
            bool(body.get("logged", True)),
        )
        con = self.store.con
        try:
            with self._writing():
                stored, ids = self.store._commit(con, staging, bool(body["want_ids"]))
        finally:
            for table in STAGED_TABLES:
                con.execute(f"DROP TABLE IF EXISTS {table}")
        return {"stored": stored, "ids": ids}

    def catalog(self, body: dict[str, Any]) -> None:
        rows = [tuple(r) for r in body["rows"]]
        with self._writing():
            self.store._replace_catalog(body["yaml"], rows)
        with self.service.lock:
            self.service.store._catalog = None
            # A roll-up counted with other service-level thresholds is counted again.
            derived.catalog_changed(self.service.store)
        cache.bump(self.service)

    def scrub_later(self) -> None:
        """An erase through this door: the file cannot be rewritten while the server
        holds it open, so the server does it as it stops (`Service.close`)."""
        self.service.scrub_pending = True

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.end(commit=False)
        finally:
            with contextlib.suppress(duckdb.Error):
                self.store.con.close()

    @contextlib.contextmanager
    def _writing(self) -> Any:
        """Inside the client's transaction the lock is already held; alone, a write takes
        it for itself and tells caches the data changed."""
        if self.locked:
            yield
            return
        with self.service.lock:
            yield
            self.service.version += 1


class Door:
    """The token and the open sessions of one app."""

    def __init__(self, service: Service, token: str, max_body_bytes: int) -> None:
        self.service = service
        self.token = token
        self.max_body_bytes = max_body_bytes
        self.sessions: dict[str, Session] = {}
        self.guard = threading.Lock()

    def open(self) -> str:
        session_id = secrets.token_urlsafe(16)
        session = Session(self.service)
        with self.guard:
            self.sessions[session_id] = session
        return session_id

    def get(self, session_id: str) -> Session:
        with self.guard:
            session = self.sessions.get(session_id)
        if session is None:
            raise HTTPException(
                404, "no such session (closed after being idle): open the store again"
            )
        return session

    def drop(self, session_id: str) -> None:
        with self.guard:
            session = self.sessions.pop(session_id, None)
        if session is not None:
            session.run(session.close)
            session.pool.shutdown(wait=False)

    def reap(self) -> None:
        now = time.monotonic()
        with self.guard:
            idle = [
                sid
                for sid, s in self.sessions.items()
                if not s.busy
                and now - s.last_used > (IDLE_IN_TRANSACTION_SECONDS if s.locked else IDLE_SECONDS)
            ]
        for sid in idle:
            log.warning("closing an idle local session (its process is gone or stalled)")
            self.drop(sid)

    def close_all(self) -> None:
        with self.guard:
            ids = list(self.sessions)
        for sid in ids:
            self.drop(sid)


def _local_client(request: Request) -> bool:
    """The caller is on this machine: a loopback address, or the server's own address."""
    client = request.client.host if request.client else ""
    server = request.scope.get("server") or ("", 0)
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return address.is_loopback or client == server[0]


def _door(request: Request) -> Door:
    door: Door | None = getattr(request.app.state, "local_door", None)
    given = request.headers.get(TOKEN_HEADER, "")
    if (
        door is None
        or not given
        or not hmac.compare_digest(given.encode(), door.token.encode())
        or not _local_client(request)
    ):
        raise HTTPException(404, "Not Found")
    return door


def _json(value: Any) -> Response:
    return Response(dumps(value), media_type="application/json")


def _failure(exc: Exception) -> Response:
    """A DuckDB error goes back by its class name, for the client to raise it again."""
    return Response(
        dumps({"error": type(exc).__name__, "detail": str(exc)}),
        status_code=422,
        media_type="application/json",
    )


async def _on_session(
    request: Request, session_id: str, work: Callable[[Session], Any]
) -> Response:
    session = _door(request).get(session_id)
    try:
        return _json(await run_in_threadpool(session.run, lambda: work(session)))
    except duckdb.Error as exc:
        return _failure(exc)


@router.post("/session")
async def open_session(request: Request) -> Response:
    door = _door(request)
    session_id = await run_in_threadpool(door.open)
    return _json({"session": session_id, "max_body_bytes": door.max_body_bytes})


@router.delete("/session/{session_id}")
async def close_session(request: Request, session_id: str) -> Response:
    door = _door(request)
    await run_in_threadpool(door.drop, session_id)
    return _json({"closed": True})


@router.post("/session/{session_id}/{op}")
async def session_op(request: Request, session_id: str, op: str) -> Response:
    _door(request)
    body = loads(await request.body() or b"null")
    ops: dict[str, Callable[[Session], Any]] = {
        "query": lambda s: s.query(body["sql"], body["params"]),
        "execute": lambda s: s.execute(body["sql"], body["params"]),
        "begin": lambda s: s.begin(),
        "commit": lambda s: s.end(commit=True),
        "rollback": lambda s: s.end(commit=False),
        "commit_staged": lambda s: s.commit_staged(body),
        "catalog": lambda s: s.catalog(body),
        "scrub": lambda s: s.scrub_later(),
    }
    work = ops.get(op)
    if work is None:
        raise HTTPException(404, "Not Found")
    return await _on_session(request, session_id, work)


@router.post("/session/{session_id}/stage/{table}/{mode}")
async def stage(request: Request, session_id: str, table: str, mode: str) -> Response:
    _door(request)
    if table not in STAGED_TABLES or mode not in ("create", "append"):
        raise HTTPException(404, "Not Found")
    body = await request.body()
    return await _on_session(request, session_id, lambda s: s.stage(table, mode, body))


def open_door(app: Any, service: Service, url: str) -> Door | None:
    """Announce the server beside its DuckDB file and open the local door; None for a
    store other processes could open themselves (PostgreSQL) or could not see (memory)."""
    from touchpoints.store.duckdb import DuckDBStore
    from touchpoints.store.remote import announce

    store = service.store
    if not isinstance(store, DuckDBStore) or store.target in ("", ":memory:"):
        return None
    info = announce(store.target, url)
    door = Door(service, str(info["token"]), service.settings.max_body_bytes)
    app.state.local_door = door
    return door


def close_door(door: Door) -> None:
    from touchpoints.store.remote import withdraw

    door.close_all()
    withdraw(door.service.store.target, door.token)


async def reap_forever(door: Door) -> None:
    """Close sessions of processes that went away without saying so."""
    while True:
        await asyncio.sleep(REAP_EVERY_SECONDS)
        await run_in_threadpool(door.reap)
