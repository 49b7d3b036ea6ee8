"""Benchmarks for the core issue, side by side with the peer a user would otherwise use.

    .venv/bin/python bench/run.py [--sizes 1000000,10000000] [--repeat 3]

Measures, on demo data (the tyre retailer of `touchpoints demo-data`):
- ingestion rows/s from Parquet and CSV into a fresh DuckDB store, against pandas reading
  and type-checking the same file (read + to_datetime/to_numeric: the minimum a script does);
- `touchpoints kpis --by touchpoint` at the largest size: query time in-process, the whole
  command's wall time and peak memory (a subprocess, measured with wait4), against pandas
  computing the same KPIs from Parquet.
Results (medians of --repeat runs, and ratios) go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from common import write_section
from touchpoints.analytics.registry import get
from touchpoints.demo import generate
from touchpoints.ingest import ingest_files
from touchpoints.store import open_store

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
ROOT = HERE.parent
CLI = str(ROOT / ".venv" / "bin" / "touchpoints")
EVENTS_PER_CUSTOMER_GUESS = 6.4  # what demo-data averages


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}, DuckDB {duckdb.__version__}"


def demo_file(events: int) -> Path:
    """Demo data with about `events` rows, generated once and cached in bench/data/."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"demo_{events}.parquet"
    if not path.exists():
        customers = max(1, int(events / EVENTS_PER_CUSTOMER_GUESS))
        t = time.perf_counter()
        stats = generate(customers=customers, seed=11, out=path)
        print(
            f"  generated {stats['events']:,} events in {time.perf_counter() - t:.1f}s", flush=True
        )
    csv = path.with_suffix(".csv")
    if not csv.exists():
        duckdb.sql(f"COPY (SELECT * FROM read_parquet('{path}')) TO '{csv}' (HEADER)")
    return path


def rows_in(path: Path) -> int:
    return int(duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()[0][0])


def fresh_db(name: str) -> str:
    db = DATA / name
    for p in (db, Path(str(db) + ".wal")):
        if p.exists():
            p.unlink()
    return str(db)


def time_ingest(path: Path, db_name: str) -> tuple[float, int]:
    db = fresh_db(db_name)
    with open_store(db) as store:
        t = time.perf_counter()
        result = ingest_files(store, [path])
        elapsed = time.perf_counter() - t
    assert result.rejected == 0, result.quarantine[:3]
    return elapsed, result.ingested


