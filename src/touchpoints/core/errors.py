"""Typed errors. Interfaces (CLI, HTTP) turn them into a message and an exit code or status."""

from __future__ import annotations


class TouchpointsError(Exception):
    """Base for every error a user can act on; its message is meant to be shown as is."""


class CatalogError(TouchpointsError):
    """The catalog file is unreadable or an entry breaks a rule (names the entry and field)."""


class InputFileError(TouchpointsError):
    """A whole input file cannot be read (missing, not CSV/JSONL/Parquet, no required column)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class StoreError(TouchpointsError):
    """The store target cannot be opened or used."""


class OutOfMemoryError(StoreError):
    """A query or a write needed more memory than DuckDB may use (TOUCHPOINTS_DUCKDB_MEMORY_LIMIT,
    else DuckDB's 80 % of the machine) even spilling to disk: the store is intact (a write
    is rolled back whole) and other questions still work, so the server answers 503 with
    a page that says so rather than a 500, and a command prints one line."""

    def __init__(self, limit: str | None, detail: str) -> None:
        self.limit = limit
        where = f"TOUCHPOINTS_DUCKDB_MEMORY_LIMIT={limit}" if limit else "its default limit"
        super().__init__(
            f"DuckDB needed more memory than {where} allows ({detail}): raise the limit, "
            "free memory on the machine, or ask for less at once (a shorter period, a "
            "smaller file)"
        )


class UsageError(TouchpointsError):
    """An option value is invalid (bad date, unknown --by key, ...)."""


class NotFoundError(UsageError):
    """What the user named does not exist (a customer id): a 404 over HTTP, exit 2 on the
    command line like any usage error."""
