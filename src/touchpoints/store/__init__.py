"""`open_store(target)`: a DuckDB file by default, PostgreSQL for `postgresql://` URLs,
Apache Spark for `spark://` targets and Spark Connect for `sc://` URLs."""

from __future__ import annotations

import os

from touchpoints.store.base import Store

DEFAULT_TARGET = "touchpoints.duckdb"
# Targets a Spark store opens: a Spark master (`spark://local[2]`, `spark://yarn`, ...) or a
# Spark Connect server (`sc://host:port`, also written `spark://sc://host:port`).
SPARK_PREFIXES = ("spark://", "sc://")


def resolve_target(target: str | None) -> str:
    """SPEC §5: `--db TARGET`, else $TOUCHPOINTS_DB, else ./touchpoints.duckdb."""
    return target or os.environ.get("TOUCHPOINTS_DB") or DEFAULT_TARGET


def open_store(
    target: str | None = None, read_only: bool = False, *, via_server: bool = True
) -> Store:
    """The store at `target`. A DuckDB file that a running `touchpoints serve` holds is
    reached through that server (`store.remote`) unless `via_server` is False (the server
    itself opens its file directly)."""
    resolved = resolve_target(target)
    if resolved.startswith(("postgresql://", "postgres://")):
        from touchpoints.store.postgres import PostgresStore

        return PostgresStore(resolved)
    if resolved.startswith(SPARK_PREFIXES):
        from touchpoints.store.spark import SparkStore

        return SparkStore(resolved)
    from touchpoints.store.duckdb import DuckDBStore, StoreLocked

    path = resolved.removeprefix("duckdb://")
    try:
        store = DuckDBStore(path, read_only=read_only)
    except StoreLocked:
        if path == ":memory:":
            raise
        from touchpoints.store.remote import RemoteStore, held_message, read_announcement

        info = read_announcement(path)
        if info is None:
            raise
        if not via_server:
            raise StoreLocked(held_message(path, info, "already serves it")) from None
        return RemoteStore(path, info)
    if path != ":memory:" and os.path.exists(announcement_path_of(path)):
        from touchpoints.store.remote import forget_if_stale

        forget_if_stale(path)
    return store


def announcement_path_of(path: str) -> str:
    """Where a server holding the DuckDB file `path` announces itself (`store.remote`)."""
    return f"{path}.server.json"


__all__ = ["Store", "open_store", "resolve_target", "DEFAULT_TARGET", "SPARK_PREFIXES"]
