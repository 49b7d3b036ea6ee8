"""Spark Connect (`sc://`): a Connect server started on loopback from the `pyspark` package's
own `sbin/start-connect-server.sh` (its server jar ships in `pyspark/jars`; nothing is
downloaded), and Touchpoints run through it as a client.

The store in this process reaches the server over gRPC only, beside the classic local
session the rest of the matrix uses; every analysis of the registry must give DuckDB's
answer over the demo data set (the comparison of tests/test_engines_agree.py). The command
line runs in its own process, where Spark Connect is the only Spark there is. Runs in the
Spark matrix only (TOUCHPOINTS_TEST_SPARK=all): the server is a second Spark driver.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import SPARK_MATRIX, free_port, write_csv
from test_engines_agree import NAMES, _answer, _differences
from test_spark_cluster import ROWS, _listening
from touchpoints.analytics.registry import get
from touchpoints.cli import app
from touchpoints.ingest import ingest_files
from touchpoints.ingest.changes import add_change
from touchpoints.ingest.privacy import erase_customer, export_customer
from touchpoints.store import open_store
from touchpoints.store.base import Store
from touchpoints.store.spark import SparkStore, stop_sessions

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(
        not SPARK_MATRIX, reason="the Spark matrix only (TOUCHPOINTS_TEST_SPARK=all)"
    ),
]


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server on 127.0.0.1 (local[2] behind it), for this module."""
    import pyspark

    home = Path(pyspark.__file__).parent
    logs = tmp_path_factory.mktemp("spark_connect")
    port = free_port()  # chosen at run time: never another run's server
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(logs),
        "SPARK_PID_DIR": str(logs),
        "SPARK_IDENT_STRING": "touchpoints-tests",
    }
    command = [
        "bash", str(home / "sbin" / "start-connect-server.sh"), "--wait",
        "--master", "local[2]", "--driver-memory", "1g",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.shuffle.partitions=4",
        "--conf", f"spark.sql.warehouse.dir={logs / 'spark-warehouse'}",
    ]  # fmt: skip
    with (logs / "server.log").open("wb") as log:
        # Its own process group: the script runs the JVM as a child, and both must stop.
        server = subprocess.Popen(
            command, env=env, cwd=logs, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                tail = (logs / "server.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"the Spark Connect server did not come up:\n{tail}")
            time.sleep(1)
        yield f"sc://127.0.0.1:{port}"
    finally:
        stop_sessions(f"sc://127.0.0.1:{port}")
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def stores(
    connect_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Store]]:
    """The demo data set (120 customers, one logged change) on DuckDB and over Connect."""
    folder = tmp_path_factory.mktemp("connect_agree")
    events = folder / "demo.parquet"
    result = CliRunner().invoke(
        app, ["demo-data", "--customers", "120", "--start", "2025-01-01", "--out", str(events)]
    )
    assert result.exit_code == 0, result.output
    duck = open_store(str(folder / "ref.duckdb"))
    connect = open_store(f"{connect_url}?warehouse={folder / 'lake'}")
    assert isinstance(connect, SparkStore) and connect.spec.remote
    for store in (duck, connect):
        ingest_files(store, events)
        add_change(store, "2025-07-27", "New website", "website")
    yield {"duckdb": duck, "connect": connect}
    duck.close()
    connect.close()
    connect.spark.sql(f"DROP DATABASE IF EXISTS {connect.spec.database} CASCADE").collect()


def test_the_session_is_spark_connect(stores: dict[str, Store]) -> None:
    """The store talks to the server, not to a JVM of its own."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    store = stores["connect"]
    assert isinstance(store.spark, ConnectSession)  # type: ignore[attr-defined]
    assert store.count("events") == stores["duckdb"].count("events") > 500


@pytest.mark.parametrize("name", NAMES)
def test_every_analysis_over_connect_gives_duckdbs_answer(
    stores: dict[str, Store], name: str
) -> None:
    reference = _answer(stores["duckdb"], name)
    differences = _differences(reference, _answer(stores["connect"], name))
    assert differences == [], f"{name} over Spark Connect: " + "; ".join(differences[:8])


def test_erase_over_connect_rewrites_the_tables(connect_url: str, tmp_path: Path) -> None:
    """An erase is a staged rewrite swapped in; through Connect the server writes the
    staged folder and the client commits it, on the folder both see."""
    events = write_csv(tmp_path / "events.csv", ROWS)
    store = open_store(f"{connect_url}?warehouse={tmp_path / 'lake'}")
    try:
        result = ingest_files(store, [events])
        assert (result.ingested, result.rejected) == (4, 1)
        assert len(export_customer(store, "c1")["events"]) == 3
        erased = erase_customer(store, "c1")
        assert erased["events"] == 3
        assert export_customer(store, "c1")["events"] == []
        assert [r["customer_id"] for r in store.query("SELECT customer_id FROM events")] == ["c2"]
        # Gone from the files, not hidden: a fresh read of the folder finds only c2.
        files = store.spark.read.parquet(str(tmp_path / "lake" / "events"))  # type: ignore[attr-defined]
        assert sorted(r["customer_id"] for r in files.collect()) == ["c2"]
    finally:
        store.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from touchpoints.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_command_line_over_connect(connect_url: str, tmp_path: Path) -> None:
    """`--db sc://...` from a process with no local Spark: ingest, KPIs equal DuckDB's,
    and an operational command refused in one line."""
    events = write_csv(tmp_path / "events.csv", ROWS)
    target = f"{connect_url}?warehouse={tmp_path / 'lake'}"
    done = _cli("ingest", str(events), "--db", target, "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    stored = json.loads(done.stdout)
    assert (stored["ingested"], stored["rejected"]) == (4, 1)
    done = _cli("kpis", "--by", "touchpoint", "--db", target, "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    with open_store(str(tmp_path / "ref.duckdb")) as duck:
        ingest_files(duck, [events])
        expected: Any = json.loads(json.dumps(get("kpis").compute(duck, by="touchpoint")))
    assert json.loads(done.stdout) == expected
    refused = _cli("keys", "list", "--db", target)
    assert refused.returncode != 0
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "operational store" in lines[0], refused.stderr
