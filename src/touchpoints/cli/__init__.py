"""The `touchpoints` command: a thin Typer layer over the registry of analyses.

Every analysis command is generated from its declaration (`touchpoints.cli.analyses`);
the other commands (ingest, catalog, serve, keys, users, ...) live in modules named for
what they do. `main()` turns errors a user can act on into one line and exit status 2.
"""

from touchpoints.cli.app import app, main

__all__ = ["app", "main"]
