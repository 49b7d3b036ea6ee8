"""Benchmark: every analysis on Spark against DuckDB, on the same demo data.

    .venv/bin/python bench/spark.py [--customers 780000] [--seed 11] [--runs 3]
                                    [--master local[2]] [--names kpis,attribution]

On demo data (`touchpoints.demo.generate`, about 6.4 events per customer: 780,000 customers
make about 5M events; the file is cached under bench/data/ and shared with bench/journeys.py):

- the file is ingested once into a DuckDB store and once into a Spark warehouse (each kept
  under bench/data/ between runs; ingestion is timed when it happens, in its own process);
- then, in one process per engine, every analysis of the registry runs `--runs` times with
  the options its users would give (those of tests/test_engines_agree.py); the median wall
  time is reported, and the process's peak resident memory during the analysis: for Spark the
  Python driver and its JVM (local mode: the JVM is driver and executor) measured apart, each
  a high-water mark reset before the analysis (/proc/PID/clear_refs, read from VmHWM);
- each analysis's largest query result (rows brought to the driver) is counted: an analysis
  that collected events to the driver would show millions here;
- the answers of the two engines are compared field by field (floats to 1e-9 relative)
  before anything is written; the section between the spark markers of bench/RESULTS.md is
  replaced (or appended when missing).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import DATA, HERE, PY, demo_file, store_for, write_section

AT = "2025-12-31T18:00:00Z"  # the demo year (from 2025-01-01) ends the day before
# The options each analysis needs to answer something; the others take their defaults.
OPTIONS: dict[str, dict[str, Any]] = {
    "whatif": {"touchpoint": "phone", "abandonment": 0.02},
    "staffing": {"touchpoint": ["phone"]},
    "effect": {"change": 1, "metric": "events", "window": "16w", "timezone": "America/Sao_Paulo"},
    "live": {"at": AT},
    "forecast": {"horizon": "1d"},
    "customer.journey": {"customer_id": "C000001"},
    "customer.events": {"customer_id": "C000001"},
}
CHANGE = ("2025-07-27", "New website", "website")  # the change `effect` measures

# One engine's side, in its own process: so that its peak memory is its own, and so that a
# Spark session's JVM starts (and is timed) like the CLI's would.
MEASURE = r"""
import json, statistics, sys, time
from touchpoints.analytics.registry import analyses, get
from touchpoints.core.errors import TouchpointsError
from touchpoints.store import open_store

target, runs, names, options, out = (
    sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5]
)

def hwm_mib(pid):
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")

def reset(pid):
    # Linux: writing 5 resets the process's peak resident set to its current size.
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False

