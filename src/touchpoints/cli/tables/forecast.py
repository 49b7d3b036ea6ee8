"""`touchpoints forecast`: the contacts ahead, interval by interval in local time, with the
80 % interval, under a title naming the model and its backtest against seasonal-naive."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.core import format as fmt
from touchpoints.core.messages import t


@renders("forecast")
def forecast_table(data: dict[str, Any], view: View) -> list[RenderableType]:
    lang = view.lang
    backtest = data["backtest"]
    title = t(
        lang,
        "cli.forecast.title",
        timezone=data["timezone"],
        model=data["model"],
        mape=fmt.percent(backtest["mape"], lang),
        baseline=fmt.percent(backtest["baseline_mape"], lang),
    )
    cols = [Col(view.label("start"), numeric=False)]
    cols += [Col(view.label(k)) for k in ("arrivals", "low", "high")]
    rows = [
        [
            fmt.datetime(datetime.fromisoformat(r["start"]), lang),
            fmt.number(r["arrivals"], lang, 1),
            fmt.integer(r["low"], lang),
            fmt.integer(r["high"], lang),
        ]
        for r in data["rows"]
    ]
    notes = [t(lang, "cli.forecast.interval_note")]
    if data["holidays"]:
        days = ", ".join(f"{fmt.date(h['date'], lang)} {h['name']}" for h in data["holidays"])
        notes.append(t(lang, "cli.forecast.holidays", days=days))
    return [Text(title, style="bold"), *grid(cols, rows, view.width), Text("\n".join(notes))]
