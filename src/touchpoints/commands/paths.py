"""`touchpoints journeys dfg` and `touchpoints journeys variants` (SPEC §5).

Thin commands: parse options, call `touchpoints.analytics.journeys`, and print either the
result object exactly (`--json`, the same body the HTTP API returns) or Rich tables with
touchpoint names in the user's language.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from touchpoints.cli.common import (
    AfterOpt,
    ChannelOpt,
    DbOpt,
    DuringOpt,
    FromOpt,
    GapOpt,
    JsonOpt,
    KindOpt,
    LangOpt,
    PhaseOpt,
    SegmentOpt,
    ToOpt,
    TouchpointOpt,
    TzOpt,
    build_scope,
    journeys_app,
    lang_code,
    open_for_reading,
    out,
    print_json,
    touchpoint_names,
)

CaseOpt = Annotated[
    str,
    typer.Option(
        "--case", help="customer: each customer's whole sequence; cycle: each journey cycle."
    ),
]
# A terminal table of every variant of a large store would run for hundreds of thousands
# of rows; without --top the table shows this many and says how many it left out.
TABLE_ROWS = 50

TopOpt = Annotated[int | None, typer.Option("--top", min=1, help="Keep only the N most frequent.")]

WORDS = {
    "en": {
        "from": "from",
        "to": "to",
        "count": "count",
        "mean": "mean time",
        "median": "median time",
        "touchpoint": "touchpoint",
        "starts": "cases starting",
        "ends": "cases ending",
        "path": "path",
        "cases": "cases",
        "conversions": "conversions",
        "rate": "conv. %",
        "edges_title": "Directly-follows graph ({case})",
        "ends_title": "Where cases start and end",
        "variants_title": "Path variants ({case})",
        "customer": "per customer",
        "cycle": "per cycle",
        "nothing": "no journey steps match these filters",
        "more": "… and {n:,} more variants: use --top N, or --json for all",
    },
    "pt-BR": {
        "from": "de",
        "to": "para",
        "count": "vezes",
        "mean": "tempo médio",
        "median": "tempo mediano",
        "touchpoint": "ponto de contato",
        "starts": "casos que começam",
        "ends": "casos que terminam",
        "path": "caminho",
        "cases": "casos",
        "conversions": "conversões",
        "rate": "conv. %",
        "edges_title": "Grafo de sucessão direta ({case})",
        "ends_title": "Onde os casos começam e terminam",
        "variants_title": "Variantes de caminho ({case})",
        "customer": "por cliente",
        "cycle": "por ciclo",
        "nothing": "nenhum passo de jornada atende a estes filtros",
        "more": "… e mais {n:,} variantes: use --top N, ou --json para todas",
    },
}


def duration(seconds: float | None) -> str:
    """Seconds as the two largest units (`3d 4h`, `12m 05s`): transitions span seconds to
    months, and raw seconds are unreadable at that range."""
    if seconds is None:
        return "—"
    total = round(seconds)
    if total < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{total}s"
    for unit, size, sub, sub_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "m", 60),
        ("m", 60, "s", 1),
    ):
        if total >= size:
            return f"{total // size}{unit} {(total % size) // sub_size:02d}{sub}"
    return f"{total}s"


def dfg_tables(result: dict[str, Any], case: str, lang: str, names: dict[str, str]) -> list[Table]:
    """The edges table, then one table of start and end counts per touchpoint."""
    w = WORDS[lang]
    edges = Table(title=w["edges_title"].format(case=w[case]), title_justify="left")
    for col, justify in (
        ("from", "left"),
        ("to", "left"),
        ("count", "right"),
        ("mean", "right"),
        ("median", "right"),
    ):
        edges.add_column(w[col], justify=justify)  # type: ignore[arg-type]
    for e in result["edges"]:
        edges.add_row(
            names.get(e["from"], e["from"]),
            names.get(e["to"], e["to"]),
            f"{e['count']:,}",
            duration(e["mean_seconds"]),
            duration(e["median_seconds"]),
        )
    bounds = Table(title=w["ends_title"], title_justify="left")
    bounds.add_column(w["touchpoint"])
    bounds.add_column(w["starts"], justify="right")
    bounds.add_column(w["ends"], justify="right")
    starts, ends = result["starts"], result["ends"]
    for tp in sorted(set(starts) | set(ends), key=lambda t: (-starts.get(t, 0), t)):
        bounds.add_row(names.get(tp, tp), f"{starts.get(tp, 0):,}", f"{ends.get(tp, 0):,}")
    return [edges, bounds]


def variants_table(
    result: dict[str, Any], case: str, lang: str, names: dict[str, str], limit: int | None = None
) -> Table:
    """One row per path (the first `limit`): rank, touchpoints joined by arrows, cases,
    conversions; a caption says how many were left out."""
    w = WORDS[lang]
    table = Table(title=w["variants_title"].format(case=w[case]), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column(w["path"])
    table.add_column(w["cases"], justify="right")
    table.add_column(w["conversions"], justify="right")
    table.add_column(w["rate"], justify="right")
    for i, v in enumerate(result["variants"][:limit], 1):
        table.add_row(
            str(i),
            " → ".join(names.get(tp, tp) for tp in v["path"]),
            f"{v['count']:,}",
            f"{v['conversions']:,}",
            f"{100 * v['conversions'] / v['count']:.1f}",
        )
    left_out = len(result["variants"]) - len(result["variants"][:limit])
    if left_out:
        table.caption = w["more"].format(n=left_out)
    return table


@journeys_app.command("dfg")
def dfg_command(
    case: CaseOpt = "customer",
    gap: GapOpt = "30d",
    top: TopOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    touchpoint: TouchpointOpt = None,
    channel: ChannelOpt = None,
    kind: KindOpt = None,
    phase: PhaseOpt = None,
    segment: SegmentOpt = None,
    during: DuringOpt = "1h",
    after: AfterOpt = "90d",
    tz: TzOpt = "UTC",
    db: DbOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = "en",
) -> None:
    """Directly-follows graph: how often each touchpoint follows another, and how long it takes."""
    from touchpoints.analytics.cycles import CycleOptions
    from touchpoints.analytics.journeys import check_case, dfg

    check_case(case)
    language = lang_code(lang)
    scope = build_scope(
        date_from, date_to, touchpoint, channel, kind, phase, segment, None, during, after, tz
    )
    with open_for_reading(db) as store:
        result = dfg(store, scope, case, CycleOptions.build(gap), top)
        names = {} if as_json else touchpoint_names(store, language)
    if as_json:
        print_json(result)
        return
    if not result["starts"]:
        out.print(WORDS[language]["nothing"])
        return
    for table in dfg_tables(result, case, language, names):
        out.print(table)


@journeys_app.command("variants")
def variants_command(
    case: CaseOpt = "customer",
    gap: GapOpt = "30d",
    top: TopOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    touchpoint: TouchpointOpt = None,
    channel: ChannelOpt = None,
    kind: KindOpt = None,
    phase: PhaseOpt = None,
    segment: SegmentOpt = None,
    during: DuringOpt = "1h",
    after: AfterOpt = "90d",
    tz: TzOpt = "UTC",
    db: DbOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = "en",
) -> None:
    """Path variants: each distinct sequence of touchpoints, how many cases took it, how many bought."""
    from touchpoints.analytics.cycles import CycleOptions
    from touchpoints.analytics.journeys import check_case, variants

    check_case(case)
    language = lang_code(lang)
    scope = build_scope(
        date_from, date_to, touchpoint, channel, kind, phase, segment, None, during, after, tz
    )
    with open_for_reading(db) as store:
        result = variants(store, scope, case, CycleOptions.build(gap), top)
        names = {} if as_json else touchpoint_names(store, language)
    if as_json:
        print_json(result)
        return
    if not result["variants"]:
        out.print(WORDS[language]["nothing"])
        return
    limit = None if top is not None else TABLE_ROWS
    out.print(variants_table(result, case, language, names, limit))
