"""Benchmark: every analysis on Spark `local[2]` against DuckDB, on the same machine.

    .venv/bin/python bench/spark.py [--customers 780000] [--runs 3] [--driver-memory 4g]

The demo year of 780,000 customers (about 5M events) is stored once in DuckDB and once in
a Spark warehouse (`spark://local[2]?warehouse=bench/data/...`), both kept under
bench/data/ between runs; ingestion is timed when a store is made. One logged change is
added to each, so `effect` answers. Each engine then runs in its own process: every
analysis of the registry, with the options tests/test_engines_agree.py gives it, --runs
times; the table quotes the median wall seconds and the peak resident memory of the
process that drives the analysis, during it (VmHWM, reset before each analysis through
/proc/PID/clear_refs): for DuckDB the Python process, which holds the engine; for Spark
the Python process plus the driver JVM (in local mode the executors run inside the
driver). A Spark analysis that fails is recorded with its first line, not hidden.

The section between the spark markers of bench/RESULTS.md is replaced.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from datetime import UTC, datetime

from common import DATA, demo_file, in_child, store_for, write_section

OPTIONS = {
    "whatif": {"touchpoint": "phone", "abandonment": 0.02},
    "staffing": {"touchpoint": ["phone"]},
    "effect": {"change": 1, "metric": "events", "window": "16w", "timezone": "America/Sao_Paulo"},
    "live": {"at": "2025-12-31T18:00:00Z"},
    "forecast": {"horizon": "1d"},
    "customer.journey": {"customer_id": "C000001"},
    "customer.events": {"customer_id": "C000001"},
}

# argv: target, runs, options JSON. Prints one JSON object: per analysis its times and peaks.
MEASURE = """
import json, os, sys, time, warnings
from touchpoints.analytics.registry import analyses, get
from touchpoints.store import open_store
from touchpoints.ingest.changes import add_change

target, runs, options = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])

def hwm_kb(pid):
    with open(f"/proc/{pid}/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))

def reset(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as fh:
        fh.write("5")

store = open_store(target)
if store.engine == "duckdb":
    store.execute("SET enable_progress_bar = false")
if not store.query("SELECT count(*) AS n FROM changes")[0]["n"]:
    add_change(store, "2025-07-27", "New website", "website")
pids = [os.getpid()]
if store.engine == "spark":
    store.count("events")  # the session starts before the first timing
    pids.append(int(store.spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()))
out = {}
for analysis in analyses():
    name = analysis.name
    times, peaks, error = [], [], None
    for _ in range(runs):
        for pid in pids:
            reset(pid)
        t = time.perf_counter()
        try:
            get(name).compute(store, **options.get(name, {}))
        except Exception as exc:
            error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            break
        times.append(time.perf_counter() - t)
        peaks.append(sum(hwm_kb(pid) for pid in pids) / 1024)
    out[name] = {"seconds": times, "peak_mb": peaks, "error": error}
    print(name, times, error, file=sys.stderr, flush=True)
print(json.dumps(out))
"""


def spark_target(stem: str, driver_memory: str) -> str:
    lake = DATA / f"{stem}_spark_lake"
    return f"spark://local[2]?warehouse={lake}&conf.spark.driver.memory={driver_memory}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=780_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--driver-memory", default="4g")
    args = parser.parse_args()

    path = demo_file(args.customers, args.seed, prefix="spark")
    db, events, duck_ingest = store_for(path)
    target = spark_target(path.stem, args.driver_memory)
    lake = DATA / f"{path.stem}_spark_lake"
    made = in_child(
        """
import json, sys, time
from touchpoints.ingest import ingest_files
from touchpoints.store import open_store
target, path, fresh = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
store = open_store(target)
seconds = None
if fresh:
    t = time.perf_counter()
    result = ingest_files(store, [path])
    seconds = time.perf_counter() - t
print(json.dumps({"events": store.count("events"), "seconds": seconds}))
""",
        target,
        str(path),
        "0" if (lake / "events").is_dir() and any((lake / "events").glob("*.parquet")) else "1",
    )
    assert made["events"] == events, (made, events)
    print(
        f"{events:,} events; ingest DuckDB {duck_ingest} s, Spark {made['seconds']} s", flush=True
    )

    options = json.dumps(OPTIONS)
    duck = in_child(MEASURE, db, str(args.runs), options)
    spark = in_child(MEASURE, target, str(args.runs), options)
    load = os.getloadavg()

    def cell(result: dict) -> tuple[str, str, float | None]:
        if result["error"]:
            return "fails", "", None
        seconds = statistics.median(result["seconds"])
        return f"{seconds:.2f}", f"{max(result['peak_mb']):,.0f}", seconds

    rows, ratios = [], []
    for name in duck:
        d_s, d_mb, d = cell(duck[name])
        s_s, s_mb, s = cell(spark[name])
        ratio = f"{s / d:.1f}×" if s is not None and d else ""
        if s is not None and d:
            ratios.append(s / d)
        note = spark[name]["error"] or duck[name]["error"] or ""
        rows.append(f"| {name} | {d_s} | {d_mb} | {s_s} | {s_mb} | {ratio} | {note} |")
    total = [
        sum(statistics.median(r["seconds"]) for r in side.values() if not r["error"])
        for side in (duck, spark)
    ]
    failed = [n for n, r in spark.items() if r["error"]]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Spark `local[2]` against DuckDB (`bench/spark.py`)",
        "",
        f"- Date: {now}; `bench/spark.py --customers {args.customers:,} --runs {args.runs} "
        f"--driver-memory {args.driver_memory}` (2 cores, shared); load average at the end "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}.",
        f"- {events:,} demo events. Ingestion: DuckDB "
        + (f"{duck_ingest:.0f} s" if duck_ingest else "(store kept from an earlier run)")
        + ", Spark "
        + (
            f"{made['seconds']:.0f} s"
            if made["seconds"]
            else "(warehouse kept from an earlier run)"
        )
        + " (validation in DuckDB on the client, then Arrow to Spark, append, derived facts).",
        "- Seconds: median of the runs, in a warm process (the Spark session started first). "
        "Peak MB: the driving process's resident peak during the analysis — DuckDB's Python "
        "process; Spark's Python process plus its driver JVM.",
        "",
        "| analysis | DuckDB s | DuckDB peak MB | Spark s | Spark peak MB | Spark / DuckDB | |",
        "|---|---:|---:|---:|---:|---:|---|",
        *rows,
        "",
        f"All analyses: DuckDB {total[0]:.1f} s, Spark {total[1]:.1f} s; median ratio "
        + (f"**{statistics.median(ratios):.1f}×**" if ratios else "n/a")
        + (f"; failing on Spark: {', '.join(failed)}." if failed else "; none fails on Spark."),
        "",
    ]
    write_section("spark", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
