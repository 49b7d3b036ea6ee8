"""Tables of `touchpoints source check`: the preview as it would be stored, the problems."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from touchpoints.core import format as fmt
from touchpoints.core.messages import t


def check_tables(result: dict[str, Any], lang: str = "en") -> list[Any]:
    parts: list[Any] = [
        t(
            lang,
            "cli.sources.summary",
            rows=fmt.integer(result["rows_read"], lang),
            good=fmt.integer(result["good"], lang),
            rejected=fmt.integer(result["rejected"], lang),
        )
    ]
    for w in result["warnings"]:
        values = {**w, "rows": fmt.integer(int(w["rows"]), lang)}
        parts.append(
            t(lang, "cli.data.warning", source=escape(str(w["file"])),
              text=escape(t(lang, f"ingest.warning.{w['code']}", **values)))
        )  # fmt: skip
    preview = result["preview"]
    if preview:
        table = Table(title=t(lang, "cli.sources.preview_title"), title_justify="left")
        columns = [k for k in preview[0] if any(r[k] is not None for r in preview)]
        for key in columns:
            table.add_column(key, overflow="fold")
        for r in preview:
            table.add_row(*("" if r[k] is None else escape(str(r[k])) for k in columns))
        parts.append(table)
    if result["problems"]:
        table = Table(title=t(lang, "cli.sources.problems_title"), title_justify="left")
        for key in ("row", "column", "reason"):
            table.add_column(t(lang, f"metric.{key}"), overflow="fold")
        for p in result["problems"]:
            table.add_row(fmt.integer(p["row"], lang), str(p["column"] or ""), escape(p["reason"]))
        parts.append(table)
    return parts
