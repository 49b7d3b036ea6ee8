"""Tables of the data commands: the catalog, an ingestion's summary, the quarantine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from touchpoints.core.messages import t

if TYPE_CHECKING:
    from touchpoints.core.catalog import Catalog
    from touchpoints.ingest import IngestResult


def catalog_table(catalog: Catalog, lang: str) -> Table:
    table = Table(title=t(lang, "cli.common.catalog_title"), header_style="bold")
    for key in ("id", "name", "kind", "channel", "phase", "visibility", "owner", "target"):
        table.add_column(t(lang, f"cli.common.catalog_{key}"), overflow="fold")
    for tp in catalog.touchpoints:
        phases = ", ".join(t(lang, "common." + p) for p in tp.phase)
        targets = ", ".join(f"{k}={v:g}" for k, v in tp.target.items())
        table.add_row(
            tp.id,
            tp.label(lang),
            t(lang, "common." + tp.kind),
            tp.channel,
            phases,
            tp.visibility,
            tp.owner or "",
            targets,
        )
    return table


def ingest_summary(console: Console, result: IngestResult) -> None:
    console.print(
        f"ingested [bold]{result.ingested:,}[/], duplicates {result.duplicates:,}, "
        f"rejected [bold]{result.rejected:,}[/] (kept in quarantine)"
    )
    for source, cols in result.ignored_columns.items():
        console.print(
            f"[yellow]note:[/] {source}: ignored columns not in the event schema: {', '.join(cols)}"
        )
    if result.quarantine:
        table = Table(title="Rejected rows (first 20)", header_style="bold")
        for name in ("file", "row", "column", "reason"):
            table.add_column(name)
        for q in result.quarantine[:20]:
            table.add_row(str(q["file"]), str(q["row"]), str(q["column"] or ""), str(q["reason"]))
        console.print(table)
        console.print("see all with: touchpoints quarantine")


def quarantine_table(rows: list[dict[str, Any]], total: int) -> Table:
    table = Table(title=f"Quarantine ({total:,} problems)", header_style="bold")
    for name in ("file", "row", "column", "reason", "raw"):
        table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(
            str(r["file"]),
            str(r["row"]),
            str(r["column"] or ""),
            str(r["reason"]),
            str(r["raw"] or "")[:120],
        )
    return table
