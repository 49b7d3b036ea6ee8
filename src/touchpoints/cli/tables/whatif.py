"""`touchpoints whatif`: the question asked, then conversions, revenue and P(conversion)
now, in the scenario, and the change, and how the chain was changed (in the reader's
language; the JSON `method` stays the API's English sentence)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.core import format as fmt
from touchpoints.core.messages import t


def question(data: dict[str, Any], view: View) -> str:
    lang, name = view.lang, view.name(data["touchpoint"])
    scenario, observed = data["scenario"], data["observed"]
    if "abandonment" in scenario:
        return t(
            lang,
            "cli.whatif.q_abandonment",
            name=name,
            target=fmt.percent(scenario["abandonment"], lang),
            now=fmt.percent(observed["abandonment"], lang),
            n=fmt.integer(observed["contacts"], lang),
        )
    if "csat" in scenario:
        return t(
            lang,
            "cli.whatif.q_csat",
            name=name,
            target=fmt.number(scenario["csat"], lang, 1),
            now=fmt.number(observed["csat"], lang, 1),
            n=fmt.integer(observed["answers"], lang),
        )
    return t(lang, "cli.whatif.q_remove", name=name, n=fmt.integer(observed["steps"], lang))


def _signed(text: str, x: float) -> str:
    """A change reads with its sign: +0,9 and -0,9 (Babel writes the minus)."""
    return f"+{text}" if x > 0 else text


@renders("whatif")
def whatif_table(data: dict[str, Any], view: View) -> list[RenderableType]:
    lang = view.lang
    cols = [Col("", numeric=False), *(Col(view.label(k)) for k in ("now", "scenario", "change"))]
    cells = []
    shows: list[tuple[str, Callable[[float], str]]] = [
        ("conversions", lambda x: fmt.number(x, lang, 1)),
        ("value", lambda x: fmt.money(x, lang)),
    ]
    for key, show in shows:
        v = data[key]
        cells.append(
            [
                view.label(key),
                show(v["now"]),
                show(v["scenario"]),
                _signed(show(v["change"]), v["change"]),
            ]
        )
    # A change of P(conversion) is a difference of shares: percentage points, not percent.
    p = data["conversion_probability"]
    change = p["scenario"] - p["now"]
    points = t(lang, "cli.whatif.points", x=fmt.number(100 * change, lang, 2))
    cells.append(
        [
            view.label("conversion_probability"),
            fmt.percent(p["now"], lang, 2),
            fmt.percent(p["scenario"], lang, 2),
            _signed(points, change),
        ]
    )
    kind = next(k for k in ("abandonment", "csat", "remove") if k in data["scenario"])
    method = t(lang, f"cli.whatif.method_{kind}", name=view.name(data["touchpoint"]))
    # The question and the method span the terminal, not the narrow width of the table.
    return [Text(question(data, view), style="bold"), *grid(cols, cells, view.width), Text(method)]
