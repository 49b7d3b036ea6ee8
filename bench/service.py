"""Benchmark: measured staffing vs pandas + pyworkforce, and dashboard page server times.

    .venv/bin/python bench/service.py [--customers 160000] [--seed 7] [--runs 5]

On demo data (`touchpoints.demo.generate`; 160,000 customers make about 1M events, cached
under bench/data/):

- staffing: the `staffing` analysis measured from the DuckDB store (`--touchpoint
  whatsapp`) per hour of the week in São Paulo time (shrinkage 0.3, max occupancy 0.85),
  against what a user would write: pandas reads the Parquet file, groups contacts by
  weekday and hour, and calls pyworkforce's ErlangC per hour. Both answers (agent-hours
  per week) are compared.
- dashboard: each page through the in-process ASGI client, cold (cache emptied before each
  of 3 runs; median) and warm (20 runs after; median and p95).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import HERE, demo_file, median_seconds, signed_in, store_for, write_section

ZONE = "America/Sao_Paulo"
PAGES = [
    "/",
    "/map",
    "/journeys",
    "/touchpoints/phone",
    "/service",
    "/feedback",
    "/attribution",
    "/catalog",
    "/?channel=phone",
    "/service?from=2025-06-01&to=2025-06-30",
]


def peer_staffing(parquet: str) -> dict[tuple[int, int], int]:
    """Scheduled agents per (weekday, hour) as a pandas + pyworkforce user computes them."""
    import pandas as pd
    from pyworkforce.queuing import ErlangC

    df = pd.read_parquet(parquet, columns=["touchpoint", "ts", "abandoned", "handle_seconds"])
    c = df[(df.touchpoint == "whatsapp") & df.abandoned.notna()].copy()
    ts = pd.to_datetime(c.ts, utc=True, format="mixed")
    local = ts.dt.tz_convert(ZONE)
    c["wd"], c["hr"] = local.dt.weekday, local.dt.hour
    answered = c[~c.abandoned.astype(bool)]
    offered = c.groupby(["wd", "hr"]).size()
    aht = answered.groupby(["wd", "hr"]).handle_seconds.mean()
    hours = pd.date_range(ts.min().floor("h"), ts.max(), freq="h").tz_convert(ZONE)
    occurs = (
        pd.Series(1, index=pd.MultiIndex.from_arrays([hours.weekday, hours.hour]))
        .groupby(level=[0, 1])
        .sum()
    )
    out = {}
    for key, n in offered.items():
        e = ErlangC(
            transactions=n / occurs[key], aht=aht[key] / 60, asa=20 / 60, interval=60, shrinkage=0.3
        )
        out[key] = e.required_positions(service_level=0.8, max_occupancy=0.85)["positions"]
    return out


def bench_staffing(db: str, parquet: str, runs: int) -> dict[str, Any]:
    from touchpoints.analytics.registry import get
    from touchpoints.store import open_store

    staffing = get("staffing")
    with open_store(db, read_only=True) as store:
        ours_s, ours = median_seconds(
            lambda: staffing.compute(
                store, touchpoint="whatsapp", timezone=ZONE, shrinkage=0.3, max_occupancy=0.85
            ),
            runs,
        )
    peer_s, peer = median_seconds(lambda: peer_staffing(parquet), runs)
    return {
        "ours": ours_s,
        "peer": peer_s,
        "ours_agent_hours": sum(r["scheduled_agents"] or 0 for r in ours["rows"]),
        "peer_agent_hours": int(sum(peer.values())),
    }


def bench_pages(db: str) -> list[tuple[str, float, float, float]]:
    from touchpoints.server.cache import bump

    client, service = signed_in(db)
    rows = []
    for page in PAGES:
        cold = []
        for _ in range(3):
            bump(service)
            t = time.perf_counter()
            r = client.get(page)
            cold.append(time.perf_counter() - t)
            assert r.status_code == 200, (page, r.status_code, r.text[:300])
        warm = []
        for _ in range(20):
            t = time.perf_counter()
            client.get(page)
            warm.append(time.perf_counter() - t)
        warm.sort()
        rows.append((page, statistics.median(cold), statistics.median(warm), warm[18]))
        print(f"  {page}: cold {rows[-1][1] * 1000:.0f} ms, warm p95 {warm[18] * 1000:.1f} ms")
    service.close()
    return rows


def main() -> None:
    warnings.simplefilter("ignore")
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--customers", type=int, default=160_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()

    parquet = demo_file(args.customers, args.seed)
    db, n, _ = store_for(parquet)
    print(f"  store {db}: {n:,} events")
    staff = bench_staffing(db, str(parquet), args.runs)
    print(f"  staffing: ours {staff['ours']:.3f}s, pandas + pyworkforce {staff['peer']:.3f}s")
    pages = bench_pages(db)

    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## Service: measured staffing and dashboard pages, {n:,} events",
        "",
        f"- Date: {date}; `bench/service.py --customers {args.customers:,} --seed {args.seed}`"
        f" (DuckDB store; medians of {args.runs} runs).",
        "",
        "| staffing, WhatsApp per hour of week (São Paulo) | ours | pandas + pyworkforce | ratio |",
        "|---|---:|---:|---:|",
        f"| wall time | **{staff['ours'] * 1000:.0f} ms** | {staff['peer'] * 1000:.0f} ms"
        f" | {staff['peer'] / staff['ours']:.1f}× |",
        f"| scheduled agent-hours per week | {staff['ours_agent_hours']:,}"
        f" | {staff['peer_agent_hours']:,} | |",
        "",
        "| dashboard page | cold (median of 3) | warm median | warm p95 |",
        "|---|---:|---:|---:|",
        *[
            f"| `{p}` | {c * 1000:,.0f} ms | {w * 1000:.1f} ms | {p95 * 1000:.1f} ms |"
            for p, c, w, p95 in pages
        ],
        "",
        "Goal (issue 6, at 10M events): every page p95 < 300 ms after the first load and the"
        " first load < 2 s.",
        "",
    ]
    write_section("service", lines, Path(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
