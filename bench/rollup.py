"""Benchmark: `summary` and `kpis` from the KPI roll-up against the same questions from raw
events, answers checked equal.

    .venv/bin/python bench/rollup.py --db STORE [--repeat 3]

STORE is a DuckDB store that keeps the roll-up (a store `bench/ingest_facts.py` or
`bench/derived.py` made, or any store after `touchpoints rebuild`). Each question runs in
this one process, median of `--repeat`, first from the roll-up (as the analyses choose),
then with the roll-up switched off. The section between the rollup markers of
bench/RESULTS.md is replaced.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from common import write_section

QUESTIONS: list[tuple[str, dict[str, Any]]] = [
    ("summary", {}),
    ("kpis", {}),
    ("kpis", {"by": "touchpoint"}),
    ("kpis", {"by": "phase"}),
    ("kpis", {"by": "channel"}),
    ("kpis", {"by": "agent"}),
    ("kpis", {"by": "month"}),
    ("kpis", {"touchpoint": "phone", "by": "phase"}),
    ("kpis", {"date_from": "2025-06-01", "date_to": "2025-06-07"}),
]


def timed(store: Any, name: str, options: dict[str, Any], repeat: int) -> tuple[float, Any]:
    from touchpoints.analytics.registry import get

    times, answer = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        answer = get(name).compute(store, **options)
        times.append(time.perf_counter() - t)
    return statistics.median(times), answer


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--db", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from touchpoints.analytics import kpis, summary
    from touchpoints.store import open_store

    rows = []
    with open_store(args.db, read_only=True) as store:
        events, rollup = store.count(), store.count("kpi_facts")
        for name, options in QUESTIONS:
            fast, answer = timed(store, name, options, args.repeat)
            chosen = kpis.rollup_relation
            kpis.rollup_relation = summary.rollup_relation = lambda *a, **k: None
            try:
                raw, expected = timed(store, name, options, args.repeat)
            finally:
                kpis.rollup_relation = summary.rollup_relation = chosen
            assert answer == expected, (name, options)
            label = " ".join([name, *(f"--{k.replace('_', '-')} {v}" for k, v in options.items())])
            rows.append((label, fast, raw))
            print(f"  {label}: roll-up {fast:.3f} s, raw {raw:.3f} s", flush=True)
    lines = [
        "## KPIs from the roll-up (`bench/rollup.py`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} with {os.cpu_count()} "
        f"cores shared with other jobs (load average {os.getloadavg()[0]:.1f} at the end); "
        f"{events:,} demo events on DuckDB, {rollup:,} roll-up rows; in one process, median "
        f"of {args.repeat}; every answer checked equal to the raw events' one.",
        "",
        "| question | from the roll-up | from raw events | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for label, fast, raw in rows:
        lines.append(f"| `{label}` | {fast:.3f} s | {raw:.3f} s | {raw / fast:.1f}× |")
    write_section("rollup", lines)


if __name__ == "__main__":
    main()
