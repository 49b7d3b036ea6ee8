"""(being written) commands for connectors."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
