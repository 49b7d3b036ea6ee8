"""`touchpoints staffing`: one interval sized by Erlang C, or the measured week a
supervisor plans with (hours down, weekdays across, scheduled agents in the cells).

Service level, occupancy and the probability of waiting are shares, shown as in `kpis`
(88,8% / 88.8%); waits and handle times are durations; traffic is erlangs with three
decimals in the reader's notation (5,000 in pt-BR is five, not five thousand).
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.text import Text

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.core import format as fmt
from touchpoints.core.messages import t

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SINGLE = (
    "traffic_erlangs",
    "agents",
    "scheduled_agents",
    "service_level",
    "waiting_probability",
    "occupancy",
    "asa_seconds",
)


def _value(key: str, x: Any, view: View) -> str:
    if key == "traffic_erlangs":
        return fmt.number(x, view.lang, 3)
    return view.value(key, x)


def _count(x: float, lang: str) -> str:
    """Whole numbers without decimals (2 weeks), others with two (1,95 weeks)."""
    return fmt.number(x, lang, 0 if float(x).is_integer() else 2)


def targets(data: dict[str, Any], lang: str) -> str:
    """The goals the agents were sized for, in one line."""
    parts = []
    if data["target_service_level"] is not None:
        parts.append(
            t(
                lang,
                "cli.staffing.sl_target",
                share=fmt.percent(data["target_service_level"], lang),
                within=fmt.duration(data["answer_within"], lang),
            )
        )
    if data["target_asa_seconds"] is not None:
        parts.append(
            t(lang, "cli.staffing.asa_target", asa=fmt.duration(data["target_asa_seconds"], lang))
        )
    return t(
        lang,
        "cli.staffing.targets",
        target=f" {t(lang, 'cli.staffing.and')} ".join(parts),
        shrinkage=fmt.percent(data["shrinkage"], lang),
        occupancy=fmt.percent(data["max_occupancy"], lang),
    )


def single_table(data: dict[str, Any], view: View) -> list[RenderableType]:
    """The sizing of one interval: one line per number, its inputs in the title."""
    lang = view.lang
    inputs = t(
        lang,
        "cli.staffing.interval",
        arrivals=_count(data["arrivals"], lang),
        minutes=_count(data["interval_minutes"], lang),
        aht=fmt.duration(data["aht_seconds"], lang),
    )
    cells = [[view.label(k), _value(k, data[k], view)] for k in SINGLE]
    tables = grid([Col("", numeric=False), Col("")], cells, view.width)
    for table in tables:
        table.show_header = False
    title = Text(f"{t(lang, 'cli.staffing.title')}: {inputs}", style="bold")
    return [title, *tables, Text(targets(data, lang))]


def _cell(agents: int | None) -> str:
    if agents is None:
        return fmt.DASH
    return "·" if agents == 0 else str(agents)


def week_table(data: dict[str, Any], view: View) -> list[RenderableType]:
    """Hours down, weekdays across, scheduled agents in the cells, agent-hours per day."""
    lang = view.lang
    cells = {(r["weekday"], r["hour"]): r["scheduled_agents"] for r in data["rows"]}
    cols = [Col(view.label("hour"), numeric=False)]
    cols += [Col(t(lang, f"cli.staffing.{day}")) for day in DAYS]
    rows = [
        [f"{hour:02d}:00", *(_cell(cells.get((day, hour))) for day in range(1, 8))]
        for hour in range(24)
    ]
    totals = [sum(cells.get((day, hour)) or 0 for hour in range(24)) for day in range(1, 8)]
    rows.append([t(lang, "cli.staffing.agent_hours"), *(fmt.integer(x, lang) for x in totals)])
    notes = [targets(data, lang), t(lang, "cli.staffing.legend")]
    if data["aht_fallback_hours"]:
        notes.append(
            t(
                lang,
                "cli.staffing.fallback",
                n=fmt.integer(data["aht_fallback_hours"], lang),
                m=fmt.integer(data["min_answered"], lang),
                aht=fmt.duration(data["overall_aht_seconds"], lang),
            )
        )
    if data.get("model"):  # --forecast: the hours ahead (the first week of them)
        title = t(
            lang,
            "cli.forecast.staffing_title",
            timezone=data["timezone"],
            start=fmt.date(data["from"][:10], lang),
            model=data["model"],
        )
    else:
        title = t(
            lang,
            "cli.staffing.week_title",
            timezone=data["timezone"],
            weeks=_count(data["weeks"], lang),
        )
    tables = grid(cols, rows, view.width)
    for table in tables:
        table.rows[-2].end_section = True  # agent-hours stand apart
    # Title and notes span the terminal, not the narrow width of the table.
    return [Text(title, style="bold"), *tables, Text("\n".join(notes))]


@renders("staffing")
def staffing_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    if "rows" not in data:  # one interval sized from explicit inputs
        return single_table(data, view)
    if not data["rows"]:
        return [Text(t(view.lang, "cli.staffing.nothing"))]
    return week_table(data, view)
