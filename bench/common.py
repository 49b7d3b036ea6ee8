"""What the benchmarks share: demo data cached under bench/data/, stores built in a child
process, and one marked section of bench/RESULTS.md per benchmark.

Benchmarks import it as `from common import ...` (they run as `python bench/NAME.py`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
ROOT = HERE.parent
# The project's interpreter; in a checkout without its own .venv (a git worktree), the one
# running the benchmark (children inherit its PYTHONPATH).
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
RESULTS = HERE / "RESULTS.md"

GENERATE = """
import json, sys, time
from touchpoints.demo import generate
t = time.perf_counter()
stats = generate(customers=int(sys.argv[1]), seed=int(sys.argv[2]), out=sys.argv[3])
print(json.dumps({**stats, "seconds": time.perf_counter() - t}))
"""

INGEST = """
import json, sys, time
from touchpoints.ingest import ingest_files
from touchpoints.store import open_store
db, path = sys.argv[1], sys.argv[2]
seconds, rejected = None, 0
if path != "-":
    t = time.perf_counter()
    with open_store(db) as store:
        result = ingest_files(store, [path])
    seconds, rejected = time.perf_counter() - t, result.rejected
with open_store(db, read_only=True) as store:
    print(json.dumps({"events": store.count(), "seconds": seconds, "rejected": rejected}))
"""


# Late events for a store built from `src`: a sample of its interactions, a day earlier
# under new ids (argv: src, out, n), as a feed that arrives out of order would send them.
LATE = """
import sys, duckdb
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = duckdb.connect()
con.execute(f'''COPY (
  SELECT * REPLACE ('late-' || event_id AS event_id, ts - INTERVAL 1 DAY AS ts)
  FROM read_parquet('{src}') WHERE action = 'interaction' USING SAMPLE {n} ROWS (reservoir, 7)
) TO '{out}' (FORMAT parquet)''')
print('{}')
"""


def in_child(code: str, *argv: str) -> Any:
    """Run setup work (generation, ingestion) in its own process and return its JSON.

    Linux carries a process's peak RSS across fork and exec, so a benchmark parent that
    had ingested millions of rows itself would inflate every measured child's peak.
    """
    done = subprocess.run([PY, "-c", code, *argv], check=True, stdout=subprocess.PIPE)
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def demo_file(customers: int, seed: int, prefix: str = "demo") -> Path:
    """The demo events of `customers` customers (about 6.4 events each), generated once."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"{prefix}_{customers}_{seed}.parquet"
    if not path.exists():
        stats = in_child(GENERATE, str(customers), str(seed), str(path))
        print(f"  generated {stats['events']:,} events in {stats['seconds']:.1f}s", flush=True)
    return path


def store_for(path: Path) -> tuple[str, int, float | None]:
    """A DuckDB store holding `path` (kept between runs); ingestion seconds when made now."""
    db = DATA / f"{path.stem}.duckdb"
    made = in_child(INGEST, str(db), "-" if db.exists() else str(path))
    if made["rejected"]:
        db.unlink()
        raise SystemExit(f"demo data rejected {made['rejected']} rows")
    return str(db), int(made["events"]), made["seconds"]


def status_mib(pid: int, field: str) -> float:
    """A memory figure of a running process from Linux's /proc status (`VmHWM`: its peak
    resident memory so far, `VmRSS`: now), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_measured(argv: list[str], stdout_path: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one process, which must succeed."""
    t = time.perf_counter()
    with open(stdout_path or os.devnull, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t
    if status != 0:
        raise SystemExit(f"{' '.join(argv[:6])} ... failed with status {status}")
    return elapsed, usage.ru_maxrss / 1024


def median_seconds(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median wall seconds of `runs` calls and the last call's answer."""
    times, answer = [], None
    for _ in range(runs):
        t = time.perf_counter()
        answer = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), answer


def write_section(name: str, lines: list[str], results: Path = RESULTS) -> None:
    """Replace this benchmark's marked section of RESULTS.md (append it when missing)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = results.read_text(encoding="utf-8") if results.exists() else "# Benchmark results\n"
    section = "\n".join([start, *lines, end])
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    results.write_text(text, encoding="utf-8")


def form_token(client: Any) -> str:
    """The CSRF token the sign-in form carries for this client (server/csrf.py)."""
    import re

    found = re.search(r'name="csrf_token" value="(\w+)"', client.get("/login").text)
    assert found, "no csrf_token on /login"
    return found.group(1)


def signed_in(db: str, username: str = "bench", role: str = "admin") -> tuple[Any, Any]:
    """A test client of the dashboard on `db` signed in as `username` (created with `role`
    if missing), and the server's service, which the caller closes."""
    from fastapi.testclient import TestClient

    from touchpoints.core.settings import Settings
    from touchpoints.server import users
    from touchpoints.server.app import create_app

    app = create_app(settings=Settings(secret_key="bench" * 8), target=db)
    service = app.state.service
    if not service.read(users.get_user, username):
        service.read(users.create_user, username, "bench-password", role)
    client = TestClient(app, follow_redirects=False)
    login = client.post(
        "/login",
        data={"username": username, "password": "bench-password", "csrf_token": form_token(client)},
    )
    assert login.status_code == 303, login.text
    return client, service
