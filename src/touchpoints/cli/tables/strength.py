"""`touchpoints strength` (and its alias `touchpoints touchpoints`) and `touchpoints
retention`: which touchpoints carry each phase, and whether buyers come back."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.text import Text

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.cli.tables.journeys import mark_sections, nothing
from touchpoints.core import format as fmt
from touchpoints.core.messages import t

STRENGTH_KEYS = (
    "reach",
    "share_of_cycles",
    "events_per_customer",
    "conversion_rate",
    "median_step",
    "median_position",
    "csat",
    "csat_answers",
    "nps",
    "nps_answers",
)
# Without --max-offset the terminal table shows this many periods (JSON has them all).
TABLE_OFFSETS = 12
UNPLANNED = " ⚠"


def _phases(phases: list[str], view: View) -> str:
    return ", ".join(t(view.lang, "common." + p) for p in phases) or fmt.DASH


def _strength_cell(key: str, row: dict[str, Any], view: View) -> str:
    if key == "nps" and row["nps"] is not None and row["nps_margin"] is not None:
        return f"{view.value('nps', row['nps'])} ±{view.value('nps_margin', row['nps_margin'])}"
    return view.value(key, row[key])


@renders("strength")
def strength_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    """One row per touchpoint (and observed phase, a rule between phases); a phase the
    catalog does not plan for the touchpoint is marked ⚠ and explained in the caption."""
    rows = data["rows"]
    if not rows:
        return nothing(view)
    by_phase = getattr(view.options, "by_phase", any(r["phase"] for r in rows))
    labels = [Col(view.label("touchpoint"), numeric=False)]
    if by_phase:
        labels.append(Col(view.label("phase"), numeric=False))
    # The plan last: its text wraps in whatever room the numbers leave.
    cols = [*labels, *(Col(view.label(k)) for k in STRENGTH_KEYS),
            Col(view.label("planned_phases"), numeric=False)]  # fmt: skip
    cells = []
    for r in rows:
        line = [view.name(r["touchpoint"])]
        if by_phase:
            line.append(
                t(view.lang, "common." + r["phase"]) + (UNPLANNED if r["unplanned"] else "")
            )
        cells.append([*line, *(_strength_cell(k, r, view) for k in STRENGTH_KEYS),
                      _phases(r["planned_phases"], view)])  # fmt: skip
    flagged = by_phase and any(r["unplanned"] for r in rows)
    title = t(
        view.lang,
        "cli.journeys.strength_title" if by_phase else "cli.journeys.strength_total_title",
    )
    caption = t(view.lang, "cli.journeys.unplanned") if flagged else None
    tables = grid(cols, cells, view.width, title=title, caption=caption, keys=len(labels))
    if by_phase:
        mark_sections(
            tables, {i for i in range(len(rows) - 1) if rows[i]["phase"] != rows[i + 1]["phase"]}
        )
    return list(tables)


def _cohort(label: str, period: str, view: View) -> str:
    """Months as YYYY-MM (as kpis shows them); weeks and days by their first day."""
    return label if period == "month" else fmt.date(label, view.lang)


@renders("retention")
def retention_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    """Cohorts down, periods after the first purchase across: the share of the cohort that
    bought again, `*` where the period is not over in the data."""
    cohorts, period = data["cohorts"], data["period"]
    if not cohorts:
        return [Text(t(view.lang, "cli.journeys.no_cohorts"))]
    max_offset = getattr(view.options, "max_offset", None)
    widest = max(len(c["cells"]) for c in cohorts)
    shown = min(widest, max_offset if max_offset is not None else TABLE_OFFSETS)
    cols = [Col(view.label("cohort"), numeric=False), Col(view.label("customers")),
            *(Col(f"+{k}") for k in range(1, shown + 1))]  # fmt: skip
    cells = []
    for c in cohorts:
        line = [_cohort(c["cohort"], period, view), view.value("customers", c["customers"])]
        for cell in c["cells"][:shown]:
            line.append(view.value("share", cell["share"]) + ("" if cell["complete"] else "*"))
        cells.append(line + [""] * (shown - len(c["cells"][:shown])))
    notes = [t(view.lang, "cli.journeys.retention_note")]
    if any(not cell["complete"] for c in cohorts for cell in c["cells"][:shown]):
        notes.append(t(view.lang, "cli.journeys.incomplete"))
    if shown < widest:
        notes.append(t(view.lang, "cli.journeys.more_offsets", n=fmt.integer(shown, view.lang)))
    title = t(view.lang, "cli.journeys.retention_title",
              period=t(view.lang, f"cli.journeys.period_{period}"))  # fmt: skip
    return list(grid(cols, cells, view.width, title=title, caption="\n".join(notes), keys=2))
