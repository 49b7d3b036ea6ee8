"""`touchpoints staffing`: agents needed for a service level, by Erlang C (SPEC §5).

With `--arrivals` and `--aht-seconds` it sizes one interval; without them it measures
arrivals and AHT per hour of the week from the stored contacts of a `--touchpoint` or
`--channel` and prints the week a supervisor plans with (hours down, weekdays across).
`--json` prints exactly the analysis function's dict.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from touchpoints.cli.common import (
    ChannelOpt,
    DbOpt,
    FromOpt,
    JsonOpt,
    LangOpt,
    ToOpt,
    TouchpointOpt,
    TzOpt,
    build_filters,
    lang_code,
    open_for_reading,
    out,
    print_json,
)

ArrivalsOpt = Annotated[
    float | None, typer.Option("--arrivals", help="Contacts arriving per interval.")
]
IntervalOpt = Annotated[
    float | None,
    typer.Option("--interval-minutes", help="Length of the interval in minutes (default 60)."),
]
AhtOpt = Annotated[
    float | None,
    typer.Option("--aht-seconds", help="Average handle time (TMA) in seconds."),
]
WithinOpt = Annotated[
    float, typer.Option("--answer-within", help="Service level threshold T in seconds.")
]
TargetOpt = Annotated[
    float | None,
    typer.Option(
        "--target-service-level",
        help="Share to answer within T, between 0 and 1 (default 0.8 unless --target-asa).",
    ),
]
AsaOpt = Annotated[
    float | None,
    typer.Option("--target-asa", help="Target expected wait (TME/ASA) in seconds."),
]
ShrinkageOpt = Annotated[
    float, typer.Option("--shrinkage", help="Share of paid time away (breaks, absence), < 1.")
]
OccupancyOpt = Annotated[
    float, typer.Option("--max-occupancy", help="Highest share of time agents may be busy.")
]
MinAnsweredOpt = Annotated[
    int,
    typer.Option(
        "--min-answered",
        help="Answered contacts an hour needs for its own AHT; fewer use the overall mean.",
    ),
]

WORDS = {
    "en": {
        "title": "Erlang C staffing",
        "week_title": "Scheduled agents per hour of the week ({tz}, {weeks:g} weeks measured)",
        "hour": "hour",
        "days": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
        "total": "agent-hours",
        "agents": "agents",
        "scheduled_agents": "scheduled agents",
        "service_level": "service level",
        "waiting_probability": "probability of waiting",
        "occupancy": "occupancy",
        "asa_seconds": "ASA (s)",
        "traffic_erlangs": "traffic (erlangs)",
        "fallback": "{n} hours had fewer than {m} answered contacts and use the overall AHT {aht}",
        "targets": "target: {target}; shrinkage {shrinkage:g}; max occupancy {occupancy:g}",
        "sl_target": "{sl:g} answered within {t:g} s",
        "asa_target": "ASA ≤ {asa:g} s",
        "nothing": "no service contacts match these filters",
    },
    "pt-BR": {
        "title": "Dimensionamento por Erlang C",
        "week_title": "Agentes escalados por hora da semana ({tz}, {weeks:g} semanas medidas)",
        "hour": "hora",
        "days": ("seg", "ter", "qua", "qui", "sex", "sáb", "dom"),
        "total": "agentes-hora",
        "agents": "agentes",
        "scheduled_agents": "agentes escalados",
        "service_level": "nível de serviço",
        "waiting_probability": "probabilidade de espera",
        "occupancy": "ocupação",
        "asa_seconds": "TME (s)",
        "traffic_erlangs": "tráfego (erlangs)",
        "fallback": "{n} horas tiveram menos de {m} contatos atendidos e usam o TMA geral {aht}",
        "targets": "meta: {target}; absenteísmo {shrinkage:g}; ocupação máxima {occupancy:g}",
        "sl_target": "{sl:g} atendidos em até {t:g} s",
        "asa_target": "TME ≤ {asa:g} s",
        "nothing": "nenhum contato de atendimento atende a estes filtros",
    },
}


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def single_table(result: dict[str, Any], lang: str) -> Table:
    """The sizing of one interval as label/value lines."""
    w = WORDS[lang]
    table = Table(title=w["title"], title_justify="left", show_header=False)
    table.add_column()
    table.add_column(justify="right")
    table.add_row(w["traffic_erlangs"], _fmt(result["traffic_erlangs"]))
    table.add_row(w["agents"], str(result["agents"]))
    table.add_row(w["scheduled_agents"], str(result["scheduled_agents"]))
    table.add_row(w["service_level"], _fmt(result["service_level"], 4))
    table.add_row(w["waiting_probability"], _fmt(result["waiting_probability"], 4))
    table.add_row(w["occupancy"], _fmt(result["occupancy"], 4))
    table.add_row(w["asa_seconds"], _fmt(result["asa_seconds"], 1))
    table.caption = _targets(result, lang)
    return table


def _targets(result: dict[str, Any], lang: str) -> str:
    w = WORDS[lang]
    parts = []
    if result["target_service_level"] is not None:
        parts.append(
            w["sl_target"].format(sl=result["target_service_level"], t=result["answer_within"])
        )
    if result["target_asa_seconds"] is not None:
        parts.append(w["asa_target"].format(asa=result["target_asa_seconds"]))
    return w["targets"].format(
        target=", ".join(parts),
        shrinkage=result["shrinkage"],
        occupancy=result["max_occupancy"],
    )


def week_table(result: dict[str, Any], lang: str) -> Table:
    """Hours down, weekdays across, scheduled agents in the cells, agent-hours per day."""
    w = WORDS[lang]
    table = Table(
        title=w["week_title"].format(tz=result["timezone"], weeks=round(result["weeks"], 2)),
        title_justify="left",
        header_style="bold",
    )
    table.add_column(w["hour"])
    for day in w["days"]:
        table.add_column(day, justify="right")
    cells = {(r["weekday"], r["hour"]): r["scheduled_agents"] for r in result["rows"]}
    for hour in range(24):
        row = [f"{hour:02d}:00"]
        for day in range(7):
            value = cells.get((day, hour))
            row.append("—" if value is None else ("·" if value == 0 else str(value)))
        table.add_row(*row)
    table.add_section()
    totals = [sum(cells.get((day, hour)) or 0 for hour in range(24)) for day in range(7)]
    table.add_row(w["total"], *(str(t) for t in totals))
    notes = [_targets(result, lang)]
    if result["aht_fallback_hours"]:
        aht = result["overall_aht_seconds"]
        notes.append(
            w["fallback"].format(
                n=result["aht_fallback_hours"],
                m=result["min_answered"],
                aht="—" if aht is None else f"{aht:.0f} s",
            )
        )
    table.caption = "\n".join(notes)
    return table


def staffing_command(
    arrivals: ArrivalsOpt = None,
    interval_minutes: IntervalOpt = None,
    aht_seconds: AhtOpt = None,
    answer_within: WithinOpt = 20.0,
    target_service_level: TargetOpt = None,
    target_asa: AsaOpt = None,
    shrinkage: ShrinkageOpt = 0.0,
    max_occupancy: OccupancyOpt = 1.0,
    min_answered: MinAnsweredOpt = 10,
    touchpoint: TouchpointOpt = None,
    channel: ChannelOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    tz: TzOpt = "UTC",
    db: DbOpt = None,
    as_json: JsonOpt = False,
    lang: LangOpt = "en",
) -> None:
    """Agents needed for a service level or wait target (Erlang C).

    Give --arrivals and --aht-seconds to size one interval, or --touchpoint/--channel to
    measure both per hour of the week from stored contacts and plan the week.
    """
    from touchpoints.analytics.staffing import plan

    language = lang_code(lang)
    filters = build_filters(date_from, date_to, touchpoint, channel, tz=tz)
    result = plan(
        lambda: open_for_reading(db),
        filters,
        tz,
        arrivals,
        interval_minutes,
        aht_seconds,
        answer_within,
        target_service_level,
        target_asa,
        shrinkage,
        max_occupancy,
        min_answered,
    )
    if as_json:
        print_json(result)
    elif "rows" not in result:  # one interval sized from explicit inputs
        out.print(single_table(result, language))
    elif not result["rows"]:
        out.print(WORDS[language]["nothing"])
    else:
        out.print(week_table(result, language))


def register(app: typer.Typer) -> None:
    """Add `staffing` to the main app; calling it again changes nothing."""
    if not any(c.name == "staffing" for c in app.registered_commands):
        app.command("staffing")(staffing_command)
