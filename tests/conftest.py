"""Shared fixtures. The `store` fixture runs a test once per engine (DuckDB, PostgreSQL),
like Ibis's backend matrix: one suite, every engine.
"""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import touchpoints as tp
from touchpoints.store.base import Store

PG_URL = os.environ.get("TOUCHPOINTS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


def _pg_available() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


_PG_PROBLEM = _pg_available()


def _open(engine: str, tmp_path: Path) -> tuple[Store, Callable[[], None]]:
    if engine == "duckdb":
        store = tp.open(str(tmp_path / f"{uuid.uuid4().hex}.duckdb"))
        return store, store.close
    if _PG_PROBLEM:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} is required in CI: {_PG_PROBLEM}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {_PG_PROBLEM}")
    schema = f"tp_test_{uuid.uuid4().hex[:12]}"
    store = tp.open(f"{PG_URL}?schema={schema}")

    def cleanup() -> None:
        store.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    return store, cleanup


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store(engine: str, tmp_path: Path) -> Iterator[Store]:
    """An empty store on each engine."""
    s, cleanup = _open(engine, tmp_path)
    try:
        yield s
    finally:
        cleanup()


@pytest.fixture
def make_store(engine: str, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """A factory of empty stores on the current engine (for comparing two stores)."""
    cleanups: list[Callable[[], None]] = []

    def make() -> Store:
        s, cleanup = _open(engine, tmp_path)
        cleanups.append(cleanup)
        return s

    yield make
    for cleanup in cleanups:
        cleanup()


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
