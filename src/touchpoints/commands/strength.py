"""`touchpoints strength` (alias `touchpoints touchpoints`), `touchpoints retention` and
`touchpoints journeys moments`.

Thin commands: parse options, call one analysis in `touchpoints.analytics`, print its
result exactly with `--json` (the body the HTTP API returns) or Rich tables in en/pt-BR.
`register(app)` adds them to the main app, so `cli.py` only has to call it once.
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

ByPhaseOpt = Annotated[
    bool,
    typer.Option(
        "--by-phase/--no-by-phase",
        help="One row per touchpoint and observed phase (default), or totals per touchpoint.",
    ),
]
PeriodOpt = Annotated[str, typer.Option("--period", help="Cohort period: day, week or month.")]
MaxOffsetOpt = Annotated[
    int | None, typer.Option("--max-offset", min=1, help="Show at most N periods after the cohort.")
]
# Without --max-offset the terminal table shows this many offsets (JSON always has all).
TABLE_OFFSETS = 12

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "strength_title": "Touchpoint strength by observed phase",
        "strength_total_title": "Touchpoint strength",
        "touchpoint": "touchpoint",
        "phase": "phase",
        "planned": "planned",
        "reach": "customers",
        "share": "% of cycles",
        "per_customer": "events/customer",
        "conversion": "conv. %",
        "median_step": "median step",
        "median_position": "median position",
        "csat": "CSAT",
        "nps": "NPS",
        "unplanned": "⚠ observed in a phase the catalog does not plan for it",
        "before": "before",
        "during": "during",
        "after": "after",
        "nothing": "no journey steps match these filters",
        "promises_title": "Promises (attributed to where they were made)",
        "made": "made",
        "kept": "kept",
        "broken": "broken",
        "open": "open",
        "kept_rate": "kept %",
        "broken_rate": "broken %",
        "recorded_kept": "kept here",
        "recorded_broken": "broken here",
        "unmatched": "unmatched here",
        "data_title": "Customer data: remembered or asked again",
        "answers": "answers",
        "reuse": "reused %",
        "repeating": "customers repeating",
        "total": "total",
        "emotion_phase_title": "Emotion by phase",
        "emotion_step_title": "Emotion along the path",
        "step": "step",
        "steps": "steps",
        "emotion": "emotion",
        "curve": "−2 … +2",
        "retention_title": "Repeat purchase by cohort ({period})",
        "cohort": "cohort",
        "customers": "customers",
        "incomplete": "* period not over in the data",
        "more_offsets": "showing {n} periods; use --max-offset N or --json for all",
        "no_cohorts": "no purchases match these filters",
    },
    "pt-BR": {
        "strength_title": "Força dos pontos de contato por fase observada",
        "strength_total_title": "Força dos pontos de contato",
        "touchpoint": "ponto de contato",
        "phase": "fase",
        "planned": "planejada",
        "reach": "clientes",
        "share": "% dos ciclos",
        "per_customer": "eventos/cliente",
        "conversion": "conv. %",
        "median_step": "passo mediano",
        "median_position": "posição mediana",
        "csat": "CSAT",
        "nps": "NPS",
        "unplanned": "⚠ observado numa fase que o catálogo não planeja para ele",
        "before": "antes",
        "during": "durante",
        "after": "depois",
        "nothing": "nenhum passo de jornada atende a estes filtros",
        "promises_title": "Promessas (atribuídas a onde foram feitas)",
        "made": "feitas",
        "kept": "cumpridas",
        "broken": "quebradas",
        "open": "em aberto",
        "kept_rate": "cumpridas %",
        "broken_rate": "quebradas %",
        "recorded_kept": "cumpridas aqui",
        "recorded_broken": "quebradas aqui",
        "unmatched": "sem promessa aqui",
        "data_title": "Dados do cliente: lembrados ou pedidos de novo",
        "answers": "respostas",
        "reuse": "reaproveitados %",
        "repeating": "clientes que repetiram",
        "total": "total",
        "emotion_phase_title": "Emoção por fase",
        "emotion_step_title": "Emoção ao longo do caminho",
        "step": "passo",
        "steps": "passos",
        "emotion": "emoção",
        "curve": "−2 … +2",
        "retention_title": "Recompra por coorte ({period})",
        "cohort": "coorte",
        "customers": "clientes",
        "incomplete": "* período ainda não terminou nos dados",
        "more_offsets": "mostrando {n} períodos; use --max-offset N ou --json para todos",
        "no_cohorts": "nenhuma compra atende a estes filtros",
    },
}
PERIOD_WORDS = {
    "en": {"day": "day", "week": "week", "month": "month"},
    "pt-BR": {"day": "dia", "week": "semana", "month": "mês"},
}


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


# -- rendering -----------------------------------------------------------------------------
def strength_table(result: dict[str, Any], by_phase: bool, lang: str) -> Table:
    """One row per touchpoint (and phase, in before/during/after sections); an unplanned
    phase is marked ⚠ and explained in the caption."""
    w = WORDS[lang]
    table = Table(
        title=w["strength_title"] if by_phase else w["strength_total_title"],
        title_justify="left",
        header_style="bold",
    )
    table.add_column(w["touchpoint"])
    if by_phase:
        table.add_column(w["phase"])
    table.add_column(w["planned"])
    for key in (
        "reach",
        "share",
        "per_customer",
        "conversion",
        "median_step",
        "median_position",
        "csat",
        "nps",
    ):
        table.add_column(w[key], justify="right")
    previous: str | None = None
    flagged = False
    for row in result["rows"]:
        if by_phase and previous is not None and row["phase"] != previous:
            table.add_section()
        previous = row["phase"]
        name = row["name"][lang] if row["name"] else row["touchpoint"]
        cells = [name]
        if by_phase:
            shown = w.get(row["phase"], row["phase"])
            if row["unplanned"]:
                shown, flagged = f"{shown} ⚠", True
            cells.append(shown)
        nps = "—"
        if row["nps"] is not None:
            nps = f"{row['nps']:.0f} ±{row['nps_margin']:.0f} (n={row['nps_answers']})"
        csat = "—" if row["csat"] is None else f"{row['csat']:.1f} (n={row['csat_answers']})"
        cells += [
            ", ".join(w.get(p, p) for p in row["planned_phases"]) or "—",
            f"{row['reach']:,}",
            _pct(row["share_of_cycles"]),
            _num(row["events_per_customer"]),
            _pct(row["conversion_rate"]),
            _num(row["median_step"], 1),
            _num(row["median_position"]),
            csat,
            nps,
        ]
        table.add_row(*cells)
    if flagged:
        table.caption = w["unplanned"]
    return table


def _bar(emotion: float | None) -> str:
    """A ten-cell gauge from −2 to +2, readable without colour."""
    if emotion is None:
        return ""
    filled = round((emotion + 2) / 4 * 10)
    return "█" * filled + "░" * (10 - filled)


def moments_tables(result: dict[str, Any], lang: str, names: dict[str, str]) -> list[Table]:
    """Promises, data re-use, then the emotion curve by phase and by step."""
    w = WORDS[lang]
    promises = Table(title=w["promises_title"], title_justify="left", header_style="bold")
    promises.add_column(w["touchpoint"])
    for key in (
        "made",
        "kept",
        "broken",
        "open",
        "kept_rate",
        "broken_rate",
        "recorded_kept",
        "recorded_broken",
        "unmatched",
    ):
        promises.add_column(w[key], justify="right")
    data = Table(title=w["data_title"], title_justify="left", header_style="bold")
    data.add_column(w["touchpoint"])
    for key in ("answers", "reuse", "repeating"):
        data.add_column(w[key], justify="right")

    def add(label: str, r: dict[str, Any]) -> None:
        if r["made"] or r["recorded_kept"] or r["recorded_broken"] or r["recorded_unmatched"]:
            promises.add_row(
                label,
                f"{r['made']:,}",
                f"{r['kept']:,}",
                f"{r['broken']:,}",
                f"{r['open']:,}",
                _pct(r["kept_rate"]),
                _pct(r["broken_rate"]),
                f"{r['recorded_kept']:,}",
                f"{r['recorded_broken']:,}",
                f"{r['recorded_unmatched']:,}",
            )
        if r["data_answers"]:
            data.add_row(
                label,
                f"{r['data_answers']:,}",
                _pct(r["data_reuse_rate"]),
                f"{r['customers_repeating']:,}",
            )

    for r in result["touchpoints"]:
        add(names.get(r["touchpoint"], r["touchpoint"]), r)
    promises.add_section()
    data.add_section()
    add(w["total"], result["totals"])

    phases = Table(title=w["emotion_phase_title"], title_justify="left", header_style="bold")
    steps = Table(title=w["emotion_step_title"], title_justify="left", header_style="bold")
    for table, first in ((phases, w["phase"]), (steps, w["step"])):
        table.add_column(first)
        table.add_column(w["emotion"], justify="right")
        table.add_column(w["answers"], justify="right")
        table.add_column(w["steps"], justify="right")
        table.add_column(w["curve"])
    for e in result["emotion"]["by_phase"]:
        phases.add_row(
            w[e["phase"]],
            _num(e["emotion"]),
            f"{e['answers']:,}",
            f"{e['steps']:,}",
            _bar(e["emotion"]),
        )
    for e in result["emotion"]["by_step"]:
        steps.add_row(
            str(e["step"]),
            _num(e["emotion"]),
            f"{e['answers']:,}",
            f"{e['steps']:,}",
            _bar(e["emotion"]),
        )
    return [promises, data, phases, steps]


def retention_table(result: dict[str, Any], lang: str, limit: int | None) -> Table:
    """Cohorts down, periods after the first purchase across; each cell the share that
    bought again, `*` where the period has not ended in the data."""
    w = WORDS[lang]
    period = PERIOD_WORDS[lang][result["period"]]
    table = Table(
        title=w["retention_title"].format(period=period), title_justify="left", header_style="bold"
    )
    table.add_column(w["cohort"])
    table.add_column(w["customers"], justify="right")
    widest = max((len(c["cells"]) for c in result["cohorts"]), default=0)
    shown = widest if limit is None else min(widest, limit)
    for k in range(1, shown + 1):
        table.add_column(f"+{k}", justify="right")
    incomplete = False
    for c in result["cohorts"]:
        cells = []
        for cell in c["cells"][:shown]:
            mark = "" if cell["complete"] else "*"
            incomplete = incomplete or not cell["complete"]
            cells.append(f"{100 * cell['share']:.1f}%{mark}")
        cells += [""] * (shown - len(cells))
        table.add_row(c["cohort"], f"{c['customers']:,}", *cells)
    notes = [w["incomplete"]] if incomplete else []
    if shown < widest:
        notes.append(w["more_offsets"].format(n=shown))
    if notes:
        table.caption = "; ".join(notes)
    return table


# -- commands ------------------------------------------------------------------------------
def strength_command(
    by_phase: ByPhaseOpt = True,
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
    """Touchpoint strength: which touchpoints carry each moment of the purchase.

    Per touchpoint and observed phase: reach, share of cycles, conversion, position in the
    path, CSAT and NPS; a phase the catalog does not plan is flagged.
    """
    from touchpoints.analytics.cycles import CycleOptions
    from touchpoints.analytics.strength import touchpoint_strength

    language = lang_code(lang)
    scope = build_scope(
        date_from, date_to, touchpoint, channel, kind, phase, segment, agent, during, after, tz
    )
    with open_for_reading(db) as store:
        result = touchpoint_strength(store, scope, CycleOptions.build(gap), by_phase)
    if as_json:
        print_json(result)
    elif not result["rows"]:
        out.print(WORDS[language]["nothing"])
    else:
        out.print(strength_table(result, by_phase, language))


def moments_command(
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
    """Moments of truth: promises kept or broken, data re-used, emotion along the path.

    Promises count where they were made (matched first in, first out to the customer's
    next outcome); customer data remembered or asked again; mean emotion by phase and step.
    """
    from touchpoints.analytics.cycles import CycleOptions
    from touchpoints.analytics.moments import moments

    language = lang_code(lang)
    scope = build_scope(
        date_from, date_to, touchpoint, channel, kind, phase, segment, agent, during, after, tz
    )
    with open_for_reading(db) as store:
        result = moments(store, scope, CycleOptions.build(gap))
        names = {} if as_json else touchpoint_names(store, language)
    if as_json:
        print_json(result)
        return
    for table in moments_tables(result, language, names):
        out.print(table)


def retention_command(
    period: PeriodOpt = "month",
    max_offset: MaxOffsetOpt = None,
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
    """Repeat purchase by cohort: who first bought in a month, and buys again later.

    Cohort = period of a customer's first purchase; cell +k = share of the cohort buying
    again k periods later (* = period not over in the data).
    """
    from touchpoints.analytics.retention import retention_cohorts

    language = lang_code(lang)
    scope = build_scope(
        date_from, date_to, touchpoint, channel, kind, phase, segment, agent, during, after, tz
    )
    with open_for_reading(db) as store:
        result = retention_cohorts(store, scope, period, tz, max_offset)
    if as_json:
        print_json(result)
    elif not result["cohorts"]:
        out.print(WORDS[language]["no_cohorts"])
    else:
        limit = max_offset if max_offset is not None else TABLE_OFFSETS
        out.print(retention_table(result, language, limit))


def _has(app: typer.Typer, name: str) -> bool:
    return any(c.name == name for c in app.registered_commands)


def register(app: typer.Typer) -> None:
    """Add `strength`, its alias `touchpoints`, and `retention` to `app`, and `moments` to
    the `journeys` group; calling it again changes nothing."""
    if not _has(app, "strength"):
        app.command("strength")(strength_command)
    if not _has(app, "touchpoints"):
        app.command(
            "touchpoints", help="Same as `strength`: touchpoint strength per observed phase."
        )(strength_command)
    if not _has(app, "retention"):
        app.command("retention")(retention_command)
    if not _has(journeys_app, "moments"):
        journeys_app.command("moments")(moments_command)
