"""`touchpoints insights` and `touchpoints whatif`.

Thin commands: parse options, call `analytics.insights.insights` or
`analytics.whatif.whatif`, print the result exactly with `--json` (the body the HTTP API
returns) or as a ranked list / a short answer in en or pt-BR.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

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
    print_json,
    touchpoint_names,
)

AnswerWithinOpt = Annotated[
    float,
    typer.Option("--answer-within", help="Service level threshold T in seconds (SPEC §4)."),
]
MinAnswersOpt = Annotated[
    int,
    typer.Option(
        "--min-answers",
        help="Fewest answers, contacts or cycles behind a finding (smaller groups are noise).",
    ),
]
SubjectOpt = Annotated[
    str, typer.Option("--touchpoint", help="The touchpoint to fix (a catalog id).")
]
AbandonmentOpt = Annotated[
    float | None,
    typer.Option("--abandonment", help="Target abandonment rate, a share 0-1 (0.05 = 5 %)."),
]
CsatOpt = Annotated[
    float | None,
    typer.Option("--csat", help="Target CSAT on the 0-100 scale of SPEC §4 (85 = 85 % 4-5)."),
]
RemoveOpt = Annotated[
    bool, typer.Option("--remove", help="Conversions lost if the touchpoint were gone.")
]

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Insights, ranked by conversions at stake ({n} converting cycles)",
        "strength": "▲ strength",
        "weakness": "▼ weakness",
        "none": "no findings: too few events, answers or contacts in this selection",
        "rule": "Rule",
        "before": "before",
        "during": "during",
        "after": "after",
        "engagement": "engagement",
        "attribution": "attribution",
        "satisfaction": "satisfaction",
        "service": "service",
        "promises": "promises",
        "data": "data re-use",
        "q_abandonment": "What if {name} abandonment were {target}% (now {now}% of {n} contacts)?",
        "q_csat": "What if {name} CSAT were {target} (now {now} from {n} answers)?",
        "q_remove": "What if {name} were removed from every journey ({n} steps)?",
        "conversions": "Conversions",
        "revenue": "Revenue",
        "probability": "P(conversion)",
        "method": "Method",
    },
    "pt-BR": {
        "title": "Diagnóstico, ordenado por conversões em jogo ({n} ciclos com compra)",
        "strength": "▲ ponto forte",
        "weakness": "▼ ponto fraco",
        "none": "nenhum achado: poucos eventos, respostas ou contatos nesta seleção",
        "rule": "Regra",
        "before": "antes",
        "during": "durante",
        "after": "depois",
        "engagement": "engajamento",
        "attribution": "atribuição",
        "satisfaction": "satisfação",
        "service": "atendimento",
        "promises": "promessas",
        "data": "reuso de dados",
        "q_abandonment": "E se o abandono em {name} fosse {target}% (hoje {now}% de {n} contatos)?",
        "q_csat": "E se o CSAT de {name} fosse {target} (hoje {now} em {n} respostas)?",
        "q_remove": "E se {name} saísse de todas as jornadas ({n} passos)?",
        "conversions": "Conversões",
        "revenue": "Receita",
        "probability": "P(conversão)",
        "method": "Método",
    },
}


def render_insights(result: dict[str, Any], lang: str) -> None:
    """A numbered list, most impact first: direction, phase, topic, then the sentence."""
    from touchpoints.analytics.insights import fmt

    w = WORDS[lang]
    out.print(f"[bold]{w['title'].format(n=fmt(result['conversions'], lang, 0))}[/bold]")
    if not result["findings"]:
        out.print(w["none"])
        return
    for i, f in enumerate(result["findings"], 1):
        style = "green" if f["direction"] == "strength" else "red"
        head = f"{w[f['direction']]} · {w[f['phase']]} · {w[f['topic']]}"
        out.print(f"{i:>3}. [{style}]{head}[/{style}]", highlight=False)
        out.print(f"     {f['text'][lang]}", highlight=False)


def render_whatif(result: dict[str, Any], lang: str, name: str) -> None:
    """The question, then conversions, revenue and P(conversion) now → scenario."""
    from touchpoints.analytics.insights import fmt

    w = WORDS[lang]
    obs, scen = result["observed"], result["scenario"]
    if "abandonment" in scen:
        q = w["q_abandonment"].format(
            name=name,
            target=fmt(100 * scen["abandonment"], lang),
            now=fmt(100 * obs["abandonment"], lang),
            n=fmt(obs["contacts"], lang, 0),
        )
    elif "csat" in scen:
        q = w["q_csat"].format(
            name=name,
            target=fmt(scen["csat"], lang),
            now=fmt(obs["csat"], lang),
            n=fmt(obs["answers"], lang, 0),
        )
    else:
        q = w["q_remove"].format(name=name, n=fmt(obs["steps"], lang, 0))
    out.print(f"[bold]{q}[/bold]", highlight=False)
    for key, label, digits in (("conversions", "conversions", 1), ("value", "revenue", 2)):
        v = result[key]
        sign = "+" if v["change"] >= 0 else "−"
        out.print(
            f"  {w[label]}: {fmt(v['now'], lang, digits)} → {fmt(v['scenario'], lang, digits)} "
            f"({sign}{fmt(abs(v['change']), lang, digits)})",
            highlight=False,
        )
    p = result["conversion_probability"]
    out.print(
        f"  {w['probability']}: {fmt(100 * p['now'], lang, 2)}% → {fmt(100 * p['scenario'], lang, 2)}%",
        highlight=False,
    )
    out.print(f"  [dim]{w['method']}: {result['method']}[/dim]", highlight=False)


def insights_command(
    answer_within: AnswerWithinOpt = 20.0,
    min_answers: MinAnswersOpt = 30,
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
    """What is strong and weak at each moment of the purchase, ranked by impact.

    Per phase: engagement, attribution (Markov removal effect), CSAT/NPS beyond noise,
    service vs the catalog targets, promises broken and data not re-used; each finding is
    one sentence with its numbers, ranked by conversions at stake.
    """
    from touchpoints.analytics.cycles import CycleOptions
    from touchpoints.analytics.insights import insights

    language = lang_code(lang)
    scope = build_scope(
        date_from, date_to, touchpoint, channel, kind, phase, segment, agent, during, after, tz
    )
    with open_for_reading(db) as store:
        result = insights(
            store, scope, language, CycleOptions.build(gap), answer_within, min_answers
        )
    if as_json:
        print_json(result)
    else:
        render_insights(result, language)


def whatif_command(
    touchpoint: SubjectOpt,
    abandonment: AbandonmentOpt = None,
    csat: CsatOpt = None,
    remove: RemoveOpt = False,
    gap: GapOpt = "30d",
    date_from: FromOpt = None,
    date_to: ToOpt = None,
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
    """What is it worth to fix a touchpoint? Conversions and revenue if its abandonment
    rate or CSAT met a target, or without it, through the exact Markov chain."""
    from touchpoints.analytics.cycles import CycleOptions
    from touchpoints.analytics.whatif import whatif

    language = lang_code(lang)
    scope = build_scope(
        date_from, date_to, None, channel, kind, phase, segment, agent, during, after, tz
    )
    with open_for_reading(db) as store:
        result = whatif(
            store, scope, touchpoint, abandonment, csat, remove, CycleOptions.build(gap)
        )
        names = {} if as_json else touchpoint_names(store, language)
    if as_json:
        print_json(result)
    else:
        render_whatif(result, language, names.get(touchpoint, touchpoint))


def _has(app: typer.Typer, name: str) -> bool:
    return any(c.name == name for c in app.registered_commands)


def register(app: typer.Typer) -> None:
    """Add `insights` and `whatif` to `app`; calling it again changes nothing."""
    if not _has(app, "insights"):
        app.command("insights")(insights_command)
    if not _has(app, "whatif"):
        app.command("whatif")(whatif_command)
