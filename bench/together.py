"""Benchmark: visitors who open the same page at once, before anything computed its answers.

    .venv/bin/python bench/together.py [--db STORE] [--visitors 5] [--runs 3] [--page /journeys]
        [--offset 0] [--fresh]

A real `touchpoints serve` (its warmer included) starts on the store (default: the 10M
store `bench/scale.py` leaves in bench/data/; no copy: the answers kept by earlier servers
stay, as on a real restart; `--fresh` empties them and lets a server keep the default
pages' again). Once its warmer finished its first round, `--visitors` connections ask for
the same page at the same moment, for a week no earlier run asked for (from `--offset`
on), so every answer the page shows is computed on the visits; then one visitor alone, on
another week. Reported: each visit's time, the time until the last visitor had the page,
and how far the server's resident memory rose during the visits.

The section between the together markers of bench/RESULTS.md is replaced.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

from common import DATA, in_child, status_mib, write_section
from scale import PREPARE, SECRET, USER, rounds_done, timed_get
from touchpoints.server.loadgen import ServerProcess, free_port

# Weeks (Monday to Sunday) of the demo data's year, one per visit group: none of the
# default pages asks for one, and `--offset` keeps runs from reusing what an earlier
# invocation computed (and its server kept in the store).
WEEKS = [date(2025, 1, 6) + timedelta(days=7 * n) for n in range(50)]


def week_page(page: str, monday: date) -> str:
    sep = "&" if "?" in page else "?"
    return f"{page}{sep}from={monday.isoformat()}&to={(monday + timedelta(days=6)).isoformat()}"


def visit_group(base: str, cookie: str, page: str, visitors: int, pid: int) -> dict[str, float]:
    """`visitors` loads of `page` started together: each one's seconds, the span, and how
    far the server's resident memory rose above where it stood before (sampled every
    20 ms: the peak of the visits themselves, whatever an earlier moment peaked at)."""
    clients = [
        httpx.Client(base_url=base, cookies={"tp_session": cookie}, timeout=3600)
        for _ in range(visitors)
    ]
    before = status_mib(pid, "VmRSS")
    highest = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            highest[0] = max(highest[0], status_mib(pid, "VmRSS"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        began = time.perf_counter()
        with ThreadPoolExecutor(visitors) as pool:
            times = list(pool.map(lambda c: timed_get(c, page), clients))
        span = time.perf_counter() - began
    finally:
        done.set()
        sampler.join()
        for c in clients:
            c.close()
    return {
        "median_s": statistics.median(times),
        "max_s": max(times),
        "span_s": span,
        "peak_rise_mib": highest[0] - before,
    }


def one_run(db: str, cookie: str, visitors: int, groups: list[tuple[str, date, date]]) -> dict:
    """One server start; per (page, week together, week alone): the two visit groups."""
    server = ServerProcess(db, port=free_port()).start(timeout=600)
    out: dict[str, dict[str, dict[str, float]]] = {}
    try:
        base = f"http://127.0.0.1:{server.port}"
        with httpx.Client(base_url=base, cookies={"tp_session": cookie}, timeout=3600) as c:
            while rounds_done(c) < 1:
                time.sleep(0.5)
        pid = server.proc.pid  # type: ignore[union-attr]
        for page, week_together, week_alone in groups:
            out[page] = {}
            for name, week, count in (
                ("together", week_together, visitors),
                ("alone", week_alone, 1),
            ):
                out[page][name] = visit_group(base, cookie, week_page(page, week), count, pid)
    finally:
        server.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--db", default=str(DATA / "scale_1560000_7.duckdb"))
    ap.add_argument("--visitors", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--page", action="append", help="a page (repeat; default / and /journeys)")
    ap.add_argument("--offset", type=int, default=0, help="first week to ask for (0-based)")
    ap.add_argument(
        "--fresh",
        action="store_true",
        help="first empty the answers kept in the store and let a server keep the default "
        "pages' again (what earlier runs computed is gone)",
    )
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    pages = args.page or ["/", "/journeys"]
    if not Path(args.db).exists():
        sys.exit(f"{args.db}: no store (make one with bench/scale.py)")
    # Three weeks apart per group: a page compares its period with the one before, and no
    # group may find another's answers.
    needed = args.offset + 6 * args.runs * len(pages)
    if needed > len(WEEKS):
        sys.exit(f"--offset + 6 x --runs x pages: at most {len(WEEKS)} weeks")
    from touchpoints.server.users import create_user, get_user, session_epoch, sign_session
    from touchpoints.store import open_store

    os.environ["TOUCHPOINTS_SECRET_KEY"] = SECRET
    with open_store(args.db) as store:
        if get_user(store, USER) is None:
            create_user(store, USER, "bench-password", "admin")
        cookie = sign_session(SECRET.encode(), USER, epoch=session_epoch(store, USER))
        events = store.count()
    if args.fresh:
        in_child(PREPARE, args.db, USER)
        warm = ServerProcess(args.db, port=free_port()).start(timeout=600)
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{warm.port}", cookies={"tp_session": cookie}
            ) as c:
                while rounds_done(c) < 1:
                    time.sleep(1)
        finally:
            warm.stop()
    weeks = iter(WEEKS[args.offset :: 3])
    runs = []
    for n in range(args.runs):
        groups = [(page, next(weeks), next(weeks)) for page in pages]
        run = one_run(args.db, cookie, args.visitors, groups)
        runs.append(run)
        for page, got in run.items():
            t, a = got["together"], got["alone"]
            print(
                f"run {n + 1} {page}: {args.visitors} together: median {t['median_s']:.2f} s, "
                f"last {t['span_s']:.2f} s, peak +{t['peak_rise_mib']:,.0f} MiB; alone: "
                f"{a['span_s']:.2f} s, peak +{a['peak_rise_mib']:,.0f} MiB",
                flush=True,
            )

    def med(page: str, group: str, field: str) -> float:
        return statistics.median(r[page][group][field] for r in runs)

    lines = [
        "## Visitors opening the same page at once (`bench/together.py`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} with "
        f"{os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end); a "
        f"`touchpoints serve` on {events:,} events (DuckDB, journey facts, KPI roll-up, the "
        "default pages' kept answers); each page for one week no earlier visit asked for, "
        f"so every answer it shows is computed on the visits; medians of {args.runs} starts.",
        "",
        "| page | visitors | visit (median) | until the last one had it | server memory rise (peak) |",
        "|---|---:|---:|---:|---:|",
    ]
    for page in pages:
        for group, count in (("alone", 1), ("together", args.visitors)):
            lines.append(
                f"| `{page}` | {count} | {med(page, group, 'median_s'):.2f} s | "
                f"{med(page, group, 'span_s'):.2f} s | "
                f"{med(page, group, 'peak_rise_mib'):,.0f} MiB |"
            )
    print("\n".join(lines))
    if not args.no_write:
        write_section("together", lines)


if __name__ == "__main__":
    main()
