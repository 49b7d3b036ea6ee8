"""Benchmark: each dashboard page's first load after a start, on a store that keeps the
journey facts and the KPI roll-up, with and without the answers an earlier server kept.

    .venv/bin/python bench/first_page.py [--customers 156000] [--db STORE] [--repeat 3]

Reads the store `bench/derived.py` leaves in bench/data/ (`--db` another one; a copy is
used). The app is built without its lifespan (so no warmer computes anything ahead) and a
user logs in. Two starts:

- cold: nothing kept in the store (`answer_cache` emptied, keeping switched off): every
  analysis a page shows is computed in the visitor's request, from the facts and the
  roll-up when they answer, from raw events otherwise. One load per page (the result
  cache is emptied before it): the cost of the very first visitor.
- kept: a first server loads every page once (so its answers are kept in the store) and
  stops; a new server starts on the same store and every page is loaded with its
  in-memory cache emptied before each load: median of `--repeat`.

The section between the first_page markers of bench/RESULTS.md is replaced.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import DATA, signed_in, write_section
from service import PAGES


def loads(db: str, repeat: int, label: str) -> dict[str, float]:
    from touchpoints.server.cache import bump

    client, service = signed_in(db)
    out = {}
    try:
        for page in PAGES:
            times = []
            for _ in range(repeat):
                bump(service)
                t = time.perf_counter()
                r = client.get(page)
                times.append(time.perf_counter() - t)
                assert r.status_code == 200, (page, r.status_code)
            out[page] = statistics.median(times)
            print(f"  {label} {page}: {out[page]:.2f} s", flush=True)
    finally:
        service.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--customers", type=int, default=156_000)
    ap.add_argument("--db", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from touchpoints.server import cache
    from touchpoints.store import open_store

    source = Path(args.db or DATA / f"derived_{args.customers}_facts.duckdb")
    if not source.exists():
        raise SystemExit(f"{source} is missing: run bench/derived.py first")
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / source.name)
        shutil.copy(source, db)
        with open_store(db) as store:
            events = store.count()
            rollup = store.count("kpi_facts")
            if store.has_table(cache.ANSWERS):
                store.execute(f"DELETE FROM {cache.ANSWERS}")
        keep = cache.KEEP_SECONDS
        cache.KEEP_SECONDS = float("inf")
        cold = loads(db, 1, "cold")
        cache.KEEP_SECONDS = 0.0
        loads(db, 1, "first server")
        cache.KEEP_SECONDS = keep
        kept = loads(db, args.repeat, "kept")
    load = os.getloadavg()[0]
    lines = [
        "## Dashboard first loads after a start (`bench/first_page.py`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} with {os.cpu_count()} "
        f"cores shared with other jobs (load average {load:.1f} at the end); {events:,} demo "
        f"events on DuckDB with the journey facts and the KPI roll-up ({rollup:,} rows); no "
        "warmer. *Cold*: nothing kept, one load per page, the result cache emptied before it. "
        f"*Kept*: a new server on a store an earlier server left its answers in (median of "
        f"{args.repeat}, the in-memory cache emptied before each load).",
        "",
        "| page | cold | kept answers |",
        "|---|---:|---:|",
    ]
    for page in PAGES:
        lines.append(f"| `{page}` | {cold[page]:.2f} s | {kept[page]:.2f} s |")
    write_section("first_page", lines)


if __name__ == "__main__":
    main()
