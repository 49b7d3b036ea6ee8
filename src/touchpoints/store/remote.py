"""A DuckDB file held by a running `touchpoints serve`, reached through that server.

DuckDB lets one process open a file for writing. While `serve` (or `demo-serve`) holds a
store, it writes beside the file a small *announcement* — `STORE.server.json`, readable by
its owner only — with the server's local URL and a random local token. `open_store` first
opens the file directly; when DuckDB refuses because another process holds the lock, it
reads the announcement and returns a `RemoteStore`: the same Store adapter, whose SQL,
transactions and staged ingestion run in the server's process on a connection of their
own (`touchpoints.server.local`). Every CLI command and the Python API thus keep working
beside the server, reading and writing, with the answers direct access would give.

Values cross the wire as JSON with a few tagged types (timestamps, dates, decimals, ...),
so a row comes back as the very Python values DuckDB would have returned; staged rows
travel as Arrow IPC streams, in pieces under the server's body size limit. The client is
the standard library's `http.client`, with no proxy: the token never leaves the machine.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import secrets
import stat
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb

from touchpoints.core.errors import StoreError
from touchpoints.core.events import COLUMN_NAMES
from touchpoints.store.base import Staging, Store
from touchpoints.store.duckdb import memory_guard
from touchpoints.store.params import Params, bound

ANNOUNCE_SUFFIX = ".server.json"  # as store.announcement_path_of
TOKEN_HEADER = "x-touchpoints-local-token"
PREFIX = "/internal/local"
# A server that just started may not listen yet: retry a refused connection this long.
CONNECT_SECONDS = 3.0
PING_TIMEOUT = 3.0


# -- the announcement beside the store -------------------------------------------------------
def announcement_path(db_path: str) -> Path:
    return Path(f"{db_path}{ANNOUNCE_SUFFIX}")


def local_url(host: str, port: int) -> str:
    """The URL a process on this machine reaches a server listening on `host`:`port` at."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def announce(db_path: str, url: str) -> dict[str, Any]:
    """Write the announcement for a server now holding `db_path` (mode 0600, replaced
    atomically); returns it, token included, for the server to check requests against."""
    info = {
        "url": url,
        "token": secrets.token_urlsafe(32),
        "pid": os.getpid(),
        "store": os.path.abspath(db_path),
        "started_at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    path = announcement_path(db_path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, json.dumps(info, indent=2).encode() + b"\n")
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return info


def withdraw(db_path: str, token: str) -> None:
    """Remove the announcement at shutdown, unless another server wrote its own since."""
    path = announcement_path(db_path)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("token") == token:
            path.unlink()


def read_announcement(db_path: str) -> dict[str, Any] | None:
    """The announcement beside `db_path`, or None; refused unless it is this user's own
    and nobody else can read it (it holds a credential)."""
    path = announcement_path(db_path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    if st.st_uid != os.getuid() or st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StoreError(
            f"{path} belongs to another user or others can read it: it is not used; "
            "remove it if no server of yours holds the store"
        )
    try:
        info = json.loads(path.read_text())
        if not isinstance(info, dict) or not {"url", "token"} <= info.keys():
            raise ValueError("missing url or token")
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"{path}: unreadable ({exc}); remove it if no server holds the store"
        ) from None
    return info


def held_message(db_path: str, info: dict[str, Any], why: str) -> str:
    pid = info.get("pid", "?")
    return (
        f"the store {db_path!r} is held by a Touchpoints server (PID {pid}, {info.get('url')}, "
        f"started {info.get('started_at', '?')}) that {why}. If that server is hung, stop it "
        f"(`kill {pid}`, or `kill -9 {pid}` if it does not stop); if no such process runs, "
        f"remove {announcement_path(db_path)} and try again"
    )


def forget_if_stale(db_path: str) -> None:
    """Remove an announcement whose server process is gone (the file was opened directly,
    so no server holds it); one of a live process, or of this one, is left alone."""
    with contextlib.suppress(OSError, ValueError, StoreError):
        info = read_announcement(db_path)
        pid = int(info["pid"]) if info else 0
        if pid <= 0 or pid == os.getpid():
            return
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            announcement_path(db_path).unlink()
        except PermissionError:
            return


# -- values on the wire ------------------------------------------------------------------------
def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$ts": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, dtime):
        return {"$time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$td": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} to the server")


_DECODE = {
    "$ts": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$time": dtime.fromisoformat,
    "$td": lambda v: timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "$dec": Decimal,
    "$uuid": uuid.UUID,
    "$bytes": base64.b64decode,
}


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((key, value),) = obj.items()
        decode = _DECODE.get(key)
        if decode is not None:
            return decode(value)
    return obj


def dumps(value: Any) -> bytes:
    """JSON with tagged types: `loads(dumps(x)) == x` for DuckDB's Python values."""
    return json.dumps(value, default=_encode, separators=(",", ":")).encode()


def loads(data: bytes | str) -> Any:
    return json.loads(data, object_hook=_decode)


# -- the client --------------------------------------------------------------------------------
class RemoteStore(Store):
    """The Store adapter over a server that holds the DuckDB file: same SQL (DuckDB's
    dialect, run by DuckDB), same transactions, same staged ingestion."""

    engine = "duckdb"

    def __init__(self, path: str, info: dict[str, Any]) -> None:
        super().__init__(path)
        self.info = info
        self.url = str(info["url"]).rstrip("/")
        parts = urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise StoreError(f"{announcement_path(path)}: not a local http URL: {self.url!r}")
        self._address = (parts.hostname, parts.port)
        self._token = str(info["token"])
        self._stage: duckdb.DuckDBPyConnection | None = None
        self._depth = 0
        self.session = ""
        hello = self._hello()
        self.session = str(hello["session"])
        self.max_body = int(hello["max_body_bytes"])

    def _send(
        self, method: str, path: str, body: bytes = b"", wait: float | None = None
    ) -> tuple[int, bytes]:
        """One request on a connection of its own (a localhost connect costs microseconds,
        and no request is ever sent twice); `wait`: seconds for the answer, None = as long
        as the work takes (an analysis over millions of events)."""
        conn = http.client.HTTPConnection(*self._address, timeout=PING_TIMEOUT)
        try:
            conn.connect()
            conn.sock.settimeout(wait)
            conn.request(
                method,
                PREFIX + path,
                body=body,
                headers={TOKEN_HEADER: self._token, "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def _hello(self) -> dict[str, Any]:
        deadline = time.monotonic() + CONNECT_SECONDS
        while True:
            try:
                status, content = self._send("POST", "/session", wait=PING_TIMEOUT)
                break
            except ConnectionRefusedError:
                if time.monotonic() >= deadline:
                    raise StoreError(
                        held_message(self.target, self.info, "does not answer")
                    ) from None
                time.sleep(0.2)
            except (OSError, http.client.HTTPException):
                raise StoreError(held_message(self.target, self.info, "does not answer")) from None
        if status != 200:
            raise StoreError(
                held_message(self.target, self.info, f"refused this process (HTTP {status})")
            )
        return loads(content)

    def _call(self, op: str, body: Any = None, content: bytes | None = None) -> Any:
        try:
            status, answer = self._send(
                "POST",
                f"/session/{self.session}/{op}",
                dumps(body) if content is None else content,
            )
        except (OSError, http.client.HTTPException) as exc:
            raise StoreError(
                f"the Touchpoints server holding {self.target!r} ({self.url}) stopped "
                f"answering: {type(exc).__name__}"
            ) from None
        if status == 200:
            return loads(answer)
        try:
            detail = loads(answer)
        except ValueError:
            detail = {"detail": answer.decode(errors="replace")}
        kind = str(detail.get("error", ""))
        message = str(detail.get("detail", f"HTTP {status}"))
        error = getattr(duckdb, kind, None)
        if isinstance(error, type) and issubclass(error, duckdb.Error):
            with memory_guard():  # the server ran out: the same one line as in-process
                raise error(message)
        raise StoreError(f"the server holding {self.target!r} answered: {message}")

    def scrub(self, tables: Sequence[str]) -> None:
        """The server holds the file open, so it cannot be swapped now: the server rewrites
        it without the deleted rows when it stops (`Service.close`)."""
        self._call("scrub")

    # -- SQL ---------------------------------------------------------------------------------
    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        result = self._call("query", {"sql": sql, "params": bound(sql, params)})
        names = result["columns"]
        return [dict(zip(names, row, strict=True)) for row in result["rows"]]

    def execute(self, sql: str, params: Params | None = None) -> None:
        self._call("execute", {"sql": sql, "params": bound(sql, params)})

    def _native(self, sql: str) -> None:
        self._call("execute", {"sql": sql, "params": None})

    def in_transaction(self) -> bool:
        return self._depth > 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:  # as DuckDB: an inner block joins the outer transaction
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._call("begin")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            with contextlib.suppress(StoreError):
                self._call("rollback")
            raise
        self._depth = 0
        self._call("commit")

    # -- staging -----------------------------------------------------------------------------
    def staging_connection(self) -> duckdb.DuckDBPyConnection:
        # Files are read and checked here, in memory; the good rows travel to the server.
        if self._stage is None:
            self._stage = duckdb.connect()
            self._stage.execute("SET TimeZone = 'UTC'")
        return self._stage

    def _upload(self, con: duckdb.DuckDBPyConnection, table: str, select: str) -> None:
        """Send a staged table as Arrow IPC streams, each under the server's body limit."""
        import pyarrow as pa

        reader = con.sql(select).to_arrow_reader(65536)
        limit = max(self.max_body // 2, 1 << 16)
        first = True
        pending: list[pa.RecordBatch] = []
        size = 0

        def send(batches: list[pa.RecordBatch]) -> None:
            nonlocal first
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, reader.schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
            mode = "create" if first else "append"
            self._call(f"stage/{table}/{mode}", content=sink.getvalue().to_pybytes())
            first = False

        for batch in reader:
            per_row = max(batch.nbytes // max(batch.num_rows, 1), 1)
            step = max(limit // per_row, 1)
            for start in range(0, batch.num_rows, step):
                part = batch.slice(start, step)
                cost = part.num_rows * per_row
                if size + cost > limit and pending:
                    send(pending)
                    pending, size = [], 0
                pending.append(part)
                size += cost
        if pending or first:
            send(pending)

    def _commit(
        self, con: duckdb.DuckDBPyConnection, staging: Staging, want_ids: bool = False
    ) -> tuple[int, list[str] | None]:
        cols = ", ".join(COLUMN_NAMES)
        self._upload(con, "_good", f"SELECT _row, {cols} FROM _good")
        self._upload(con, "_bad", 'SELECT source, "row", "column", reason, raw FROM _bad')
        result = self._call(
            "commit_staged",
            {
                "source": staging.source,
                "good": staging.good,
                "in_file_duplicates": staging.in_file_duplicates,
                "rejected": staging.rejected,
                "want_ids": want_ids,
                "logged": staging.logged,
            },
        )
        return int(result["stored"]), result["ids"]

    def _replace_catalog(self, yaml_text: str, rows: list[tuple[Any, ...]]) -> None:
        self._call("catalog", {"yaml": yaml_text, "rows": [list(r) for r in rows]})

    def close(self) -> None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            self._send("DELETE", f"/session/{self.session}", wait=PING_TIMEOUT)
        if self._stage is not None:
            self._stage.close()
            self._stage = None
