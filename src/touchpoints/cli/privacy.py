"""Privacy commands (LGPD/GDPR): `customer export ID`, `customer erase ID` and
`privacy purge` (drop comments older than the retention period).

Ids are accepted as the customer knows them: when TOUCHPOINTS_PSEUDONYMIZE_KEY is set,
the stored pseudonym is computed from it (see touchpoints.ingest.privacy).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from touchpoints.cli.common import DbOpt, JsonOpt, err, out, print_json
from touchpoints.cli.surveys import open_existing
from touchpoints.core.errors import UsageError

customer_app = typer.Typer(
    help="One customer: the journey behind the numbers, or their data exported (access) or erased (LGPD/GDPR).",
    no_args_is_help=True,
)
privacy_app = typer.Typer(help="Privacy housekeeping: comment retention.", no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(help="customer_id as given (the original, not a pseudonym).")]


def export_command(
    customer_id: IdArg,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here instead of stdout.")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Everything held about one customer, as JSON: events (feedback and comments
    included), survey links of those events, quarantined records naming them."""
    from touchpoints.core.settings import get_settings
    from touchpoints.ingest.privacy import export_customer
    from touchpoints.ingest.pseudonymize import key_text

    key = key_text(get_settings().pseudonymize_key)
    with open_existing(db) as store:
        data = export_customer(store, customer_id, key)
    if out_file is None:
        print_json(data)
        return
    try:
        out_file.write_text(
            json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
        )
    except OSError as exc:
        raise UsageError(f"--out {str(out_file)!r}: {exc.strerror}") from None
    counts = data["counts"]
    err.print(
        f"wrote {out_file}: {counts['events']} events, {counts['feedback']} feedback, "
        f"{counts['quarantine']} quarantined records"
    )


def erase_command(
    customer_id: IdArg,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Erase one customer: events, feedback, comments, survey links and quarantined
    records, in one transaction. The audit log keeps only the counts."""
    from touchpoints.core.settings import get_settings
    from touchpoints.ingest.privacy import erase_customer
    from touchpoints.ingest.pseudonymize import key_text

    if not yes and not typer.confirm(
        f"Erase every record of customer {customer_id!r}? This cannot be undone", err=True
    ):
        raise typer.Exit(1)
    key = key_text(get_settings().pseudonymize_key)
    from touchpoints.store.remote import RemoteStore

    with open_existing(db) as store:
        result = erase_customer(store, customer_id, key)
        held = isinstance(store, RemoteStore)
    if as_json:
        print_json(result)
    else:
        out.print(
            f"erased {result['events']} events, {result['feedback']} feedback answers "
            f"({result['comments']} comments), {result['survey_tokens']} survey links, "
            f"{result['quarantine']} quarantined records; audit reference {result['erasure_id']}"
        )
        if held:
            out.print(
                "the running server holds the store's file: it rewrites the file without "
                "the erased rows when it stops"
            )


def purge_command(
    days: Annotated[
        int | None,
        typer.Option(
            "--days", min=0, help="Retention in days (default $TOUCHPOINTS_COMMENT_RETENTION_DAYS)."
        ),
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Drop free-text comments older than the retention period (scores are kept)."""
    from touchpoints.core.settings import get_settings
    from touchpoints.ingest.privacy import purge_comments

    retention = days if days is not None else get_settings().comment_retention_days
    with open_existing(db) as store:
        result = purge_comments(store, retention)
    if as_json:
        print_json(result)
    else:
        out.print(f"dropped {result['comments']} comments older than {result['before']}Z")


def register(app: typer.Typer, panel: str) -> None:
    """Add the `customer` (journey, export, erase) and `privacy` (purge) groups to `app`."""
    customer_app.command("export")(export_command)
    customer_app.command("erase")(erase_command)
    privacy_app.command("purge")(purge_command)
    app.add_typer(customer_app, name="customer", rich_help_panel=panel)
    app.add_typer(privacy_app, name="privacy", rich_help_panel=panel)
