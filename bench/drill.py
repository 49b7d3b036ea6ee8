"""Benchmark: the pages behind the numbers — the Events page, one customer's journey and
the team page — each loaded first after a server start, and the whole-list CSV exports.

    .venv/bin/python bench/drill.py [--customers 160000] [--seed 7] [--db STORE]

160,000 customers make about 1M events (1,560,000 about 10M), generated and ingested
once under bench/data/ (`--db`: a store made elsewhere, used as it is). Each page goes
through the in-process ASGI client as a supervisor, on an app built without its lifespan
(so no warmer computes anything ahead), three ways:

- cold: the answers kept in the store (`answer_cache`) emptied, then a new server starts
  and loads the page once: everything the page shows (its analyses and the frame's
  `summary`) is computed in the request. Median of `--repeat` starts.
- kept: a first server loads every page once, keeping every answer it computed; then a
  new server starts per page and loads it once (median of `--repeat` starts).
- warm: the same server loads the page 20 times more: median and p95.

The CSV exports are timed once each, whole (`--no-exports` skips them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import HERE, demo_file, signed_in, store_for, write_section

GOAL = 1.0  # seconds: issue 13's goal for each page at 10M events
USER = "bench-sup"


def pages_for(customer: str) -> list[str]:
    return [
        "/events?metric=abandoned",
        "/events?metric=within-target&channel=messaging",
        "/events?metric=answered&sort=wait_seconds&page=40",
        "/events",
        f"/customers/{customer}",
        "/team",
    ]


def start(db: str) -> tuple[Any, Any]:
    """A new server on `db` with a supervisor signed in (the sign-in is not timed)."""
    return signed_in(db, USER, "supervisor")


def forget_kept(db: str) -> None:
    """Empty `answer_cache`, through a server's own store (DuckDB: one writer process)."""
    from touchpoints.server import cache

    _, service = start(db)
    try:
        service.read(
            lambda store: (
                store.execute(f"DELETE FROM {cache.ANSWERS}")
                if store.has_table(cache.ANSWERS)
                else None
            )
        )
    finally:
        service.close()


def first_load(db: str, page: str) -> float:
    client, service = start(db)
    try:
        t = time.perf_counter()
        r = client.get(page)
        seconds = time.perf_counter() - t
        assert r.status_code == 200, (page, r.status_code, r.text[:300])
    finally:
        service.close()
    return seconds


def bench(
    db: str, customer: str, repeat: int, exports: bool
) -> tuple[list[tuple[str, float, float, float, float]], list[tuple[str, float, int]]]:
    from touchpoints.server import cache

    pages = pages_for(customer)
    keep = cache.KEEP_SECONDS
    cache.KEEP_SECONDS = float("inf")  # cold starts keep nothing for the next one
    cold: dict[str, list[float]] = {p: [] for p in pages}
    for _ in range(repeat):
        for page in pages:
            forget_kept(db)
            cold[page].append(first_load(db, page))
            print(f"  cold {page}: {cold[page][-1]:.2f} s", flush=True)
    cache.KEEP_SECONDS = 0.0  # the first server keeps every answer it computes
    forget_kept(db)
    client, service = start(db)
    for page in pages:
        client.get(page)
    service.close()
    cache.KEEP_SECONDS = keep
    kept: dict[str, list[float]] = {p: [] for p in pages}
    for _ in range(repeat):
        for page in pages:
            kept[page].append(first_load(db, page))
            print(f"  kept {page}: {kept[page][-1]:.2f} s", flush=True)
    client, service = start(db)
    rows = []
    for page in pages:
        client.get(page)
        warm = []
        for _ in range(20):
            t = time.perf_counter()
            client.get(page)
            warm.append(time.perf_counter() - t)
        warm.sort()
        rows.append(
            (
                page,
                statistics.median(cold[page]),
                statistics.median(kept[page]),
                statistics.median(warm),
                warm[18],
            )
        )
        print(f"  warm {page}: p95 {warm[18] * 1000:.1f} ms", flush=True)
    done = []
    urls = (
        "/events.csv?metric=abandoned",
        "/events/contacts.csv?channel=messaging",
        "/events.csv?metric=offered",
    )
    for url in urls if exports else ():
        t = time.perf_counter()
        r = client.get(url)
        seconds = time.perf_counter() - t
        lines = r.text.count("\n") - 1
        done.append((url, seconds, lines))
        print(f"  {url}: {seconds:.2f} s, {lines:,} rows", flush=True)
    service.close()
    return rows, done


def main() -> None:
    warnings.simplefilter("ignore")
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--customers", type=int, default=160_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--db", default=None, help="a store made elsewhere (used as it is)")
    ap.add_argument("--customer", default=None, help="default: the store's first customer")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-exports", action="store_true")
    ap.add_argument("--section", default="drill")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()

    from touchpoints.store import open_store

    if args.db:
        db = args.db
        with open_store(db) as store:
            n = store.count()
            rollup = store.count("kpi_facts")
            first = store.query("SELECT min(customer_id) AS c FROM events")[0]["c"]
        made = f"`bench/drill.py --db {Path(db).name}`"
    else:
        parquet = demo_file(args.customers, args.seed)
        db, n, _ = store_for(parquet)
        with open_store(db) as store:
            rollup = store.count("kpi_facts")
            first = store.query("SELECT min(customer_id) AS c FROM events")[0]["c"]
        made = f"`bench/drill.py --customers {args.customers:,} --seed {args.seed}`"
    customer = args.customer or first
    print(f"  store {db}: {n:,} events, {rollup:,} roll-up rows", flush=True)
    load_before = os.getloadavg()
    pages, exports = bench(db, customer, args.repeat, not args.no_exports)
    load_after = os.getloadavg()
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## Drill-down: Events page, a customer's journey, the team page, {n:,} events",
        "",
        f"- Date: {date}; {made} (DuckDB store with the journey facts and the KPI roll-up,"
        " in-process ASGI client, a supervisor signed in, company time zone"
        " America/Sao_Paulo, no warmer).",
        f"- Load average (1/5/15 min) {load_before[0]:.1f}/{load_before[1]:.1f}/"
        f"{load_before[2]:.1f} before and {load_after[0]:.1f}/{load_after[1]:.1f}/"
        f"{load_after[2]:.1f} after the run, on {os.cpu_count()} cores shared with other"
        " work: times are upper bounds.",
        "- *Cold*: `answer_cache` emptied, a new server, the page's first load: every"
        " analysis it shows, the frame's `summary` included, computed in the request."
        " *Kept*: a new server on the answers an earlier server kept. Each the median of"
        f" {args.repeat} starts. *Warm*: 20 loads more on one server.",
        "",
        "| page | cold first load | kept first load | warm median | warm p95 |",
        "|---|---:|---:|---:|---:|",
        *[
            f"| `{p}` | {c * 1000:,.0f} ms | {k * 1000:,.0f} ms | {w * 1000:.1f} ms |"
            f" {p95 * 1000:.1f} ms |"
            for p, c, k, w, p95 in pages
        ],
        "",
    ]
    if exports:
        lines += [
            "| whole-list CSV | seconds | rows |",
            "|---|---:|---:|",
            *[f"| `{u}` | {s:.2f} | {rows:,} |" for u, s, rows in exports],
            "",
        ]
    lines += [f"Goal (issue 13, at 10M events): each page < {GOAL:.0f} s.", ""]
    write_section(args.section, lines, Path(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
