"""Benchmark: each dashboard page's first load after a start, with and without the
journey facts kept at ingestion.

    .venv/bin/python bench/first_page.py [--customers 156000]

Reads the two stores `bench/derived.py` leaves in bench/data/ (the same events, one
keeping journey facts, one without). The app is built without its lifespan (so no warmer
computes anything ahead), a user logs in, and every page is loaded with the result cache
emptied before each load: the cost a first visitor pays after a start. Median of 3.
The section between the first_page markers of bench/RESULTS.md is replaced.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import DATA, write_section
from service import PAGES


def first_loads(db: str) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from touchpoints.core.settings import Settings
    from touchpoints.server import users
    from touchpoints.server.app import create_app
    from touchpoints.server.cache import bump

    app = create_app(settings=Settings(secret_key="bench" * 8), target=db)
    service = app.state.service
    if not service.read(users.get_user, "bench"):
        service.read(users.create_user, "bench", "bench-password", "admin")
    client = TestClient(app, follow_redirects=False)
    login = client.post("/login", data={"username": "bench", "password": "bench-password"})
    assert login.status_code == 303, login.text
    out = {}
    for page in PAGES:
        times = []
        for _ in range(3):
            bump(service)
            t = time.perf_counter()
            r = client.get(page)
            times.append(time.perf_counter() - t)
            assert r.status_code == 200, (page, r.status_code)
        out[page] = statistics.median(times)
        print(f"  {db.rsplit('/', 1)[-1]} {page}: {out[page]:.2f} s", flush=True)
    service.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--customers", type=int, default=156_000)
    args = ap.parse_args()
    stores = {
        "facts": DATA / f"derived_{args.customers}_facts.duckdb",
        "raw": DATA / f"derived_{args.customers}_plain.duckdb",
    }
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in stores.items():
            if not path.exists():
                raise SystemExit(f"{path} is missing: run bench/derived.py first")
            copy = Path(tmp) / path.name
            shutil.copy(path, copy)
            results[name] = first_loads(str(copy))
    from touchpoints.store import open_store

    with open_store(str(stores["facts"]), read_only=True) as store:
        events = store.count()
    lines = [
        "## Dashboard first loads after a start, with journey facts (`bench/first_page.py`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()} with {os.cpu_count()} cores; "
        f"{events:,} demo events on DuckDB; no warmer, result cache emptied before each load; "
        f"median of 3. Load average at the end: {os.getloadavg()[0]:.1f} (shared machine).",
        "",
        "| page | with journey facts | from raw events |",
        "|---|---:|---:|",
    ]
    for page in PAGES:
        lines.append(
            f"| `{page}` | {results['facts'][page]:.2f} s | {results['raw'][page]:.2f} s |"
        )
    write_section("first_page", lines)


if __name__ == "__main__":
    main()
