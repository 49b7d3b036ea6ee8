"""`open_store(target)`: a DuckDB file by default, PostgreSQL for `postgresql://` URLs,
Apache Spark for `spark://` targets."""

from __future__ import annotations

import os

from touchpoints.store.base import Store

DEFAULT_TARGET = "touchpoints.duckdb"


def resolve_target(target: str | None) -> str:
    """SPEC §5: `--db TARGET`, else $TOUCHPOINTS_DB, else ./touchpoints.duckdb."""
    return target or os.environ.get("TOUCHPOINTS_DB") or DEFAULT_TARGET


def open_store(target: str | None = None, read_only: bool = False) -> Store:
    resolved = resolve_target(target)
    if resolved.startswith(("postgresql://", "postgres://")):
        from touchpoints.store.postgres import PostgresStore

        return PostgresStore(resolved)
    if resolved.startswith("spark://"):
        from touchpoints.store.spark import SparkStore

        return SparkStore(resolved)
    from touchpoints.store.duckdb import DuckDBStore

    path = resolved.removeprefix("duckdb://")
    return DuckDBStore(path, read_only=read_only)


__all__ = ["Store", "open_store", "resolve_target", "DEFAULT_TARGET"]
