"""The Store: one engine adapter (DuckDB, PostgreSQL or Spark) holding the canonical events
table, its quarantine, the catalog and the service tables.

A store knows engines and nothing more. It runs SQL written once in DuckDB's dialect with
values bound to `$name` markers (translated per engine, see `store.dialects`), offers
transactions, a DuckDB connection to stage files on, and the bulk write of staged rows.
Reading files, validation, pseudonymisation (`touchpoints.ingest`) and analyses
(`touchpoints.analytics`) live above it and reach the engine only through these methods.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

import duckdb

from touchpoints.core.catalog import Catalog, default_catalog, parse_catalog
from touchpoints.core.events import COLUMN_NAMES
from touchpoints.core.memo import Memo
from touchpoints.store.params import Params
from touchpoints.store.schema import ddl

T = TypeVar("T")

EVENT_COLUMNS_SQL = ", ".join(COLUMN_NAMES)


@dataclass(frozen=True)
class Staging:
    """What ingestion left on a staging connection: where it came from and how many rows
    `_good` holds, were repeated within the input, or were rejected."""

    source: str
    good: int
    in_file_duplicates: int = 0
    rejected: int = 0
    logged: bool = True

    def log(self, stored: int) -> dict[str, Any]:
        """The `ingest_log` row once `stored` rows were new."""
        return {
            "source": self.source,
            "stored": stored,
            "duplicates": self.good - stored + self.in_file_duplicates,
            "rejected": self.rejected,
        }


@lru_cache(maxsize=8)
def _stored_catalog(text: str) -> Catalog:
    """The stored catalog's YAML parsed once per text: a server reads it afresh for each
    question (it may be edited), and parsing it is the slow part; a `Catalog` is frozen."""
    return parse_catalog(text, "stored catalog")


class Store(ABC):
    """Events, quarantine and catalog on one engine."""

    engine: str = ""
    # Whether `transaction()` makes a block all-or-nothing (DuckDB, PostgreSQL); on Spark
    # each statement of the block commits on its own.
    atomic: bool = True

    def __init__(self, target: str) -> None:
        self.target = target
        self._catalog: Catalog | None = None
        # Answers that are parts of other analyses (`analytics.registry.shared`), kept per
        # data stamp; a server's reader stores on the same database share this one.
        self.memo = Memo()

    # -- SQL -------------------------------------------------------------------------------
    @abstractmethod
    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Run one SELECT written in DuckDB's dialect; rows as dicts. Values are bound to
        the query's `$name` markers from `params`, never written into its text."""

    @abstractmethod
    def execute(self, sql: str, params: Params | None = None) -> None:
        """Run one write (INSERT, UPDATE, DELETE) written in DuckDB's dialect, values bound
        to its `$name` markers as in `query`; translated for the engine like a query."""

    @abstractmethod
    def _native(self, sql: str) -> None:
        """Run one statement in the engine's own dialect, untranslated and without values:
        the store's DDL and engine settings, which sqlglot need not understand."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """All or nothing: every `query`/`execute` inside the block commits together, or
        none does when the block raises. Nested blocks join the outer transaction."""

    def in_transaction(self) -> bool:
        """Whether a `transaction()` block is open on this store: what it reads then may
        be rolled back, so no answer read then is memoised. True where the engine cannot
        tell (Spark, whose statements commit one by one)."""
        return True

    def remembered(self, key: Hashable, compute: Callable[[], T], copy: bool = True) -> T:
        """`compute()` once per data stamp (`derived.answer_stamp`) for this store and the
        readers sharing its `memo`: for answers that are parts of others, or that several
        analyses read. Computed afresh inside a transaction (what it reads may be rolled
        back, and the next commit may bring the same stamp) and on engines without a stamp
        (Spark). `copy=False` hands every caller the one kept object: only for answers
        nobody can change (tuples of numbers and strings)."""
        if self.in_transaction():
            return compute()
        from touchpoints.store.derived import answer_stamp

        stamp = answer_stamp(self)
        if stamp is None:
            return compute()
        return self.memo.get(key, stamp, compute, lambda: answer_stamp(self), copy=copy)

    # -- staging and bulk writes -------------------------------------------------------------
    @abstractmethod
    def staging_connection(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection to read and validate files on, whatever the engine: the
        store's own connection on DuckDB (good rows never leave it), a private in-memory
        one elsewhere. `commit_staged` reads its temp tables."""

    def commit_staged(
        self,
        con: duckdb.DuckDBPyConnection,
        source: str,
        *,
        good: int,
        in_file_duplicates: int = 0,
        rejected: int = 0,
        want_ids: bool = False,
        logged: bool = True,
    ) -> tuple[int, list[str] | None]:
        """Store what was staged on `con` (from `staging_connection`), in one transaction
        where the engine has them:

        - temp relation `_good` (`_row` BIGINT and the canonical columns, one row per
          event_id): appended to `events`, minus event_ids already stored, with
          `seq` = the largest stored seq + `_row` and `source` = `source`;
        - temp table `_bad` (source, row, column, reason, raw): appended to `quarantine`,
          minus entries already there (re-ingesting a file does not repeat them);
        - one `ingest_log` row: `source`, the rows stored, the duplicates
          (`good` − stored + `in_file_duplicates`) and `rejected` — unless not `logged`:
          then the caller settles the counts after the commit and writes the row itself
          with `log_ingest`, in the same transaction where the engine has them.

        `good` is the number of rows in `_good`. Returns the number of rows stored and,
        with `want_ids`, their event_ids (the HTTP API answers per item; a file of millions
        of rows does not want them back).
        """
        staging = Staging(source, good, in_file_duplicates, rejected, logged)
        return self._commit(con, staging, want_ids)

    def log_ingest(self, source: str, stored: int, duplicates: int, rejected: int) -> None:
        """Write one `ingest_log` row (for a `commit_staged` that was not `logged`)."""
        self.execute(
            "INSERT INTO ingest_log (source, ingested, duplicates, rejected, ingested_at) "
            "VALUES ($source, $stored, $duplicates, $rejected, CURRENT_TIMESTAMP)",
            {"source": source, "stored": stored, "duplicates": duplicates, "rejected": rejected},
        )

    @abstractmethod
    def _commit(
        self, con: duckdb.DuckDBPyConnection, staging: Staging, want_ids: bool
    ) -> tuple[int, list[str] | None]:
        """The engine's half of `commit_staged`."""

    # -- lifetime --------------------------------------------------------------------------
    @abstractmethod
    def close(self) -> None:
        """Release the connection(s)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create_schema(self) -> None:
        from touchpoints.store import derived

        for stmt in ddl(self.engine) + derived.ddl(self.engine):
            self._native(stmt)
        derived.start_if_empty(self)

    # -- meta ------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        """One row of `meta`, the store's own settings and counters (the catalog, the
        facts' options, the data version and generation); None when it is absent."""
        rows = self.query("SELECT value FROM meta WHERE key = $key", {"key": key})
        return str(rows[0]["value"]) if rows else None

    def set_meta(self, values: Mapping[str, str | None]) -> None:
        """Set the `meta` rows named in `values` (None removes one), inside the caller's
        transaction where the engine has one. Several keys in one call: on Spark, which
        rewrites the table for any change, that is one rewrite, not two per key."""
        names = {f"key_{i}": key for i, key in enumerate(values)}
        if not names:
            return
        markers = ", ".join(f"${name}" for name in names)
        self.execute(f"DELETE FROM meta WHERE key IN ({markers})", names)
        for key, value in values.items():
            if value is not None:
                self.execute(
                    "INSERT INTO meta (key, value) VALUES ($key, $value)",
                    {"key": key, "value": value},
                )

    def replace_customers(
        self, customers: str, tables: Mapping[str, str | None], params: Params | None = None
    ) -> None:
        """For each table of `tables`: delete its rows whose customer_id is in `customers`
        (a SELECT of customer_id, with values from `params`), then insert the rows of the
        table's SELECT (in the table's column order, taking no values; None: none). The
        facts of customers whose events changed. Spark does every table in one commit."""
        for table, rows in tables.items():
            self.execute(f"DELETE FROM {table} WHERE customer_id IN ({customers})", params)
            if rows is not None:
                self.execute(f"INSERT INTO {table} {rows}")

    # -- catalog ---------------------------------------------------------------------------
    def catalog(self) -> Catalog:
        """The stored catalog, or the package default when none was ever given."""
        if self._catalog is None:
            text = self.meta("catalog")
            self._catalog = _stored_catalog(text) if text is not None else default_catalog()
        return self._catalog

    def has_catalog(self) -> bool:
        return self.meta("catalog") is not None

    def set_catalog(self, catalog: Catalog) -> None:
        """Store the catalog (YAML in `meta`, one row per entry in `touchpoints` for joins)."""
        rows = [
            (
                t.id,
                t.label("en"),
                t.label("pt-BR"),
                t.channel,
                t.kind,
                t.visibility,
                ",".join(t.phase),
                t.owner,
                json.dumps(t.target),
            )
            for t in catalog.touchpoints
        ]
        self._replace_catalog(catalog.to_yaml(), rows)
        self._catalog = catalog
        from touchpoints.store import derived

        derived.catalog_changed(self)

    @abstractmethod
    def _replace_catalog(self, yaml_text: str, rows: list[tuple[Any, ...]]) -> None: ...

    # -- erasure ---------------------------------------------------------------------------
    def generation(self) -> int:
        """A counter in `meta` that erasing or purging data raises: every cache of results
        (in this process or another one on the same database) compares it, so erased
        data is never served again from memory."""
        value = self.meta("data_generation")
        return int(value) if value is not None else 0

    def bump_generation(self) -> None:
        """Raise `generation()` (inside the caller's transaction, when it has one)."""
        self.set_meta({"data_generation": str(self.generation() + 1)})

    def scrub(self, tables: Sequence[str]) -> None:
        """Make deleted rows of `tables` unreadable in the store's own files (after an
        erase): each engine does what it can; see docs/privacy.md for what that is.
        Spark keeps no deleted rows readable through SQL and has nothing more to do."""
        return None

    def holds_rows(self, table: str) -> bool:
        """Whether `table` holds a row: one row read, at most (a Spark warehouse answers
        from its folder when it can, without a job)."""
        return bool(self.query(f"SELECT 1 AS x FROM {table} LIMIT 1"))

    def analyze(self, table: str) -> None:
        """Give the planner the statistics of a temporary table just filled, so that joins
        with it use the indexes of the big tables. Nothing on engines that keep them as they
        write: PostgreSQL alone needs it (below)."""
        return None

    def refuse_operational(self, feature: str) -> None:
        """Raise, on a store that cannot hold row-level state at request rate (Spark), a
        one-line error naming the operational store to use; nothing elsewhere."""
        return None

    def has_table(self, name: str) -> bool:
        """Whether the store holds table `name` (one made on first use, or a store written
        before the table existed and opened read-only)."""
        rows = self.query(
            "SELECT count(*) AS n FROM information_schema.tables "
            "WHERE table_name = $name AND table_schema = current_schema()",
            {"name": name},
        )
        return bool(rows and int(rows[0]["n"]))

    def count(self, table: str = "events") -> int:
        return int(self.query(f"SELECT count(*) AS n FROM {table}")[0]["n"])
