"""Terminal rendering (Rich) of analysis results; labels in en and pt-BR."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from touchpoints.core.catalog import Catalog
from touchpoints.ingest import IngestResult

LABELS = {
    "en": {
        "group": "group",
        "events": "events",
        "customers": "customers",
        "offered": "offered",
        "abandonment_rate": "abandon %",
        "tme_seconds": "ASA s",
        "tma_seconds": "AHT s",
        "service_level": "SL %",
        "fcr": "FCR %",
        "csat": "CSAT",
        "nps": "NPS",
        "ces": "CES",
        "conversions": "sales",
        "revenue": "revenue",
        "promise_kept_rate": "promises kept %",
        "data_reuse_rate": "data reused %",
        "emotion": "emotion",
        "retention": "retention %",
        "all": "all",
        "before": "before",
        "during": "during",
        "after": "after",
        "id": "id",
        "name": "name",
        "kind": "kind",
        "channel": "channel",
        "phase": "planned phase",
        "visibility": "visibility",
        "target": "targets",
        "owner": "owner",
    },
    "pt-BR": {
        "group": "grupo",
        "events": "eventos",
        "customers": "clientes",
        "offered": "ofertados",
        "abandonment_rate": "abandono %",
        "tme_seconds": "TME s",
        "tma_seconds": "TMA s",
        "service_level": "NS %",
        "fcr": "FCR %",
        "csat": "CSAT",
        "nps": "NPS",
        "ces": "CES",
        "conversions": "vendas",
        "revenue": "receita",
        "promise_kept_rate": "promessas cumpridas %",
        "data_reuse_rate": "dados reaproveitados %",
        "emotion": "emoção",
        "retention": "retenção %",
        "all": "todos",
        "before": "antes",
        "during": "durante",
        "after": "depois",
        "id": "id",
        "name": "nome",
        "kind": "tipo",
        "channel": "canal",
        "phase": "fase planejada",
        "visibility": "visibilidade",
        "target": "metas",
        "owner": "responsável",
    },
}
PERCENT_KEYS = (
    "abandonment_rate",
    "service_level",
    "fcr",
    "promise_kept_rate",
    "data_reuse_rate",
    "retention",
)


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key in PERCENT_KEYS:
        return f"{100 * value:.1f}"
    if key in ("events", "customers", "offered", "conversions"):
        return f"{value:,}"
    if key == "revenue":
        return f"{value:,.0f}"
    if key in ("tme_seconds", "tma_seconds"):
        return f"{value:,.0f}"
    if key in ("csat",):
        return f"{value:.1f}"
    if key in ("ces", "emotion"):
        return f"{value:.2f}"
    return str(value)


def kpi_table(
    result: dict[str, Any], by: str | None, lang: str, labels: dict[str, str] | None = None
) -> Table:
    words = LABELS[lang]
    title = ("KPIs" if lang == "en" else "Indicadores") + (f" — {by}" if by else "")
    table = Table(title=title, header_style="bold", show_lines=False)
    table.add_column(by if by else words["group"], no_wrap=True)
    keys = [
        "events",
        "customers",
        "offered",
        "abandonment_rate",
        "tme_seconds",
        "tma_seconds",
        "service_level",
        "fcr",
        "csat",
        "nps",
        "ces",
        "conversions",
        "revenue",
        "promise_kept_rate",
        "emotion",
    ]
    if by in ("day", "week", "month"):
        keys.append("retention")
    for k in keys:
        table.add_column(words[k], justify="right")
    for row in result["rows"]:
        group = row["group"]
        shown = "—" if group is None else (labels or {}).get(group, words.get(group, str(group)))
        cells = []
        for k in keys:
            if k == "nps" and row["nps"] is not None:
                cells.append(f"{row['nps']:.0f} ±{row['nps_margin']:.0f}")
            else:
                cells.append(_fmt(k, row[k]))
        table.add_row(shown, *cells)
    return table


def catalog_table(catalog: Catalog, lang: str) -> Table:
    words = LABELS[lang]
    table = Table(title="Catalog" if lang == "en" else "Catálogo", header_style="bold")
    for key in ("id", "name", "kind", "channel", "phase", "visibility", "owner", "target"):
        table.add_column(words[key])
    for t in catalog.touchpoints:
        phases = ", ".join(words.get(p, p) for p in t.phase)
        targets = ", ".join(f"{k}={v:g}" for k, v in t.target.items())
        table.add_row(
            t.id, t.label(lang), t.kind, t.channel, phases, t.visibility, t.owner or "", targets
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
