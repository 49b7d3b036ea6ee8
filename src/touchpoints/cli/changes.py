"""`touchpoints changes add`: log what the team changed (`changes list` and `effect` are
analyses of the registry, in the same group)."""

from __future__ import annotations

from typing import Annotated

import typer

from touchpoints.cli.common import DbOpt, JsonOpt, out, print_json

changes_app = typer.Typer(
    help="The change log: what the team changed, when, at which touchpoint.",
    no_args_is_help=True,
)


@changes_app.command("add")
def add_command(
    date: Annotated[str, typer.Option("--date", help="Day the change took effect (2026-07-27).")],
    title: Annotated[str, typer.Option("--title", help="What changed, in a few words.")],
    touchpoint: Annotated[
        str | None, typer.Option("--touchpoint", help="The touchpoint changed (a catalog id).")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Log a change, so `effect` can measure it and no other change's effect uses this
    touchpoint as a control in its window."""
    from touchpoints.ingest.changes import add_change
    from touchpoints.store import open_store, resolve_target

    with open_store(resolve_target(db)) as store:
        change = add_change(store, date, title, touchpoint)
    if as_json:
        print_json(change)
    else:
        where = f" at {change['touchpoint']}" if change["touchpoint"] else ""
        out.print(f"change {change['id']} logged: {change['date']}{where}: {change['title']}")
