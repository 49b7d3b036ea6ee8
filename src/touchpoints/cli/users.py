"""`touchpoints users create|list|update|delete`: the accounts that log in to the web dashboard.

Roles (SPEC §6): admin (everything, edits the catalog), analyst (every page, no editing),
supervisor (overview, service, live, feedback).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from touchpoints.cli.common import DbOpt, JsonOpt, out, print_json
from touchpoints.core.errors import UsageError

if TYPE_CHECKING:
    from touchpoints.store.base import Store

users_app = typer.Typer(help="Dashboard users: create, list, update, delete.", no_args_is_help=True)

UsernameOpt = Annotated[str, typer.Option("--username", help="Login name.")]
PasswordOpt = Annotated[
    str | None,
    typer.Option(
        "--password",
        help="Password (at least 8 characters); prompted for when not given.",
        envvar="TOUCHPOINTS_USER_PASSWORD",
    ),
]
RoleOpt = Annotated[str, typer.Option("--role", help="admin, analyst or supervisor.")]


def _open(db: str | None) -> Store:
    """The store named by --db, else $TOUCHPOINTS_DB, else ./touchpoints.duckdb (created)."""
    from touchpoints.store import open_store, resolve_target

    return open_store(resolve_target(db))


@users_app.command("create")
def create_command(
    username: UsernameOpt,
    role: RoleOpt,
    password: PasswordOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a dashboard user (the password is stored as a salted scrypt hash)."""
    from touchpoints.server.users import create_user

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _open(db) as store:
        user = create_user(store, username, password, role)
    if as_json:
        print_json({"username": user.username, "role": user.role})
    else:
        out.print(f"created user {user.username} ({user.role})")


@users_app.command("list")
def list_command(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Show the dashboard users and their roles (never their passwords)."""
    from touchpoints.server.users import list_users

    with _open(db) as store:
        rows = list_users(store)
    if as_json:
        print_json({"users": rows})
        return
    table = Table(header_style="bold")
    for column in ("username", "role", "created_at"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["username"], r["role"], r["created_at"][:19])
    out.print(table)


@users_app.command("update")
def update_command(
    username: UsernameOpt,
    role: Annotated[
        str | None, typer.Option("--role", help="New role: admin, analyst or supervisor.")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help="New password (at least 8 characters).",
            envvar="TOUCHPOINTS_USER_PASSWORD",
        ),
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a user's role and/or password; their open sessions end at once."""
    from touchpoints.server.users import update_user

    if role is None and password is None:
        raise UsageError("give --role and/or --password")
    with _open(db) as store:
        user = update_user(store, username, role, password)
    if as_json:
        print_json({"username": user.username, "role": user.role})
    else:
        out.print(f"updated user {user.username} ({user.role}); their sessions were ended")


@users_app.command("delete")
def delete_command(username: UsernameOpt, db: DbOpt = None) -> None:
    """Remove a user; their open sessions end at once (a new user of the same name does not
    inherit them)."""
    from touchpoints.server.users import delete_user

    with _open(db) as store:
        if not delete_user(store, username):
            raise UsageError(f"no user {username.strip().lower()!r}")
    out.print(f"deleted user {username.strip().lower()}")


def register(app: typer.Typer, panel: str) -> None:
    """Add the `users` group to the main app."""
    app.add_typer(users_app, name="users", rich_help_panel=panel)
