"""`touchpoints journeys funnel`, `journeys gaps` and `journeys sankey`.

Thin commands: parse options, call `touchpoints.analytics.flows`, and print either the
result object exactly (`--json`, seconds as numbers, the body the HTTP API returns) or
Rich tables with touchpoint names in the user's language and durations humanised
("2 d 4 h"), because gaps span seconds to weeks and raw seconds are unreadable there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from touchpoints.cli.common import (
    AfterOpt,
    AgentOpt,
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
from touchpoints.cli.common import (
    percent as _pct,
)

if TYPE_CHECKING:
    pass

# A terminal table of every touchpoint pair (or Sankey link) of a large store runs long;
# the table shows this many and says how many it left out (--json has them all).
TABLE_ROWS = 30

StepsOpt = Annotated[
    str | None,
    typer.Option(
        "--steps",
        help="Ordered touchpoints, e.g. website,phone,purchase ('purchase' = bought anywhere). "
        "Without it: the phase funnel before → during → after.",
    ),
]
CaseOpt = Annotated[
    str,
    typer.Option(
        "--case", help="customer: whole history; cycle: the steps must happen in one cycle."
    ),
]
DepthOpt = Annotated[int, typer.Option("--depth", help="How many steps of each cycle to draw.")]

WORDS = {
    "en": {
        "funnel_phases": "Phase funnel ({case}s: {total:,} in scope)",
        "funnel_steps": "Step funnel ({case}s: {total:,} in scope)",
        "customer": "customer",
        "cycle": "cycle",
        "stage": "stage",
        "count": "count",
        "share": "% of first",
        "dropped": "dropped",
        "drop_rate": "drop %",
        "median_time": "median time from previous",
        "gaps_title": "Invisible time between touchpoints (per cycle)",
        "phase_title": "Invisible time before a step, by its phase",
        "pairs_title": "Invisible time per touchpoint pair",
        "from": "from",
        "to": "to",
        "phase": "phase",
        "gaps": "gaps",
        "median": "median",
        "p90": "p90",
        "mean": "mean",
        "all": "all",
        "before": "before",
        "during": "during",
        "after": "after",
        "purchase": "purchase",
        "end": "end (no purchase)",
        "sankey_title": "First {depth} steps of {cycles:,} cycles",
        "step": "step",
        "cycles": "cycles",
        "of_source": "% of from",
        "nothing": "no journey steps match these filters",
        "more": "… and {n:,} more rows: use --json for all",
    },
    "pt-BR": {
        "funnel_phases": "Funil de fases ({case}s: {total:,} no escopo)",
        "funnel_steps": "Funil de etapas ({case}s: {total:,} no escopo)",
        "customer": "cliente",
        "cycle": "ciclo",
        "stage": "etapa",
        "count": "quantidade",
        "share": "% da primeira",
        "dropped": "perdidos",
        "drop_rate": "perda %",
        "median_time": "tempo mediano desde a anterior",
        "gaps_title": "Tempo invisível entre pontos de contato (por ciclo)",
        "phase_title": "Tempo invisível antes de um passo, pela fase dele",
        "pairs_title": "Tempo invisível por par de pontos de contato",
        "from": "de",
        "to": "para",
        "phase": "fase",
        "gaps": "intervalos",
        "median": "mediana",
        "p90": "p90",
        "mean": "média",
        "all": "todos",
        "before": "antes",
        "during": "durante",
        "after": "depois",
        "purchase": "compra",
        "end": "fim (sem compra)",
        "sankey_title": "Primeiros {depth} passos de {cycles:,} ciclos",
        "step": "passo",
        "cycles": "ciclos",
        "of_source": "% da origem",
        "nothing": "nenhum passo de jornada atende a estes filtros",
        "more": "… e mais {n:,} linhas: use --json para todas",
    },
}


def humanize(seconds: float | None) -> str:
    """Seconds as the two largest units, like "2 d 4 h", "3 h 5 m", "12 m 30 s", "45 s"."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    total = round(seconds)
    for unit, size, sub, sub_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "m", 60),
        ("m", 60, "s", 1),
    ):
        if total >= size:
            rest = (total % size) // sub_size
            return f"{total // size} {unit} {rest} {sub}" if rest else f"{total // size} {unit}"
    return f"{total} s"


