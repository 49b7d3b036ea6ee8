"""A real Spark standalone cluster on loopback: a master and a worker started with the
`pyspark` package's own launcher (`spark-class ...Master` / `...Worker`), and the command
line run against it (`--db spark://spark://127.0.0.1:PORT?warehouse=...`).

Each command runs in its own process: a process holds one classic SparkContext, and the
test process already holds a local one. Runs in the Spark matrix only
(TOUCHPOINTS_TEST_SPARK=all): the cluster and two drivers take a minute or more.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import SPARK_MATRIX, free_port, write_csv
from touchpoints.analytics.registry import get
from touchpoints.ingest import ingest_files
from touchpoints.store import open_store

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(
        not SPARK_MATRIX, reason="the Spark matrix only (TOUCHPOINTS_TEST_SPARK=all)"
    ),
]

ROWS = [
    {"event_id": "a1", "customer_id": "c1", "touchpoint": "website", "ts": "2026-01-01T10:00:00Z"},
    {"event_id": "a2", "customer_id": "c1", "touchpoint": "phone", "ts": "2026-01-01T10:30:00Z",
     "abandoned": "false", "wait_seconds": 12, "handle_seconds": 300},
    {"event_id": "a3", "customer_id": "c1", "touchpoint": "store", "ts": "2026-01-01T11:00:00Z",
     "action": "purchase", "value": 100.5},
    {"event_id": "b1", "customer_id": "c2", "touchpoint": "chat", "ts": "2026-01-05T12:00:00Z",
     "abandoned": "true", "wait_seconds": 40},
    {"event_id": "b2", "customer_id": "c2", "touchpoint": "nowhere", "ts": "2026-01-05T12:00:00Z"},
]  # fmt: skip


def _wait(check: object, what: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(1)
    raise AssertionError(f"{what} did not come up within {seconds:.0f} s")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _master_state(ui_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """(the master's URL, the port of its web UI) of a master and one worker."""
    import pyspark

    home = Path(pyspark.__file__).parent
    logs = tmp_path_factory.mktemp("spark_cluster")
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(logs),
        "PYSPARK_PYTHON": sys.executable,
    }
    launcher = str(home / "bin" / "spark-class")
    # Chosen at run time: two runs on one machine (or a Spark Connect server) never collide.
    master_port, master_ui, worker_port, worker_ui = (free_port() for _ in range(4))
    url = f"spark://127.0.0.1:{master_port}"
    started: list[subprocess.Popen[bytes]] = []
    try:
        with (logs / "master.log").open("wb") as log:
            started.append(
                subprocess.Popen(
                    [launcher, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                     "--port", str(master_port), "--webui-port", str(master_ui)],
                    env=env, stdout=log, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        _wait(lambda: _listening(master_port) and _listening(master_ui), "the master")
        with (logs / "worker.log").open("wb") as log:
            started.append(
                subprocess.Popen(
                    [launcher, "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
                     "--port", str(worker_port), "--webui-port", str(worker_ui), "--cores", "2",
                     "--memory", "1g", "--work-dir", str(logs / "work")],
                    env=env, stdout=log, stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        _wait(lambda: _master_state(master_ui).get("aliveworkers", 0) >= 1, "the worker")
        yield url, master_ui
    finally:
        for process in reversed(started):
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "from touchpoints.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_ingest_and_kpis_on_a_standalone_cluster(cluster: tuple[str, int], tmp_path: Path) -> None:
    master, master_ui = cluster
    events = write_csv(tmp_path / "events.csv", ROWS)
    target = f"spark://{master}?warehouse={tmp_path / 'lake'}"
    stored = json.loads(_cli("ingest", str(events), "--db", target, "--json"))
    assert (stored["ingested"], stored["rejected"]) == (4, 1)
    answer = json.loads(_cli("kpis", "--by", "touchpoint", "--db", target, "--json"))
    with open_store(str(tmp_path / "ref.duckdb")) as duck:
        ingest_files(duck, [events])
        assert answer == json.loads(json.dumps(get("kpis").compute(duck, by="touchpoint")))
    # The work ran on the cluster: the master lists both drivers as finished applications.
    finished = [a["name"] for a in _master_state(master_ui).get("completedapps", [])]
    assert finished.count("touchpoints") >= 2, finished
