"""Benchmark: dashboard first loads with the background cache warmer.

    .venv/bin/python bench/dashboard_warm.py [--customers 160000] [--seed 7]

On a copy of the demo store (about 1M events for 160,000 customers), the app is started
with its lifespan (so the warmer runs); the benchmark waits for the warmer's first round
and then loads every page once ("first load after start"). It then ingests 100 events
through the Service, and loads every page again at once (stale-while-revalidate: the
previous results are served while the warmer recomputes), and again once the warmer has
caught up. Also timed: an ingestion of 100 events while the warmer computes (it must not
wait for the analyses, which run on their own connection).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

from common import demo_file, form_token, store_for
from service import PAGES


def wait_round(warmer, rounds: int, timeout: float = 900.0) -> float:
    start = time.perf_counter()
    while warmer.rounds < rounds:
        if time.perf_counter() - start > timeout:
            raise SystemExit("warmer did not finish")
        time.sleep(0.1)
    return time.perf_counter() - start


def load_all(client) -> dict[str, float]:
    out = {}
    for page in PAGES:
        t = time.perf_counter()
        r = client.get(page)
        out[page] = time.perf_counter() - t
        assert r.status_code == 200, (page, r.status_code)
    return out


def events(n: int, tag: str) -> list[dict]:
    now = datetime.now(UTC).replace(tzinfo=None)
    return [
        {
            "event_id": f"bench-{tag}-{i}",
            "customer_id": f"C{i % 500:06d}",
            "touchpoint": "website",
            "ts": (now).isoformat(sep=" ", timespec="seconds"),
            "action": "interaction",
        }
        for i in range(n)
    ]


def main() -> None:
    warnings.simplefilter("ignore")
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=int, default=160_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    db, n, _ = store_for(demo_file(args.customers, args.seed))
    from fastapi.testclient import TestClient

    from touchpoints.core.settings import Settings
    from touchpoints.server import users
    from touchpoints.server.app import create_app
    from touchpoints.server.cache import cache_for

    with tempfile.TemporaryDirectory() as tmp:
        copy = str(Path(tmp) / "store.duckdb")
        shutil.copy(db, copy)
        app = create_app(settings=Settings(secret_key="bench" * 8), target=copy)
        service = app.state.service
        service.read(users.create_user, "bench", "bench-password", "admin")
        t0 = time.perf_counter()
        with TestClient(app, follow_redirects=False) as client:
            warmer = cache_for(service).warmer
            first_round = wait_round(warmer, 1)
            print(f"  {n:,} events; warmer's first round {first_round:.1f}s after start")
            client.post(
                "/login",
                data={
                    "username": "bench",
                    "password": "bench-password",
                    "csrf_token": form_token(client),
                },
            )
            first = load_all(client)
            for page, s in first.items():
                print(f"  first load after warm-up {page}: {s * 1000:.0f} ms")
            t = time.perf_counter()
            service.ingest(events(100, "a"))
            ingest_s = time.perf_counter() - t
            # Pages right after the ingest, while the warmer has not refreshed yet.
            after = load_all(client)
            for page, s in after.items():
                print(f"  first load right after ingest {page}: {s * 1000:.0f} ms")
            # An ingestion while the warmer is computing.
            time.sleep(3.0)
            t = time.perf_counter()
            service.ingest(events(100, "b"))
            during_s = time.perf_counter() - t
            second = wait_round(warmer, 3)
            again = load_all(client)
            print(
                f"  ingest 100 events: {ingest_s * 1000:.0f} ms; while warming {during_s * 1000:.0f}"
                f" ms; warmer caught up {second:.1f}s later; round {warmer.last_round_seconds:.1f}s"
            )
            print(
                f"  after re-warm: median {statistics.median(again.values()) * 1000:.0f} ms, "
                f"max {max(again.values()) * 1000:.0f} ms"
            )
            print(f"  total {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
