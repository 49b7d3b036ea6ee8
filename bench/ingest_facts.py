"""Benchmark: what the derived facts cost at ingestion.

    .venv/bin/python bench/ingest_facts.py [--customers 156000] [--seed 11] [--late 1000]

The same demo Parquet file (about 6.4 events per customer) ingested into a new DuckDB
store, each in a fresh process: without derived facts, with the journey facts only
(`event_facts`, `journey_cycles`), and with the journey facts and the KPI roll-up
(`kpi_facts`, the default). Then a late batch of `--late` events for customers already
stored (each re-cuts its customer's facts) into each store. One run each (the machine is
shared: read the ratios). The section between the ingest_facts markers of
bench/RESULTS.md is replaced.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from common import LATE, demo_file, in_child, write_section

INGEST = """
import json, sys, time
from touchpoints.ingest import ingest_files
from touchpoints.store import open_store
db, path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
with open_store(db) as store:
    if mode == "none":
        store.execute("DELETE FROM meta WHERE key = 'derived_facts'")
    if mode in ("none", "journey"):
        store.execute("DELETE FROM meta WHERE key = 'kpi_rollup'")
    t = time.perf_counter()
    result = ingest_files(store, [path])
    seconds = time.perf_counter() - t
    print(json.dumps({"events": store.count(), "stored": result.ingested, "seconds": seconds}))
"""

MODES = {
    "none": "no derived facts",
    "journey": "journey facts only",
    "full": "journey facts + KPI roll-up",
}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--customers", type=int, default=156_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--late", type=int, default=1000)
    args = ap.parse_args()
    path = demo_file(args.customers, args.seed)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        late = Path(tmp) / "late.parquet"
        in_child(LATE, str(path), str(late), str(args.late))
        for mode in MODES:
            db = str(Path(tmp) / f"{mode}.duckdb")
            bulk = in_child(INGEST, db, str(path), mode)
            again = in_child(INGEST, db, str(late), "keep")
            results[mode] = (bulk, again)
            print(f"  {mode}: {bulk['seconds']:.2f} s, late {again['seconds']:.3f} s", flush=True)
    base = results["none"][0]["seconds"]
    lines = [
        "## Ingestion with the derived facts kept (`bench/ingest_facts.py`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} with {os.cpu_count()} "
        f"cores shared with other jobs (load average {os.getloadavg()[0]:.1f} at the end); "
        f"demo data, {results['none'][0]['events']:,} events from Parquet into a new DuckDB "
        f"store, then {results['none'][1]['stored']:,} late events for stored customers; one "
        "run each, each in a fresh process.",
        "",
        "| store keeps | bulk load | events/s | vs none | late batch |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode, label in MODES.items():
        bulk, again = results[mode]
        lines.append(
            f"| {label} | {bulk['seconds']:.2f} s | {bulk['events'] / bulk['seconds']:,.0f} | "
            f"{bulk['seconds'] / base:.2f}× | {again['seconds']:.3f} s |"
        )
    write_section("ingest_facts", lines)


if __name__ == "__main__":
    main()
