"""Words and number formats of reports, in English and Brazilian Portuguese.

Brazilian readers write 1.234,5 and call the service times TMA/TME; English readers write
1,234.5 and say AHT/ASA. Reports are read on paper, so the formatting is done here rather
than left to a browser's locale.
"""

from __future__ import annotations


def fmt_number(value: float, digits: int, lang: str) -> str:
    text = f"{value:,.{digits}f}"
    if lang == "pt-BR":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def fmt_percent(share: float, lang: str) -> str:
    return f"{fmt_number(100 * share, 1, lang)} %"


def fmt_seconds(seconds: float, lang: str) -> str:
    return f"{fmt_number(seconds, 1, lang)} s"


LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Customer experience report",
        "period": "Period",
        "previous_period": "compared with",
        "generated": "Generated",
        "date_format": "%Y-%m-%d",
        "summary": "Executive summary",
        "summary_text": (
            "{customers} customers met the company at {events} touchpoint interactions; "
            "{conversions} purchases brought {revenue} in revenue."
        ),
        "summary_service": (
            "Service contacts waited {tme} on average (ASA); {abandonment} gave up and "
            "{service_level} were answered within the threshold."
        ),
        "summary_feedback": "NPS was {nps} (± {margin}) and CSAT {csat}.",
        "metric": "Metric",
        "this_period": "This period",
        "prior": "Previous period",
        "change": "Change",
        "no_comparison": "no comparison",
        "unchanged": "unchanged",
        "up": "up",
        "down": "down",
        "pp": "pp",
        "kpis": "KPIs against targets",
        "by_phase": "By phase",
        "by_touchpoint": "By touchpoint (target in brackets)",
        "meets": "meets target",
        "misses": "misses target",
        "group": "Group",
        "touchpoint": "Touchpoint",
        "events": "Events",
        "customers": "Customers",
        "offered": "Offered",
        "conversions": "Conversions",
        "revenue": "Revenue",
        "tme_seconds": "ASA",
        "tma_seconds": "AHT",
        "abandonment_rate": "Abandonment",
        "service_level": "Service level",
        "fcr": "FCR",
        "csat": "CSAT",
        "nps": "NPS",
        "nps_margin": "NPS margin (95 %)",
        "ces": "CES",
        "map": "Touchpoint map",
        "map_note": "Planned phase (rows) by kind (columns); events in this period in brackets.",
        "before": "Before",
        "during": "During",
        "after": "After",
        "static": "Static",
        "interactive": "Interactive",
        "human": "Human",
        "journeys": "Journeys",
        "variants": "Most common paths",
        "path": "Path",
        "count": "Customers",
        "funnel": "Funnel by phase",
        "stage": "Stage",
        "dropped": "Dropped",
        "gaps": "Invisible gaps between touchpoints",
        "median": "Median",
        "p90": "90th percentile",
        "overall": "Overall",
        "hours": "h",
        "service": "Service",
        "channel": "Channel",
        "feedback": "Feedback",
        "comments": "Sample comments",
        "score": "Score",
        "attribution": "Attribution",
        "attribution_note": "Share of conversions credited to each touchpoint, by model.",
        "no_attribution": "No conversions in this period, or attribution is not installed.",
        "recommendations": "Recommendations",
        "no_recommendations": "No recommendations for this period.",
        "chart_volume": "Events by touchpoint",
        "chart_funnel": "Customers reaching each phase",
        "chart_channel_tme": "ASA (mean wait of answered contacts) by channel",
        "chart_heatmap": "ASA by hour of the week",
        "chart_feedback": "NPS and CSAT by week",
        "weekdays": "Mon,Tue,Wed,Thu,Fri,Sat,Sun",
        "footer": "Touchpoints — metrics as defined in the product specification §4.",
    },
    "pt-BR": {
        "title": "Relatório de experiência do cliente",
        "period": "Período",
        "previous_period": "comparado com",
        "generated": "Gerado em",
        "date_format": "%d/%m/%Y",
        "summary": "Resumo executivo",
        "summary_text": (
            "{customers} clientes encontraram a empresa em {events} interações nos pontos "
            "de contato; {conversions} compras geraram {revenue} de receita."
        ),
        "summary_service": (
            "Os contatos de atendimento esperaram em média {tme} (TME); {abandonment} "
            "desistiram e {service_level} foram atendidos dentro do limite."
        ),
        "summary_feedback": "O NPS foi {nps} (± {margin}) e o CSAT {csat}.",
        "metric": "Indicador",
        "this_period": "Este período",
        "prior": "Período anterior",
        "change": "Variação",
        "no_comparison": "sem comparação",
        "unchanged": "estável",
        "up": "subiu",
        "down": "caiu",
        "pp": "p.p.",
        "kpis": "Indicadores e metas",
        "by_phase": "Por fase",
        "by_touchpoint": "Por ponto de contato (meta entre colchetes)",
        "meets": "dentro da meta",
        "misses": "fora da meta",
        "group": "Grupo",
        "touchpoint": "Ponto de contato",
        "events": "Eventos",
        "customers": "Clientes",
        "offered": "Oferecidos",
        "conversions": "Conversões",
        "revenue": "Receita",
        "tme_seconds": "TME",
        "tma_seconds": "TMA",
        "abandonment_rate": "Abandono",
        "service_level": "Nível de serviço",
        "fcr": "Resolução no 1º contato",
        "csat": "CSAT",
        "nps": "NPS",
        "nps_margin": "Margem do NPS (95 %)",
        "ces": "CES",
        "map": "Mapa de pontos de contato",
        "map_note": "Fase planejada (linhas) por tipo (colunas); eventos do período entre parênteses.",
        "before": "Antes",
        "during": "Durante",
        "after": "Depois",
        "static": "Estático",
        "interactive": "Interativo",
        "human": "Humano",
        "journeys": "Jornadas",
        "variants": "Caminhos mais comuns",
        "path": "Caminho",
        "count": "Clientes",
        "funnel": "Funil por fase",
        "stage": "Etapa",
        "dropped": "Perdidos",
        "gaps": "Intervalos invisíveis entre pontos de contato",
        "median": "Mediana",
        "p90": "Percentil 90",
        "overall": "Geral",
        "hours": "h",
        "service": "Atendimento",
        "channel": "Canal",
        "feedback": "Opinião dos clientes",
        "comments": "Comentários de exemplo",
        "score": "Nota",
        "attribution": "Atribuição",
        "attribution_note": "Parcela das conversões creditada a cada ponto de contato, por modelo.",
        "no_attribution": "Sem conversões no período, ou atribuição não instalada.",
        "recommendations": "Recomendações",
        "no_recommendations": "Sem recomendações para este período.",
        "chart_volume": "Eventos por ponto de contato",
        "chart_funnel": "Clientes que chegam a cada fase",
        "chart_channel_tme": "TME (espera média dos contatos atendidos) por canal",
        "chart_heatmap": "TME por hora da semana",
        "chart_feedback": "NPS e CSAT por semana",
        "weekdays": "seg,ter,qua,qui,sex,sáb,dom",
        "footer": "Touchpoints — indicadores conforme a especificação do produto, §4.",
    },
}
