"""Benchmark: what each analysis behind the dashboard pages costs, in one process.

    .venv/bin/python bench/page_analyses.py [--db STORE] [--runs 3] [--only NAME,...]

Every job of the server's warmer (`dashboard.default_jobs`: the pages without filters),
plus the Service page's staffing and forecast check, is run `--runs` times on the store
(`bench/derived.py`'s 1M store by default) straight through the analysis, no result
cache: the median is what a cold answer costs. Jobs that differ only in their scope's
touchpoints or period (the per-touchpoint KPIs) are timed once each all the same. The
load average is printed beside each line (the machine may be shared). Answers analyses
share within a data version (`Store.memo`: strength and moments, which insights reads) are
forgotten before each timed call, so each median is the job's own cost.

With `--rounds N`, it times N whole warmer rounds instead: every job once, in the warmer's
order, the memo emptied at the start of each round (as an ingestion does), so a job that
borrows another's answer costs what it costs in a server's round.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import time
from datetime import datetime, timedelta
from typing import Any

from common import DATA


def digest(answer: Any) -> str:
    """The answer's JSON, exactly (floats by repr), as a short hash: runs and code versions
    that differ in any bit of any number differ here."""
    text = json.dumps(answer, sort_keys=True, default=str, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def label(fn: Any, args: tuple, kwargs: dict) -> str:
    name = getattr(fn, "__qualname__", str(fn))
    parts = []
    for a in args:
        if hasattr(a, "model_dump"):
            parts += [f"{k}={v}" for k, v in a.model_dump(exclude_defaults=True).items()]
        elif hasattr(a, "where"):
            s = a
            bits = [
                f"{k}={getattr(s, k)}"
                for k in ("date_from", "date_to", "touchpoints", "channels", "phases")
                if getattr(s, k)
            ]
            parts.append("scope(" + ",".join(map(str, bits)) + ")" if bits else "scope")
    module = getattr(fn, "__module__", "").rsplit(".", 1)[-1]
    return f"{module}.{name}({', '.join(parts)})"


def jobs(store: Any) -> list[tuple[str, Any, tuple, dict]]:
    from touchpoints.analytics.scope import Scope
    from touchpoints.server.dashboard import default_jobs
    from touchpoints.server.dashboard.changes import FORECAST_CHECK_DAYS
    from touchpoints.server.pages import job

    def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(store, *args, **kwargs)

    out, seen = [], set()
    every = list(default_jobs(run))
    channel = "phone"
    fn, a, _ = job("summary", Scope())
    last = datetime.fromisoformat(run(fn, *a)["last_event"]).date()
    cut = last - timedelta(days=FORECAST_CHECK_DAYS)
    before = Scope.build(date_to=cut.isoformat(), channel=channel)
    every += [
        job("staffing", Scope(channels=(channel,))),
        job("forecast", before, horizon=f"{FORECAST_CHECK_DAYS}d", interval_minutes=1440),
    ]
    for fn, args, kwargs in every:
        key = label(fn, args, kwargs)
        if key in seen:
            continue
        seen.add(key)
        out.append((key, fn, args, kwargs))
    return out


def rounds(store: Any, n: int, only: list[str], slow: float) -> list[dict[str, Any]]:
    """`n` warmer rounds: every job once, in order, timed alone and in total."""
    memo = getattr(store, "memo", None)
    every = jobs(store)
    out = []
    for i in range(n):
        if memo is not None:
            memo.clear()
        load = os.getloadavg()[0]
        times: dict[str, float] = {}
        began = time.perf_counter()
        for key, fn, a, kw in every:
            t = time.perf_counter()
            fn(store, *a, **kw)
            times[key] = time.perf_counter() - t
        total = time.perf_counter() - began
        print(
            f"round {i + 1}: {total:8.3f} s for {len(times)} jobs "
            f"(load {load:.1f}->{os.getloadavg()[0]:.1f})",
            flush=True,
        )
        for key, seconds in times.items():
            if (only and any(s in key for s in only)) or (slow and seconds >= slow):
                print(f"  {seconds:8.3f} s  {key}", flush=True)
        out.append({"total_s": total, "load": load, "times": times})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--db", default=str(DATA / "derived_156000_facts.duckdb"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated substrings of job labels")
    ap.add_argument("--min", type=float, default=0.0, help="print only jobs at least this slow")
    ap.add_argument("--rounds", type=int, default=0, help="time N whole warmer rounds instead")
    args = ap.parse_args()
    from touchpoints.store import open_store

    only = [s for s in args.only.split(",") if s]
    if args.rounds:
        with open_store(args.db, read_only=True) as store:
            print(json.dumps(rounds(store, args.rounds, only, args.min)))
        return
    results = []
    with open_store(args.db, read_only=True) as store:
        memo = getattr(store, "memo", None)  # absent before shared answers existed
        for key, fn, a, kw in jobs(store):
            if only and not any(s in key for s in only):
                continue
            load = os.getloadavg()[0]
            times, answers = [], set()
            for _ in range(args.runs):
                if memo is not None:
                    memo.clear()
                t = time.perf_counter()
                answer = fn(store, *a, **kw)
                times.append(time.perf_counter() - t)
                answers.add(digest(answer))
            med = statistics.median(times)
            results.append(
                {
                    "job": key,
                    "median_s": med,
                    "times": times,
                    "load": load,
                    "answers": sorted(answers),
                }
            )
            if med >= args.min:
                print(
                    f"{med:8.3f} s  (min {min(times):.3f}, load {load:.1f}->{os.getloadavg()[0]:.1f})  "
                    f"{key}  {' '.join(sorted(answers))}",
                    flush=True,
                )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