t = time.perf_counter()
store = open_store(target)
jvm = None
if store.engine == "spark":
    store.query("SELECT 1 AS one")  # starts the session (and its JVM)
    jvm = int(store.spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
opened = time.perf_counter() - t

largest = [0]
query = store.query
def counted(sql, params=None):
    rows = query(sql, params)
    largest[0] = max(largest[0], len(rows))
    return rows
store.query = counted

results = {"opened_seconds": opened, "events": store.count(), "analyses": {}}
pids = {"python": "self", **({"jvm": jvm} if jvm else {})}
for name in names or [a.name for a in analyses()]:
    resettable = all([reset(pid) for pid in pids.values()])
    largest[0] = 0
    times, answer = [], None
    for _ in range(runs):
        t = time.perf_counter()
        try:
            answer = get(name).compute(store, **options.get(name, {}))
        except TouchpointsError as exc:
            answer = {"refused": f"{type(exc).__name__}: {exc}"}
        times.append(time.perf_counter() - t)
    results["analyses"][name] = {
        "seconds": statistics.median(times),
        "times": times,
        "peak_mib": {k: hwm_mib(pid) for k, pid in pids.items()},
        "peak_reset": resettable,
        "largest_result_rows": largest[0],
        "answer": json.loads(json.dumps(answer, default=str)),
    }
    print(f"    {store.engine} {name}: {statistics.median(times):.2f}s", flush=True)
    with open(out, "w") as fh:  # after each analysis: a long run read while it goes
        json.dump(results, fh)
store.close()
"""

# Ingest a file into a new store (Spark or DuckDB) and log the change `effect` measures.
INGEST = r"""
import json, sys, time
from touchpoints.ingest import ingest_files
from touchpoints.ingest.changes import add_change
from touchpoints.store import open_store
target, path, change = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with open_store(target) as store:
    t = time.perf_counter()
    result = ingest_files(store, [path])
    seconds = time.perf_counter() - t
    add_change(store, *change)
    jvm_peak = None
    if store.engine == "spark":
        pid = int(store.spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())
        with open(f"/proc/{pid}/status") as fh:
            jvm_peak = next(int(l.split()[1]) / 1024 for l in fh if l.startswith("VmHWM:"))
    print(json.dumps({"events": store.count(), "seconds": seconds, "rejected": result.rejected,
                      "jvm_peak_mib": jvm_peak}))
"""

HAS_CHANGE = r"""
import json, sys
from touchpoints.store import open_store
with open_store(sys.argv[1]) as store:
    print(json.dumps({"changes": store.count("changes")}))
"""


def child(code: str, *argv: str) -> Any:
    """Run `code` in a fresh Python (the worktree's source, the benchmark's interpreter)
    and return the JSON object of its last line of output."""
    done = subprocess.run([PY, "-c", code, *argv], check=True, stdout=subprocess.PIPE)
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def spark_store(parquet: Path, master: str) -> tuple[str, dict[str, Any] | None]:
    """The Spark warehouse holding `parquet` (kept between runs) and, when made now, the
    ingestion's seconds and the JVM's peak memory."""
    lake = DATA / f"{parquet.stem}_spark"
    target = f"spark://{master}?warehouse={lake}"
    done = lake / ".complete"
    if done.exists():  # made by an earlier run: its ingestion as measured then
        return target, {**json.loads(done.read_text(encoding="utf-8")), "earlier": True}
    shutil.rmtree(lake, ignore_errors=True)
    t = time.perf_counter()
    made = child(INGEST, target, str(parquet), json.dumps(CHANGE))
    made["wall_seconds"] = time.perf_counter() - t
    made["date"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    if made["rejected"]:
        raise SystemExit(f"demo data rejected {made['rejected']} rows on Spark")
    done.write_text(json.dumps(made), encoding="utf-8")
    return target, made


def with_change(db: str) -> None:
    """The DuckDB store made by store_for, with the change `effect` measures logged once."""
    if child(HAS_CHANGE, db)["changes"] == 0:
        code = (
            "import sys, json\n"
            "from touchpoints.ingest.changes import add_change\n"
            "from touchpoints.store import open_store\n"
            "with open_store(sys.argv[1]) as s:\n"
            "    add_change(s, *json.loads(sys.argv[2]))\n"
            "print('{}')\n"
        )
        child(code, db, json.dumps(CHANGE))


def measure(target: str, runs: int, names: list[str], label: str) -> dict[str, Any]:
    out = DATA / f"spark_bench_{label}.json"
    t = time.perf_counter()
    child_argv = [target, str(runs), json.dumps(names), json.dumps(OPTIONS), str(out)]
    subprocess.run([PY, "-c", MEASURE, *child_argv], check=True)
    found = json.loads(out.read_text(encoding="utf-8"))
    found["wall_seconds"] = time.perf_counter() - t
    return found


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two answers differ (floats to 1e-9 relative: engines sum in other orders)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{path}[{i}]")]
    numbers = (int, float)
    if (
        (isinstance(a, float) or isinstance(b, float))
        and all(isinstance(v, numbers) and not isinstance(v, bool) for v in (a, b))
        and ((math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12))
    ):
        return []
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--customers", type=int, default=780_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--spark-runs", type=int, default=0, help="runs on Spark (default: --runs)")
    ap.add_argument(
        "--reuse-duckdb",
        action="store_true",
        help="take DuckDB's side from the last run's bench/data/spark_bench_duckdb.json",
    )
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--names", default="", help="comma-separated analyses (default: all)")
    ap.add_argument("--section", default="spark", help="the RESULTS.md section to write")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()
    names = [n for n in args.names.split(",") if n]
    started = datetime.now(UTC)
    load_before = os.getloadavg()

    parquet = demo_file(args.customers, args.seed, prefix="journeys")
    db, n, duck_ingest = store_for(parquet)
    with_change(db)
    print(
        f"  duckdb {db}: {n:,} events"
        + (f", ingested in {duck_ingest:.1f}s" if duck_ingest else "")
    )
    target, spark_made = spark_store(parquet, args.master)
    if spark_made and not spark_made.get("earlier"):
        print(f"  spark {target}: ingested in {spark_made['seconds']:.1f}s", flush=True)

    spark_runs = args.spark_runs or args.runs
    kept = DATA / "spark_bench_duckdb.json"
    if args.reuse_duckdb and kept.exists():
        duck = json.loads(kept.read_text(encoding="utf-8"))
    else:
        duck = measure(db, args.runs, names, "duckdb")
    spark = measure(target, spark_runs, names, "spark")
    assert spark["events"] == duck["events"] == n, (spark["events"], duck["events"], n)
    differing = {
        name: differences(d["answer"], spark["analyses"][name]["answer"])[:3]
        for name, d in duck["analyses"].items()
    }
    differing = {k: v for k, v in differing.items() if v}
    if differing:
        raise SystemExit(f"Spark and DuckDB answer differently: {differing}")
    refused = sorted(k for k, d in duck["analyses"].items() if "refused" in d["answer"])
    load_after = os.getloadavg()

    rows = []
    for name, d in duck["analyses"].items():
        s = spark["analyses"][name]
        py, jvm = s["peak_mib"]["python"], s["peak_mib"]["jvm"]
        rows.append(
            f"| {name} | {d['seconds']:.2f} s | **{s['seconds']:.2f} s** |"
            f" {s['seconds'] / max(d['seconds'], 1e-9):.1f}× | {d['peak_mib']['python']:,.0f} MiB |"
            f" {py:,.0f} + {jvm:,.0f} = **{py + jvm:,.0f} MiB** | {s['largest_result_rows']:,} |"
        )
    total_d = sum(d["seconds"] for d in duck["analyses"].values())
    total_s = sum(s["seconds"] for s in spark["analyses"].values())
    peak_s = max(s["peak_mib"]["python"] + s["peak_mib"]["jvm"] for s in spark["analyses"].values())
    biggest = max(s["largest_result_rows"] for s in spark["analyses"].values())
    import duckdb
    import pyspark

    ingest_line = (
        f"Ingesting the file took {spark_made['seconds']:.0f} s on Spark (default 1 GiB"
        f" driver heap; JVM peak {spark_made['jvm_peak_mib']:,.0f} MiB"
        + (
            f"; measured when the warehouse was made, {spark_made.get('date', 'by an earlier run')}"
            if spark_made.get("earlier")
            else ""
        )
        + ")"
        if spark_made
        else "Both stores were ingested by an earlier run (not timed here)"
    )
    if duck_ingest:
        ingest_line += f" and {duck_ingest:.0f} s on DuckDB"
    lines = [
        f"## Spark `{args.master}` against DuckDB: every analysis, {n:,} events",
        "",
        f"- Date: {started:%Y-%m-%d %H:%M}–{datetime.now(UTC):%H:%M} UTC;"
        f" `bench/spark.py --customers {args.customers:,} --seed {args.seed} --runs {args.runs}"
        + (f" --spark-runs {spark_runs}" if spark_runs != args.runs else "")
        + "`"
        f" (demo data, {n:,} stored events).",
        f"- Machine: {os.cpu_count()} cores ({platform.machine()}), Python"
        f" {platform.python_version()}, DuckDB {duckdb.__version__}, PySpark {pyspark.__version__};"
        f" load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
        f" ({'under load: the machine was shared, read the ratios' if max(load_before[0], load_after[0]) > 3 else 'quiet'}).",
        "- Each engine in its own process; each analysis run"
        f" {args.runs}× on DuckDB and {spark_runs}× on Spark with the options of"
        " tests/test_engines_agree.py, median wall time"
        + (" (one Spark run: the time a user waits, once, not a median)" if spark_runs == 1 else "")
        + ". Peak"
        " memory is the process's resident high-water mark during that analysis (reset before"
        " it); for Spark the Python driver + its JVM (in local mode the JVM is driver and"
        " executor; Spark's default 1 GiB driver heap).",
        f"- Spark session start (JVM launch + first query): {spark['opened_seconds']:.1f} s, not"
        f" counted in the times below. {ingest_line}.",
        f"- Same answers checked in the run: all {len(rows)} analyses equal field by field"
        " (floats to 1e-9 relative)"
        + (f"; refused alike on both: {', '.join(refused)}" if refused else "")
        + ".",
        "- Largest result: the most rows any one query of the analysis brought to the driver"
        f" (the largest anywhere: {biggest:,}; nothing per event is collected).",
        "",
        "| analysis | DuckDB | Spark | Spark / DuckDB | DuckDB peak | Spark peak (Python + JVM) | largest result (rows) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        f"| **all, one after another** | {total_d:.1f} s | **{total_s:.1f} s** |"
        f" {total_s / max(total_d, 1e-9):.1f}× | | max {peak_s:,.0f} MiB | |",
        "",
    ]
    write_section(args.section, lines, Path(args.out))
    print("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
