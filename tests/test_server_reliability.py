"""Reliability under load, kill -9 and bad input, against real `touchpoints serve`
processes on loopback (DuckDB; PostgreSQL with several workers) and, for schemathesis,
the app in-process.

Bounded in time: a few seconds of load, three restarts, 25 examples per operation.
bench/http_api.py runs the long versions (20 restarts).
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import _PG_PROBLEM, PG_URL
from touchpoints.server.loadgen import (
    Connection,
    ServerProcess,
    batch_body,
    create_key,
    stored_ids,
)

BATCH = 50


async def _post_batches(
    port: int, key: str, clients: int, batches: int, tag: str, repeat_every: int = 3
) -> dict[str, int]:
    """Each client posts `batches` batches (every `repeat_every`-th one twice, as a client
    retrying after a timeout would); returns acknowledged batch prefix -> events stored
    per the answers."""
    acked: dict[str, int] = {}

    async def client(c: int) -> None:
        conn = Connection(port, key)
        for j in range(batches):
            prefix = f"{tag}-{c}-{j}"
            for _ in range(2 if j % repeat_every == 0 else 1):
                status, payload = await conn.request(
                    "POST", "/v1/events", batch_body(prefix, BATCH)
                )
                assert status == 200, payload[:300]
                answer = json.loads(payload)
                assert answer["stored"] + answer["duplicates"] == BATCH
                acked[prefix] = acked.get(prefix, 0) + answer["stored"]
        await conn.close()

    await asyncio.gather(*(client(c) for c in range(clients)))
    return acked


def _check_exactly_once(counts: dict[str, int], acked: dict[str, int]) -> None:
    assert all(n == 1 for n in counts.values()), "an event was stored twice"
    for prefix, stored in acked.items():
        assert stored == BATCH, f"{prefix}: the answers stored {stored} events, not {BATCH}"
        for i in range(BATCH):
            assert f"{prefix}-{i}" in counts, f"acknowledged event {prefix}-{i} is missing"


def test_concurrent_clients_store_every_acknowledged_event_once(tmp_path: Path) -> None:
    db = str(tmp_path / "load.duckdb")
    key = create_key(db, ["ingest"])
    server = ServerProcess(db, log=tmp_path / "server.log").start()
    try:
        acked = asyncio.run(_post_batches(server.port, key, clients=8, batches=6, tag="L"))
    finally:
        server.stop()
    counts = stored_ids(db, "L-")
    assert len(counts) == 8 * 6 * BATCH
    _check_exactly_once(counts, acked)


def test_kill_9_loses_no_acknowledged_event_and_no_batch_is_half_written(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "crash.duckdb")
    key = create_key(db, ["ingest"])
    server = ServerProcess(db, log=tmp_path / "server.log")
    sent: dict[str, int] = {}
    acked: set[str] = set()

    async def clients(stop: asyncio.Event) -> None:
        async def client(c: int) -> None:
            conn = Connection(server.port, key)
            j = 0
            while not stop.is_set():
                prefix = f"K{uuid.uuid4().hex[:8]}-{c}-{j}"
                j += 1
                sent[prefix] = 200
                try:
                    status, _ = await conn.request("POST", "/v1/events", batch_body(prefix, 200))
                except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                    await conn.close()
                    await asyncio.sleep(0.05)
                    continue
                if status == 200:
                    acked.add(prefix)

        await asyncio.gather(*(client(c) for c in range(4)))

    async def drive() -> None:
        stop = asyncio.Event()
        load = asyncio.create_task(clients(stop))
        for delay in (0.8, 1.2, 1.0):
            await asyncio.to_thread(server.start)
            # Kill while batches flow: after the first acknowledgement of this start (a
            # loaded machine may take seconds to answer one), then `delay` more.
            acked_before, waited = len(acked), 0.0
            while len(acked) == acked_before and waited < 60:
                await asyncio.sleep(0.05)
                waited += 0.05
            await asyncio.sleep(delay)
            server.kill()
        stop.set()
        await load

    asyncio.run(drive())
    server.start()
    server.stop()
    counts = stored_ids(db, "K")
    assert acked, "no batch was acknowledged: the test measured nothing"
    assert all(n == 1 for n in counts.values())
    for prefix in acked:
        assert all(f"{prefix}-{i}" in counts for i in range(200)), prefix
    per_batch: dict[str, int] = {}
    for event_id in counts:
        prefix = event_id.rsplit("-", 1)[0]
        per_batch[prefix] = per_batch.get(prefix, 0) + 1
    half = {p: n for p, n in per_batch.items() if n != sent[p]}
    assert half == {}, f"half-written batches: {half}"


def _raw_request(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def live_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, str]]:
    monkeypatch.setenv("TOUCHPOINTS_MAX_BODY_BYTES", "100000")
    db = str(tmp_path / "bad.duckdb")
    key = create_key(db, ["ingest", "read"])
    server = ServerProcess(db, log=tmp_path / "server.log").start()
    yield server.port, key
    server.stop()


def test_bad_input_over_real_http_gets_4xx_and_the_server_stays_up(
    live_server: tuple[int, str],
) -> None:
    port, key = live_server
    auth = f"Authorization: Bearer {key}\r\n".encode()
    head = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + auth
    cases = [
        # declared too large: refused before the body is read
        (head + b"Content-Type: application/json\r\nContent-Length: 100001\r\n\r\n", 413),
        # chunked with no length, streamed past the limit
        (head + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
         + b"".join(b"%x\r\n%s\r\n" % (20000, b" " * 20000) for _ in range(6)) + b"0\r\n\r\n", 413),
        (head + b"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n[]", 415),
        (head + b"Content-Type: application/json\r\nContent-Length: 8\r\n\r\n[{\"a\":1,", 400),
        (head + b"Content-Type: application/json\r\nContent-Length: 3\r\n\r\n\xff\xfe]", 400),
    ]  # fmt: skip
    for request, status in cases:
        answer = _raw_request(port, request)
        head_line, _, rest = answer.partition(b"\r\n")
        assert head_line.startswith(b"HTTP/1.1 %d" % status), (request[:120], answer[:300])
        headers, _, body = rest.partition(b"\r\n\r\n")
        assert json.loads(body)["detail"], body
        assert b"server:" not in headers.lower()
        assert b"x-content-type-options: nosniff" in headers.lower()
        ok = _raw_request(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200"), "the server went down"


def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    """Every API operation of the OpenAPI schema, 25 generated examples each, with an
    admin key: no 5xx, and status codes, content types and bodies as documented."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    from touchpoints.core.settings import Settings
    from touchpoints.server import api, auth
    from touchpoints.server.app import create_app

    secrets = dict(
        secret_key="k" * 32,
        whatsapp_app_secret="wa-secret",
        whatsapp_verify_token="wa-verify",
        twilio_auth_token="tw-token",
        chatwoot_webhook_secret="cw-secret",
    )
    app = create_app(settings=Settings(**secrets), target=str(tmp_path / "fuzz.duckdb"))
    key = auth.create_key(app.state.service.store, ["admin"])[1]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    # The API, the webhooks (random bodies: unsigned, so refused) and the survey-link route; the survey pages and the dashboard are HTML, tested on their own.
    mine = {route.path for route in api.router.routes} | {
        "/healthz",
        "/metrics",
        "/v1/surveys",
        "/webhooks/whatsapp",
        "/webhooks/chatwoot",
        "/webhooks/twilio",
    }
    operations = [
        op for op in (result.ok() for result in schema.get_all_operations()) if op.path in mine
    ]
    assert {op.path for op in operations} >= {"/v1/events", "/v1/kpis", "/webhooks/twilio"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=checks)

        run()


@pytest.mark.postgres
def test_postgres_workers_store_every_acknowledged_event_once(tmp_path: Path) -> None:
    if _PG_PROBLEM:
        pytest.skip(f"PostgreSQL not reachable: {_PG_PROBLEM}")
    import psycopg

    schema = f"tp_rel_{uuid.uuid4().hex[:12]}"
    url = f"{PG_URL}?schema={schema}"
    key = create_key(url, ["ingest"])
    server = ServerProcess(url, workers=2, log=tmp_path / "server.log").start()
    try:
        acked = asyncio.run(_post_batches(server.port, key, clients=8, batches=4, tag="P"))
        counts = stored_ids(url, "P-")
    finally:
        server.stop()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert len(counts) == 8 * 4 * BATCH
    _check_exactly_once(counts, acked)
