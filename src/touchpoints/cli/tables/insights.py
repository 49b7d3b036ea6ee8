"""`touchpoints insights`: the findings as a numbered list, most conversions at stake first.

A finding is a sentence (it comes with the result, in both languages), so it is shown as
one, under a head naming its direction, phase and topic; a table would cut it into cells.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text

from touchpoints.cli.tables import View, renders
from touchpoints.core import format as fmt
from touchpoints.core.messages import t

STYLE = {"strength": "green", "weakness": "red"}


@renders("insights")
def insights_list(data: dict[str, Any], view: View) -> list[RenderableType]:
    lang = view.lang
    title = t(lang, "cli.insights.title", n=fmt.integer(data["conversions"], lang))
    out: list[RenderableType] = [Text(title, style="bold")]
    if not data["findings"]:
        return [*out, Text(t(lang, "cli.insights.none"))]
    total, shown = data.get("total", len(data["findings"])), len(data["findings"])
    if total > shown:
        words = {"shown": fmt.integer(shown, lang), "total": fmt.integer(total, lang)}
        out.append(Text(t(lang, "cli.insights.more", **words), style="dim"))
    width = len(str(len(data["findings"])))
    for i, f in enumerate(data["findings"], 1):
        head = " · ".join(
            (
                t(lang, "cli.insights." + f["direction"]),
                t(lang, "common." + f["phase"]),
                t(lang, "cli.insights.topic_" + f["topic"]),
            )
        )
        line = Text(f"{i:>{width}}. ")
        line.append(head, style=STYLE.get(f["direction"], ""))
        out.append(Group(line, Padding(Text(f["text"][lang]), (0, 0, 0, width + 2))))
    return out
