"""Shared fixtures. The `store` fixture runs a test once per engine (DuckDB, PostgreSQL,
Spark), like Ibis's backend matrix: one suite, every engine.

Spark joins the matrix with TOUCHPOINTS_TEST_SPARK=all (`make test-spark`): each query runs
as Spark jobs, seconds per test, so `make test` leaves it out and runs real Spark cases in
tests/test_spark.py. Stores that tests only read are loaded once per module and engine
(`shared_store`).
"""

from __future__ import annotations

import csv
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from touchpoints.store import open_store
from touchpoints.store.base import Store

if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist starts its workers with COLUMNS=80 and LINES=24; the command-line tests
    # expect the width a test process without a terminal has (tests set COLUMNS themselves).
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)

PG_URL = os.environ.get("TOUCHPOINTS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SPARK_MATRIX = os.environ.get("TOUCHPOINTS_TEST_SPARK", "") == "all"
ENGINES = [
    "duckdb",
    pytest.param("postgres", marks=pytest.mark.postgres),
    *([pytest.param("spark", marks=pytest.mark.spark)] if SPARK_MATRIX else []),
]
# `@every_engine`: a test of the store's own contract (tests/test_store.py) that runs on
# Spark in every `make test`, not only in the matrix: a few cheap cases on small stores
# (about a minute in all), so a Spark-only break of the store cannot land unseen.
every_engine = pytest.mark.parametrize(
    "engine",
    ENGINES if SPARK_MATRIX else [*ENGINES, pytest.param("spark", marks=pytest.mark.spark)],
    indirect=True,
)
SPARK_MASTER = "local[2]"
TEST_SPARK_CONF = {"spark.sql.adaptive.enabled": "false", "spark.sql.shuffle.partitions": "1"}


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


_PG_PROBLEM = _pg_available()


def free_port() -> int:
    """A loopback port free now, chosen by the kernel (from its ephemeral range), so that
    servers the tests start never collide with another run on the same machine."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spark_target(tmp_path: Path) -> str:
    """A fresh warehouse (and so a fresh Spark database) on the one shared session."""
    return f"spark://{SPARK_MASTER}?warehouse={tmp_path / f'lake_{uuid.uuid4().hex[:12]}'}"


def _open(engine: str, tmp_path: Path) -> tuple[Store, Callable[[], None]]:
    if engine == "duckdb":
        store = open_store(str(tmp_path / f"{uuid.uuid4().hex}.duckdb"))
        return store, store.close
    if engine == "spark":
        store = open_store(spark_target(tmp_path))
        # On the tests' tiny tables a query's time is mostly overhead: adaptive execution
        # re-plans it between stages (a few more jobs), and each shuffle stage runs a task
        # per partition (one partition: ~12 % less time on test_filter_values' Spark
        # cases). The product keeps Spark's adaptive execution and its local 4 partitions;
        # tests/test_engines_agree.py runs with those.
        for key, value in TEST_SPARK_CONF.items():
            store.spark.conf.set(key, value)  # type: ignore[attr-defined]

        def drop() -> None:
            # The session outlives the test: forget this store's database, keep the JVM.
            store.close()
            database = store.spec.database  # type: ignore[attr-defined]
            store.spark.sql(f"DROP DATABASE IF EXISTS {database} CASCADE")  # type: ignore[attr-defined]

        return store, drop
    if _PG_PROBLEM:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} is required in CI: {_PG_PROBLEM}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {_PG_PROBLEM}")
    schema = f"tp_test_{uuid.uuid4().hex[:12]}"
    store = open_store(f"{PG_URL}?schema={schema}")

    def cleanup() -> None:
        store.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    return store, cleanup


@pytest.fixture(scope="session", autouse=True)
def _spark_session_ends_with_the_tests() -> Iterator[None]:
    """Spark stores share one SparkSession per process (started by the first of them);
    it is stopped once, after the last test, if any test started it."""
    yield
    import sys

    if "touchpoints.store.spark" in sys.modules:
        sys.modules["touchpoints.store.spark"].stop_sessions()


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Module-scoped, so that pytest runs a module's tests engine by engine and a store
    loaded once per module and engine (`shared_store`) serves all of them."""
    return request.param


def _operational_only(engine: str, request: pytest.FixtureRequest) -> None:
    """Tests marked `operational` hold state at request rate, which a Spark store refuses
    in one line (tests/test_spark.py checks that line): they run on the other engines."""
    if engine == "spark" and request.node.get_closest_marker("operational"):
        pytest.skip("operational state lives on DuckDB or PostgreSQL; Spark refuses it")


@pytest.fixture
def store(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """An empty store on each engine."""
    _operational_only(engine, request)
    s, cleanup = _open(engine, tmp_path)
    try:
        yield s
    finally:
        cleanup()


@pytest.fixture
def make_store(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], Store]]:
    """A factory of empty stores on the current engine (for comparing two stores)."""
    _operational_only(engine, request)
    cleanups: list[Callable[[], None]] = []

    def make() -> Store:
        s, cleanup = _open(engine, tmp_path)
        cleanups.append(cleanup)
        return s

    yield make
    for cleanup in cleanups:
        cleanup()


