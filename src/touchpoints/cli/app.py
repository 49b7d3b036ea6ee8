"""The `touchpoints` app: every command, grouped in panels in the order a user meets them.

Analysis commands are generated from the registry (`touchpoints.cli.analyses`); the others
live in modules named for what they do. Heavy imports (FastAPI, NumPy solvers, WeasyPrint)
stay inside the command functions, so `touchpoints kpis` starts fast.
"""

from __future__ import annotations

import os

import click
import typer
from rich.markup import escape
from typer.core import TyperGroup

from touchpoints.analytics.registry import analyses as registered
from touchpoints.cli import (
    alerts,
    analyses,
    attendant,
    changes,
    connectors,
    data,
    identities,
    privacy,
    quarantine,
    rebuild,
    report,
    server,
    sources,
    surveys,
    users,
)
from touchpoints.cli.common import err
from touchpoints.core.errors import TouchpointsError

DATA, ANALYSES, SERVER, PRIVACY = "Data", "Analyses", "Server and dashboard", "Privacy"


def command_order() -> list[str]:
    """Panel by panel, the order a user meets the commands in: data in, checked, described;
    the analyses as the registry lists them, then the report; serving; privacy."""
    order = [
        "ingest",
        "source",
        "import",
        "quarantine",
        "identities",
        "catalog",
        "rebuild",
        "demo-data",
    ]
    for analysis in registered():
        order += [n for n in (analysis.words[0], *analysis.aliases) if n not in order]
    return [
        *order,
        "report",
        "serve",
        "demo-serve",
        "attendant",
        "alerts",
        "keys",
        "users",
        "survey",
        "customer",
        "privacy",
    ]


class OrderedGroup(TyperGroup):
    """`--help` lists commands in `command_order()`, not in the order the modules happened
    to register them (Typer puts every sub-group after every command); any command not
    named there comes last."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        rank = {name: i for i, name in enumerate(command_order())}
        return sorted(super().list_commands(ctx), key=lambda n: rank.get(n, len(rank)))


app = typer.Typer(
    cls=OrderedGroup,
    help="Touchpoints: see, measure and improve every point where customers meet the company.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
journeys_app = typer.Typer(
    help="Journey analytics: flows, variants, funnels, invisible gaps, moments of truth.",
    no_args_is_help=True,
)

data.register(app, DATA)
sources.register(app, DATA)
quarantine.register(app, DATA)
identities.register(app, DATA)
connectors.register(app, DATA)
rebuild.register(app, DATA)
analyses.register(
    app,
    {
        "journeys": journeys_app,
        "customer": privacy.customer_app,
        "attendant": attendant.attendant_app,
        "changes": changes.changes_app,
    },
    ANALYSES,
)
app.add_typer(changes.changes_app, name="changes", rich_help_panel=ANALYSES)
app.add_typer(journeys_app, name="journeys", rich_help_panel=ANALYSES)
report.register(app, ANALYSES, SERVER)
server.register(app, SERVER)
attendant.register(app, SERVER)
users.register(app, SERVER)
alerts.register(app, SERVER)
surveys.register(app, SERVER)
privacy.register(app, PRIVACY)


def main() -> None:
    try:
        app()
    except TouchpointsError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, not a trace
        if os.environ.get("TOUCHPOINTS_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        err.print(
            f"[bold red]error:[/] unexpected {type(exc).__name__}: {escape(first)}", highlight=False
        )
        err.print(
            "set TOUCHPOINTS_DEBUG=1 for the full trace, and please report it", highlight=False
        )
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