def funnel_table(result: dict[str, Any], lang: str, names: dict[str, str]) -> Table:
    """One row per stage: reached, share of the first stage, drop-off, median time."""
    w = WORDS[lang]
    title = w["funnel_" + result["funnel"]].format(case=w[result["case"]], total=result["total"])
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column(w["stage"])
    for col in ("count", "share", "dropped", "drop_rate", "median_time"):
        table.add_column(w[col], justify="right")
    for i, st in enumerate(result["stages"], 1):
        label = st["stage"]
        shown = w.get(label, label) if result["funnel"] == "phases" else names.get(label, label)
        if result["funnel"] == "steps" and label == "purchase" and label not in names:
            shown = w["purchase"]
        table.add_row(
            str(i),
            shown,
            f"{st['count']:,}",
            _pct(st["share"]),
            "—" if st["dropped"] is None else f"{st['dropped']:,}",
            _pct(st["drop_rate"]),
            humanize(st["median_seconds"]),
        )
    return table


def _stat_cells(s: dict[str, Any]) -> list[str]:
    return [
        f"{s['count']:,}",
        humanize(s["median_seconds"]),
        humanize(s["p90_seconds"]),
        humanize(s["mean_seconds"]),
    ]


def gaps_tables(result: dict[str, Any], lang: str, names: dict[str, str]) -> list[Table]:
    """Per phase (with the overall row), then per touchpoint pair (the first TABLE_ROWS)."""
    w = WORDS[lang]
    stats_cols = ("gaps", "median", "p90", "mean")
    phases = Table(title=w["phase_title"], title_justify="left")
    phases.add_column(w["phase"])
    for col in stats_cols:
        phases.add_column(w[col], justify="right")
    for p in result["phases"]:
        phases.add_row(w[p["phase"]], *_stat_cells(p))
    phases.add_row(f"[bold]{w['all']}[/]", *_stat_cells(result["overall"]))
    pairs = Table(title=w["pairs_title"], title_justify="left")
    pairs.add_column(w["from"])
    pairs.add_column(w["to"])
    for col in stats_cols:
        pairs.add_column(w[col], justify="right")
    for p in result["pairs"][:TABLE_ROWS]:
        pairs.add_row(names.get(p["from"], p["from"]), names.get(p["to"], p["to"]), *_stat_cells(p))
    if len(result["pairs"]) > TABLE_ROWS:
        pairs.caption = w["more"].format(n=len(result["pairs"]) - TABLE_ROWS)
    return [phases, pairs]


def sankey_table(result: dict[str, Any], lang: str, names: dict[str, str]) -> Table:
    """The links step by step: from, to, cycles and their share of the source node."""
    w = WORDS[lang]
    values = {n["id"]: n["value"] for n in result["nodes"]}

    def label(node: str) -> str:
        if ":" not in node:
            return f"[italic]{w[node]}[/]"
        step, tp = node.split(":", 1)
        return f"{step}. {names.get(tp, tp)}"

    table = Table(
        title=w["sankey_title"].format(depth=result["depth"], cycles=result["cycles"]),
        title_justify="left",
    )
    table.add_column(w["from"])
    table.add_column(w["to"])
    table.add_column(w["cycles"], justify="right")
    table.add_column(w["of_source"], justify="right")
    for link in result["links"][:TABLE_ROWS]:
        table.add_row(
            label(link["source"]),
            label(link["target"]),
            f"{link['value']:,}",
            _pct(link["value"] / values[link["source"]]),
        )
    if len(result["links"]) > TABLE_ROWS:
        table.caption = w["more"].format(n=len(result["links"]) - TABLE_ROWS)
    return table


