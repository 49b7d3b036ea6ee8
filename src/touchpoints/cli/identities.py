"""`touchpoints identities load FILE`: aliases that belong to one customer (phone, e-mail,
a help desk's contact id), so one person across channels counts once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from touchpoints.cli.common import DbOpt, JsonOpt, LangOpt, lang_code, out, print_json

identities_app = typer.Typer(
    help="One customer across channels: load aliases of the same person.", no_args_is_help=True
)


@identities_app.command("load")
def identities_load(
    file: Annotated[
        Path,
        typer.Argument(help="CSV, one person per row: every cell an alias (phone,email,...)."),
    ],
    db: DbOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = "en",
) -> None:
    """Link the ids of each row as one customer; events already stored under any of them
    move to that customer (a customer_id column, when present, names the id to keep)."""
    from touchpoints.core.messages import t
    from touchpoints.core.settings import get_settings
    from touchpoints.ingest.identities import link, read_groups
    from touchpoints.store import open_store

    groups = read_groups(file)
    with open_store(db) as store:
        counts = link(store, groups, f"file:{file}", key=get_settings().pseudonymize_key)
    if as_json:
        print_json(counts)
    else:
        out.print(t(lang_code(lang), "cli.identities.loaded", **counts))


def register(app: typer.Typer, panel: str) -> None:
    app.add_typer(identities_app, name="identities", rich_help_panel=panel)
