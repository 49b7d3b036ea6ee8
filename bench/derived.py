"""Benchmark: the journey facts kept at ingestion (`store.derived`).

    .venv/bin/python bench/derived.py [--customers 156000] [--seed 11] [--late 1000]

On demo data (about 6.4 events per customer; 156,000 customers make about 1M events):

- ingestion from the Parquet file into a new DuckDB store, with the facts maintained (the
  default) and without them (a store that keeps none), each in a fresh process;
- a late batch of `--late` events for customers already stored (their times a day before
  one of their events, so every one of them re-cuts that customer's cycles), ingested into
  both stores: the cost of keeping the facts grows with the customers touched, not with
  the stored history;
- the journey questions that read cycles, from the facts and from raw events (median of 3
  in one process, answers checked equal), on the store with facts.

The section between the derived markers of bench/RESULTS.md is replaced (or appended).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from datetime import UTC, datetime

from common import DATA, LATE, PY, demo_file, in_child, write_section

INGEST = """
import json, sys, time
from touchpoints.ingest import ingest_files
from touchpoints.store import open_store
db, path, facts = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
with open_store(db) as store:
    if not facts:
        store.execute("DELETE FROM meta WHERE key = 'derived_facts'")
    t = time.perf_counter()
    result = ingest_files(store, [path])
    seconds = time.perf_counter() - t
    print(json.dumps({"events": store.count(), "stored": result.ingested, "seconds": seconds,
                      "facts": store.count("event_facts"), "cycles": store.count("journey_cycles")}))
"""

QUESTIONS = """
import json, math, statistics, sys, time
from touchpoints.analytics.registry import get
from touchpoints.store import open_store
QUESTIONS = [
    ("journeys.dfg", {"case": "cycle"}),
    ("journeys.variants", {"case": "cycle"}),
    ("journeys.sankey", {}),
    ("journeys.funnel", {"touchpoint": ["website", "store", "phone"]}),
    ("attribution", {"model": "markov"}),
    ("attribution", {"model": "last"}),
]
def close(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    return a == b
out = []
with open_store(sys.argv[1], read_only=True) as store:
    for name, options in QUESTIONS:
        analysis = get(name)
        scope, parsed = analysis.parse(options)
        timings = {}
        answers = {}
        for path, fn in (("facts", analysis.run), ("raw", analysis.run.__wrapped__)):
            times = []
            for _ in range(3):
                t = time.perf_counter()
                answers[path] = fn(store, scope, parsed)
                times.append(time.perf_counter() - t)
            timings[path] = statistics.median(times)
        assert close(answers["facts"], answers["raw"]), (name, options)
        out.append({"question": name, "options": options, **timings})
print(json.dumps(out))
"""


def fresh(path: str) -> str:
    for suffix in ("", ".wal"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--customers", type=int, default=156_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--late", type=int, default=1000)
    args = ap.parse_args()
    source = demo_file(args.customers, args.seed)
    with_facts = fresh(str(DATA / f"derived_{args.customers}_facts.duckdb"))
    without = fresh(str(DATA / f"derived_{args.customers}_plain.duckdb"))
    kept = in_child(INGEST, with_facts, str(source), "1")
    plain = in_child(INGEST, without, str(source), "0")
    print(
        f"  ingest {kept['events']:,} events: with facts {kept['seconds']:.2f}s, without {plain['seconds']:.2f}s",
        flush=True,
    )
    late_file = str(DATA / f"derived_{args.customers}_late.parquet")
    subprocess.run(
        [PY, "-c", LATE, str(source), late_file, str(args.late)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    late_kept = in_child(INGEST, with_facts, late_file, "1")
    late_plain = in_child(INGEST, without, late_file, "0")
    print(
        f"  late {late_kept['stored']:,}: with facts {late_kept['seconds']:.3f}s, without {late_plain['seconds']:.3f}s",
        flush=True,
    )
    questions = in_child(QUESTIONS, with_facts)
    n = kept["events"]
    lines = [
        "## Journey facts kept at ingestion (`bench/derived.py`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()} with {os.cpu_count()} cores, "
        f"{platform.python_version()}; demo data, {args.customers:,} customers = {n:,} events "
        f"({kept['cycles']:,} journey cycles); DuckDB store; each ingestion in a fresh process. "
        f"Load average at the end: {os.getloadavg()[0]:.1f} (the machine was shared: compare "
        "the columns of one table, not these times with other sections).",
        "",
        "| ingestion | with facts | without | facts' share |",
        "|---|---:|---:|---:|",
        f"| {n:,} events from Parquet into a new store | {kept['seconds']:.2f} s "
        f"({n / kept['seconds'] / 1e6:.2f} M events/s) | {plain['seconds']:.2f} s "
        f"({n / plain['seconds'] / 1e6:.2f} M events/s) | "
        f"{(kept['seconds'] - plain['seconds']) / kept['seconds']:.0%} |",
        f"| {late_kept['stored']:,} late events (each re-cuts its customer's cycles) | "
        f"{late_kept['seconds']:.3f} s | {late_plain['seconds']:.3f} s | "
        f"{(late_kept['seconds'] - late_plain['seconds']) / late_kept['seconds']:.0%} |",
        "",
        "| question (in one process, median of 3; answers checked equal) | from facts | from raw events | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for q in questions:
        opts = " ".join(
            f"--{k} {','.join(v) if isinstance(v, list) else v}" for k, v in q["options"].items()
        )
        label = f"{q['question'].replace('.', ' ')} {opts}".strip()
        lines.append(
            f"| `{label}` | {q['facts']:.3f} s | {q['raw']:.3f} s | {q['raw'] / q['facts']:.1f}x |"
        )
    write_section("derived", lines)
    print(
        json.dumps(
            {
                "ingest": kept,
                "plain": plain,
                "late": late_kept,
                "late_plain": late_plain,
                "questions": questions,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
