"""`touchpoints live`: the queue now — waiting contacts, the longest wait, the window's
answered and abandoned contacts, TME (ASA), service level and agents — per touchpoint,
then every broken catalog target as a sentence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.core import format as fmt
from touchpoints.core.messages import t

COLUMNS = (
    "waiting",
    "longest_wait_seconds",
    "answered",
    "abandoned",
    "abandonment_rate",
    "tme_seconds",
    "service_level",
    "agents",
)


def alert_sentence(alert: dict[str, Any], view: View) -> str:
    """'Phone call centre: abandonment 33.3%, above the target 5.0%'."""
    metric = alert["metric"]
    return t(
        view.lang,
        f"cli.live.{alert['direction']}",
        name=view.name(alert["touchpoint"]),
        metric=view.label(metric),
        value=view.value(metric, alert["value"]),
        target=view.value(metric, alert["target"]),
    )


@renders("live")
def live_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    lang = view.lang
    now = datetime.fromisoformat(data["now"].removesuffix("Z"))
    window = fmt.integer(data["window_minutes"], lang)
    title = t(lang, "cli.live.title", time=fmt.datetime(now, lang), window=window)
    out: list[RenderableType] = [Text(title, style="bold")]
    if not data["touchpoints"]:
        return [*out, Text(t(lang, "cli.live.nothing", window=window))]
    rows = [
        [view.name(r["touchpoint"]), *(view.value(k, r[k]) for k in COLUMNS)]
        for r in data["touchpoints"]
    ]
    # The whole queue last: its agents are distinct people, not the sum of the rows.
    rows.append([t(lang, "common.all"), *(view.value(k, data[k]) for k in COLUMNS)])
    tables = grid(
        [Col(view.label("touchpoint"), numeric=False), *(Col(view.label(k)) for k in COLUMNS)],
        rows,
        view.width,
    )
    for table in tables:
        table.rows[-2].end_section = True
    out += tables
    out.append(Text(t(lang, "cli.live.alerts_title"), style="bold"))
    if not data["alerts"]:
        out.append(Text(t(lang, "cli.live.no_alerts")))
    for alert in data["alerts"]:
        out.append(Text("• " + alert_sentence(alert, view), style="red"))
    return out
