"""`touchpoints agents`: each agent's scorecard beside the team's, then the coaching
findings in words and the themes of low-rated comments."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.text import Text

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.core import format as fmt
from touchpoints.core.messages import t

# Metric key -> its margin's key in a scorecard.
SHOWN = (
    ("tma_seconds", "tma_margin"),
    ("tme_seconds", "tme_margin"),
    ("fcr", "fcr_margin"),
    ("csat", "csat_margin"),
    ("nps", "nps_margin"),
)


def with_margin(key: str, value: Any, margin: Any, lang: str) -> str:
    """'62.0 ± 5.0', '12 min ± 1 min 40 s', '88.2% ± 6.1 pp' (a share's margin in points)."""
    if value is None:
        return fmt.DASH
    text = fmt.value(key, value, lang)
    if margin is None:
        return text
    if key in ("fcr", "csat"):  # FCR is a 0-1 share, CSAT already in points
        points = 100 * margin if key == "fcr" else margin
        return f"{text} ± {fmt.number(points, lang, 1)} {t(lang, 'common.pp')}"
    return f"{text} ± {fmt.value(key, margin, lang)}"


@renders("agents")
def agents_table(data: dict[str, Any], view: View) -> list[RenderableType]:
    lang = view.lang
    rows = data["rows"]
    if not rows:
        return [Text(t(lang, "cli.common.nothing"))]
    cols = [
        Col(view.label("agent"), numeric=False),
        Col(view.label("contacts")),
        *(Col(view.label(k)) for k, _ in SHOWN),
        *(Col(view.label("team_" + k)) for k, _ in SHOWN if k in ("tma_seconds", "csat")),
        Col(view.label("promise_kept_rate")),
        Col(view.label("data_reuse_rate")),
    ]
    cells = [
        [
            r["agent"],
            fmt.integer(r["contacts"], lang),
            *(with_margin(k, r[k], r[m], lang) for k, m in SHOWN),
            *(
                with_margin(k, r["team_" + k], r["team_" + m], lang)
                for k, m in SHOWN
                if k in ("tma_seconds", "csat")
            ),
            fmt.percent(r["promise_kept_rate"], lang),
            fmt.percent(r["data_reuse_rate"], lang),
        ]
        for r in rows
    ]
    out: list[RenderableType] = list(
        grid(
            cols,
            cells,
            view.width,
            title=t(lang, "cli.agents.title"),
            caption=t(lang, "cli.agents.caption"),
        )
    )
    out.append(Text(t(lang, "cli.agents.findings"), style="bold"))
    findings = data["findings"]
    if not findings:
        out.append(Text(t(lang, "cli.agents.no_findings")))
    for f in findings:
        out.append(Text("• " + f["text"][lang]))
    return out
