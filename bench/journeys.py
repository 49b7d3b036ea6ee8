"""Benchmark: `touchpoints journeys dfg` + `journeys variants` against PM4Py.

    .venv/bin/python bench/journeys.py [--customers 780000] [--seed 11]

On demo data (`touchpoints.demo.generate`, about 6.4 events per customer, so 780,000
customers make about 5M events; the file is cached under bench/data/):

- ours: the two whole commands (`touchpoints journeys dfg --json` and `journeys variants
  --json`, each a fresh process) over a DuckDB store the file was ingested into; wall time
  and peak RSS from os.wait4. Ingestion is timed and reported apart: the store is where the
  events live, as the event log is for a PM4Py user.
- PM4Py, in a fresh process: pandas.read_parquet, drop feedback rows, format_dataframe,
  discover_dfg, discover_performance_dfg, get_variants; wall time and peak RSS likewise.

Both answers are compared in the same run (edge, start, end and variant counts exactly;
mean and median seconds within 1e-6) before anything is written; the section between the
journeys markers of bench/RESULTS.md is replaced (or appended when missing).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import HERE, PY, demo_file, run_measured, store_for, write_section

# The CLI as `touchpoints` runs it.
CLI = [
    PY,
    "-c",
    "import sys; from touchpoints.cli import main; sys.argv[0] = 'touchpoints'; main()",
]

PM4PY_SCRIPT = r"""
import json, sys, time
t = time.perf_counter()
import pandas as pd
import pm4py
imported = time.perf_counter() - t
path, out = sys.argv[1], sys.argv[2]
t = time.perf_counter()
df = pd.read_parquet(path, columns=["customer_id", "touchpoint", "ts", "action"])
df = df[df["action"] != "feedback"]
df = pm4py.format_dataframe(df, case_id="customer_id", activity_key="touchpoint", timestamp_key="ts")
read = time.perf_counter() - t
t = time.perf_counter()
freq, start, end = pm4py.discover_dfg(df)
dfg_s = time.perf_counter() - t
t = time.perf_counter()
perf, _, _ = pm4py.discover_performance_dfg(df)
perf_s = time.perf_counter() - t
t = time.perf_counter()
var = pm4py.get_variants(df)
var_s = time.perf_counter() - t
json.dump({
    "edges": {f"{a} {b}": int(n) for (a, b), n in freq.items()},
    "perf": {f"{a} {b}": [float(v["mean"]), float(v["median"])] for (a, b), v in perf.items()},
    "starts": {k: int(v) for k, v in start.items()},
    "ends": {k: int(v) for k, v in end.items()},
    "version": pm4py.__version__,
    "variants": {" ".join(k): int(v) for k, v in var.items()},
    "seconds": {"import": imported, "read": read, "dfg": dfg_s,
                "performance_dfg": perf_s, "variants": var_s},
}, open(out, "w"))
"""


def compare(dfg: dict[str, Any], variants: dict[str, Any], peer: dict[str, Any]) -> int:
    """Assert our answers equal PM4Py's; return the number of variants compared."""
    ours_edges = {f"{e['from']} {e['to']}": e["count"] for e in dfg["edges"]}
    assert ours_edges == peer["edges"], "edge counts differ from PM4Py"
    assert dfg["starts"] == peer["starts"], "start counts differ from PM4Py"
    assert dfg["ends"] == peer["ends"], "end counts differ from PM4Py"
    for e in dfg["edges"]:
        mean, median = peer["perf"][f"{e['from']} {e['to']}"]
        assert abs(e["mean_seconds"] - mean) <= 1e-6 * max(1.0, abs(mean)), (e, mean)
        assert abs(e["median_seconds"] - median) <= 1e-6 * max(1.0, abs(median)), (e, median)
    ours_variants = {" ".join(v["path"]): v["count"] for v in variants["variants"]}
    assert ours_variants == peer["variants"], "variant counts differ from PM4Py"
    return len(ours_variants)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--customers", type=int, default=780_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--skip-pm4py", action="store_true", help="time ours only (scaling runs)")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()

    parquet = demo_file(args.customers, args.seed, prefix="journeys")
    db, n, ingest_s = store_for(parquet)
    print(f"  store {db}: {n:,} events" + (f", ingested in {ingest_s:.1f}s" if ingest_s else ""))

    tmp = Path(tempfile.mkdtemp(prefix="tp_bench_journeys_"))
    ours: dict[str, tuple[float, float]] = {}
    answers: dict[str, Any] = {}
    for command in ("dfg", "variants"):
        out = tmp / f"{command}.json"
        ours[command] = run_measured([*CLI, "journeys", command, "--json", "--db", db], out)
        answers[command] = json.loads(out.read_text())
        print(f"  ours {command}: {ours[command][0]:.2f}s, {ours[command][1]:,.0f} MiB")
    our_wall = sum(w for w, _ in ours.values())
    our_rss = max(r for _, r in ours.values())
    edges = len(answers["dfg"]["edges"])
    if args.skip_pm4py:
        print(
            f"  ours total {our_wall:.2f}s, {edges} edges, {len(answers['variants']['variants']):,} variants"
        )
        return

    peer_out = tmp / "pm4py.json"
    peer_wall, peer_rss = run_measured([PY, "-c", PM4PY_SCRIPT, str(parquet), str(peer_out)])
    peer = json.loads(peer_out.read_text())
    print(f"  pm4py: {peer_wall:.2f}s, {peer_rss:,.0f} MiB ({peer['seconds']})")
    n_variants = compare(answers["dfg"], answers["variants"], peer)
    print(f"  same answers: {edges} edges, {n_variants:,} variants")

    ps = peer["seconds"]
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## Journeys: `journeys dfg` + `journeys variants` vs PM4Py, {n:,} events",
        "",
        f"- Date: {date}; `bench/journeys.py --customers {args.customers:,} --seed {args.seed}`"
        f" (demo data, {n:,} stored events, one run each: the machine is shared, read the ratios).",
        "- Ours: two whole CLI processes (`--json`, per customer, default options) over a DuckDB"
        " store; wall time and peak RSS from `wait4`."
        + (f" Ingesting the Parquet file took {ingest_s:.1f} s (not counted)." if ingest_s else ""),
        f"- PM4Py {peer.get('version', '2.7')}: one process — `read_parquet` + drop feedback +"
        " `format_dataframe`, `discover_dfg`, `discover_performance_dfg`, `get_variants`.",
        f"- Same answers checked in the run: {edges} edges (count exact, mean/median within"
        f" 1e-6), starts, ends, {n_variants:,} variants (count exact).",
        "",
        "| measure | ours | PM4Py | PM4Py / ours |",
        "|---|---:|---:|---:|",
        f"| wall time, DFG + performance + variants | **{our_wall:.2f} s** | {peer_wall:.2f} s | {peer_wall / our_wall:.1f}× |",
        f"| peak memory (max of our two processes) | **{our_rss:,.0f} MiB** | {peer_rss:,.0f} MiB | {peer_rss / our_rss:.1f}× |",
        "",
        f"Ours: `dfg` {ours['dfg'][0]:.2f} s / {ours['dfg'][1]:,.0f} MiB, `variants`"
        f" {ours['variants'][0]:.2f} s / {ours['variants'][1]:,.0f} MiB."
        f" PM4Py: import {ps['import']:.1f} s, read + format {ps['read']:.1f} s, DFG"
        f" {ps['dfg']:.1f} s, performance DFG {ps['performance_dfg']:.1f} s, variants"
        f" {ps['variants']:.1f} s. Goal: ≥ 10× faster than PM4Py with lower peak memory.",
        "",
        "Where our time goes: both commands read facts kept at ingestion instead of ordering"
        " every step: the DFG groups `journey_steps` (each step with the customer's next one),"
        " the variants group `journey_customers` (one path per customer). Each process spends"
        " about 0.45 s starting Python and importing the command line, and the variants command"
        " about 0.35 s writing 284k variants as JSON.",
        "",
    ]
    write_section("journeys", lines, Path(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
