"""What each analysis asks of Spark: the physical plans of its queries, summarised.

    .venv/bin/python bench/spark_plans.py --db 'spark://local[2]?warehouse=bench/data/…_spark'

Runs every analysis of the registry once on a Spark store (one bench/spark.py made, for
example) and, for each Spark SQL query it sends, reads the physical plan Spark chose before
running it (adaptive execution may still coalesce partitions or switch a join at run time).
Per analysis it prints: the queries sent, the shuffles (`Exchange hashpartitioning` by
which keys, `rangepartitioning` for a global sort, `SinglePartition` where everything meets
in one task), the broadcast joins and sort-merge joins, and the window functions' partition
keys — the table docs/spark.md summarises. With `--full FILE` every plan is written there.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from touchpoints.analytics.registry import analyses, get
from touchpoints.core.errors import TouchpointsError
from touchpoints.store import open_store

OPTIONS: dict[str, dict[str, Any]] = {
    "whatif": {"touchpoint": "phone", "abandonment": 0.02},
    "staffing": {"touchpoint": ["phone"]},
    "effect": {"change": 1, "metric": "events", "window": "16w", "timezone": "America/Sao_Paulo"},
    "live": {"at": "2025-12-31T18:00:00Z"},
    "forecast": {"horizon": "1d"},
    "customer.journey": {"customer_id": "C000001"},
    "customer.events": {"customer_id": "C000001"},
}
HASH = re.compile(r"Exchange hashpartitioning\(([^)]*?)(?:, \d+)?\)")
WINDOW = re.compile(r"Window \[.*?\], \[([^\]]*)\]")
ID_SUFFIX = re.compile(r"#\d+L?")


def keys(text: str) -> str:
    """Column names of a plan fragment without Spark's expression ids."""
    return ", ".join(sorted({ID_SUFFIX.sub("", k).strip() for k in text.split(",") if k.strip()}))


def summarise(plans: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {
        "queries": len(plans),
        "hash": Counter(),
        "range": 0,
        "single": 0,
        "broadcast": 0,
        "smj": 0,
        "windows": Counter(),
        "tables": Counter(),
    }
    for plan in plans:
        for m in HASH.finditer(plan):
            found["hash"][keys(m.group(1))] += 1
        found["range"] += plan.count("Exchange rangepartitioning")
        found["single"] += plan.count("Exchange SinglePartition")
        found["broadcast"] += plan.count("BroadcastExchange")
        found["smj"] += plan.count("SortMergeJoin")
        for m in WINDOW.finditer(plan):
            found["windows"][keys(m.group(1)) or "(none: one partition)"] += 1
        for m in re.finditer(r"FileScan parquet [\w.]*?\.?(\w+)\[", plan):
            found["tables"][m.group(1)] += 1
    return found


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--db", required=True, help="a spark:// target holding events")
    ap.add_argument("--names", default="", help="comma-separated analyses (default: all)")
    ap.add_argument("--full", default="", help="write every plan to this file")
    args = ap.parse_args()
    store = open_store(args.db)
    if store.engine != "spark":
        raise SystemExit("--db must be a Spark target")
    session = store.spark  # type: ignore[attr-defined]
    plans: list[str] = []
    sql = session.sql

    def planned(text: str, args: Any = None, **kwargs: Any) -> Any:
        frame = sql(text, args=args, **kwargs) if args else sql(text, **kwargs)
        plans.append(str(frame._jdf.queryExecution().executedPlan().toString()))
        return frame

    session.sql = planned  # type: ignore[method-assign]
    names = [n for n in args.names.split(",") if n] or [a.name for a in analyses()]
    full: list[str] = []
    print(
        "| analysis | queries | shuffles: hash (keys) | global sort / one partition | joins: broadcast / sort-merge | windows partitioned by | tables read |"
    )
    print("|---|---:|---|---|---|---|---|")
    for name in names:
        plans.clear()
        try:
            get(name).compute(store, **OPTIONS.get(name, {}))
        except TouchpointsError as exc:
            print(f"| {name} | refused: {exc} | | | | | |")
            continue
        s = summarise(plans)
        hashes = "; ".join(f"{k or '?'} ×{n}" for k, n in s["hash"].most_common()) or "none"
        windows = "; ".join(f"{k} ×{n}" for k, n in s["windows"].most_common()) or "none"
        tables = ", ".join(f"{k} ×{n}" for k, n in s["tables"].most_common())
        print(
            f"| {name} | {s['queries']} | {hashes} | {s['range']} / {s['single']} |"
            f" {s['broadcast']} / {s['smj']} | {windows} | {tables} |",
            flush=True,
        )
        full.extend(f"## {name} — query {i + 1}\n\n{p}\n" for i, p in enumerate(plans))
    store.close()
    if args.full:
        Path(args.full).write_text("\n".join(full), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
