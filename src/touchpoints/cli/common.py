"""What every CLI command shares: consoles, the few options every command takes, JSON
output and opening the store.

Commands stay thin: parse options, call one function below the interfaces, render.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from touchpoints.analytics.results import dumps
from touchpoints.core.errors import TouchpointsError
from touchpoints.core.messages import lang_code

if TYPE_CHECKING:
    from touchpoints.store.base import Store

__all__ = ["lang_code"]

PIPED_WIDTH = 200


def _console(stderr: bool = False) -> Console:
    """A terminal's own width; `COLUMNS` when set (also when piped); otherwise, piped or
    redirected output is not squeezed into 80 columns."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return Console(stderr=stderr, width=int(columns))
    console = Console(stderr=stderr)
    if not console.is_terminal and not stderr:
        return Console(width=PIPED_WIDTH)
    return console


out = _console()
err = Console(stderr=True, soft_wrap=True)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store: a DuckDB file, a postgresql:// URL, or Spark (spark://MASTER?warehouse=..., "
        "sc://HOST:PORT?warehouse=... for Spark Connect) "
        "(default $TOUCHPOINTS_DB or ./touchpoints.duckdb).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
LangOpt = Annotated[
    str, typer.Option("--lang", help="Language of labels: en or pt-BR.", envvar="TOUCHPOINTS_LANG")
]
FromOpt = Annotated[str | None, typer.Option("--from", help="First day or timestamp (inclusive).")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last day or timestamp (inclusive).")]
TzOpt = Annotated[
    str, typer.Option("--timezone", help="Zone of --from/--to dates and of days, weeks, months.")
]


def print_json(obj: Any) -> None:
    """The result object exactly, at full precision (as the API answers it)."""
    sys.stdout.write(dumps(obj) + "\n")


def touchpoint_names(store: Store, lang: str) -> dict[str, str]:
    """Catalog display names in `lang`, for tables."""
    return {t.id: t.label(lang) for t in store.catalog().touchpoints}


def open_for_reading(db: str | None) -> Store:
    """Analyses open an existing DuckDB file read-only (they can run beside a writer) and
    refuse a missing one, which is almost always a mistyped --db."""
    from touchpoints.store import SPARK_PREFIXES, open_store, resolve_target

    target = resolve_target(db)
    if target.startswith(("postgres", ":memory:", *SPARK_PREFIXES)):
        return open_store(target)
    path = target.removeprefix("duckdb://")
    if not os.path.exists(path):
        raise TouchpointsError(
            f"no store at {path!r}: run `touchpoints ingest FILE --db {path}` first, or pass --db"
        )
    return open_store(target, read_only=True)
