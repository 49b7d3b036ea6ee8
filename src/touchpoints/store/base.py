"""The Store: one canonical events table on some engine, with its catalog and quarantine.

Subclasses only say how to run SQL and how to copy staged rows in; analytics are written
once in DuckDB's SQL dialect and each store translates them for its engine.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from touchpoints.catalog import Catalog, default_catalog, parse_catalog
from touchpoints.events import COLUMN_NAMES
from touchpoints.ingest import IngestResult, Staged, quarantine_sample, stage_file
from touchpoints.store.schema import ddl

Progress = Callable[[str], None]


class Store(ABC):
    """Events, quarantine and catalog on one engine; analytics call `query`."""

    engine: str = ""

    def __init__(self, target: str) -> None:
        self.target = target
        self._catalog: Catalog | None = None

    # -- engine primitives -------------------------------------------------------------
    @abstractmethod
    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run one SELECT written in DuckDB's dialect; rows as dicts."""

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run one statement in the engine's own dialect (DDL, writes)."""

    @abstractmethod
    def _commit_staged(self, con: duckdb.DuckDBPyConnection, staged: Staged) -> int:
        """Copy `_good` (minus stored event_ids) and `_bad` in one transaction; return rows stored."""

    @abstractmethod
    def _staging_connection(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection to read and validate files with."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection(s)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create_schema(self) -> None:
        for stmt in ddl(self.engine):
            self.execute(stmt)

    # -- catalog ---------------------------------------------------------------------------
    def catalog(self) -> Catalog:
        """The stored catalog, or the package default when none was ever given."""
        if self._catalog is None:
            rows = self.query("SELECT value FROM meta WHERE key = 'catalog'")
            self._catalog = (
                parse_catalog(rows[0]["value"], "stored catalog") if rows else default_catalog()
            )
        return self._catalog

    def has_catalog(self) -> bool:
        return bool(self.query("SELECT 1 AS x FROM meta WHERE key = 'catalog'"))

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

    @abstractmethod
    def _replace_catalog(self, yaml_text: str, rows: list[tuple[Any, ...]]) -> None: ...

    # -- ingestion -------------------------------------------------------------------------
    def ingest(
        self,
        paths: Iterable[str | Path],
        catalog: Catalog | None = None,
        mapping: dict[str, str] | None = None,
        timezone: str = "UTC",
        fmt: str | None = None,
        progress: Progress | None = None,
    ) -> IngestResult:
        """Ingest files; good rows are stored, bad rows quarantined, duplicates counted.

        Each file is committed on its own, so an unreadable file (raised as InputFileError)
        leaves the files before it stored.
        """
        if catalog is not None:
            self.set_catalog(catalog)
        elif not self.has_catalog():
            self.set_catalog(self.catalog())
        active = self.catalog()
        total = IngestResult()
        con = self._staging_connection()
        for path in paths:
            if progress:
                progress(f"reading {path}")
            staged = stage_file(con, path, active, mapping, timezone, fmt)
            if progress:
                progress(f"storing {staged.good:,} rows of {path}")
            stored = self._commit_staged(con, staged)
            result = IngestResult(
                ingested=stored,
                duplicates=staged.good - stored + staged.in_file_duplicates,
                rejected=staged.rejected_rows,
                quarantine=quarantine_sample(con),
                ignored_columns={staged.source: staged.ignored_columns}
                if staged.ignored_columns
                else {},
            )
            total.add(result)
        return total

    # -- analytics (thin conveniences over touchpoints.analytics) ----------------------
    def kpis(self, **options: Any) -> dict[str, Any]:
        from touchpoints.analytics.kpis import kpis

        return kpis(self, **options)

    def count(self, table: str = "events") -> int:
        return int(self.query(f"SELECT count(*) AS n FROM {table}")[0]["n"])


EVENT_COLUMNS_SQL = ", ".join(COLUMN_NAMES)
