"""The Spark store in the default suite: one small CSV ingested into DuckDB and into Spark
(local mode) must give exactly the same KPIs, phases and cycles, and the SQL constructs the
Spark store repairs must compute what DuckDB computes.

The whole engine matrix on Spark runs with TOUCHPOINTS_TEST_SPARK=all (`make test-spark`);
this module keeps the default suite's Spark cost to one session and a few stores.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import run, spark_target, write_csv
from touchpoints.analytics.cycles import scoped_steps
from touchpoints.analytics.scope import Scope
from touchpoints.core.errors import StoreError
from touchpoints.ingest import ingest_files, quarantine_raw
from touchpoints.store import open_store
from touchpoints.store.base import Store
from touchpoints.store.spark import SparkStore, SparkTarget, to_spark

pytestmark = pytest.mark.spark


def _native(store: Store, sql: str) -> None:
    """Spark's own SQL (DDL the tests set up lakes with), run on the store's session."""
    store.spark.sql(sql).collect()  # type: ignore[attr-defined]


def ev(event_id: str, customer: str, touchpoint: str, ts: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "customer_id": customer,
        "touchpoint": touchpoint,
        "ts": ts,
        **extra,
    }


ROWS = [
    # c1: two cycles (a purchase, then a gap of more than 30 days), service contacts, feedback
    ev("a1", "c1", "website", "2026-01-01T10:00:00Z", segment="gold"),
    ev(
        "a2",
        "c1",
        "phone",
        "2026-01-01T10:30:00.250Z",
        abandoned="false",
        wait_seconds=12,
        handle_seconds=300,
        resolved="true",
        agent="ana",
    ),
    ev("a3", "c1", "store", "2026-01-01T11:00:00Z", action="purchase", value=100.5, csat=5),
    ev("a4", "c1", "nps_survey", "2026-01-02T09:00:00Z", action="feedback", nps=9),
    ev("a5", "c1", "email", "2026-03-15T08:00:00Z", promise="made"),
    ev("a6", "c1", "whatsapp", "2026-03-15T08:00:00Z", abandoned="true", wait_seconds=40),
    # c2: a purchase tied in time with an interaction (RANGE frame peers), then after-sales
    ev(
        "b1",
        "c2",
        "chat",
        "2026-01-05T12:00:00Z",
        abandoned="false",
        wait_seconds=25,
        handle_seconds=120,
        ces=2,
    ),
    ev("b2", "c2", "store", "2026-01-05T12:00:00Z", action="purchase", value=50),
    ev(
        "b3",
        "c2",
        "phone",
        "2026-02-01T02:00:00Z",
        abandoned="false",
        wait_seconds=5,
        resolved="false",
        nps=4,
        emotion=-1,
    ),
    ev("b4", "c2", "phone", "2026-02-01T02:00:00Z", phase="before", data_reused="false"),
    # c3: no purchase; a late-night event that is another day in São Paulo
    ev("c1", "c3", "website", "2026-01-31T23:30:00Z", csat=3, promise="kept"),
    ev("c2", "c3", "email", "2026-02-20T10:00:00Z", promise="broken", emotion=2),
]
BAD = [ev("x1", "c9", "nowhere", "2026-01-01T00:00:00Z"), ev("x2", "c9", "website", "yesterday")]


@pytest.fixture(scope="module")
def events_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("spark_csv") / "events.csv", ROWS + BAD)


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, events_csv: Path
) -> Iterator[tuple[Store, Store]]:
    """The same file in DuckDB and in Spark."""
    base = tmp_path_factory.mktemp("spark_pair")
    duck = open_store(str(base / "ref.duckdb"))
    spark = open_store(spark_target(base))
    assert isinstance(spark, SparkStore)
    for store in (duck, spark):
        result = ingest_files(store, [events_csv])
        assert (result.ingested, result.duplicates, result.rejected) == (len(ROWS), 0, 2)
    yield duck, spark
    duck.close()
    spark.close()
    _native(spark, f"DROP DATABASE IF EXISTS {spark.spec.database} CASCADE")


# -- the same answers as DuckDB ---------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"by": "touchpoint"},
        {"by": "phase"},
        {"by": "channel", "date_from": "2026-01-02"},
        {"by": "month", "timezone": "America/Sao_Paulo"},
        {"by": "week"},
    ],
    ids=["all", "touchpoint", "phase", "channel-from", "month-sao-paulo", "week"],
)
def test_kpis_equal_duckdb(pair: tuple[Store, Store], options: dict[str, Any]) -> None:
    duck, spark = pair
    expected = run(duck, "kpis", **options)
    assert expected["rows"], "a case that shows nothing proves nothing"
    assert run(spark, "kpis", **options) == expected


@pytest.mark.parametrize("gap", ["30d", "90d"])
def test_cycles_equal_duckdb(pair: tuple[Store, Store], gap: str) -> None:
    duck, spark = pair
    scope = Scope.build(gap=gap)
    sql = (
        f"SELECT event_id, phase, cycle_no, cycle_id, step, steps, cycle_converts, cycle_start, cycle_end "
        f"FROM ({scoped_steps(scope)}) s ORDER BY customer_id, ts, seq"
    )
    expected = duck.query(sql, scope.params())
    assert {r["cycle_id"] for r in expected} >= {"c1#1", "c1#2", "c2#1"} or gap == "90d"
    assert spark.query(sql, scope.params()) == expected


def test_stored_rows_and_types_equal_duckdb(pair: tuple[Store, Store]) -> None:
    duck, spark = pair
    sql = "SELECT * EXCLUDE (source) FROM events ORDER BY seq"
    expected = duck.query(sql)
    # Fractional seconds survive the trip through Arrow and Parquet, as naive UTC.
    assert expected[1]["ts"].microsecond == 250000 and expected[1]["ts"].tzinfo is None
    assert spark.query(sql) == expected
    quarantine = 'SELECT "row", "column", reason, raw FROM quarantine ORDER BY "row"'
    assert spark.query(quarantine) == duck.query(quarantine)


def test_reingest_is_idempotent(pair: tuple[Store, Store], events_csv: Path) -> None:
    _, spark = pair
    result = ingest_files(spark, [events_csv])
    assert (result.ingested, result.duplicates, result.rejected) == (0, len(ROWS), 2)
    assert spark.count("events") == len(ROWS)
    assert spark.count("quarantine") == 2
    assert spark.query("SELECT max(seq) AS m FROM events") == [{"m": len(ROWS)}]


REPAIRED = [
    # epoch(): fractional seconds, and seconds of a difference of timestamps
    "SELECT event_id, epoch(ts) AS s, epoch(lead(ts) OVER (PARTITION BY customer_id ORDER BY ts, seq) - ts) AS d "
    "FROM events ORDER BY seq",
    # date_diff counts unit boundaries crossed, not whole units elapsed
    "SELECT customer_id, date_diff('second', min(ts), max(ts)) AS s, date_diff('hour', min(ts), max(ts)) AS h, "
    "date_diff('day', min(ts), max(ts)) AS d FROM events GROUP BY customer_id ORDER BY customer_id",
    # quantile_cont / median: exact and interpolated
    "SELECT touchpoint, quantile_cont(wait_seconds, 0.5) AS q, median(wait_seconds) AS m, "
    "quantile_cont(epoch(ts), 0.25) AS q25 FROM events GROUP BY touchpoint ORDER BY touchpoint",
    # ordered aggregation into lists and strings
    "SELECT customer_id, list(touchpoint ORDER BY ts, seq) AS path, "
    "list(touchpoint ORDER BY ts DESC, seq DESC) AS back, list(agent ORDER BY seq) AS agents, "
    "string_agg(touchpoint, ' > ' ORDER BY ts, seq) AS text FROM events GROUP BY customer_id ORDER BY customer_id",
    # a CTE named like nothing the store owns, beside the store's own tables
    "WITH steps AS (SELECT customer_id, count(*) AS n FROM events GROUP BY customer_id) "
    "SELECT s.customer_id, s.n, t.channel FROM steps s JOIN events e ON e.customer_id = s.customer_id "
    "JOIN touchpoints t ON t.id = e.touchpoint WHERE e.seq = 1",
]


@pytest.mark.parametrize(
    "sql", REPAIRED, ids=["epoch", "date-diff", "quantiles", "ordered-lists", "cte"]
)
def test_repaired_constructs_compute_what_duckdb_computes(
    pair: tuple[Store, Store], sql: str
) -> None:
    duck, spark = pair
    expected = duck.query(sql)
    assert expected
    assert spark.query(sql) == expected


# -- lakehouse targets -----------------------------------------------------------------------
def test_tables_are_found_again_by_a_new_catalog(pair: tuple[Store, Store]) -> None:
    """Another database over the same warehouse sees the stored rows: the Parquet folders are
    the data, the catalog entries only name them (as after a restart with no metastore)."""
    _, spark = pair
    assert isinstance(spark, SparkStore)
    again = open_store(f"spark://local[2]?warehouse={spark.spec.warehouse}&database=tp_reopened")
    try:
        assert again.count("events") == len(ROWS)
        assert again.catalog().to_yaml() == spark.catalog().to_yaml()
        assert run(again, "kpis", by="touchpoint") == run(spark, "kpis", by="touchpoint")
    finally:
        _native(again, "DROP DATABASE IF EXISTS tp_reopened CASCADE")


def test_an_existing_events_table_is_analysed_not_ingested_into(
    pair: tuple[Store, Store], tmp_path: Path, events_csv: Path
) -> None:
    duck, spark = pair
    _native(spark, "DROP DATABASE IF EXISTS tp_lake_raw CASCADE")
    _native(spark, f"CREATE DATABASE tp_lake_raw LOCATION '{tmp_path / 'raw'}'")
    _native(
        spark,
        "CREATE TABLE tp_lake_raw.interactions USING parquet AS "
        f"SELECT event_id, customer_id, touchpoint, ts, action, value, abandoned, wait_seconds "
        f"FROM {spark.tables['events']}",  # type: ignore[attr-defined]
    )
    target = f"{spark_target(tmp_path)}&events=tp_lake_raw.interactions"
    lake = open_store(target)
    try:
        keys = (
            "events",
            "customers",
            "offered",
            "answered",
            "tme_seconds",
            "conversions",
            "revenue",
        )
        got = [
            {k: r[k] for k in ("group", *keys)} for r in run(lake, "kpis", by="touchpoint")["rows"]
        ]
        want = [
            {k: r[k] for k in ("group", *keys)} for r in run(duck, "kpis", by="touchpoint")["rows"]
        ]
        assert got == want
        with pytest.raises(StoreError, match="analysed, not ingested into"):
            ingest_files(lake, [events_csv])
    finally:
        _native(lake, f"DROP DATABASE IF EXISTS {lake.spec.database} CASCADE")  # type: ignore[attr-defined]
        _native(lake, "DROP DATABASE IF EXISTS tp_lake_raw CASCADE")


def test_values_are_bound_on_spark_as_on_duckdb(pair: tuple[Store, Store]) -> None:
    """`$name` markers bind through `spark.sql(text, args=...)`; a literal `%` and a
    `$word` inside a string stay SQL text, in queries and in writes."""
    duck, spark = pair
    sql = (
        "SELECT event_id, 7 % 4 AS m, '$word' AS text FROM events "
        "WHERE event_id LIKE 'a%' AND touchpoint = $touchpoint ORDER BY event_id"
    )
    want = duck.query(sql, {"touchpoint": "phone"})
    assert want and all(r["m"] == 3 and r["text"] == "$word" for r in want)
    assert spark.query(sql, {"touchpoint": "phone"}) == want
    for store in (duck, spark):
        quarantine_raw(store, "bound:x", 1, None, "100% $word, it's odd", "{'raw': 1}")
    reasons = "SELECT reason, raw FROM quarantine WHERE source = $source"
    assert spark.query(reasons, {"source": "bound:x"}) == duck.query(reasons, {"source": "bound:x"})
    assert spark.query(reasons, {"source": "bound:x"}) == [
        {"reason": "100% $word, it's odd", "raw": "{'raw': 1}"}
    ]
    # DELETE and UPDATE (which Parquet tables lack) rewrite the table, values bound alike.
    for store in (duck, spark):
        store.execute(
            "UPDATE quarantine SET raw = $raw WHERE source = $source",
            {"raw": "1% $x", "source": "bound:x"},
        )
    assert spark.query(reasons, {"source": "bound:x"}) == duck.query(reasons, {"source": "bound:x"})
    assert spark.query(reasons, {"source": "bound:x"})[0]["raw"] == "1% $x"
    for store in (duck, spark):
        store.execute("DELETE FROM quarantine WHERE source = $source", {"source": "bound:x"})
    assert spark.query(reasons, {"source": "bound:x"}) == []
    assert spark.count("quarantine") == duck.count("quarantine") == 2


def test_joins_broadcast_only_what_adaptive_execution_measured_small(
    pair: tuple[Store, Store],
) -> None:
    """The planner's own broadcast sizes a side from compressed Parquet bytes (a million
    narrow rows once passed for megabytes and overflowed the driver): it is off, and a join
    of two event-sized relations is planned as a sort-merge join, which adaptive execution
    may still turn into a broadcast once it has measured a side under 10 MB."""
    spark = pair[1].spark  # type: ignore[attr-defined]
    assert spark.conf.get("spark.sql.autoBroadcastJoinThreshold") == "-1"
    assert spark.conf.get("spark.sql.adaptive.autoBroadcastJoinThreshold") == "10MB"
    events = pair[1].translate("SELECT customer_id, ts FROM events")  # type: ignore[attr-defined]
    plan = (
        spark.sql(
            f"SELECT a.customer_id FROM ({events}) a JOIN ({events}) b ON a.customer_id = b.customer_id"
        )
        ._jdf.queryExecution()
        .sparkPlan()
        .toString()
    )
    assert "SortMergeJoin" in plan and "BroadcastHashJoin" not in plan, plan


# -- targets and translation (no Spark needed) ------------------------------------------------
def test_target_parsing() -> None:
    local = SparkTarget.parse("spark://local[2]?warehouse=/data/lake&conf.spark.executor.memory=2g")
    assert (local.master, local.warehouse, local.conf) == (
        "local[2]",
        "/data/lake",
        {"spark.executor.memory": "2g"},
    )
    assert local.database.startswith("tp_") and local.local and not local.remote
    connect = SparkTarget.parse("spark://sc://spark:15002?warehouse=s3a://b/tp&database=cx")
    assert (connect.master, connect.warehouse, connect.database, connect.remote) == (
        "sc://spark:15002",
        "s3a://b/tp",
        "cx",
        True,
    )
    standalone = SparkTarget.parse("spark://spark://master:7077?database=cx&format=delta")
    assert (standalone.master, standalone.warehouse, standalone.table_format) == (
        "spark://master:7077",
        None,
        "delta",
    )
    for bad in (
        "spark://local?wharehouse=/x",
        "spark://local?database=bad-name",
        "spark://local?events=x;drop",
    ):
        with pytest.raises(StoreError):
            SparkTarget.parse(bad)


def test_connect_targets() -> None:
    """`sc://host:port?...` is Spark Connect, as `spark://sc://...` is; the port defaults
    to Connect's 15002 and messages never show the URL's token."""
    short = SparkTarget.parse("sc://127.0.0.1:15160?warehouse=/data/lake")
    long = SparkTarget.parse("spark://sc://127.0.0.1:15160?warehouse=/data/lake")
    assert short == long and short.remote and short.address == ("127.0.0.1", 15160)
    secret = SparkTarget.parse("sc://[::1]/;token=s3cret;use_ssl=true?database=cx")
    assert secret.address == ("::1", 15002) and "s3cret" not in secret.shown
    with pytest.raises(StoreError, match="no valid port"):
        _ = SparkTarget.parse("sc://host:99999999").address


def test_a_connect_server_that_does_not_answer_is_named_at_once(tmp_path: Path) -> None:
    """No gRPC retries for minutes: a closed port is reported in one line, at once."""
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    started = time.monotonic()
    with pytest.raises(StoreError, match=f"no Spark Connect server answers at 127.0.0.1:{port}"):
        open_store(f"sc://127.0.0.1:{port}?warehouse={tmp_path / 'lake'}")
    assert time.monotonic() - started < 15


def test_translation_qualifies_only_the_store_tables() -> None:
    tables = (("events", "db.events"), ("touchpoints", "db.touchpoints"))
    sql = to_spark(
        "WITH events_by_day AS (SELECT * FROM events) SELECT * FROM events_by_day, touchpoints t",
        tables,
    )
    assert "FROM db.events AS events" in sql and "db.touchpoints AS t" in sql
    shadowed = to_spark("WITH events AS (SELECT 1 AS x) SELECT x FROM events", tables)
    assert "db.events" not in shadowed
