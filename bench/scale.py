"""Benchmark: how Touchpoints' costs grow with the stored history, 1M to 50M events on
DuckDB (issue goals: ingestion cost grows with the new data only; every page's first load
after a start < 2 s at 10M and < 3 s at 50M, p95 < 300 ms; `serve` under 4 GB at 50M).

    .venv/bin/python bench/scale.py [--sizes 156000:11,1560000:7,7800000:5] [--reuse]
        [--loads 5] [--memory-limit 3GB]

Each size is demo customers:seed (156,000 customers make about 1M events, 7,800,000 about
50M). For each, every step in its own process, one after another:

1. ingestion: the demo Parquet file into a new DuckDB store, every derived fact kept
   (journey facts, KPI roll-up, team sums): wall time, events/s, the process's peak
   resident memory (wait4). `--reuse` keeps a store an earlier run built, and the
   ingestion that run measured (bench/data/scale.json).
2. analyses: one warmer round in one process (`bench/page_analyses.py --rounds 1`: every
   analysis the pages show, one after another, no cache): its total, the costliest jobs,
   peak memory.
3. serve: a real `touchpoints serve` (its warmer included) on the store with no answers
   kept: the seconds until its warmer's first round is done (/metrics), then every page
   visited once (a filtered page is computed in the visit). It stops; a second server
   starts on the same store (the answers the first one kept) and every page is loaded once (its first load after a start, the second server's warmer running beside
   it), then `--loads` more times each (p95 of those). Both servers' peak resident memory
   (VmHWM from /proc, read just before each stops).

`--memory-limit 3GB` sets TOUCHPOINTS_DUCKDB_MEMORY_LIMIT for steps 2 and 3 (ingestion
keeps DuckDB's default, 80 % of RAM: a batch job, not the server that shares the machine).

The section between the scale markers of bench/RESULTS.md is replaced.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from common import (
    DATA,
    HERE,
    PY,
    demo_file,
    in_child,
    run_measured,
    status_mib,
    write_section,
)
from service import PAGES
from touchpoints.server.loadgen import ServerProcess, percentile

LIMIT = "TOUCHPOINTS_DUCKDB_MEMORY_LIMIT"
SECRET = "bench-scale-secret-0123456789abcdef0123"
USER = "bench.scale"

INGEST = """
import json, sys, time
from touchpoints.ingest import ingest_files
from touchpoints.store import open_store
db, path = sys.argv[1], sys.argv[2]
with open_store(db) as store:
    t = time.perf_counter()
    result = ingest_files(store, [path])
    seconds = time.perf_counter() - t
    print(json.dumps({"events": store.count(), "seconds": seconds, "rejected": result.rejected,
                      "rollup": store.count("kpi_facts")}))
"""

# A manager to sign in with, and no answers kept by an earlier run (argv: db, user).
PREPARE = """
import json, sys
from touchpoints.server import cache
from touchpoints.server.users import create_user, get_user, session_epoch
from touchpoints.store import open_store
with open_store(sys.argv[1]) as store:
    if get_user(store, sys.argv[2]) is None:
        create_user(store, sys.argv[2], "bench-password", "admin")
    if store.has_table(cache.ANSWERS):
        store.execute(f"DELETE FROM {cache.ANSWERS}")
    print(json.dumps({"events": store.count(), "epoch": session_epoch(store, sys.argv[2])}))
"""


def hwm_mib(pid: int) -> float:
    """The process's peak resident memory so far (Linux VmHWM), in MiB."""
    return status_mib(pid, "VmHWM")


def rounds_done(client: httpx.Client) -> int:
    found = re.search(
        r"^touchpoints_cache_warmer_rounds_total (\d+)", client.get("/metrics").text, re.M
    )
    return int(found.group(1)) if found else 0


def timed_get(client: httpx.Client, page: str) -> float:
    """Seconds to load `page`, which must answer 200."""
    t = time.perf_counter()
    r = client.get(page)
    assert r.status_code == 200, (page, r.status_code)
    return time.perf_counter() - t


def warmer_failures(log: Path) -> list[str]:
    """The analyses the servers' warmers could not answer (out of memory under a limit, a
    fault): a page then computes on its visit, so the first loads alone would not say."""
    found = re.findall(
        r"cache warmer: (\S+)(?: failed|: DuckDB needed more memory)", log.read_text()
    )
    return sorted(set(found))