def time_pandas_read(path: Path) -> float:
    """pandas reading the file and coercing the types a careful script would check."""
    import pandas as pd

    t = time.perf_counter()
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, low_memory=False)
    df["ts"] = pd.to_datetime(df["ts"], utc=True, errors="coerce")
    for col in ("value", "wait_seconds", "handle_seconds", "nps", "csat", "ces", "emotion"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    bad = df["ts"].isna() | df["customer_id"].isna() | df["touchpoint"].isna()
    _ = df[~bad]
    return time.perf_counter() - t


def pandas_kpis(path: Path) -> float:
    """The same KPIs by touchpoint in pandas, from the Parquet file (a user's script)."""
    import pandas as pd

    t = time.perf_counter()
    df = pd.read_parquet(path)
    offered = df["abandoned"].notna()
    answered = df["abandoned"].eq(False) & offered
    df = df.assign(
        offered=offered,
        answered=answered,
        ab=df["abandoned"].eq(True) & offered,
        wait_ans=df["wait_seconds"].where(answered),
        handle_ans=df["handle_seconds"].where(answered),
        within=answered & (df["wait_seconds"] <= 20),
        csat_good=(df["csat"] >= 4).where(df["csat"].notna()),
        promoter=(df["nps"] >= 9).where(df["nps"].notna()),
        detractor=(df["nps"] <= 6).where(df["nps"].notna()),
        purchase=df["action"].eq("purchase"),
        revenue=df["value"].where(df["action"].eq("purchase")),
        resolved_f=df["resolved"].astype("float"),
    )
    g = df.groupby("touchpoint")
    out = g.agg(
        events=("event_id", "size"),
        customers=("customer_id", "nunique"),
        offered=("offered", "sum"),
        answered=("answered", "sum"),
        abandoned=("ab", "sum"),
        tme=("wait_ans", "mean"),
        tma=("handle_ans", "mean"),
        within=("within", "sum"),
        fcr=("resolved_f", "mean"),
        csat=("csat_good", "mean"),
        promoters=("promoter", "mean"),
        detractors=("detractor", "mean"),
        ces=("ces", "mean"),
        conversions=("purchase", "sum"),
        revenue=("revenue", "sum"),
        emotion=("emotion", "mean"),
    )
    out["abandonment_rate"] = out["abandoned"] / out["offered"]
    out["service_level"] = out["within"] / out["offered"]
    out["nps"] = 100 * (out["promoters"] - out["detractors"])
    return time.perf_counter() - t


# A small launcher: on Linux a child's ru_maxrss includes what it inherited at fork, so the
# command is started from a fresh tiny process, not from this (large) benchmark process.
LAUNCHER = (
    "import os, sys, time; t = time.perf_counter(); pid = os.spawnv(os.P_NOWAIT, sys.argv[1], sys.argv[1:]); "
    "_, status, ru = os.wait4(pid, 0); print(time.perf_counter() - t, ru.ru_maxrss / 1024, status)"
)


def run_cli_kpis(db: str) -> tuple[float, float]:
    """Wall time and peak RSS (MiB) of the whole `touchpoints kpis --by touchpoint` command."""
    argv = [CLI, "kpis", "--by", "touchpoint", "--json", "--db", db]
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *argv], capture_output=True, text=True, check=True
    )
    elapsed, rss, status = done.stdout.strip().splitlines()[-1].split()
    if int(status) != 0:
        raise SystemExit(f"touchpoints kpis failed with status {status}")
    return float(elapsed), float(rss)


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--sizes", default="1000000,10000000", help="event counts to test, comma-separated"
    )
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (median reported)")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    lines: list[str] = []
    ingest_rows: list[str] = []
    for size in sizes:
        print(f"size ~{size:,} events", flush=True)
        parquet = demo_file(size)
        csv = parquet.with_suffix(".csv")
        n = rows_in(parquet)
        repeat = args.repeat if n <= 2_000_000 else max(1, min(args.repeat, 2))
        for label, path in (("Parquet", parquet), ("CSV", csv)):
            ours = [time_ingest(path, f"bench_{label}.duckdb")[0] for _ in range(repeat)]
            peer = [time_pandas_read(path) for _ in range(repeat)]
            ours_m, peer_m = median(ours), median(peer)
            ingest_rows.append(
                f"| {label} | {n:,} | {ours_m:.2f} s | **{n / ours_m:,.0f}** | {peer_m:.2f} s | {n / peer_m:,.0f} | {peer_m / ours_m:.2f}× |"
            )
            print(
                f"  {label}: {n / ours_m:,.0f} rows/s (pandas read+check {n / peer_m:,.0f} rows/s)",
                flush=True,
            )

    # KPIs at the largest size, on the store the last Parquet ingestion left.
    biggest = demo_file(max(sizes))
    n = rows_in(biggest)
    db = fresh_db("bench_kpis.duckdb")
    with open_store(db) as store:
        ingest_files(store, [biggest])
    kpis = get("kpis")
    query_times = []
    for _ in range(args.repeat + 1):
        with open_store(db, read_only=True) as store:
            t = time.perf_counter()
            kpis.compute(store, by="touchpoint")
            query_times.append(time.perf_counter() - t)
    query_times = query_times[1:]  # the first run warms the OS page cache
    cli = [run_cli_kpis(db) for _ in range(args.repeat)]
    cli_wall = median([c[0] for c in cli])
    cli_rss = max(c[1] for c in cli)
    pandas_t = median([pandas_kpis(biggest) for _ in range(max(1, args.repeat - 1))])

    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines += [
        f"- Date: {date}",
        f"- Machine: {machine()}",
        f"- Command: `make bench` (`bench/run.py --sizes {args.sizes} --repeat {args.repeat}`); medians of the runs; our machines are noisy, so read the ratios.",
        "- Data: `touchpoints demo-data` (the tyre retailer), all 21 SPEC §2 columns.",
        "",
        "## Ingestion into a fresh DuckDB store",
        "",
        "Ours = `ingest_files(store, [file])`: read, type and validate every column in SQL, derive keys, dedupe, quarantine, commit.",
        "Peer = pandas `read_parquet`/`read_csv` + `to_datetime`/`to_numeric` + a required-column check, without storing anything.",
        "",
        "| format | events | ours | ours rows/s | pandas | pandas rows/s | ours vs pandas |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *ingest_rows,
        "",
        "Goal: ≥ 1,000,000 rows/s from Parquet and ≥ 300,000 rows/s from CSV.",
        "",
        f"## `kpis --by touchpoint` over {n:,} stored events",
        "",
        "| measure | ours | pandas (read Parquet + groupby) | goal |",
        "|---|---:|---:|---:|",
        f"| query (in-process, warm) | {median(query_times):.3f} s | {pandas_t:.2f} s | < 1 s |",
        f"| whole command (`touchpoints kpis --by touchpoint --json`) | {cli_wall:.2f} s | — | < 2 s |",
        f"| peak memory of the command | {cli_rss:,.0f} MiB | — | < 1,536 MiB |",
        "",
        f"pandas / ours (query): {pandas_t / median(query_times):.1f}×",
        "",
    ]
    write_section("core", lines, Path(args.out))
    print(f"wrote {args.out}")
    shutil.rmtree(DATA / "tmp", ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