@journeys_app.command("funnel")
def funnel_command(
    steps: StepsOpt = None,
    case: CaseOpt = "customer",
    gap: GapOpt = "30d",
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    touchpoint: TouchpointOpt = None,
    channel: ChannelOpt = None,
    kind: KindOpt = None,
    phase: PhaseOpt = None,
    segment: SegmentOpt = None,
    agent: AgentOpt = None,
    during: DuringOpt = "1h",
    after: AfterOpt = "90d",
    tz: TzOpt = "UTC",
    db: DbOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = "en",
) -> None:
    """Funnel: how many customers go before → during → after, or through --steps in order."""
    from touchpoints.analytics.cycles import CycleOptions
    from touchpoints.analytics.flows import funnel

    language = lang_code(lang)
    scope = build_scope(
        date_from, date_to, touchpoint, channel, kind, phase, segment, agent, during, after, tz
    )
    step_list = None if steps is None else steps.split(",")
    with open_for_reading(db) as store:
        result = funnel(store, scope, CycleOptions.build(gap), step_list, case)
        names = {} if as_json else touchpoint_names(store, language)
    if as_json:
        print_json(result)
    elif not result["total"]:
        out.print(WORDS[language]["nothing"])
    else:
        out.print(funnel_table(result, language, names))


@journeys_app.command("gaps")
def gaps_command(
    gap: GapOpt = "30d",
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    touchpoint: TouchpointOpt = None,
    channel: ChannelOpt = None,
    kind: KindOpt = None,
    phase: PhaseOpt = None,
    segment: SegmentOpt = None,
    agent: AgentOpt = None,
    during: DuringOpt = "1h",
    after: AfterOpt = "90d",
    tz: TzOpt = "UTC",
    db: DbOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = "en",
) -> None:
    """Invisible time: how long customers are out of sight between touchpoints of a cycle."""
    from touchpoints.analytics.cycles import CycleOptions
    from touchpoints.analytics.flows import gaps

    language = lang_code(lang)
    scope = build_scope(
        date_from, date_to, touchpoint, channel, kind, phase, segment, agent, during, after, tz
    )
    with open_for_reading(db) as store:
        result = gaps(store, scope, CycleOptions.build(gap))
        names = {} if as_json else touchpoint_names(store, language)
    if as_json:
        print_json(result)
    elif not result["overall"]["count"]:
        out.print(WORDS[language]["nothing"])
    else:
        for table in gaps_tables(result, language, names):
            out.print(table)


@journeys_app.command("sankey")
def sankey_command(
    depth: DepthOpt = 5,
    gap: GapOpt = "30d",
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    touchpoint: TouchpointOpt = None,
    channel: ChannelOpt = None,
    kind: KindOpt = None,
    phase: PhaseOpt = None,
    segment: SegmentOpt = None,
    agent: AgentOpt = None,
    during: DuringOpt = "1h",
    after: AfterOpt = "90d",
    tz: TzOpt = "UTC",
    db: DbOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = "en",
) -> None:
    """Flow of the first --depth steps of cycles: nodes "step:touchpoint" and links, ending in purchase or end."""
    from touchpoints.analytics.cycles import CycleOptions
    from touchpoints.analytics.flows import sankey

    language = lang_code(lang)
    scope = build_scope(
        date_from, date_to, touchpoint, channel, kind, phase, segment, agent, during, after, tz
    )
    with open_for_reading(db) as store:
        result = sankey(store, scope, CycleOptions.build(gap), depth)
        names = {} if as_json else touchpoint_names(store, language)
    if as_json:
        print_json(result)
    elif not result["cycles"]:
        out.print(WORDS[language]["nothing"])
    else:
        out.print(sankey_table(result, language, names))