def serve(db: str, cookie: str, loads: int, log: Path) -> dict[str, Any]:
    """Step 3: a first server's warm-up round, then a second server's page loads."""
    from touchpoints.server.loadgen import free_port

    first = ServerProcess(db, port=free_port(), log=log).start(timeout=600)
    began = time.perf_counter()
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{first.port}", cookies={"tp_session": cookie}, timeout=3600
        ) as client:
            while rounds_done(client) < 1:
                time.sleep(1)
            warm_round = time.perf_counter() - began
            print(f"  first server's warmer round: {warm_round:.1f} s", flush=True)
            # The pages' first visitors ever: the filtered pages are computed now (and
            # kept in the store for the next server, as a team's daily use would).
            visits = {}
            for page in PAGES:
                visits[page] = timed_get(client, page)
                print(f"  first visit {page}: {visits[page]:.2f} s", flush=True)
            time.sleep(2)  # the warmer's thread writes what the visits computed
        first_peak = hwm_mib(first.proc.pid)  # type: ignore[union-attr]
    finally:
        first.stop()
    second = ServerProcess(db, port=free_port(), log=log).start(timeout=600)
    first_loads: dict[str, float] = {}
    later: list[float] = []
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{second.port}", cookies={"tp_session": cookie}, timeout=3600
        ) as client:
            for page in PAGES:
                first_loads[page] = timed_get(client, page)
                print(f"  first load {page}: {first_loads[page]:.2f} s", flush=True)
            for _ in range(loads):
                later += [timed_get(client, page) for page in PAGES]
        second_peak = hwm_mib(second.proc.pid)  # type: ignore[union-attr]
    finally:
        second.stop()
    return {
        "warmer_failures": warmer_failures(log),
        "warm_round_s": warm_round,
        "first_visits": visits,
        "first_loads": first_loads,
        "later_p50_s": statistics.median(later) if later else None,
        "later_p95_s": percentile(later, 0.95) if later else None,
        "peak_mib": max(first_peak, second_peak),
    }


def one_size(
    customers: int,
    seed: int,
    reuse: bool,
    loads: int,
    earlier: dict[str, Any],
    memory_limit: str | None = None,
) -> dict[str, Any]:
    from touchpoints.server.users import sign_session

    parquet = demo_file(customers, seed)
    db = DATA / f"scale_{customers}_{seed}.duckdb"
    out: dict[str, Any] = {"customers": customers}
    if reuse and db.exists():
        out["ingest"] = earlier.get("ingest")
    else:
        for suffix in ("", ".wal"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        with tempfile.NamedTemporaryFile("r", suffix=".json") as fh:
            _, peak = run_measured([PY, "-c", INGEST, str(db), str(parquet)], Path(fh.name))
            made = json.loads(Path(fh.name).read_text().strip().splitlines()[-1])
        if made["rejected"]:
            raise SystemExit(f"demo data rejected {made['rejected']} rows")
        out["ingest"] = {**made, "peak_mib": peak}
        print(
            f"  ingested {made['events']:,} events in {made['seconds']:.1f} s "
            f"({made['events'] / made['seconds']:,.0f}/s), peak {peak:,.0f} MiB",
            flush=True,
        )
    out["store_mib"] = db.stat().st_size / 2**20
    if memory_limit:  # the analyses and the servers (child processes inherit it)
        os.environ[LIMIT] = memory_limit
    with tempfile.NamedTemporaryFile("r", suffix=".json") as fh:
        wall, peak = run_measured(
            [PY, str(HERE / "page_analyses.py"), "--db", str(db), "--rounds", "1"], Path(fh.name)
        )
        (round_,) = json.loads(Path(fh.name).read_text().strip().splitlines()[-1])
    out["round"] = {**round_, "peak_mib": peak, "wall_s": wall}
    print(f"  one warmer round: {round_['total_s']:.1f} s, peak {peak:,.0f} MiB", flush=True)
    prepared = in_child(PREPARE, str(db), USER)
    out["events"] = prepared["events"]
    cookie = sign_session(SECRET.encode(), USER, epoch=prepared["epoch"])
    with tempfile.TemporaryDirectory(prefix="tp-bench-scale-") as tmp:
        out["serve"] = serve(str(db), cookie, loads, Path(tmp) / "server.log")
    os.environ.pop(LIMIT, None)
    return out


def ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:,.0f} ms"


