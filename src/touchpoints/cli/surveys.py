"""`touchpoints survey link --event ID`: a signed, expiring, single-use survey URL.

The same function serves `POST /v1/surveys`, so the CLI and the API make identical links.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from touchpoints.cli.common import DbOpt, JsonOpt, out, print_json
from touchpoints.core.errors import TouchpointsError

if TYPE_CHECKING:
    from touchpoints.store.base import Store

survey_app = typer.Typer(
    help="Feedback surveys: signed links customers answer.", no_args_is_help=True
)

EventOpt = Annotated[str, typer.Option("--event", help="event_id of the interaction to rate.")]
TtlOpt = Annotated[
    int | None,
    typer.Option(
        "--ttl-days",
        min=1,
        help="Days the link stays valid (default $TOUCHPOINTS_SURVEY_TTL_DAYS or 14).",
    ),
]


def open_existing(db: str | None) -> Store:
    """The store for writing; a missing DuckDB file is refused (a mistyped --db would
    otherwise create an empty store and report that the event does not exist)."""
    from touchpoints.store import SPARK_PREFIXES, open_store, resolve_target

    target = resolve_target(db)
    path = target.removeprefix("duckdb://")
    if not target.startswith(("postgres", *SPARK_PREFIXES, ":memory:")) and not os.path.exists(
        path
    ):
        raise TouchpointsError(
            f"no store at {path!r}: run `touchpoints ingest FILE --db {path}` first, or pass --db"
        )
    return open_store(target)


def link_command(
    event: EventOpt,
    ttl_days: TtlOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a survey link rating one event: {"url", "token", "expires_at"}.

    Needs TOUCHPOINTS_SECRET_KEY (signs the link) and TOUCHPOINTS_PUBLIC_URL (the address
    customers reach). The link works once, until it expires.
    """
    from touchpoints.core.settings import get_settings
    from touchpoints.ingest.surveys import create_link

    settings = get_settings()
    with open_existing(db or settings.db) as store:
        link = create_link(store, settings, event, ttl_days)
    if as_json:
        print_json(link)
    else:
        out.print(link["url"], soft_wrap=True)
        out.print(f"expires {link['expires_at']}", style="dim")


def register(app: typer.Typer, panel: str) -> None:
    """Add the `survey` group (`survey link`) to `app`."""
    survey_app.command("link")(link_command)
    app.add_typer(survey_app, name="survey", rich_help_panel=panel)
