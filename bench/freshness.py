"""Benchmark: how far behind a live feed each dashboard page is (issue goal: < 5 s at
1,000 events/s over HTTP on a 10M-event store).

    .venv/bin/python bench/freshness.py [--customers 156000] [--db STORE] [--seconds 120]
        [--rate 1000] [--every 10]

A real `touchpoints serve` (its warmer included) runs on a copy of the store that
`bench/derived.py` leaves in bench/data/ (`--db` another one). Once every page has been
loaded once (the warm-up: a first visit, or answers an earlier server kept) and the
server's warmer has finished its first round (/metrics), four
connections post `--rate` events/s to `POST /v1/events` (bench/live.py's background feed)
for `--seconds`; every `--every` seconds a *marker* is the moment a feed request returned
200 (its events committed). One reader per page loads it about once a second and reads
`data-as-of` on its `<main>`: the moment the oldest result on that page read the data.
A page is fresh for a marker at the first load whose `data-as-of` is at or after it, and
its freshness is the time from the marker to that load's arrival. Markers a page never
caught up with before the end count as the run's remaining time (a lower bound, marked
"≥").

The section between the freshness markers of bench/RESULTS.md is replaced.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from common import DATA, write_section
from live import background
from service import PAGES
from touchpoints.server.loadgen import ServerProcess, percentile

SECRET = "bench-freshness-secret-0123456789abcdef"
USER = "bench.manager"
AS_OF = re.compile(r'data-as-of="([0-9.]+)"')


def prepare(source: Path, tmp: Path) -> tuple[str, str, str, int]:
    """A copy of `source` with a manager and an ingest key: (db, key, cookie, events)."""
    from touchpoints.server.auth import create_key
    from touchpoints.server.users import create_user, session_epoch, sign_session
    from touchpoints.store import open_store

    db = str(tmp / source.name)
    shutil.copy(source, db)
    with open_store(db) as store:
        create_user(store, USER, "bench-password", "admin")
        key = create_key(store, ["ingest"], "bench-freshness")[1]
        epoch = session_epoch(store, USER)
        events = store.count()
    return db, key, sign_session(SECRET.encode(), USER, epoch=epoch), events


async def reader(
    client: httpx.AsyncClient, page: str, stop: asyncio.Event, seen: list[tuple[float, float]]
) -> None:
    """Load `page` about once a second; record (arrival, data-as-of) of every load."""
    while not stop.is_set():
        r = await client.get(page)
        arrived = time.time()
        found = AS_OF.search(r.text)
        if r.status_code == 200 and found:
            seen.append((arrived, float(found.group(1))))
        await asyncio.sleep(max(0.0, 1.0 - (time.time() - arrived)))


async def warmer_done(client: httpx.AsyncClient) -> bool:
    """The server's warmer has finished a round (/metrics)."""
    found = re.search(
        r"^touchpoints_cache_warmer_rounds_total (\d+)", (await client.get("/metrics")).text, re.M
    )
    return bool(found and int(found.group(1)) >= 1)


async def run(port: int, key: str, cookie: str, seconds: float, every: float, rate: int) -> dict:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", cookies={"tp_session": cookie}, timeout=600
    ) as client:
        warm = {}
        for page in PAGES:  # the warm-up: each page computed once before the feed starts
            t = time.perf_counter()
            r = await client.get(page)
            assert r.status_code == 200, (page, r.status_code)
            warm[page] = time.perf_counter() - t
            print(f"  warm-up {page}: {warm[page]:.2f} s", flush=True)
        t = time.perf_counter()
        while not await warmer_done(client):  # its first round: the answers pages show
            await asyncio.sleep(1)
        print(f"  warmer's first round done {time.perf_counter() - t:.0f} s later", flush=True)
        stop, sent = asyncio.Event(), []
        feed = asyncio.create_task(background(port, key, rate, stop, sent))
        seen: dict[str, list[tuple[float, float]]] = {page: [] for page in PAGES}
        readers = [asyncio.create_task(reader(client, p, stop, seen[p])) for p in PAGES]
        started = time.time()
        markers = []
        while time.time() - started < seconds:
            await asyncio.sleep(every)
            before = sum(sent)
            while sum(sent) == before:  # a feed request returned 200 after this moment
                await asyncio.sleep(0.01)
            markers.append(time.time())
        ended = time.time()
        stop.set()
        await feed
        await asyncio.gather(*readers)
    out = {}
    for page in PAGES:
        lags, behind = [], 0
        for mark in markers:
            caught = next((a for a, as_of in seen[page] if as_of >= mark), None)
            if caught is None:
                behind += 1
                lags.append(ended - mark)
            else:
                lags.append(caught - mark)
        out[page] = {
            "warm_up_s": warm[page],
            "median_s": statistics.median(lags),
            "p95_s": percentile(lags, 0.95),
            "never_caught_up": behind,
            "loads": len(seen[page]),
            "newest_as_of": max((as_of for _, as_of in seen[page]), default=0.0) - started,
        }
    return {"pages": out, "markers": len(markers), "events_per_s": sum(sent) / (ended - started)}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--customers", type=int, default=156_000)
    ap.add_argument("--db", default=None)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--every", type=float, default=10.0)
    args = ap.parse_args()
    source = Path(args.db or DATA / f"derived_{args.customers}_facts.duckdb")
    if not source.exists():
        raise SystemExit(f"{source} is missing: run bench/derived.py first")
    os.environ["TOUCHPOINTS_SECRET_KEY"] = SECRET
    with tempfile.TemporaryDirectory(prefix="tp-bench-fresh-") as tmp:
        db, key, cookie, events = prepare(source, Path(tmp))
        server = ServerProcess(db, log=Path(tmp) / "server.log").start(timeout=120)
        try:
            result = asyncio.run(run(server.port, key, cookie, args.seconds, args.every, args.rate))
        finally:
            server.stop()
    load = os.getloadavg()[0]
    for page, r in result["pages"].items():
        print(
            f"{page}: median {r['median_s']:.1f} s, p95 {r['p95_s']:.1f} s, "
            f"never caught up {r['never_caught_up']}/{result['markers']}, {r['loads']} loads, "
            f"newest data-as-of {r['newest_as_of']:.1f} s after the feed started",
            flush=True,
        )
    lines = [
        "## Freshness under a live feed (`bench/freshness.py`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} with {os.cpu_count()} "
        f"cores (load average {load:.1f} at the end); a `touchpoints serve` with its warmer on "
        f"{events:,} demo events (DuckDB, journey facts and KPI roll-up); "
        f"{result['events_per_s']:.0f} events/s posted to `/v1/events` for {args.seconds:.0f} s; "
        f"{result['markers']} markers, one every {args.every:.0f} s. Freshness: from a marker "
        "(a feed request committed) to the first load of the page whose oldest result read "
        "the data at or after it; a page that never caught up with a marker counts the time "
        "left in the run (≥).",
        "",
        "| page | warm-up load | freshness median | freshness p95 | markers never caught |",
        "|---|---:|---:|---:|---:|",
    ]
    for page, r in result["pages"].items():
        ge = "≥ " if r["never_caught_up"] else ""
        lines.append(
            f"| `{page}` | {r['warm_up_s']:.2f} s | {r['median_s']:.1f} s | "
            f"{ge}{r['p95_s']:.1f} s | {r['never_caught_up']} |"
        )
    write_section("freshness", lines)


if __name__ == "__main__":
    main()
