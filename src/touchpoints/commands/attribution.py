"""`touchpoints attribution`: which touchpoints get the credit for conversions and revenue.

A thin command: parse options, call `touchpoints.analytics.attribution.attribution`, print
its dict exactly with `--json` (the body the HTTP API returns) or a table in en/pt-BR.
"""

from __future__ import annotations

from typing import Annotated, Any

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
    lang_code,
    open_for_reading,
    out,
    percent,
    print_json,
    touchpoint_names,
)

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="first, last, linear, position (40/20/40), time-decay, markov or shapley.",
    ),
]
OrderOpt = Annotated[
    str,
    typer.Option("--order", help="Markov order: 1, 2, 3, 4 or auto (best held-out prediction)."),
]
HalfLifeOpt = Annotated[
    str, typer.Option("--half-life", help="time-decay: weight halves every this long (7d).")
]
ByOpt = Annotated[str | None, typer.Option("--by", help="phase: one row per touchpoint and phase.")]
DetailsOpt = Annotated[
    bool,
    typer.Option("--details", help="markov: also print the transition matrix and removal effects."),
]

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Attribution ({model})",
        "order": "order {order}",
        "touchpoint": "touchpoint",
        "phase": "phase",
        "conversions": "conversions",
        "value": "revenue",
        "share": "share %",
        "total": "total",
        "nothing": "no converting journey cycles match these filters",
        "matrix": "Transition probabilities",
        "from": "from",
        "to": "to",
        "count": "transitions",
        "probability": "probability",
        "effects": "Removal effects",
        "effect": "removal effect",
        "scores": "Order chosen by held-out outcome log-likelihood",
        "score": "log-likelihood per cycle",
        "held_out": "held-out cycles",
        "before": "before",
        "during": "during",
        "after": "after",
    },
    "pt-BR": {
        "title": "Atribuição ({model})",
        "order": "ordem {order}",
        "touchpoint": "ponto de contato",
        "phase": "fase",
        "conversions": "conversões",
        "value": "receita",
        "share": "participação %",
        "total": "total",
        "nothing": "nenhum ciclo de jornada com conversão atende a estes filtros",
        "matrix": "Probabilidades de transição",
        "from": "de",
        "to": "para",
        "count": "transições",
        "probability": "probabilidade",
        "effects": "Efeitos de remoção",
        "effect": "efeito de remoção",
        "scores": "Ordem escolhida pela log-verossimilhança do desfecho fora da amostra",
        "score": "log-verossimilhança por ciclo",
        "held_out": "ciclos fora da amostra",
        "before": "antes",
        "during": "durante",
        "after": "depois",
    },
}


def _state_name(label: str, names: dict[str, str], words: dict[str, str]) -> str:
    """A Markov state ("ads>whatsapp", "ads|before") in display names."""
    parts = []
    for item in label.split(">"):
        touchpoint, sep, phase = item.partition("|")
        shown = names.get(touchpoint, touchpoint)
        parts.append(f"{shown} ({words.get(phase, phase)})" if sep else shown)
    return " > ".join(parts)


def attribution_tables(result: dict[str, Any], lang: str, names: dict[str, str]) -> list[Table]:
    """The credit table, then (with --details) the Markov matrix and removal effects."""
    w = WORDS[lang]
    title = w["title"].format(model=result["model"])
    if "order" in result:
        title += ", " + w["order"].format(order=result["order"])
    by_phase = any("phase" in r for r in result["rows"])
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column(w["touchpoint"])
    if by_phase:
        table.add_column(w["phase"])
    for key in ("conversions", "value", "share"):
        table.add_column(w[key], justify="right")
    for r in result["rows"]:
        cells = [names.get(r["touchpoint"], r["touchpoint"])]
        if by_phase:
            cells.append(w.get(r["phase"], r["phase"]))
        cells += [f"{r['conversions']:,.2f}", f"{r['value']:,.2f}", percent(r["share"])]
        table.add_row(*cells)
    table.add_section()
    table.add_row(
        w["total"],
        *([""] if by_phase else []),
        f"{result['total_conversions']:,}",
        f"{result['total_value']:,.2f}",
        "100.0",
    )
    tables = [table]
    if "order_scores" in result:
        scores = Table(title=w["scores"], title_justify="left", header_style="bold")
        for key in ("order", "score", "held_out"):
            scores.add_column(w[key].format(order="").strip() if key == "order" else w[key])
        for s in result["order_scores"]:
            ll = "—" if s["log_likelihood"] is None else f"{s['log_likelihood']:.5f}"
            mark = " ✓" if s["order"] == result["order"] else ""
            scores.add_row(f"{s['order']}{mark}", ll, f"{s['held_out_cycles']:,}")
        tables.append(scores)
    if "transition_matrix" in result:
        matrix = Table(title=w["matrix"], title_justify="left", header_style="bold")
        for key in ("from", "to", "count", "probability"):
            matrix.add_column(w[key], justify="right" if key in ("count", "probability") else None)
        for t in result["transition_matrix"]:
            matrix.add_row(
                _state_name(t["from"], names, w),
                _state_name(t["to"], names, w),
                f"{t['count']:,}",
                f"{t['probability']:.4f}",
            )
        effects = Table(title=w["effects"], title_justify="left", header_style="bold")
        effects.add_column(w["touchpoint"])
        effects.add_column(w["effect"], justify="right")
        ranked = sorted(result["removal_effects"].items(), key=lambda kv: (-kv[1], kv[0]))
        for label, effect in ranked:
            effects.add_row(_state_name(label, names, w), f"{effect:.4f}")
        tables += [matrix, effects]
    return tables


def attribution_command(
    model: ModelOpt = "linear",
    order: OrderOpt = "1",
    half_life: HalfLifeOpt = "7d",
    by: ByOpt = None,
    details: DetailsOpt = False,
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
    """Attribution: credit of each touchpoint for the conversions and revenue of journey
    cycles that end in a purchase.

    Models: first, last, linear (1/n per touch, repeats counted), position (40/20/40;
    one touch 100%, two 50/50), time-decay (weight 0.5^(t/H), t = time before the
    purchase, --half-life H), markov (removal effects solved exactly from the absorbing
    chain, --order 1-4 or auto) and shapley (exact, up to 20 touchpoints: with r(T) the
    conversion rate of cycles whose touchpoint set is exactly T and v(S) = Σ_{T⊆S} r(T),
    touchpoint j gets, of each converting set S, the share Σ_{T⊆S, j∈T} (r(T)/|T|) / v(S)).
    Markov and Shapley value = share × revenue.
    """
    from touchpoints.analytics.attribution import attribution
    from touchpoints.analytics.cycles import CycleOptions

    language = lang_code(lang)
    scope = build_scope(
        date_from, date_to, touchpoint, channel, kind, phase, segment, agent, during, after, tz
    )
    with open_for_reading(db) as store:
        result = attribution(
            store,
            scope,
            model=model,
            order=order,
            cycles=CycleOptions.build(gap),
            half_life=half_life,
            by=by,
            details=details,
        )
        names = {} if as_json else touchpoint_names(store, language)
    if as_json:
        print_json(result)
    elif not result["rows"]:
        out.print(WORDS[language]["nothing"])
    else:
        for table in attribution_tables(result, language, names):
            out.print(table)


def register(app: typer.Typer) -> None:
    """Add `attribution` to `app`; calling it again changes nothing."""
    if not any(c.name == "attribution" for c in app.registered_commands):
        app.command("attribution")(attribution_command)
