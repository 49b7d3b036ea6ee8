"""What every CLI command shares: consoles, option types, JSON output, opening the store.

Commands stay thin: parse options, call one analysis function, render its result.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from touchpoints.core.errors import TouchpointsError

if TYPE_CHECKING:
    from touchpoints.analytics.base import Filters, Scope
    from touchpoints.store.base import Store

out = Console()
if not out.is_terminal:
    # Piped or redirected: do not squeeze tables into 80 columns.
    out = Console(width=200)
err = Console(stderr=True, soft_wrap=True)

# `touchpoints journeys ...`: path analyses register their commands on this group.
journeys_app = typer.Typer(
    help="Journey analytics: flows, variants, funnels, invisible gaps.", no_args_is_help=True
)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store: a DuckDB file or postgresql:// URL (default $TOUCHPOINTS_DB or ./touchpoints.duckdb).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
LangOpt = Annotated[
    str, typer.Option("--lang", help="Language of labels: en or pt-BR.", envvar="TOUCHPOINTS_LANG")
]
FromOpt = Annotated[str | None, typer.Option("--from", help="First day or timestamp (inclusive).")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last day or timestamp (inclusive).")]
TouchpointOpt = Annotated[
    list[str] | None, typer.Option("--touchpoint", help="Only these touchpoints.")
]
ChannelOpt = Annotated[list[str] | None, typer.Option("--channel", help="Only these channels.")]
KindOpt = Annotated[
    list[str] | None, typer.Option("--kind", help="Only static, interactive or human.")
]
PhaseOpt = Annotated[
    list[str] | None, typer.Option("--phase", help="Only before, during or after.")
]
SegmentOpt = Annotated[
    list[str] | None, typer.Option("--segment", help="Only these customer segments.")
]
AgentOpt = Annotated[list[str] | None, typer.Option("--agent", help="Only these agents.")]
DuringOpt = Annotated[
    str, typer.Option("--during", help="Window before a purchase that counts as during.")
]
AfterOpt = Annotated[
    str, typer.Option("--after", help="Window after a purchase that counts as after.")
]
GapOpt = Annotated[str, typer.Option("--gap", help="Silence that ends a journey cycle (SPEC §3).")]
TzOpt = Annotated[
    str, typer.Option("--timezone", help="Zone of --from/--to dates and of days, weeks, months.")
]


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def lang_code(value: str) -> str:
    if value.lower() in ("pt", "pt-br", "pt_br"):
        return "pt-BR"
    if value.lower() in ("en", "en-us", "en-gb"):
        return "en"
    raise TouchpointsError(f"--lang {value!r}: use en or pt-BR")


def build_filters(
    date_from: str | None,
    date_to: str | None,
    touchpoint: list[str] | None = None,
    channel: list[str] | None = None,
    kind: list[str] | None = None,
    phase: list[str] | None = None,
    segment: list[str] | None = None,
    agent: list[str] | None = None,
    tz: str = "UTC",
) -> Filters:
    from touchpoints.analytics.base import Filters

    return Filters.build(
        date_from, date_to, touchpoint, channel, kind, phase, segment, agent, timezone=tz
    )


def build_scope(
    date_from: str | None,
    date_to: str | None,
    touchpoint: list[str] | None,
    channel: list[str] | None,
    kind: list[str] | None,
    phase: list[str] | None,
    segment: list[str] | None,
    agent: list[str] | None,
    during: str,
    after: str,
    tz: str,
) -> Scope:
    """Filters plus the SPEC §3 phase windows, as every journey command takes them."""
    from touchpoints.analytics.base import PhaseOptions, Scope

    filters = build_filters(
        date_from, date_to, touchpoint, channel, kind, phase, segment, agent, tz
    )
    return Scope(filters, PhaseOptions.build(during, after))


def percent(share: float | None) -> str:
    """A share as a percentage with one decimal, or a dash when there is nothing to show."""
    return "—" if share is None else f"{100 * share:.1f}"


def touchpoint_names(store: Store, lang: str) -> dict[str, str]:
    """Catalog display names in `lang`, for tables."""
    return {t.id: t.label(lang) for t in store.catalog().touchpoints}


def open_for_reading(db: str | None) -> Store:
    """Analyses open an existing DuckDB file read-only (they can run beside a writer) and
    refuse a missing one, which is almost always a mistyped --db."""
    from touchpoints.store import open_store, resolve_target

    target = resolve_target(db)
    if target.startswith(("postgres", ":memory:", "spark://")):
        return open_store(target)
    path = target.removeprefix("duckdb://")
    if not os.path.exists(path):
        raise TouchpointsError(
            f"no store at {path!r}: run `touchpoints ingest FILE --db {path}` first, or pass --db"
        )
    return open_store(target, read_only=True)