def table(results: list[dict[str, Any]], loads: int) -> list[str]:
    sizes = [f"{r['events'] / 1e6:.1f}M" for r in results]
    head = "| | " + " | ".join(sizes) + " |"
    rule = "|---|" + "---:|" * len(results)
    first = results[0]

    def row(name: str, cells: list[str]) -> str:
        return f"| {name} | " + " | ".join(cells) + " |"

    def growth(value: Any) -> str:
        return "" if value is None else f" ({value:.1f}×)"

    lines = [head, rule, row("stored events", [f"{r['events']:,}" for r in results])]
    ingest = [r["ingest"] for r in results]
    lines.append(
        row(
            "ingestion from Parquet, every fact kept",
            [
                "reused"
                if i is None
                else f"{i['seconds']:.1f} s = {i['events'] / i['seconds']:,.0f}/s"
                for i in ingest
            ],
        )
    )
    lines.append(
        row(
            "peak memory of ingestion",
            [
                "—" if i is None or i.get("peak_mib") is None else f"{i['peak_mib']:,.0f} MiB"
                for i in ingest
            ],
        )  # fmt: skip
    )
    lines.append(row("store file", [f"{r['store_mib']:,.0f} MiB" for r in results]))
    base_round = first["round"]["total_s"]
    lines.append(
        row(
            f"one warmer round ({len(first['round']['times'])} analyses, one process)",
            [
                f"{r['round']['total_s']:.1f} s{growth(r['round']['total_s'] / base_round)}"
                for r in results
            ],
        )
    )
    lines.append(
        row("peak memory of that process", [f"{r['round']['peak_mib']:,.0f} MiB" for r in results])
    )
    lines.append(
        row(
            "`serve` on a store nothing kept: its warmer's first round",
            [f"{r['serve']['warm_round_s']:.1f} s" for r in results],
        )  # fmt: skip
    )
    lines.append(
        row(
            "a second `serve`: slowest first load of a page",
            [f"{max(r['serve']['first_loads'].values()):.2f} s" for r in results],
        )
    )
    lines.append(
        row(
            f"… the next {loads} loads of every page: p50 / p95",
            [f"{ms(r['serve']['later_p50_s'])} / {ms(r['serve']['later_p95_s'])}" for r in results],
        )  # fmt: skip
    )
    lines.append(
        row("peak memory of `serve`", [f"{r['serve']['peak_mib']:,.0f} MiB" for r in results])
    )
    lines.append(
        row(
            "analyses the warmers could not answer",
            [", ".join(r["serve"].get("warmer_failures", [])) or "none" for r in results],
        )
    )
    lines += [
        "",
        "First visit of each page ever (the first server, after its warmer's round: a",
        "filtered page is computed in the visit):",
        "",
        head,
        rule,
    ]
    for page in PAGES:
        lines.append(
            row(f"`{page}`", [f"{r['serve']['first_visits'][page]:.2f} s" for r in results])
        )
    lines += ["", "First load of each page after a start (the second server):", "", head, rule]
    for page in PAGES:
        lines.append(
            row(f"`{page}`", [f"{r['serve']['first_loads'][page]:.2f} s" for r in results])
        )
    last = results[-1]["round"]["times"]
    costly = sorted(last, key=last.get, reverse=True)[:12]
    lines += [
        "",
        "The costliest analyses of the round (growth against the smallest size):",
        "",
        head,
        rule,
    ]
    for job in costly:
        cells = []
        for r in results:
            t = r["round"]["times"].get(job)
            cells.append(
                "—" if t is None else f"{t:.2f} s{growth(t / first['round']['times'][job])}"
            )
        lines.append(row(f"`{job}`", cells))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="156000:11,1560000:7,7800000:5")
    ap.add_argument("--reuse", action="store_true", help="keep stores an earlier run built")
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--memory-limit", help="DuckDB's memory limit for the analyses and serve")
    args = ap.parse_args()
    os.environ["TOUCHPOINTS_SECRET_KEY"] = SECRET
    os.environ.pop(LIMIT, None)
    # A reused store keeps the ingestion an earlier run of this script measured on it.
    saved = DATA / "scale.json"
    before = {r["customers"]: r for r in json.loads(saved.read_text())} if saved.exists() else {}
    results = []
    for size in args.sizes.split(","):
        customers, seed = (int(x) for x in size.split(":"))
        print(f"{customers:,} customers (seed {seed}), load {os.getloadavg()[0]:.1f}", flush=True)
        earlier = before.get(customers, {})
        results.append(
            one_size(customers, seed, args.reuse, args.loads, earlier, args.memory_limit)
        )
        saved.write_text(json.dumps(results))
    lines = [
        "## How the costs grow with the stored history (`bench/scale.py`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} with {os.cpu_count()} "
        f"cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}; demo data on DuckDB; every step in its own "
        f"process, one after another (load average {os.getloadavg()[0]:.1f} at the end). "
        "In parentheses: the cost against the smallest size's. DuckDB's memory limit for "
        "the analyses and the servers: "
        + (
            f"{LIMIT}={args.memory_limit}."
            if args.memory_limit
            else "DuckDB's default (80 % of RAM)."
        ),
        "",
        *table(results, args.loads),
    ]
    write_section("scale", lines)


if __name__ == "__main__":
    main()
