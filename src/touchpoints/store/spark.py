"""The distributed store: Apache Spark, for event tables that outgrow one machine.

Target format (after the `spark://` prefix comes a Spark master, then options)::

    spark://local[2]?warehouse=/data/lake                    local mode (tests, laptops)
    spark://sc://spark-connect:15002?warehouse=s3a://b/tp    Spark Connect
    spark://yarn?warehouse=hdfs:///lake/touchpoints           any master URL Spark accepts
    spark://spark://master:7077?warehouse=/shared/lake        (a standalone master)
    spark://?database=cx                                      the process's active session

Options: `warehouse` (a folder: each table is a Parquet folder under it), `database`
(the Spark catalog database the tables are registered in; derived from the warehouse
when not given), `format` (`parquet`, or a table format the cluster has, e.g. `delta`),
`events` (an existing catalog table of events to analyse instead of `events`), and
`conf.<key>=<value>` for any Spark setting of a session Touchpoints starts.

Files are still read and validated by DuckDB on the client; the good rows travel to Spark
as Arrow and are appended with a left-anti join on `event_id`. Analytics are written in
DuckDB's dialect, translated by sqlglot, and repaired where sqlglot's Spark output would
compute something else (see `to_spark`).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import duckdb
import pyarrow as pa

from touchpoints.core.errors import StoreError
from touchpoints.core.events import COLUMN_NAMES, COLUMNS
from touchpoints.store.base import Staging, Store
from touchpoints.store.dialects import Params, bound, to_spark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SPARK_TYPES = {
    "text": "STRING",
    "timestamp": "TIMESTAMP",
    "double": "DOUBLE",
    "int": "SMALLINT",
    "bool": "BOOLEAN",
    "bigint": "BIGINT",
}
TABLES = ("events", "quarantine", "meta", "touchpoints", "ingest_log")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")
ARROW_CHUNK_ROWS = 1_000_000


@contextmanager
def _arrow_calls() -> Iterator[None]:
    """pyspark checks the pandas version on its Arrow paths and warns about pandas 3;
    Touchpoints hands Spark Arrow tables, never pandas frames, so the warning says nothing
    to our users."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        yield


