"""HTTP ingestion benchmark: a real `touchpoints serve` (DuckDB) and a load generator in
this process (asyncio keep-alive connections, `touchpoints.server.loadgen`).

    .venv/bin/python bench/http_api.py                 # batched, single-event, 20 kill -9 restarts
    .venv/bin/python bench/http_api.py --only batched --runs 3 --seconds 10

Reports events/s and p50/p99 batch latency for batched posts, posts/s for single-event
posts, and for the crash run: restarts, acknowledged events, acknowledged lost, events
stored twice, batches half-written.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from touchpoints.server.loadgen import (
    Connection,
    ServerProcess,
    answer,
    batch_body,
    create_key,
    percentile,
    stored_ids,
)


async def _load(
    port: int, key: str, clients: int, batch: int, seconds: float, tag: str
) -> tuple[int, list[float]]:
    """`clients` connections post `batch`-event arrays for `seconds`; returns events
    acknowledged as stored and each request's latency."""
    template = batch_body("@@", batch)
    latencies: list[float] = []
    stored = 0
    deadline = time.perf_counter() + seconds

    async def client(c: int) -> None:
        nonlocal stored
        conn = Connection(port, key)
        j = 0
        while time.perf_counter() < deadline:
            body = template.replace(b"@@", f"{tag}-{c}-{j}".encode())
            j += 1
            t = time.perf_counter()
            status, payload = await conn.request("POST", "/v1/events", body)
            latencies.append(time.perf_counter() - t)
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {payload[:200]!r}")
            stored += answer(payload)["stored"]
        await conn.close()

    await asyncio.gather(*(client(c) for c in range(clients)))
    return stored, latencies


def throughput(batch: int, clients: int, seconds: float, runs: int) -> dict[str, float]:
    rates, p50s, p99s, per_cpu = [], [], [], []
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            db = str(Path(tmp) / "bench.duckdb")
            key = create_key(db, ["ingest"])
            server = ServerProcess(db).start()
            try:
                asyncio.run(_load(server.port, key, clients, batch, 1.0, f"warm{run}"))
                t, cpu = time.perf_counter(), server.cpu_seconds()
                stored, lat = asyncio.run(
                    _load(server.port, key, clients, batch, seconds, f"r{run}")
                )
                elapsed = time.perf_counter() - t
                cpu = server.cpu_seconds() - cpu
            finally:
                server.stop()
        rates.append(stored / elapsed)
        per_cpu.append(len(lat) * batch / cpu)
        p50s.append(percentile(lat, 0.5))
        p99s.append(percentile(lat, 0.99))
        print(
            f"  run {run + 1}: batch {batch:>5}, {clients} clients: {stored / elapsed:>9,.0f} "
            f"events/s, {len(lat) / elapsed:>7,.0f} posts/s, p50 {1000 * p50s[-1]:.1f} ms, "
            f"p99 {1000 * p99s[-1]:.1f} ms; server {per_cpu[-1]:,.0f} events per CPU-second, "
            f"load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    return {
        "events_per_s": statistics.median(rates),
        "posts_per_s": statistics.median(rates) / batch,
        "p50_ms": 1000 * statistics.median(p50s),
        "p99_ms": 1000 * statistics.median(p99s),
        "events_per_cpu_s": statistics.median(per_cpu),
    }


async def _crash_clients(
    port: int, key: str, clients: int, batch: int, stop: asyncio.Event, sent: dict, acked: set
) -> None:
    """Post until `stop`; every batch is recorded as sent, and as acknowledged on a 200."""

    async def client(c: int) -> None:
        conn = Connection(port, key)
        j = 0
        while not stop.is_set():
            prefix = f"k{random.getrandbits(40):x}-{c}-{j}"
            j += 1
            sent[prefix] = batch
            try:
                status, _ = await conn.request("POST", "/v1/events", batch_body(prefix, batch))
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
                await conn.close()
                await asyncio.sleep(0.05)  # the server is down: retry a new batch later
                continue
            if status == 200:
                acked.add(prefix)

    await asyncio.gather(*(client(c) for c in range(clients)))


def crash(restarts: int, clients: int = 4, batch: int = 200) -> dict[str, int]:
    """kill -9 the server `restarts` times under load; check what was acknowledged."""
    sent: dict[str, int] = {}
    acked: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "crash.duckdb")
        key = create_key(db, ["ingest"])
        server = ServerProcess(db)

        async def drive() -> None:
            stop = asyncio.Event()
            load = asyncio.create_task(
                _crash_clients(server.port, key, clients, batch, stop, sent, acked)
            )
            for _ in range(restarts):
                await asyncio.to_thread(server.start)
                await asyncio.sleep(random.uniform(0.5, 1.5))
                server.kill()
            stop.set()
            await load

        asyncio.run(drive())
        server.start()
        server.stop()
        counts = stored_ids(db, "k")
    per_batch: dict[str, int] = {}
    for event_id, _ in counts.items():
        prefix = event_id.rsplit("-", 1)[0]
        per_batch[prefix] = per_batch.get(prefix, 0) + 1
    lost = sum(1 for p in acked for i in range(sent[p]) if f"{p}-{i}" not in counts)
    return {
        "restarts": restarts,
        "batches_sent": len(sent),
        "batches_acknowledged": len(acked),
        "acknowledged_events": len(acked) * batch,
        "acknowledged_lost": lost,
        "stored_twice": sum(1 for n in counts.values() if n > 1),
        "half_written_batches": sum(1 for p, n in per_batch.items() if n != sent[p]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("batched", "single", "crash"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--single-clients", type=int, default=64)
    parser.add_argument("--restarts", type=int, default=20)
    args = parser.parse_args()
    if args.only in (None, "batched"):
        print("batched ingestion (goal ≥ 50,000 events/s, p99 < 250 ms)")
        r = throughput(args.batch, args.clients, args.seconds, args.runs)
        print(
            f"batched: {r['events_per_s']:,.0f} events/s, p50 {r['p50_ms']:.1f} ms, "
            f"p99 {r['p99_ms']:.1f} ms, {r['events_per_cpu_s']:,.0f} events per server "
            f"CPU-second (median of {args.runs})"
        )
    if args.only in (None, "single"):
        print("single-event posts (goal ≥ 2,000/s)")
        r = throughput(1, args.single_clients, args.seconds, args.runs)
        print(
            f"single: {r['posts_per_s']:,.0f} posts/s, p50 {r['p50_ms']:.1f} ms, "
            f"p99 {r['p99_ms']:.1f} ms, {r['events_per_cpu_s']:,.0f} posts per server "
            f"CPU-second (median of {args.runs})"
        )
    if args.only in (None, "crash"):
        print(f"crash: {args.restarts} kill -9 restarts under load")
        r2 = crash(args.restarts)
        print(", ".join(f"{k} {v:,}" for k, v in r2.items()))


if __name__ == "__main__":
    main()
