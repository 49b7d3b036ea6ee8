"""A real server process and a light HTTP/1.1 load generator, for bench/http_api.py and the
reliability tests (loopback only).

The client is a few lines of asyncio over keep-alive connections rather than httpx: on a
2-core machine the load generator shares the CPU with the server, and a heavy client
would measure itself instead of the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def touchpoints_command() -> list[str]:
    """The installed `touchpoints` script next to this interpreter, else `-c main()`."""
    script = Path(sys.executable).with_name("touchpoints")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from touchpoints.cli import main; main()"]


def create_key(db: str, scopes: Sequence[str]) -> str:
    """A key made in-process (the server must not be holding the DuckDB file yet)."""
    from touchpoints.server.auth import create_key as make
    from touchpoints.store import open_store

    with open_store(db) as store:
        return make(store, scopes, "loadgen")[1]


class ServerProcess:
    """`touchpoints serve` on a free loopback port; `kill()` is kill -9."""

    def __init__(self, db: str, port: int | None = None, workers: int = 1, log: Path | None = None):
        self.db = db
        self.port = port or free_port()
        self.workers = workers
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        cmd = touchpoints_command() + [
            "serve", "--db", self.db, "--port", str(self.port), "--workers", str(self.workers),
        ]  # fmt: skip
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, stdout=out, stderr=out, env={**os.environ}, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {' '.join(cmd)}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not answer /healthz within {timeout:.0f} s")

    def cpu_seconds(self) -> float:
        """CPU time the server process has used (user + system; Linux /proc): what a
        request costs the server, whatever else the machine is doing."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        """SIGKILL the whole process group (uvicorn workers too): no chance to clean up."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class Connection:
    """One keep-alive HTTP/1.1 connection; `request` returns (status, body)."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.key = key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        content_type: str = "application/json",
    ) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.key}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length) if length else b""
        return status, payload


def batch_body(prefix: str, n: int, start: int = 0) -> bytes:
    """A JSON array of `n` valid events with ids `prefix-start` ... (one request body)."""
    tps = ("website", "whatsapp", "phone", "store", "email")
    return json.dumps(
        [
            {
                "event_id": f"{prefix}-{i}",
                "customer_id": f"c{i % 997}",
                "touchpoint": tps[i % 5],
                "ts": f"2025-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00",
                "agent": f"a{i % 7}",
                "wait_seconds": i % 90,
                "handle_seconds": 120 + i % 300,
                "abandoned": False,
                "resolved": True,
                "csat": 1 + i % 5,
            }
            for i in range(start, start + n)
        ]
    ).encode()


def stored_ids(db: str, prefix: str = "") -> dict[str, int]:
    """event_id -> how many rows hold it (exactly-once means every count is 1)."""
    from touchpoints.store import open_store

    with open_store(db) as store:
        rows = store.query(
            "SELECT event_id, count(*) AS n FROM events WHERE starts_with(event_id, $prefix) "
            "GROUP BY event_id",
            {"prefix": prefix},
        )
    return {r["event_id"]: int(r["n"]) for r in rows}


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def answer(payload: bytes) -> dict[str, Any]:
    return json.loads(payload)  # type: ignore[no-any-return]
