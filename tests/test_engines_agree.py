"""Every analysis of the registry gives the same answer on DuckDB, PostgreSQL and Spark.

One small data set (the tyre retailer's demo year for 120 customers, ~800 events, and one
logged change) is stored on each engine; each analysis runs with the options its users
would give and the answers are compared field by field (floats to 1e-9 relative: engines
sum in different orders). An analysis that refuses the question must refuse it on every
engine with the same message.

`make test` compares DuckDB and PostgreSQL; Spark joins with TOUCHPOINTS_TEST_SPARK=all
(`make test-spark`): starting it and running ~30 analyses as Spark jobs takes minutes."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import SPARK_MATRIX, _open, spark_target
from touchpoints.analytics.registry import analyses, get
from touchpoints.cli import app
from touchpoints.core.errors import TouchpointsError
from touchpoints.ingest import ingest_files
from touchpoints.ingest.changes import add_change
from touchpoints.store import open_store
from touchpoints.store.base import Store
from touchpoints.store.spark import LOCAL_CONF

pytestmark = pytest.mark.spark

AT = "2025-12-31T18:00:00Z"
# Options each analysis needs to answer something (the rest take their defaults).
OPTIONS: dict[str, dict[str, Any]] = {
    "whatif": {"touchpoint": "phone", "abandonment": 0.02},
    "staffing": {"touchpoint": ["phone"]},
    "effect": {"change": 1, "metric": "events", "window": "16w", "timezone": "America/Sao_Paulo"},
    "live": {"at": AT},
    "forecast": {"horizon": "1d"},
    "customer.journey": {"customer_id": "C000001"},
    "customer.events": {"customer_id": "C000001"},
}
NAMES = [a.name for a in analyses()]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Store]]:
    folder = tmp_path_factory.mktemp("agree")
    events = folder / "demo.parquet"
    result = CliRunner().invoke(
        app, ["demo-data", "--customers", "120", "--start", "2025-01-01", "--out", str(events)]
    )
    assert result.exit_code == 0, result.output
    opened: dict[str, Store] = {}
    cleanups = []
    for engine in ("duckdb", "postgres", *(["spark"] if SPARK_MATRIX else [])):
        if engine == "postgres":
            try:
                store, cleanup = _open(engine, folder)
            except pytest.skip.Exception:
                continue
        elif engine == "spark":
            store = open_store(spark_target(folder))
            # The product's settings, not the test session's (conftest.TEST_SPARK_CONF).
            store.spark.conf.unset("spark.sql.adaptive.enabled")  # type: ignore[attr-defined]
            partitions = LOCAL_CONF["spark.sql.shuffle.partitions"]
            store.spark.conf.set("spark.sql.shuffle.partitions", partitions)  # type: ignore[attr-defined]

            def cleanup(s: Store = store) -> None:
                s.spark.sql(f"DROP DATABASE IF EXISTS {s.spec.database} CASCADE")  # type: ignore[attr-defined]
        else:
            store, cleanup = _open(engine, folder)
        ingest_files(store, events)
        add_change(store, "2025-07-27", "New website", "website")
        opened[engine] = store
        cleanups.append(cleanup)
    yield opened
    for cleanup in cleanups:
        cleanup()


def _answer(store: Store, name: str) -> Any:
    try:
        return get(name).compute(store, **OPTIONS.get(name, {}))
    except TouchpointsError as exc:
        return {"refused": f"{type(exc).__name__}: {exc}"}


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in _differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, f"{path}[{i}]")
        ]
    numbers = (int, float)
    if (isinstance(a, float) or isinstance(b, float)) and all(
        isinstance(v, numbers) and not isinstance(v, bool) for v in (a, b)
    ):
        both_nan = math.isnan(a) and math.isnan(b)
        if both_nan or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            return []
        return [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_the_data_set_answers_something(stores: dict[str, Store]) -> None:
    """The comparison means something only if most analyses answer (not refuse)."""
    refused = [n for n in NAMES if "refused" in _answer(stores["duckdb"], n)]
    assert refused == [], refused
    assert set(stores) >= {"duckdb", *(["spark"] if SPARK_MATRIX else [])}


@pytest.mark.parametrize("name", NAMES)
def test_every_engine_gives_duckdbs_answer(stores: dict[str, Store], name: str) -> None:
    reference = _answer(stores["duckdb"], name)
    for engine, store in stores.items():
        if engine == "duckdb":
            continue
        differences = _differences(reference, _answer(store, name))
        assert differences == [], f"{name} on {engine}: " + "; ".join(differences[:8])
