"""Benchmark: events posted while `/v1` analyses run, on one server.

    .venv/bin/python bench/beside.py [--db STORE] [--seconds 40] [--analysis journeys/gaps]
    .venv/bin/python bench/beside.py --postgres postgresql://postgres@127.0.0.1/test \
        [--customers 156000]

A real `touchpoints serve` on the store (default: the 10M store `bench/scale.py` leaves
in bench/data/; a copy is made, the events posted here stay out of it). With
`--postgres`, a schema of its own is filled with the demo data of `--customers`
customers (156,000: about a million events) and dropped at the end. One client asks
for `/v1/<analysis>` again and again (a BI tool refreshing a report); meanwhile another
posts one event to `/v1/events` every 0.5 s and times each request. Without an analysis
running, the same posts are timed first. Reported: the posts' median and slowest time,
and how many analyses finished.

The section between the beside markers of bench/RESULTS.md is replaced (beside-postgres
with `--postgres`).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from common import DATA, INGEST, demo_file, in_child, write_section
from touchpoints.server.loadgen import ServerProcess, free_port


def post_events(base: str, key: str, seconds: float, tag: str) -> list[float]:
    """One event every 0.5 s for `seconds`: each request's seconds."""
    times = []
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            n += 1
            event = {
                "event_id": f"beside-{tag}-{n}",
                "customer_id": f"beside-{tag}-{n % 50}",
                "touchpoint": "website",
                "ts": "2025-12-30T12:00:00",
            }
            began = time.perf_counter()
            r = client.post("/v1/events", json=[event])
            times.append(time.perf_counter() - began)
            assert r.status_code == 200 and r.json()["stored"] == 1, r.text
            time.sleep(max(0.0, 0.5 - times[-1]))
    return times


def settle(base: str, timeout: float = 1800.0) -> float:
    """Wait for the server's warmer to finish its first round (a store without kept
    answers computes every page's answers after a start), so that "no analysis running"
    holds; its seconds."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        text = httpx.get(f"{base}/metrics", timeout=60).text
        if "touchpoints_cache_warmer_rounds_total 0" not in text:
            return time.monotonic() - began
        time.sleep(2.0)
    raise SystemExit(f"the warmer did not finish a round in {timeout:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--db", default=str(DATA / "scale_1560000_7.duckdb"))
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--analysis", default="journeys/gaps")
    ap.add_argument("--postgres", help="a PostgreSQL URL: serve a new schema there instead")
    ap.add_argument("--customers", type=int, default=156_000, help="with --postgres")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    from touchpoints.server.auth import create_key
    from touchpoints.store import open_store

    DATA.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tp-bench-beside-", dir=DATA) as tmp:
        if args.postgres:
            engine, where = "PostgreSQL", "a new schema holding"
            db = f"{args.postgres}?schema=bench_beside_{os.getpid()}"
            made = in_child(INGEST, db, str(demo_file(args.customers, 11)))
            filled = f", stored in {made['seconds']:.0f} s"
            print(f"  {made['events']:,} events stored in {made['seconds']:.1f} s", flush=True)
        else:
            engine, where, filled = "DuckDB", "a copy of a store of", ""
            db = str(Path(tmp) / "beside.duckdb")
            shutil.copy(args.db, db)
        with open_store(db) as store:
            ingest = create_key(store, ["ingest"], "bench-beside")[1]
            read = create_key(store, ["read"], "bench-beside-read")[1]
            events = store.count()
        server = ServerProcess(db, port=free_port()).start(timeout=600)
        try:
            base = f"http://127.0.0.1:{server.port}"
            settled = settle(base)
            quiet = post_events(base, ingest, min(args.seconds, 10.0), "quiet")
            stop = threading.Event()
            analyses: list[float] = []

            def ask() -> None:
                with httpx.Client(
                    base_url=base, headers={"Authorization": f"Bearer {read}"}, timeout=3600
                ) as client:
                    while not stop.is_set():
                        began = time.perf_counter()
                        r = client.get(f"/v1/{args.analysis}")
                        assert r.status_code == 200, r.text
                        analyses.append(time.perf_counter() - began)

            asker = threading.Thread(target=ask, daemon=True)
            asker.start()
            time.sleep(1.0)
            busy = post_events(base, ingest, args.seconds, "busy")
            stop.set()
            asker.join()
        finally:
            server.stop()
            if args.postgres:
                with open_store(db) as store:
                    store.execute(f"DROP SCHEMA {store.schema} CASCADE")  # type: ignore[attr-defined]
    rows = [("no analysis running", quiet), (f"`/v1/{args.analysis}` asked over and over", busy)]
    lines = [
        "## Events posted while `/v1` analyses run"
        + (
            ", PostgreSQL (`bench/beside.py --postgres`)"
            if args.postgres
            else " (`bench/beside.py`)"
        ),
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} with "
        f"{os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end); a "
        f"`touchpoints serve` on {where} {events:,} events{filled} ({engine}, journey "
        f"facts, KPI roll-up); one event posted every 0.5 s; {len(analyses)} analyses "
        f"answered meanwhile (median {statistics.median(analyses):.2f} s each). The posts "
        f"began once the warmer's first round was over ({settled:.0f} s after the start).",
        "",
        "| while | posts | post median | slowest post |",
        "|---|---:|---:|---:|",
        *(
            f"| {name} | {len(t)} | {statistics.median(t) * 1000:,.0f} ms | "
            f"{max(t) * 1000:,.0f} ms |"
            for name, t in rows
        ),
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("beside-postgres" if args.postgres else "beside", lines)


if __name__ == "__main__":
    main()
