"""Live update latency: from `POST /v1/events` to the snapshot an SSE client receives on
`/live/stream`, while other clients post 1,000 events/s of background load (goal < 2 s).

A real `touchpoints serve` runs over a demo store. Background posters send answered
contacts stamped "now" (so every snapshot has them in its window); a marker poster sends one
`queued` chat contact every `--every` seconds, and the latency of a marker is the time from
sending its POST to the first pushed snapshot whose chat queue includes it.

    .venv/bin/python bench/live.py [--customers 5000] [--seconds 20] [--runs 3] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from touchpoints.server.loadgen import Connection, ServerProcess, percentile

SECRET = "bench-live-secret-0123456789abcdef"
USER = "bench.supervisor"


def setup(tmp: Path, customers: int) -> tuple[str, str, int]:
    from touchpoints.demo import generate
    from touchpoints.ingest import ingest_files
    from touchpoints.server.auth import create_key
    from touchpoints.server.users import create_user
    from touchpoints.store import open_store

    events = tmp / "events.parquet"
    generate(customers, 7, events)
    db = str(tmp / "live.duckdb")
    with open_store(db) as store:
        ingest_files(store, [str(events)])
        create_user(store, USER, "bench-password", "supervisor")
        key = create_key(store, ["ingest"], "bench-live")[1]
        return db, key, store.count()


def background_body(prefix: str, start: int, n: int) -> bytes:
    now = datetime.now(UTC).replace(tzinfo=None).isoformat()
    tps = ("website", "whatsapp", "phone", "store", "email")
    return json.dumps(
        [
            {
                "event_id": f"{prefix}-{i}",
                "customer_id": f"bg{i % 5000}",
                "touchpoint": tps[i % 5],
                "ts": now,
                "agent": f"a{i % 9}",
                "wait_seconds": i % 90,
                "handle_seconds": 120 + i % 300,
                "abandoned": i % 17 == 0,
            }
            for i in range(start, start + n)
        ]
    ).encode()


async def sse_reader(port: int, cookie: str, seen: list[tuple[float, int]]) -> None:
    """Record (arrival time, chat waiting) for every pushed snapshot."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            "GET /live/stream?window=10 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Cookie: tp_session={cookie}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    try:
        while line := await reader.readline():
            if not line.startswith(b"data: "):
                continue
            snap = json.loads(line[6:])
            chat = next((r for r in snap["touchpoints"] if r["touchpoint"] == "chat"), None)
            seen.append((time.monotonic(), chat["waiting"] if chat else 0))
    finally:
        writer.close()


async def background(port: int, key: str, rate: int, stop: asyncio.Event, sent: list[int]) -> None:
    """`rate` events/s in batches of 100 over four keep-alive connections."""
    batch, lanes = 100, 4
    interval = batch * lanes / rate

    async def lane(n: int) -> None:
        conn, i = Connection(port, key), 0
        next_at = time.monotonic()
        while not stop.is_set():
            status, _ = await conn.request(
                "POST",
                "/v1/events",
                background_body(f"bg{n}-{os.getpid()}-{time.time_ns()}", i, batch),
            )
            if status == 200:
                sent.append(batch)
            i += batch
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await conn.close()

    await asyncio.gather(*(lane(n) for n in range(lanes)))


async def one_run(
    port: int, key: str, cookie: str, seconds: float, every: float, rate: int
) -> dict[str, Any]:
    seen: list[tuple[float, int]] = []
    sent: list[int] = []
    stop = asyncio.Event()
    reader = asyncio.create_task(sse_reader(port, cookie, seen))
    load = asyncio.create_task(background(port, key, rate, stop, sent))
    while not seen:
        await asyncio.sleep(0.05)
    base = seen[-1][1]
    marker = Connection(port, key)
    posts: list[float] = []
    started = time.monotonic()
    k = 0
    while time.monotonic() - started < seconds:
        k += 1
        now = datetime.now(UTC).replace(tzinfo=None).isoformat()
        body = json.dumps(
            [
                {
                    "customer_id": f"m{time.time_ns()}",
                    "touchpoint": "chat",
                    "ts": now,
                    "action": "queued",
                }
            ]
        ).encode()
        posts.append(time.monotonic())
        status, _ = await marker.request("POST", "/v1/events", body)
        assert status == 200, status
        await asyncio.sleep(every)
    await asyncio.sleep(3)
    elapsed = time.monotonic() - started
    stop.set()
    await load
    reader.cancel()
    await marker.close()
    latencies = []
    for i, at in enumerate(posts, start=1):
        arrival = next((t for t, waiting in seen if t >= at and waiting >= base + i), None)
        if arrival is not None:
            latencies.append(arrival - at)
    return {
        "markers": len(posts),
        "received": len(latencies),
        "median_s": statistics.median(latencies),
        "p95_s": percentile(latencies, 0.95),
        "max_s": max(latencies),
        "background_events_per_s": sum(sent) / elapsed,
        "snapshots_pushed": len(seen),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--every", type=float, default=1.0, help="seconds between markers")
    ap.add_argument("--rate", type=int, default=1000, help="background events per second")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from touchpoints.server.users import session_epoch, sign_session
    from touchpoints.store import open_store

    with tempfile.TemporaryDirectory(prefix="tp-bench-live-") as tmp:
        db, key, stored = setup(Path(tmp), args.customers)
        os.environ["TOUCHPOINTS_SECRET_KEY"] = SECRET
        with open_store(db) as store:
            epoch = session_epoch(store, USER)
        server = ServerProcess(db, log=Path(tmp) / "server.log").start()
        cookie = sign_session(SECRET.encode(), USER, epoch=epoch)
        try:
            runs = [
                asyncio.run(one_run(server.port, key, cookie, args.seconds, args.every, args.rate))
                for _ in range(args.runs)
            ]
        finally:
            server.stop()
    for i, r in enumerate(runs, 1):
        print(
            f"run {i}: markers {r['received']}/{r['markers']}, median {r['median_s']:.3f} s, "
            f"p95 {r['p95_s']:.3f} s, max {r['max_s']:.3f} s, background "
            f"{r['background_events_per_s']:.0f} events/s, {r['snapshots_pushed']} snapshots"
        )
    print(
        json.dumps(
            {
                "bench": "live",
                "store_events": stored,
                "median_of_run_medians_s": statistics.median(r["median_s"] for r in runs),
                "median_of_run_p95_s": statistics.median(r["p95_s"] for r in runs),
                "background_events_per_s": statistics.median(
                    r["background_events_per_s"] for r in runs
                ),
                "goal_s": 2.0,
            }
        )
    )


if __name__ == "__main__":
    main()
