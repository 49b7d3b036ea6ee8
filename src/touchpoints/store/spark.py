"""The distributed store: Apache Spark, for event tables that outgrow one machine.

Target format (after the `spark://` prefix comes a Spark master, then options)::

    spark://local[2]?warehouse=/data/lake                    local mode (tests, laptops)
    sc://spark-connect:15002?warehouse=s3a://b/tp             Spark Connect (also written
                                                              spark://sc://...)
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

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlparse

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from touchpoints.core.errors import StoreError
from touchpoints.core.events import COLUMN_NAMES, COLUMNS
from touchpoints.store import derived
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
TABLES = (
    "events",
    "quarantine",
    "meta",
    "touchpoints",
    "ingest_log",
    "event_facts",
    "journey_cycles",
    "journey_customers",
    "journey_steps",
    "changes",
    "audit_log",
    "quarantine_resolved",
)
# Folders of the warehouse that are not tables: staged writes and the commit journal.
STAGING = "_staging"
JOURNAL = "_journal"
LOCK_FILE = "_writer.lock"
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")
ARROW_CHUNK_ROWS = 1_000_000
# The large tables: written in Spark's partitions (the small ones as one file a write), and
# rewritten file by file by a DELETE or UPDATE: only the files holding a matching row are
# read, rewritten and replaced (the small tables are rewritten whole).
FILE_TABLES = ("events", "event_facts", "journey_cycles", "journey_customers", "journey_steps")
# Events files each hold one month of `ts` (named `YYYY-MM_part-...`): an erase rewrites
# the months its customer was seen in, a comment purge the months past the retention.
MONTH_COLUMN = "tp_month"
FILES_VIEW = "_tp_rewritten_files"  # the files a file-by-file rewrite reads
CONNECT_PORT = 15002  # Spark Connect's default port, when an sc:// URL names none


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
    # Spark sizes a join side for broadcast from its compressed Parquet bytes before the
    # query runs: a million narrow rows pass for megabytes and then overflow the driver's
    # heap ("Not enough memory to build and broadcast the table", seen ingesting 1M events
    # on the default 1 GiB). Broadcast only on the sizes adaptive execution measures.
    "spark.sql.autoBroadcastJoinThreshold": "-1",
    "spark.sql.adaptive.autoBroadcastJoinThreshold": "10MB",
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
        """A Spark Connect target: the client sends plans over gRPC, the server runs them."""
        return self.master.startswith("sc://")

    @property
    def shown(self) -> str:
        """The master for messages: a Connect URL without its `;token=...` parameters."""
        return self.master.split("/;", 1)[0]

    @property
    def address(self) -> tuple[str, int]:
        """The host and port of a Spark Connect URL (`sc://host[:port][/;param=value...]`)."""
        parsed = urlparse("//" + self.master.removeprefix("sc://").split("/", 1)[0])
        try:
            port = parsed.port
        except ValueError:
            raise StoreError(f"spark target: {self.master!r} has no valid port") from None
        return (parsed.hostname or "localhost", port or CONNECT_PORT)

    @property
    def local(self) -> bool:
        return self.master.startswith("local")

    @classmethod
    def parse(cls, target: str) -> SparkTarget:
        """`spark://MASTER?options`, or `sc://host:port?options` for Spark Connect."""
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
        if target.remote:
            session = _connect_session(target)
            _SESSIONS[key] = session
            return session
        conf = {**BASE_CONF, **(LOCAL_CONF if target.local else {}), **target.conf}
        if target.master == "":
            active = SparkSession.getActiveSession()
            builder = None if active is not None else SparkSession.builder
            session = active
        else:
            builder = SparkSession.builder.master(target.master)
        try:
            if builder is not None:
                builder = builder.appName("touchpoints")
                for k, v in conf.items():
                    builder = builder.config(k, v)
                with _arrow_calls():
                    session = builder.getOrCreate()
        except Exception as exc:
            raise StoreError(
                f"cannot start Spark for {target.shown!r}: {_first_line(exc)}"
            ) from None
        assert session is not None
        # An existing session may have another zone; analytics need naive UTC throughout.
        session.conf.set("spark.sql.session.timeZone", "UTC")
        _quiet(session)
        _SESSIONS[key] = session
        return session


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _connect_session(target: SparkTarget) -> SparkSession:
    """A session on a Spark Connect server, through the Connect client's own builder.

    Not `SparkSession.builder.remote(...)`: that refuses to start while the process holds a
    classic SparkContext and flips the whole process into Connect mode (every
    `pyspark.sql.functions` call then builds Connect columns). The Connect builder does
    neither, so a classic store and a Connect store can live in one process; the store
    takes its column functions from the session's own module (`SparkStore.functions`).

    The server is probed first: the Connect client retries an unreachable server for
    minutes before it gives up, and the user should hear at once that nothing answers."""
    host, port = target.address
    try:
        socket.create_connection((host, port), timeout=10).close()
    except OSError as exc:
        raise StoreError(
            f"no Spark Connect server answers at {host}:{port} ({exc.strerror or exc}): start "
            "one (sbin/start-connect-server.sh of the Spark installation) or check the sc:// URL"
        ) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            from pyspark.sql.connect.session import SparkSession as ConnectSession
        except ImportError as exc:
            raise StoreError(
                f"Spark Connect needs extra packages: pip install 'pyspark[connect]' ({exc})"
            ) from None
    builder = ConnectSession.builder.remote(target.master)
    # The server owns its static and cluster settings (BASE_CONF's UI and Arrow ones
    # included: Connect always moves results as Arrow); the session takes the target's.
    for k, v in {"spark.sql.session.timeZone": "UTC", **target.conf}.items():
        builder = builder.config(k, v)
    try:
        with _arrow_calls():
            session = builder.create()
        session.conf.set("spark.sql.session.timeZone", "UTC")
    except Exception as exc:
        raise StoreError(
            f"cannot open a Spark Connect session at {target.shown!r}: {_first_line(exc)}"
        ) from None
    return session  # type: ignore[return-value]


def stop_sessions(master: str | None = None) -> None:
    """Stop the sessions this process started (test suites, long-lived services that are
    done with Spark), or only those on `master`; the next Spark store starts a new one.

    A Spark Connect session is best stopped while its server still runs: stopping it
    releases it on the server, which the client retries for minutes if none answers."""
    with _SESSION_LOCK:
        keys = [k for k in _SESSIONS if master is None or k[0] == master]
        sessions = [_SESSIONS.pop(k) for k in keys]
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
        # The derived facts of store/derived.py, rebuilt in batch and kept by ingestion.
        "event_facts": "seq BIGINT, customer_id STRING, phase STRING, cycle_no BIGINT, step BIGINT",
        "journey_cycles": "customer_id STRING, cycle_no BIGINT, cycle_id STRING, "
        "cycle_start TIMESTAMP, cycle_end TIMESTAMP, steps BIGINT, path STRING, "
        "converts INT, revenue DOUBLE",
        "journey_customers": "customer_id STRING, cycles BIGINT, path STRING, converts INT",
        "journey_steps": "customer_id STRING, touchpoint STRING, next_touchpoint STRING, "
        "next_seconds DOUBLE, first_step INT",
        "changes": "id BIGINT, change_date DATE, title STRING, touchpoint STRING, "
        "created_at TIMESTAMP",
        "audit_log": "logged_at TIMESTAMP, action STRING, detail STRING",
        "quarantine_resolved": "source STRING, `row` BIGINT, resolved_at TIMESTAMP",
    }


# Tables of a few rows, rewritten by collecting them where files cannot be swapped.
SMALL_TABLES = ("meta", "touchpoints", "changes", "quarantine_resolved", "audit_log")

# Tables whose rows change at request rate (keys, users, survey links, connector and
# attendant conversation state): they live in an operational store, never on Spark.
OPERATIONAL_TABLES = (
    "api_keys",
    "users",
    "survey_tokens",
    "connector_state",
    "attendant_conversations",
    "attendant_messages",
    "identities",
    "alert_state",
)


def operational_refusal(feature: str) -> str:
    """The one line a Spark store answers an operational feature with."""
    return (
        f"{feature} keeps row-level state at request rate, which a Spark store does not hold: "
        "run it on an operational store (--db postgresql://... or a DuckDB file); "
        "Spark keeps the events and their derived facts (docs/spark.md)"
    )


class SparkStore(Store):
    """Tables in a Spark catalog database (Parquet folders under the warehouse by default)."""

    engine = "spark"
    atomic = False

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.spec = SparkTarget.parse(target)
        self._spark: SparkSession | None = None
        self._stage: duckdb.DuckDBPyConnection | None = None
        self.tables = {name: f"{self.spec.database}.{name}" for name in TABLES}
        self.read_only_events = False
        self._writer = threading.RLock()
        self._writes = 0
        self._lock_fd: int | None = None
        self._temp_frames: dict[str, DataFrame] = {}
        self._handoffs: list[str] = []  # staged Parquet files of rows read by _arrow_frames
        # An events file (name, size, mtime) -> its largest seq (`_largest_seq`).
        self._file_seqs: dict[tuple[str, int, int], int] = {}
        self._finish_interrupted_commits()
        self._create_schema()

    # -- session and schema -------------------------------------------------------------------
    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            self._spark = spark_session(self.spec)
        return self._spark

    @property
    def functions(self) -> ModuleType:
        """pyspark's column functions for this store's session: a Spark Connect session
        takes Connect columns, a classic one JVM columns (see `_connect_session`)."""
        if self.spec.remote:
            from pyspark.sql.connect import functions
        else:
            from pyspark.sql import functions
        return functions

    def has_table(self, name: str) -> bool:
        return bool(self.spark.catalog.tableExists(f"{self.spec.database}.{name}"))

    def refuse_operational(self, feature: str) -> None:
        raise StoreError(operational_refusal(feature))

    # -- one writer, staged writes, commits by a journal of renames --------------------------
    def _root(self) -> str | None:
        """The warehouse as a folder this process can rename in (local mode, or a cluster
        whose workers share the mount); None for object stores and catalog-managed tables."""
        warehouse = self.spec.warehouse
        if not warehouse:
            return None
        if "://" not in warehouse:
            return warehouse.rstrip("/")
        parsed = urlparse(warehouse)
        return parsed.path.rstrip("/") if parsed.scheme == "file" else None

    def _location(self, name: str) -> str:
        root = self._root()
        assert root is not None
        return f"{root}/{name}"

    def _holds_no_rows(self, name: str) -> bool:
        """Table `name` is a Parquet folder of this warehouse holding no row: a DELETE or
        an anti-join against it need not start a Spark job (every Spark read lists this
        folder: the folder is the table). False when that cannot be known from here
        (object stores, table formats, an events table of the user's)."""
        if self._root() is None or self.spec.table_format != "parquet":
            return False
        if name == "events" and self.spec.events_table:
            return False
        folder = self._location(name)
        try:
            entries = sorted(os.listdir(folder))
        except FileNotFoundError:
            return True
        # A file may hold no rows (Spark's own INSERT writes one for an empty result): its
        # footer says so; the first file with rows ends the look.
        return not any(
            pq.read_metadata(os.path.join(folder, e)).num_rows
            for e in entries
            if not e.startswith(("_", "."))
        )

    def holds_rows(self, table: str) -> bool:
        return not self._holds_no_rows(table) and super().holds_rows(table)

    def _largest_seq(self) -> int | None:
        """The largest stored `seq`, from the events files' Parquet footers (each row
        group's statistics), without a Spark job; None when that cannot be known from here
        (as in `_holds_no_rows`, or a file without statistics). A file's answer is kept by
        its name: committed files are never changed, only replaced by new ones (erase,
        rewrite), so each ingest reads the footers of the files the last one added (the
        size and time of change guard against a name written again)."""
        if self._root() is None or self.spec.table_format != "parquet" or self.spec.events_table:
            return None
        folder = self._location("events")
        try:
            names = [e for e in os.listdir(folder) if not e.startswith(("_", "."))]
        except FileNotFoundError:
            return 0
        found, seen = 0, set()
        for name in names:
            path = os.path.join(folder, name)
            info = os.stat(path)
            key = (name, info.st_size, info.st_mtime_ns)
            seen.add(key)
            if key not in self._file_seqs:
                largest = _largest_in_file(path, "seq")
                if largest is None:
                    return None
                self._file_seqs[key] = largest
            found = max(found, self._file_seqs[key])
        for gone in self._file_seqs.keys() - seen:
            del self._file_seqs[gone]
        return found

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the warehouse's writer lock for the block (re-entrant in this store).

        A second writer — another process, or another store on the same warehouse — is
        refused at once with a message naming the holder, rather than left to give equal
        `seq` numbers or lose a rewrite. Readers never wait."""
        with self._writer:
            if self._writes == 0:
                self._lock()
            self._writes += 1
            try:
                yield
            finally:
                self._writes -= 1
                if self._writes == 0:
                    self._unlock()

    def _lock(self, wait: bool = False) -> bool:
        root = self._root()
        if root is None:
            return True
        os.makedirs(root, exist_ok=True)
        path = os.path.join(root, LOCK_FILE)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise StoreError(
                f"the Spark warehouse {root} is being written by {holder}: a Spark store takes "
                "one writer at a time (ingest, erase, rebuild); wait for it to finish or queue "
                "the jobs"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {os.uname().nodename}".encode(), 0)
        self._lock_fd = fd
        self._recover(root)
        return True

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def _finish_interrupted_commits(self) -> None:
        """A writer killed in the middle of a commit left its journal: finish it now (when
        no other writer holds the warehouse), so its batch is wholly visible."""
        root = self._root()
        if root is None or not os.path.isdir(os.path.join(root, JOURNAL)):
            return
        if not any(n.endswith(".json") for n in os.listdir(os.path.join(root, JOURNAL))):
            return
        try:
            with self.writing():
                pass
        except StoreError:
            return  # the current writer finishes it when it takes the lock

    def _recover(self, root: str) -> None:
        """Under the lock: roll every journalled commit forward, then drop staged files no
        journal names (a writer that failed or was killed before committing)."""
        journals = os.path.join(root, JOURNAL)
        done: list[str] = []
        if os.path.isdir(journals):
            for name in sorted(os.listdir(journals)):
                path = os.path.join(journals, name)
                if not name.endswith(".json"):
                    os.remove(path)  # a journal never completed: its commit never began
                    continue
                with open(path, encoding="utf-8") as fh:
                    plan = json.load(fh)
                self._apply(plan)
                os.remove(path)
                done.extend(plan["tables"])
        shutil.rmtree(os.path.join(root, STAGING), ignore_errors=True)
        for name in dict.fromkeys(done):
            # The session may have listed these folders before the kill (another store).
            if name in self.tables and self.spark.catalog.tableExists(self.tables[name]):
                self._refresh(name)

    @staticmethod
    def _apply(plan: dict[str, Any]) -> None:
        """Carry out a commit's renames; each step is skipped once done, so applying a
        plan again after a crash finishes it. `swaps` replace a table's folder, `removes`
        take replaced files out of a table (into a trash folder), `moves` bring staged
        files in."""
        removes = plan.get("removes", [])
        for swap in plan["swaps"]:
            if os.path.exists(swap["staging"]):
                if os.path.exists(swap["location"]):
                    os.rename(swap["location"], swap["trash"])
                os.rename(swap["staging"], swap["location"])
        for source, trash in removes:
            if os.path.exists(source):
                os.makedirs(os.path.dirname(trash), exist_ok=True)
                os.rename(source, trash)
        for source, target in plan["moves"]:
            if os.path.exists(source):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.rename(source, target)
        for swap in plan["swaps"]:
            shutil.rmtree(swap["trash"], ignore_errors=True)
        for folder in dict.fromkeys(os.path.dirname(trash) for _, trash in removes):
            shutil.rmtree(folder, ignore_errors=True)
        for folder in dict.fromkeys(os.path.dirname(source) for source, _ in plan["moves"]):
            shutil.rmtree(folder, ignore_errors=True)  # what the write left beside its files

    def _commit_plan(self, plan: dict[str, Any]) -> None:
        """Make staged files visible: write the plan to the journal (atomically, by a
        rename), carry it out, drop the journal. A kill after the journal's rename is
        finished by the next writer or the next open; one before it leaves only staged
        files, which are removed."""
        root = self._root()
        assert root is not None and self._lock_fd is not None
        journals = os.path.join(root, JOURNAL)
        os.makedirs(journals, exist_ok=True)
        name = f"{uuid.uuid4().hex}"
        partial = os.path.join(journals, f"{name}.tmp")
        with open(partial, "w", encoding="utf-8") as fh:
            json.dump(plan, fh)
            fh.flush()
            os.fsync(fh.fileno())
        journal = os.path.join(journals, f"{name}.json")
        os.replace(partial, journal)
        self._apply(plan)
        os.remove(journal)
        for table in dict.fromkeys(plan["tables"]):
            self._refresh(table)

    def _refresh(self, name: str) -> None:
        self.spark.catalog.refreshTable(self.tables[name])

    def _staging(self, what: str) -> str:
        root = self._root()
        assert root is not None
        return f"{root}/{STAGING}/{what}-{uuid.uuid4().hex[:16]}"

    def _stage_frame(self, frame: DataFrame, what: str) -> list[str]:
        """Write `frame` as files of a staging folder; the data files it wrote (the folder
        goes when there are none: no commit will move anything out of it)."""
        folder = self._staging(what)
        written = self._write_staged(frame, what, folder)
        if not written:
            shutil.rmtree(folder, ignore_errors=True)
        return written

    def _write_staged(self, frame: DataFrame, table: str, folder: str) -> list[str]:
        """Write `frame`, rows of `table`, as data files of `folder`; the files written.

        Events are written one file per month of `ts` (Spark writes them into `tp_month=`
        folders, which are then flattened to `YYYY-MM_part-...` files: the table folder
        stays flat, so Spark never reads a partition column into the events)."""
        writer = _sized(frame, table)
        if table != "events" or self.spec.table_format != "parquet":
            writer.write.format(self.spec.table_format).save(folder)
        else:
            month = f"date_format(ts, 'yyyy-MM') AS {MONTH_COLUMN}"
            (
                writer.selectExpr("*", month)
                .repartition(MONTH_COLUMN)
                .write.partitionBy(MONTH_COLUMN)
                .format(self.spec.table_format)
                .save(folder)
            )
            prefix = f"{MONTH_COLUMN}="
            for sub in sorted(os.listdir(folder)):
                if not sub.startswith(prefix):
                    continue
                for f in os.listdir(os.path.join(folder, sub)):
                    if not f.startswith(("_", ".")):
                        os.rename(
                            os.path.join(folder, sub, f),
                            os.path.join(folder, f"{sub.removeprefix(prefix)}_{f}"),
                        )
                shutil.rmtree(os.path.join(folder, sub))
        written = [
            os.path.join(folder, f)
            for f in sorted(os.listdir(folder))
            if not f.startswith(("_", ".")) and os.path.isfile(os.path.join(folder, f))
        ]
        if self.spec.table_format != "parquet":
            return written
        # Spark writes a file even for no rows; left in the table, it would cost every later
        # scan a task and make an empty table look non-empty (`_holds_no_rows`).
        kept = []
        for path in written:
            if pq.read_metadata(path).num_rows:
                kept.append(path)
            else:
                os.remove(path)
        return kept

    def _moves(self, files: list[str], name: str) -> list[list[str]]:
        return [[f, f"{self._location(name)}/{os.path.basename(f)}"] for f in files]

    def _rewritable(self, name: str) -> bool:
        """Parquet folders under a local warehouse are rewritten here (staged, then swapped
        in); Delta or Iceberg tables take DELETE and UPDATE themselves."""
        if self.spec.table_format != "parquet":
            return False
        if name == "events" and self.spec.events_table:
            raise StoreError(
                f"events table {self.spec.events_table!r} is yours, not rewritten by Touchpoints: "
                "erase and purge there need format=delta or iceberg, or your own job"
            )
        if self._root() is None and name in SMALL_TABLES:
            return True
        if self._root() is None or name not in self.tables:
            raise StoreError(
                f"rewriting {name} (erase, purge, rebuild) on a Parquet warehouse needs a folder "
                "path for `warehouse`; on object stores or managed tables use format=delta or "
                "format=iceberg, which rewrite rows themselves"
            )
        return True

    def _rewrite(self, name: str, select: str, values: dict[str, Any] | None) -> None:
        """Replace table `name` by the rows of `select` (Spark SQL): written to a staging
        folder, then swapped in by one journalled commit."""
        if self._root() is None:
            # A small table on an object store: its rows are collected and written back
            # (as the catalog always was); not atomic, and a few rows at most.
            from pyspark.sql import Row

            frame = self.spark.sql(select, args=values) if values else self.spark.sql(select)
            rows = [Row(**r.asDict()) for r in frame.collect()]
            with _arrow_calls():
                fresh = self.spark.createDataFrame(rows, schema=_ddl()[name])
            fresh.write.insertInto(self.tables[name], overwrite=True)
            return
        with self.writing():
            os.makedirs(self._location(name), exist_ok=True)
            frame = self.spark.sql(select, args=values) if values else self.spark.sql(select)
            folder = self._staging(name)
            self._write_staged(frame, name, folder)
            trash = self._staging(f"{name}-replaced")
            self._commit_plan(
                {
                    "swaps": [
                        {"location": self._location(name), "staging": folder, "trash": trash}
                    ],
                    "moves": [],
                    "tables": [name],
                }
            )

    def _dml(self, sql: str, params: Params | None) -> bool:
        """DELETE / UPDATE / CREATE TEMPORARY TABLE, which Parquet tables lack: run here.
        False for every other statement (translated and run as is)."""
        head = sql.lstrip()[:32].upper()
        if not head.startswith(("DELETE", "UPDATE", "CREATE TEMP")):
            return False
        tree = sqlglot.parse_one(sql, read="duckdb")
        if isinstance(tree, exp.Create) and tree.args.get("expression") is not None:
            name = tree.this.name if isinstance(tree.this, exp.Table) else tree.this.this.name
            select = tree.args["expression"].sql(dialect="duckdb")
            frame = self._frame(select, params).localCheckpoint()
            frame.createOrReplaceTempView(name)
            # Held while the view may be read: a Spark Connect client releases a checkpoint
            # on the server when its DataFrame is garbage-collected.
            self._temp_frames[name] = frame
            return True
        if not isinstance(tree, exp.Delete | exp.Update):
            return False
        name = tree.this.name
        if not self._rewritable(name):
            return False
        where = tree.args.get("where")
        condition = where.this.sql(dialect="duckdb") if where is not None else "TRUE"
        # The new rows are `head + <the rows read> + tail`: the whole table, or only the
        # files holding a matching row.
        if isinstance(tree, exp.Delete):
            head, tail = "SELECT * FROM ", f" WHERE NOT (({condition}) IS TRUE)"
        else:
            sets = {e.this.name: e.expression.sql(dialect="duckdb") for e in tree.expressions}
            projection = ", ".join(
                f'CASE WHEN ({condition}) IS TRUE THEN {sets[c]} ELSE "{c}" END AS "{c}"'
                if c in sets
                else f'"{c}"'
                for c in self.spark.table(self.tables[name]).columns
            )
            head, tail = f"SELECT {projection} FROM ", ""
        if where is not None and name in FILE_TABLES and self._root() is not None:
            self._rewrite_files(name, condition, f"{head}{FILES_VIEW} AS {name}{tail}", params)
        else:
            select = f"{head}{name}{tail}"
            self._rewrite(name, self.translate(select), bound(select, params))
        return True

    def _rewrite_files(self, name: str, condition: str, select: str, params: Params | None) -> None:
        """Rewrite only the files of table `name` holding a row that matches `condition`
        (DuckDB SQL): `select` reads them (as the view FILES_VIEW) and gives their new rows,
        which are written to staging; one journalled commit then takes the old files out
        and moves the new ones in. A statement that matches nothing writes nothing."""
        with self.writing():
            if self._holds_no_rows(name):
                return  # an empty table (the facts of a new store): nothing matches
            find = (
                f"SELECT DISTINCT _metadata.file_path AS path FROM {name} "
                f"WHERE ({condition}) IS TRUE"
            )
            paths = sorted(r["path"] for r in self._frame(find, params).collect())
            if paths:
                self._commit_plan(self._stage_rewrite(name, paths, select, params))

    def _stage_rewrite(
        self, name: str, paths: list[str], select: str, params: Params | None
    ) -> dict[str, Any]:
        """Stage the new rows of the files `paths` of table `name`: `select` (DuckDB SQL)
        reads them as the view FILES_VIEW. Returns the commit plan that swaps them in."""
        reader = self.spark.read.format(self.spec.table_format).schema(_ddl()[name])
        reader.load(paths).createOrReplaceTempView(FILES_VIEW)
        try:
            written = self._stage_frame(self._conformed(self._frame(select, params), name), name)
        finally:
            self.spark.catalog.dropTempView(FILES_VIEW)
        trash = self._staging(f"{name}-replaced")
        return {
            "swaps": [],
            "moves": self._moves(written, name),
            "removes": [[p, f"{trash}/{os.path.basename(p)}"] for p in map(_local_path, paths)],
            "tables": [name],
        }

    def replace_customers(
        self, customers: str, tables: Mapping[str, str | None], params: Params | None = None
    ) -> None:
        """The facts' tables of a local Parquet warehouse: the files holding a row of those
        customers are found for every table in one Spark job; each table's kept rows and
        new rows are written in one job; one journalled commit swaps them all in (a
        DELETE and an INSERT per table would take four jobs and two commits each)."""
        grouped = {t: r for t, r in tables.items() if t in FILE_TABLES and t != "events"}
        if self._root() is None or self.spec.table_format != "parquet":
            grouped = {}
        rest = {t: r for t, r in tables.items() if t not in grouped}
        super().replace_customers(customers, rest, params)
        if not grouped:
            return
        condition = f"customer_id IN ({customers})"
        with self.writing():
            live = [t for t in grouped if not self._holds_no_rows(t)]
            find = " UNION ALL ".join(
                f"SELECT DISTINCT $tp_table_{i} AS tbl, _metadata.file_path AS path FROM {t} "
                f"WHERE ({condition}) IS TRUE"
                for i, t in enumerate(live)
            )
            names = {f"tp_table_{i}": t for i, t in enumerate(live)}
            hits = self._frame(find, {**(params or {}), **names}).collect() if live else []
            plan: dict[str, Any] = {"swaps": [], "moves": [], "removes": [], "tables": []}
            for table, rows in grouped.items():
                paths = sorted(r["path"] for r in hits if r["tbl"] == table)
                if paths:
                    keep = (
                        f"SELECT * FROM {FILES_VIEW} AS {table} WHERE NOT (({condition}) IS TRUE)"
                    )
                    select = keep if rows is None else f"{keep} UNION ALL {rows}"
                    staged = self._stage_rewrite(table, paths, select, params)
                elif rows is not None:
                    files = self._stage_frame(
                        self._conformed(self._frame(rows, None), table), table
                    )
                    staged = {"moves": self._moves(files, table), "removes": [], "tables": [table]}
                else:
                    continue
                for part in ("moves", "removes", "tables"):
                    plan[part].extend(staged[part])
            if plan["tables"]:
                self._commit_plan(plan)

    def _conformed(self, frame: DataFrame, table: str) -> DataFrame:
        """`frame`'s columns, by position, named and typed as table `table`'s (what an
        INSERT does to the rows it writes)."""
        schema = self.spark.table(self.tables[table]).schema
        F = self.functions
        return frame.toDF(*schema.names).select(
            *[F.col(f"`{f.name}`").cast(f.dataType).alias(f.name) for f in schema.fields]
        )

    def _meta_folder(self) -> str | None:
        """The folder of `meta` when this process reads and replaces its Parquet files
        itself (a local warehouse); None elsewhere (object stores, table formats)."""
        if self._root() is None or self.spec.table_format != "parquet":
            return None
        return self._location("meta")

    def _meta_rows(self, folder: str) -> dict[str, str | None] | None:
        """`meta` read from its files: a few rows, which a Spark job takes a quarter of a
        second to bring back, several times per ingestion. A writer may be swapping the
        folder in (`_apply`) between the listing and the read: then read again. None when
        this process does not see the folder (then Spark SQL reads the table)."""
        for attempt in range(50):
            if not os.path.isdir(folder):
                time.sleep(0.01)  # between a swap's two renames, or not this machine's
                if not os.path.isdir(folder):
                    return None
            try:
                rows: dict[str, str | None] = {}
                for entry in sorted(os.listdir(folder)):
                    if not entry.startswith(("_", ".")):
                        part = pq.read_table(os.path.join(folder, entry), columns=["key", "value"])
                        rows.update(
                            zip(part["key"].to_pylist(), part["value"].to_pylist(), strict=True)
                        )
                return rows
            except OSError:
                time.sleep(0.002 * (attempt + 1))
        raise StoreError(f"cannot read the table meta in {folder}: it keeps changing or is gone")

    def meta(self, key: str) -> str | None:
        folder = self._meta_folder()
        rows = None if folder is None else self._meta_rows(folder)
        return super().meta(key) if rows is None else rows.get(key)

    def set_meta(self, values: Mapping[str, str | None]) -> None:
        """On a local warehouse, the new `meta` is written as one Parquet file here (a few
        rows: no Spark job) and swapped in by a journalled commit, like any rewrite."""
        folder = self._meta_folder()
        if folder is None:
            super().set_meta(values)
            return
        with self.writing():
            rows = self._meta_rows(folder)
            if rows is None:
                super().set_meta(values)
                return
            for key, value in values.items():
                if value is None:
                    rows.pop(key, None)
                else:
                    rows[key] = value
            staging = self._staging("meta")
            os.makedirs(staging)
            table = pa.table(
                {
                    "key": pa.array(list(rows), pa.string()),
                    "value": pa.array(list(rows.values()), pa.string()),
                }
            )
            pq.write_table(table, os.path.join(staging, f"part-{uuid.uuid4().hex}.parquet"))
            trash = self._staging("meta-replaced")
            swap = {"location": folder, "staging": staging, "trash": trash}
            self._commit_plan({"swaps": [swap], "moves": [], "tables": ["meta"]})

    def _frame(self, sql: str, params: Params | None) -> DataFrame:
        values = bound(sql, params)
        text = self.translate(sql)
        return self.spark.sql(text, args=values) if values else self.spark.sql(text)

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
        derived.start_if_empty(self)

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
        self._temp_frames.clear()

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
        """One write, under the warehouse's writer lock (a second writer is refused)."""
        with self.writing():
            if self._dml(sql, params):
                return
            values = bound(sql, params)
            if values:
                self.spark.sql(self.translate(sql), args=values).collect()
            else:
                self.spark.sql(self.translate(sql)).collect()

    def _native(self, sql: str) -> None:
        self.spark.sql(sql).collect()

    def transaction(self) -> AbstractContextManager[None]:
        """Spark has no multi-statement transactions: the block holds the warehouse's
        writer lock (no other writer interleaves), and each statement in it commits on its
        own, atomically (a rewrite is staged, then swapped in). The blocks that use it
        (erase, purge, rebuild, a logged change) are safe to run again after a failure."""
        return self.writing()

    def staging_connection(self) -> duckdb.DuckDBPyConnection:
        if self._stage is None:
            self._stage = duckdb.connect()
            self._stage.execute("SET TimeZone = 'UTC'")
        return self._stage

    def _replace_catalog(self, yaml_text: str, rows: list[tuple[Any, ...]]) -> None:
        from pyspark.sql import Row

        with self.writing():
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
            if self._root() is None:
                meta.write.insertInto(self.tables["meta"], overwrite=True)
                touchpoints.write.insertInto(self.tables["touchpoints"], overwrite=True)
                return
            # Both tables in one journalled commit: the catalog and its rows change together.
            swaps = []
            for name, frame in (("meta", meta), ("touchpoints", touchpoints)):
                os.makedirs(self._location(name), exist_ok=True)
                folder = self._staging(name)
                _sized(frame, name).write.format(self.spec.table_format).save(folder)
                swaps.append(
                    {
                        "location": self._location(name),
                        "staging": folder,
                        "trash": self._staging(f"{name}-replaced"),
                    }
                )
            self._commit_plan({"swaps": swaps, "moves": [], "tables": ["meta", "touchpoints"]})

    # -- ingestion ----------------------------------------------------------------------------
    def _arrow_frames(self, con: duckdb.DuckDBPyConnection, select: str, schema: str) -> DataFrame:
        """A DuckDB result as one Spark DataFrame.

        In local mode over a warehouse folder, DuckDB writes it as a Parquet file in the
        staging area and Spark reads that file: no row passes through the driver's JVM heap
        (Arrow batches handed to Spark are held there until a job reads them: a file of 5M
        events ran a 6 GiB driver out of memory). Elsewhere (a cluster, Spark Connect) the
        client's folder may not be the cluster's, and the rows go as Arrow chunks of
        bounded size. The caller materialises the frame (localCheckpoint) before
        `_drop_handoffs` removes the file."""
        root = self._root()
        if self.spec.local and root is not None and self.spec.table_format == "parquet":
            folder = self._staging("handoff")
            os.makedirs(folder, exist_ok=True)
            self._handoffs.append(folder)
            path = os.path.join(folder, "rows.parquet")
            con.sql(select).write_parquet(path)
            return self.spark.read.schema(schema).parquet(path)
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
        """Append new events, quarantine rows and the log row as one commit.

        Under the writer lock, each table's new rows are written to a staging folder (a
        failure there leaves nothing visible), then one journalled commit moves every
        staged file into its table: a killed commit is finished by the next writer or the
        next open, so a batch is never half visible. Then the derived facts of the
        customers that received events are recomputed (store/derived.py)."""
        if self.read_only_events and staging.good:
            raise StoreError(
                f"events table {self.spec.events_table!r} lacks Touchpoints' seq/source "
                "columns: it is analysed, not ingested into"
            )
        if self._root() is None or self.spec.events_table:
            return self._append_in_place(con, staging, want_ids)
        with self.writing():
            try:
                new, stored, ids = self._new_events(con, staging, want_ids)
                fresh = self._new_quarantine(con)
            finally:
                self._drop_handoffs()
            log = self._log_row(staging, stored)
            moves: list[list[str]] = []
            tables = []
            for frame, name in ((new, "events"), (fresh, "quarantine"), (log, "ingest_log")):
                if (name == "events" and not stored) or frame is None:
                    continue
                files = self._stage_frame(frame, name)
                moves += self._moves(files, name)
                tables.append(name)
            # Facts are marked absent before the events commit: a kill between the two
            # leaves analyses reading raw events, never facts that miss the new batch.
            options = derived.suspend(self) if stored else None
            self._commit_plan({"swaps": [], "moves": moves, "tables": tables})
            if options is not None:
                new.select("customer_id").createOrReplaceTempView("_good")
                derived.refresh(self, "SELECT DISTINCT customer_id FROM _good", options=options)
                self.spark.catalog.dropTempView("_good")
        return stored, ids

    def _new_events(
        self, con: duckdb.DuckDBPyConnection, staging: Staging, want_ids: bool
    ) -> tuple[DataFrame, int, list[str] | None]:
        """The staged rows not stored yet (left-anti join on event_id), numbered after the
        largest stored `seq`; materialised once, so the count and the write agree."""
        F = self.functions

        events = self.spark.table(self.tables["events"])
        staged = self._arrow_frames(
            con,
            f"SELECT _row, {', '.join(COLUMN_NAMES)} FROM _good",
            f"_row BIGINT, {_column_ddl()}",
        )
        if self._holds_no_rows("events"):
            # The first batch of a new warehouse: no stored id to join against, no seq yet.
            base, unseen = 0, staged
        else:
            base = self._largest_seq()
            if base is None:
                base = events.agg(F.coalesce(F.max("seq"), F.lit(0)).alias("m")).first()["m"]
            unseen = staged.join(events.select("event_id"), on="event_id", how="left_anti")
        new = unseen.select(
            (F.lit(int(base)) + F.col("_row")).alias("seq"),
            *COLUMN_NAMES,
            F.lit(staging.source).alias("source"),
        ).localCheckpoint()
        stored = int(new.count())
        ids = [r["event_id"] for r in new.select("event_id").collect()] if want_ids else None
        return new, stored, ids

    def _drop_handoffs(self) -> None:
        """Remove the Parquet files `_arrow_frames` staged (their rows are checkpointed)."""
        while self._handoffs:
            shutil.rmtree(self._handoffs.pop(), ignore_errors=True)

    def _new_quarantine(self, con: duckdb.DuckDBPyConnection) -> DataFrame | None:
        """Rejected rows not quarantined yet: re-ingesting a file does not repeat them.
        None when the batch rejected nothing (most batches): no Spark job is started."""
        F = self.functions
        if not con.sql("SELECT count(*) AS n FROM _bad").fetchall()[0][0]:
            return None

        bad = self._arrow_frames(
            con,
            'SELECT source, "row", "column", reason, raw FROM _bad',
            "source STRING, `row` BIGINT, `column` STRING, reason STRING, raw STRING",
        )
        known = self.spark.table(self.tables["quarantine"]).select(
            "source", "row", "column", "reason"
        )
        fresh = bad.alias("b").join(
            known.alias("q"),
            on=(F.col("b.source") == F.col("q.source"))
            & (F.col("b.row") == F.col("q.row"))
            & F.col("b.column").eqNullSafe(F.col("q.column"))
            & (F.col("b.reason") == F.col("q.reason")),
            how="left_anti",
        )
        return fresh.select(
            "source",
            "row",
            "column",
            "reason",
            "raw",
            F.current_timestamp().alias("quarantined_at"),
        ).localCheckpoint()

    def _log_row(self, staging: Staging, stored: int) -> DataFrame | None:
        F = self.functions

        if not staging.logged:
            return None  # the caller writes its own row after settling conflicts
        with _arrow_calls():
            return self.spark.createDataFrame(
                [tuple(staging.log(int(stored)).values())],
                schema="source STRING, ingested BIGINT, duplicates BIGINT, rejected BIGINT",
            ).withColumn("ingested_at", F.current_timestamp())

    def _append_in_place(
        self, con: duckdb.DuckDBPyConnection, staging: Staging, want_ids: bool
    ) -> tuple[int, list[str] | None]:
        """Object-store or catalog-managed tables: one append per table through the table
        format (atomic per table with Delta or Iceberg; docs/spark.md)."""
        try:
            new, stored, ids = self._new_events(con, staging, want_ids)
            fresh = self._new_quarantine(con)
        finally:
            self._drop_handoffs()
        if stored:
            new.write.insertInto(self.tables["events"])
        if fresh is not None and fresh.count():
            fresh.write.insertInto(self.tables["quarantine"])
        log = self._log_row(staging, stored)
        if log is not None:
            log.write.insertInto(self.tables["ingest_log"])
        if stored and (self.spec.table_format != "parquet" or self._root() is not None):
            new.select("customer_id").createOrReplaceTempView("_good")
            derived.refresh(self, "SELECT DISTINCT customer_id FROM _good")
            self.spark.catalog.dropTempView("_good")
        elif stored:
            # Plain Parquet on an object store cannot rewrite the facts: they are marked
            # absent, and analyses read the raw events.
            self.set_meta({derived.META_KEY: None})
        return stored, ids


def _largest_in_file(path: str, column: str) -> int | None:
    """The largest value of an integer `column` in a Parquet file, from its footer; 0 for
    a file with no rows, None when a row group keeps no statistics of it."""
    meta = pq.read_metadata(path)
    at = meta.schema.names.index(column)
    largest = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        if not group.num_rows:
            continue
        stats = group.column(at).statistics
        if stats is None or not stats.has_min_max:
            return None
        largest = max(largest, int(stats.max))
    return largest


def _local_path(uri: str) -> str:
    """A data file's path on this machine, from the URI Spark names it by."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("", "file") else uri


def _sized(frame: DataFrame, table: str) -> DataFrame:
    """The small tables (catalog, logs, quarantine) as one file per write: each file costs
    a task and file-system calls. Events and derived facts keep Spark's partitions."""
    return frame if table in FILE_TABLES else frame.coalesce(1)


def _batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    for batch in reader:
        if batch.num_rows:
            yield batch