# Settings every session Touchpoints starts gets; `conf.` options override them.
BASE_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
}
# Local mode runs on one machine: a few shuffle partitions beat Spark's default 200.
LOCAL_CONF = {"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "4"}


# -- the target ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SparkTarget:
    """A parsed `spark://` target."""

    master: str  # "" = the active session (or Spark's own default master)
    warehouse: str | None
    database: str
    table_format: str = "parquet"
    events_table: str | None = None
    conf: dict[str, str] = field(default_factory=dict)

    @property
    def remote(self) -> bool:
        return self.master.startswith("sc://")

    @property
    def local(self) -> bool:
        return self.master.startswith("local")

    @classmethod
    def parse(cls, target: str) -> SparkTarget:
        rest = target.removeprefix("spark://")
        master, _, query = rest.partition("?")
        options = dict(parse_qsl(query, keep_blank_values=True))
        conf = {k.removeprefix("conf."): v for k, v in options.items() if k.startswith("conf.")}
        known = {"warehouse", "database", "format", "events"}
        unknown = [k for k in options if k not in known and not k.startswith("conf.")]
        if unknown:
            raise StoreError(
                f"spark target: unknown option(s) {', '.join(unknown)}; "
                "use warehouse, database, format, events or conf.<spark setting>"
            )
        warehouse = options.get("warehouse") or None
        if warehouse and "://" not in warehouse:
            warehouse = os.path.abspath(warehouse)
        if warehouse is None and (master.startswith("local") or master == ""):
            # A laptop with no warehouse given keeps its tables next to the user's files.
            warehouse = os.path.abspath("touchpoints-lake")
        database = options.get("database") or (
            "tp_" + hashlib.sha1(warehouse.encode()).hexdigest()[:12]
            if warehouse
            else "touchpoints"
        )
        if not NAME.match(database):
            raise StoreError(f"spark target: database {database!r}: use letters, digits and '_'")
        table_format = options.get("format") or "parquet"
        if not NAME.match(table_format):
            raise StoreError(f"spark target: format {table_format!r} is not a table format name")
        events_table = options.get("events") or None
        if events_table and not TABLE_NAME.match(events_table):
            raise StoreError(f"spark target: events {events_table!r}: use [catalog.]database.table")
        return cls(master, warehouse, database, table_format, events_table, conf)


# -- one SparkSession per process ----------------------------------------------------------------
_SESSIONS: dict[tuple[str, tuple[tuple[str, str], ...]], SparkSession] = {}
_SESSION_LOCK = threading.Lock()


def _quiet(session: SparkSession) -> None:
    """Errors reach the user as exceptions; Spark's own ERROR lines would repeat them as
    pages of JSON stack traces on stderr."""
    try:
        session.sparkContext.setLogLevel("ERROR")
        jvm = session.sparkContext._jvm  # type: ignore[attr-defined]
        configurator = jvm.org.apache.logging.log4j.core.config.Configurator
        off = jvm.org.apache.logging.log4j.Level.OFF
        configurator.setLevel("SQLQueryContextLogger", off)
        configurator.setLevel("org.apache.spark.sql.execution.datasources", off)
    except Exception:  # noqa: BLE001 - Spark Connect has no local JVM; its logs stay server-side
        return


def spark_session(target: SparkTarget) -> SparkSession:
    """The process's SparkSession for this master, started on first use (it takes seconds)."""
    key = (target.master, tuple(sorted(target.conf.items())))
    with _SESSION_LOCK:
        session = _SESSIONS.get(key)
        if session is not None:
            return session
        with warnings.catch_warnings():
            # pyspark warns about pandas versions at import; Touchpoints moves data as Arrow.
            warnings.simplefilter("ignore", FutureWarning)
            try:
                from pyspark.sql import SparkSession
            except ImportError:
                raise StoreError(
                    "the Spark store needs pyspark: pip install 'pyspark>=4' "
                    "(and 'pyspark[connect]' for sc:// targets)"
                ) from None
        conf = {**BASE_CONF, **(LOCAL_CONF if target.local else {}), **target.conf}
        if target.master == "":
            active = SparkSession.getActiveSession()
            builder = None if active is not None else SparkSession.builder
            session = active
        elif target.remote:
            builder = SparkSession.builder.remote(target.master)
        else:
            builder = SparkSession.builder.master(target.master)
        try:
            if builder is not None:
                builder = builder.appName("touchpoints")
                for k, v in conf.items():
                    if not (target.remote and k in ("spark.ui.enabled",)):
                        builder = builder.config(k, v)
                with _arrow_calls():
                    session = builder.getOrCreate()
        except ImportError as exc:
            raise StoreError(
                f"Spark Connect needs extra packages: pip install 'pyspark[connect]' ({exc})"
            ) from None
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot start Spark for {target.master!r}: {first}") from None
        assert session is not None
        # An existing session may have another zone; analytics need naive UTC throughout.
        session.conf.set("spark.sql.session.timeZone", "UTC")
        _quiet(session)
        _SESSIONS[key] = session
        return session


def stop_sessions() -> None:
    """Stop the sessions this process started (test suites, long-lived services that are
    done with Spark); the next Spark store starts a new one."""
    with _SESSION_LOCK:
        sessions = list(_SESSIONS.values())
        _SESSIONS.clear()
    for session in sessions:
        session.stop()


# -- results ------------------------------------------------------------------------------------
def _naive_utc(table: pa.Table) -> pa.Table:
    """Spark hands timestamps over as UTC-zoned Arrow; analytics expect naive UTC datetimes."""
    columns = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            column = column.cast(pa.timestamp(column.type.unit))
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _column_ddl() -> str:
    return ", ".join(f"{c.name} {SPARK_TYPES[c.type]}" for c in COLUMNS)


def _ddl() -> dict[str, str]:
    t = SPARK_TYPES
    return {
        "events": f"seq {t['bigint']}, {_column_ddl()}, source {t['text']}",
        "quarantine": "source STRING, `row` BIGINT, `column` STRING, reason STRING, raw STRING, "
        "quarantined_at TIMESTAMP",
        "meta": "key STRING, value STRING",
        "touchpoints": "id STRING, name_en STRING, name_pt STRING, channel STRING, kind STRING, "
        "visibility STRING, phases STRING, owner STRING, target STRING",
        "ingest_log": "source STRING, ingested BIGINT, duplicates BIGINT, rejected BIGINT, "
        "ingested_at TIMESTAMP",
    }


class SparkStore(Store):
    """Tables in a Spark catalog database (Parquet folders under the warehouse by default)."""

    engine = "spark"

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.spec = SparkTarget.parse(target)
        self._spark: SparkSession | None = None
        self._stage: duckdb.DuckDBPyConnection | None = None
        self.tables = {name: f"{self.spec.database}.{name}" for name in TABLES}
        self.read_only_events = False
        self._create_schema()

    # -- session and schema -------------------------------------------------------------------
    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            self._spark = spark_session(self.spec)
        return self._spark

    def has_table(self, name: str) -> bool:
        return bool(self.spark.catalog.tableExists(f"{self.spec.database}.{name}"))

    def _create_schema(self) -> None:
        spec = self.spec
        # The database's own folder sits beside the tables, never on the warehouse itself:
        # DROP DATABASE deletes that folder, and must not take the tables' data with it.
        location = (
            f" LOCATION '{spec.warehouse.rstrip('/')}/_databases/{spec.database}.db'"
            if spec.warehouse
            else ""
        )
        self._native(f"CREATE DATABASE IF NOT EXISTS {spec.database}{location}")
        for name, columns in _ddl().items():
            if name == "events" and spec.events_table:
                continue
            where = f" LOCATION '{spec.warehouse.rstrip('/')}/{name}'" if spec.warehouse else ""
            self._native(
                f"CREATE TABLE IF NOT EXISTS {self.tables[name]} ({columns}) "
                f"USING {spec.table_format}{where}"
            )
        if spec.events_table:
            self._attach_events(spec.events_table)

    def _attach_events(self, table: str) -> None:
        """Analyse an existing catalog table of SPEC §2 events.

        A table with every column plus `seq` and `source` is used as is (ingestion appends to
        it). Otherwise a view fills the gaps: absent optional columns are NULL, `seq` numbers
        rows by time and id, and ingestion is refused: the table is not Touchpoints' to shape.
        """
        try:
            present = {c.lower() for c in self.spark.table(table).columns}
        except Exception as exc:
            first = str(exc).strip().splitlines()[0]
            raise StoreError(f"spark target: events table {table!r}: {first}") from None
        missing = [c.name for c in COLUMNS if c.required and c.name not in present]
        if missing:
            raise StoreError(
                f"spark target: events table {table!r} lacks required column(s) {', '.join(missing)}"
            )
        if all(c in present for c in (*COLUMN_NAMES, "seq", "source")):
            self.tables["events"] = table
            return
        cols = [
            c.name if c.name in present else f"CAST(NULL AS {SPARK_TYPES[c.type]}) AS {c.name}"
            for c in COLUMNS
        ]
        if "event_id" not in present:
            cols[0] = "CAST(NULL AS STRING) AS event_id"
        seq = (
            "seq"
            if "seq" in present
            else "row_number() OVER (ORDER BY ts, customer_id, touchpoint) AS seq"
        )
        source = "source" if "source" in present else f"'{table}' AS source"
        view = f"{self.spec.database}.events_view"
        self._native(
            f"CREATE OR REPLACE VIEW {view} AS SELECT {seq}, {', '.join(cols)}, {source} FROM {table}"
        )
        self.tables["events"] = view
        self.read_only_events = True

    def close(self) -> None:
        """Release the staging connection; the SparkSession lives on for the process."""
        if self._stage is not None:
            self._stage.close()
            self._stage = None

    # -- engine primitives --------------------------------------------------------------------
    def translate(self, sql: str) -> str:
        return to_spark(sql, tuple(sorted(self.tables.items())))

    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        values = bound(sql, params)
        with _arrow_calls():
            frame = (
                self.spark.sql(self.translate(sql), args=values)
                if values
                else self.spark.sql(self.translate(sql))
            )
            table = frame.toArrow()
        return _naive_utc(table).to_pylist()

    def execute(self, sql: str, params: Params | None = None) -> None:
        values = bound(sql, params)
        if values:
            self.spark.sql(self.translate(sql), args=values).collect()
        else:
            self.spark.sql(self.translate(sql)).collect()

    def _native(self, sql: str) -> None:
        self.spark.sql(sql).collect()

    def transaction(self) -> AbstractContextManager[None]:
        """Parquet tables have no transactions: refused rather than pretended."""
        raise StoreError("transactions need a DuckDB or PostgreSQL store, not Spark")

    def staging_connection(self) -> duckdb.DuckDBPyConnection:
        if self._stage is None:
            self._stage = duckdb.connect()
            self._stage.execute("SET TimeZone = 'UTC'")
        return self._stage

    def _replace_catalog(self, yaml_text: str, rows: list[tuple[Any, ...]]) -> None:
        from pyspark.sql import Row

        kept = [
            (r["key"], r["value"])
            for r in self.spark.table(self.tables["meta"]).where("key <> 'catalog'").collect()
        ]
        # Collected first: the new contents are local rows, not a plan reading the table
        # being overwritten.
        with _arrow_calls():
            meta = self.spark.createDataFrame(
                [Row(key=k, value=v) for k, v in [*kept, ("catalog", yaml_text)]],
                schema=_ddl()["meta"],
            )
            touchpoints = self.spark.createDataFrame(rows, schema=_ddl()["touchpoints"])
        meta.write.insertInto(self.tables["meta"], overwrite=True)
        touchpoints.write.insertInto(self.tables["touchpoints"], overwrite=True)

    # -- ingestion ----------------------------------------------------------------------------
    def _arrow_frames(self, con: duckdb.DuckDBPyConnection, select: str, schema: str) -> DataFrame:
        """A DuckDB result as one Spark DataFrame, shipped in Arrow chunks of bounded size."""
        reader = con.sql(select).to_arrow_reader(ARROW_CHUNK_ROWS)
        with _arrow_calls():
            frames = [
                self.spark.createDataFrame(pa.Table.from_batches([batch]), schema=schema)
                for batch in _batches(reader)
            ]
        if not frames:
            with _arrow_calls():
                return self.spark.createDataFrame([], schema=schema)
        frame = frames[0]
        for other in frames[1:]:
            frame = frame.unionByName(other)
        return frame

    def _commit(
        self, con: duckdb.DuckDBPyConnection, staging: Staging, want_ids: bool = False
    ) -> tuple[int, list[str] | None]:
        source = staging.source
        good = staging.good
        """Append new events and quarantine rows as one write each.

        Parquet tables have no transactions: the events are written first, so a failure
        after them leaves stored events without their quarantine/log rows, and re-ingesting
        the file stores nothing twice.
        """
        from pyspark.sql import functions as F

        if self.read_only_events and good:
            raise StoreError(
                f"events table {self.spec.events_table!r} lacks Touchpoints' seq/source "
                "columns: it is analysed, not ingested into"
            )
        events = self.spark.table(self.tables["events"])
        staged = self._arrow_frames(
            con,
            f"SELECT _row, {', '.join(COLUMN_NAMES)} FROM _good",
            f"_row BIGINT, {_column_ddl()}",
        )
        base = events.agg(F.coalesce(F.max("seq"), F.lit(0)).alias("m")).first()["m"]
        new = (
            staged.join(events.select("event_id"), on="event_id", how="left_anti")
            .select(
                (F.lit(int(base)) + F.col("_row")).alias("seq"),
                *COLUMN_NAMES,
                F.lit(source).alias("source"),
            )
            # Materialised once, so the count and the write see the same rows.
            .localCheckpoint()
        )
        stored = new.count()
        ids = [r["event_id"] for r in new.select("event_id").collect()] if want_ids else None
        if stored:
            new.write.insertInto(self.tables["events"])

        bad = self._arrow_frames(
            con,
            'SELECT source, "row", "column", reason, raw FROM _bad',
            "source STRING, `row` BIGINT, `column` STRING, reason STRING, raw STRING",
        )
        known = self.spark.table(self.tables["quarantine"]).select(
            "source", "row", "column", "reason"
        )
        # Re-ingesting a file does not repeat its quarantine entries.
        fresh = bad.alias("b").join(
            known.alias("q"),
            on=(F.col("b.source") == F.col("q.source"))
            & (F.col("b.row") == F.col("q.row"))
            & F.col("b.column").eqNullSafe(F.col("q.column"))
            & (F.col("b.reason") == F.col("q.reason")),
            how="left_anti",
        )
        fresh = fresh.select(
            "source", "row", "column", "reason", "raw", F.current_timestamp()
        ).localCheckpoint()
        if fresh.count():
            fresh.write.insertInto(self.tables["quarantine"])

        if staging.logged:
            with _arrow_calls():
                log = self.spark.createDataFrame(
                    [tuple(staging.log(int(stored)).values())],
                    schema="source STRING, ingested BIGINT, duplicates BIGINT, rejected BIGINT",
                ).withColumn("ingested_at", F.current_timestamp())
            log.write.insertInto(self.tables["ingest_log"])
        return int(stored), ids


def _batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    for batch in reader:
        if batch.num_rows:
            yield batch