def _fingerprint(store: Store) -> str:
    """What a test that only reads must leave as it found it: the events, the ingestion
    log, the change log and every `meta` row (catalog, generation, version)."""
    parts = [
        store.query("SELECT count(*) AS n FROM events")[0]["n"],
        store.query("SELECT count(*) AS n FROM ingest_log")[0]["n"],
        store.query("SELECT count(*) AS n FROM changes")[0]["n"],
        sorted((r["key"], r["value"]) for r in store.query("SELECT key, value FROM meta")),
    ]
    return repr(parts)


class _Shared:
    """The stores `shared_store` loaded in one module on one engine."""

    def __init__(self) -> None:
        self.stores: dict[str, tuple[Store, str]] = {}  # name -> (store, fingerprint)
        self.cleanups: list[Callable[[], None]] = []


@pytest.fixture(scope="module")
def _shared(engine: str) -> Iterator[_Shared]:
    shared = _Shared()
    yield shared
    for cleanup in shared.cleanups:
        cleanup()


@pytest.fixture
def shared_store(
    engine: str,
    _shared: _Shared,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[str, Callable[[Store, Path], None]], Store]]:
    """`shared_store(name, load)`: a store loaded once per module and engine by
    `load(store, folder)`, for tests that only read it. On Spark an ingestion is some thirty
    jobs, so loading a fixture once instead of once per test saves most of those tests'
    time. A test that
    changes a shared store fails here: give it its own store (`store`)."""
    _operational_only(engine, request)
    handed: list[tuple[str, Store, str]] = []

    def get(name: str, load: Callable[[Store, Path], None]) -> Store:
        if name not in _shared.stores:
            folder = tmp_path_factory.mktemp(name)
            store, cleanup = _open(engine, folder)
            _shared.cleanups.append(cleanup)
            load(store, folder)
            _shared.stores[name] = (store, _fingerprint(store))
        store, before = _shared.stores[name]
        handed.append((name, store, before))
        return store

    yield get
    for name, store, before in handed:
        try:
            after = _fingerprint(store)
        except Exception as exc:  # noqa: BLE001 - a closed store is a changed one
            after = repr(exc)
        if after != before:
            del _shared.stores[name]  # the next test loads it afresh
            pytest.fail(
                f"{request.node.name} changed (or closed) the shared store {name!r}: "
                "a test that writes needs its own store (`store`)"
            )


def ingested(rows: list[dict[str, Any]]) -> Callable[[Store, Path], None]:
    """A `shared_store` loader: `rows` written to a CSV file in the store's folder, ingested."""
    from touchpoints.ingest import ingest_files

    def load(store: Store, folder: Path) -> None:
        ingest_files(store, [write_csv(folder / "events.csv", rows)])

    return load


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Path:
    """Write event rows to CSV; None becomes an empty cell."""
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    return path


@pytest.fixture
def csv_file(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(10**6))

    def make(
        rows: list[dict[str, Any]], columns: list[str] | None = None, name: str | None = None
    ) -> Path:
        return write_csv(tmp_path / (name or f"events_{next(counter)}.csv"), rows, columns)

    return make


def run(store: Store | None, name: str, **options: Any) -> dict[str, Any]:
    """An analysis of the registry, run as every interface runs it: option values by name
    (`by="touchpoint"`, `date_from="2026-01-01"`) -> the JSON object (`--json`)."""
    from touchpoints.analytics.registry import get

    return get(name).compute(store, **options)


@pytest.fixture(scope="session")
def demo_300(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tyre retailer's demo year for 300 customers, as `touchpoints demo-data` writes
    and `touchpoints ingest` stores it: built once for every test that only reads it. The
    year is pinned to 2025 (`--start 2025-01-01`, the generator's own default) because
    `demo-data` alone ends on today: the tests' dates and the logged change are in 2025."""
    from typer.testing import CliRunner

    from touchpoints.cli import app

    folder = tmp_path_factory.mktemp("demo_300")
    events, db = folder / "demo.parquet", str(folder / "demo.duckdb")
    for args in (
        ["demo-data", "--customers", "300", "--start", "2025-01-01", "--out", str(events)],
        ["ingest", str(events), "--db", db],
        # One logged change, so `effect` has something to measure (and `changes list` a row).
        ["changes", "add", "--date", "2025-07-27", "--title", "WhatsApp bot answers FAQs",
         "--touchpoint", "whatsapp", "--db", db],
    ):  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    return db


# Browser tests drive Debian's Chromium (`make browser`); one browser per test module.
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()
