"""Benchmark: Spark `local[2]` against DuckDB on the same machine and the same events.

    .venv/bin/python bench/spark.py [--customers 156000] [--seed 11] [--runs 3]

On demo data (about 6.4 events per customer; 156,000 customers make about 1M events):
ingestion of the Parquet file into a new store of each engine (in a fresh process: the
Spark one includes starting the session), then a set of analyses, each the median of
`--runs` in one process, answers checked equal between the engines. The driver's peak
memory is the Python process's (nothing per event is collected to it); the Spark JVM's
peak is read from /proc.

The section between the spark markers of bench/RESULTS.md is replaced (or appended).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
from datetime import UTC, datetime

from common import demo_file, in_child, store_for, write_section

QUESTIONS = [
    ("kpis", {"by": "touchpoint"}),
    ("summary", {}),
    ("heatmap", {}),
    ("journeys.dfg", {}),
    ("journeys.variants", {}),
    ("attribution", {"model": "linear"}),
    ("retention", {}),
]

RUN = """
import json, os, resource, statistics, sys, time
t = time.perf_counter()
from touchpoints.analytics.registry import get
from touchpoints.ingest import ingest_files
from touchpoints.store import open_store
target, path, runs, questions = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
store = open_store(target)
opened = time.perf_counter() - t
ingest = None
if path != "-":
    t = time.perf_counter()
    ingest_files(store, [path])
    ingest = time.perf_counter() - t
out = {"open": opened, "ingest": ingest, "events": store.count(), "questions": {}}
for name, options in questions:
    times, answer = [], None
    for _ in range(runs):
        t = time.perf_counter()
        answer = get(name).compute(store, **options)
        times.append(time.perf_counter() - t)
    out["questions"][name] = {"seconds": statistics.median(times),
                              "digest": json.dumps(answer, sort_keys=True, default=str)[:20000]}
out["driver_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
jvm = 0.0
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            status = open(f"/proc/{pid}/status").read()
            if f"PPid:\\t{os.getpid()}\\n" in status and "java" in open(f"/proc/{pid}/cmdline").read():
                jvm = max(jvm, int(status.split("VmHWM:")[1].split()[0]) / 1024)
        except (OSError, IndexError):
            pass
out["jvm_peak_mb"] = jvm
print(json.dumps(out))
"""


def _close(a: str, b: str) -> bool:
    """Answers equal up to float rounding in the last digits (engines sum in other orders)."""

    def norm(v: object) -> object:
        if isinstance(v, float):
            return round(v, 6)
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v

    try:
        return norm(json.loads(a)) == norm(json.loads(b))
    except json.JSONDecodeError:  # cut at 20,000 characters
        return a == b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=156_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    path = demo_file(args.customers, args.seed)
    db, n, _ = store_for(path)
    questions = json.dumps(QUESTIONS)
    fresh = tempfile.mkdtemp(prefix="bench_duck_")
    duck_ingest = in_child(RUN, f"{fresh}/new.duckdb", str(path), "1", "[]")
    shutil.rmtree(fresh)
    duck = in_child(RUN, db, "-", str(args.runs), questions)
    lake = tempfile.mkdtemp(prefix="bench_lake_")
    try:
        spark = in_child(
            RUN, f"spark://local[2]?warehouse={lake}/lake", str(path), str(args.runs), questions
        )
    finally:
        shutil.rmtree(lake, ignore_errors=True)
    assert spark["events"] == duck["events"] == n, (spark["events"], duck["events"], n)
    lines = [
        "## Spark `local[2]` against DuckDB (`bench/spark.py`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()} with {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; demo data, {args.customers:,} customers = "
        f"{n:,} events; median of {args.runs} runs per analysis, in one process per engine. "
        f"Load average at the end: {os.getloadavg()[0]:.1f} (the machine was shared by other "
        "jobs: compare the ratios, not the absolute seconds).",
        "",
        "| step | DuckDB s | Spark local[2] s | Spark / DuckDB | same answer |",
        "|---|---:|---:|---:|---|",
        f"| ingest the file into a new store | {duck_ingest['ingest']:.1f} | "
        f"{spark['ingest']:.1f} | {spark['ingest'] / duck_ingest['ingest']:.1f}x | — |",
        f"| open the store (Spark: start the session) | {duck['open']:.2f} | "
        f"{spark['open']:.1f} | — | — |",
    ]
    for name, _ in QUESTIONS:
        d, s = duck["questions"][name], spark["questions"][name]
        same = "yes" if _close(d["digest"], s["digest"]) else "**no**"
        lines.append(
            f"| `{name}` | {d['seconds']:.2f} | {s['seconds']:.2f} | "
            f"{s['seconds'] / d['seconds']:.0f}x | {same} |"
        )
    lines += [
        "",
        f"Peak memory: DuckDB process {duck['driver_peak_mb']:.0f} MB; Spark driver (Python) "
        f"{spark['driver_peak_mb']:.0f} MB, its JVM {spark['jvm_peak_mb']:.0f} MB. At this size "
        "Spark pays a job's fixed cost (planning, scheduling, shuffles over 4 partitions) on "
        "every question, which DuckDB does not: Spark is for event tables that do not fit one "
        "machine, not for making one machine faster.",
    ]
    write_section("spark", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
