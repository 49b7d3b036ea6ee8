"""`touchpoints attendant kpis`: the headline numbers, then the hand-offs by reason."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.text import Text

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.core.messages import capitalized, t

HEADLINE = (
    "conversations",
    "contained",
    "containment_rate",
    "handoffs",
    "handoff_rate",
    "queued",
    "resolved",
    "first_response_seconds",
    "handoff_wait_seconds",
    "csat_bot",
    "csat_people",
)


@renders("attendant.kpis")
def attendant_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    if not data["conversations"]:
        return [Text(t(view.lang, "cli.common.nothing"))]
    out: list[RenderableType] = []
    lines = [[capitalized(view.label(k)), view.value(k, data[k])] for k in HEADLINE]
    for table in grid([Col("", numeric=False), Col("")], lines, view.width):
        table.show_header = False
        out.append(table)
    reasons = [
        [t(view.lang, f"attendant.reason_{r['reason']}"), view.value("count", r["count"])]
        for r in data["reasons"]
    ]
    if reasons:
        out += grid(
            [Col(view.label("reason"), numeric=False), Col(view.label("count"))],
            reasons,
            view.width,
        )
    return out
