"""Gender and number agreement in generated pt-BR sentences (core/grammar.py and the
catalog's `gender`/`plural`): every expected sentence below is written by hand."""

from __future__ import annotations

import pytest

from touchpoints.analytics.agents import finding_text
from touchpoints.analytics.insights import Finding, sentence
from touchpoints.core import messages as msg
from touchpoints.core.catalog import default_catalog, parse_catalog
from touchpoints.core.errors import CatalogError
from touchpoints.core.grammar import Noun


def names() -> dict[str, dict[str, Noun]]:
    return {t.id: {lang: t.noun(lang) for lang in msg.LANGS} for t in default_catalog().touchpoints}


def test_forms_of_a_name() -> None:
    loja = Noun("loja física", "pt-BR", "f")
    redes = Noun("redes sociais", "pt-BR", "f", plural=True)
    anuncios = Noun("anúncios online", "pt-BR", "m", plural=True)
    whatsapp = Noun("WhatsApp", "pt-BR")
    assert f"{loja:The} {loja:é/são}" == "A loja física é"
    assert f"{redes:The} {redes:é/são}" == "As redes sociais são"
    assert f"{loja:at}, {whatsapp:at}, {redes:at}, {anuncios:at}" == (
        "na loja física, no WhatsApp, nas redes sociais, nos anúncios online"
    )
    assert f"{loja:of}/{whatsapp:of}/{redes:to}/{loja:to}/{anuncios:on}" == (
        "da loja física/do WhatsApp/às redes sociais/à loja física/pelos anúncios online"
    )
    assert f"removê-{loja:lo/la/los/las}, removê-{anuncios:lo/la/los/las}" == (
        "removê-la, removê-los"
    )
    assert f"{whatsapp}" == str(whatsapp) == "WhatsApp"
    # English: no article; a choice by number only.
    ads = Noun("Online ads", "en", "m", plural=True)
    assert f"{ads:The} {ads:is/are}; removing {ads:it/it/them/them}" == (
        "Online ads are; removing them"
    )
    with pytest.raises(ValueError, match="unknown form 'the2'"):
        format(loja, "the2")
    with pytest.raises(ValueError, match="needs 2 .* or 4 forms, not 3"):
        format(loja, "a/b/c")


def finding(tp: str, topic: str, metric: str, direction: str, **numbers: float) -> Finding:
    return Finding("before", tp, topic, direction, stake=100.0, gap=0.05, numbers=numbers, metric=metric)  # fmt: skip


def test_insight_sentences_agree() -> None:
    n = names()
    weak = finding("direct_mail", "attribution", "attribution", "weakness", removal_effect=0.012)
    assert sentence(weak, "pt-BR", n) == (
        "A Mala direta é a que menos contribui para as vendas antes da compra: removê-la custa "
        "apenas 1,2% das conversões; ≈5 vendas em risco."
    )
    signs = finding("signage", "engagement", "engagement", "weakness", share_of_cycles=0.03, reach=41)  # fmt: skip
    assert sentence(signs, "pt-BR", n) == (
        "As Placas e outdoors são as de menor engajamento antes da compra: apenas 3,0% dos "
        "ciclos de jornada (41 clientes); ≈5 vendas em risco."
    )
    social = finding("social", "attribution", "attribution", "strength", removal_effect=0.2)
    assert sentence(social, "pt-BR", n) == (
        "As Redes sociais são as que mais geram vendas antes da compra: sem elas, o modelo de "
        "Markov perde 20,0% das conversões; ≈5 vendas em risco."
    )
    ads = finding("ads", "attribution", "attribution", "strength", removal_effect=0.2)
    assert sentence(ads, "pt-BR", n).startswith(
        "Os Anúncios online são os que mais geram vendas antes da compra: sem eles,"
    )
    whatsapp = finding("whatsapp", "promises", "promises", "weakness", broken_rate=0.216, broken=27, made=125)  # fmt: skip
    assert sentence(whatsapp, "pt-BR", n) == (
        "O WhatsApp descumpre 21,6% das promessas feitas ali (27 de 125; feitas sobretudo antes "
        "da compra); ≈5 vendas em risco."
    )
    store = finding("store", "data", "data", "weakness", data_reuse_rate=0.7, customers_repeating=12)  # fmt: skip
    assert sentence(store, "pt-BR", n) == (
        "Na Loja física, 30,0% dos contatos fizeram o cliente repetir informações que a empresa "
        "já tinha (12 clientes; sobretudo antes da compra); ≈5 vendas em risco."
    )
    planned = finding("store", "attribution", "attribution", "weakness", removal_effect=0.01, planned_phases="during")  # fmt: skip
    assert "; o catálogo a planeja para durante a compra: o plano pode estar errado" in sentence(
        planned, "pt-BR", n
    )
    assert sentence(weak, "en", n) == (
        "Direct mail contributes least to sales before the purchase: removing it costs only "
        "1.2% of conversions; ≈5 conversions at stake."
    )


def test_agent_and_effect_sentences_use_em_with_the_article() -> None:
    n = names()
    f = {
        "agent": "bia",
        "touchpoint": "store",
        "metric": "csat",
        "direction": "weakness",
        "value": 40.0,
        "margin": 14.5,
        "team": 80.0,
        "team_margin": 3.0,
        "answers": 44,
        "mentions": [],
    }
    assert finding_text(f, "pt-BR", n["store"]["pt-BR"]).startswith(
        "CSAT de bia na Loja física: 40,0% ±14,5 p.p., contra 80,0% ±3,0 p.p."
    )
    # A bare id (a touchpoint the catalog no longer has) reads as written, masculine.
    assert finding_text(f, "pt-BR").startswith("CSAT de bia no store:")
    text = msg.t(
        "pt-BR",
        "changes.fell",
        title="Bot no ar",
        date="27/07/2026",
        touchpoint=n["phone"]["pt-BR"],
        metric="abandono",
        amount="4,0 p.p.",
        low="2,6 p.p.",
        high="5,7 p.p.",
    )
    assert text == (
        "Desde “Bot no ar” em 27/07/2026, abandono na Central de atendimento caiu 4,0 p.p. "
        "(2,6 p.p. a 5,7 p.p.) a mais que nos outros pontos de contato."
    )


def test_the_catalog_carries_gender_and_number() -> None:
    catalog = default_catalog()
    forms = {t.id: (t.gender, t.plural) for t in catalog.touchpoints}
    assert forms["store"] == ("f", False) and forms["whatsapp"] == ("m", False)
    assert forms["social"] == ("f", True) and forms["ads"] == ("m", True)
    assert forms["delivery"] == ("m", False)  # "o Veículo de entrega e montagem"
    # Round trip through YAML keeps them; defaults are not written out.
    again = parse_catalog(catalog.to_yaml())
    assert {t.id: (t.gender, t.plural) for t in again.touchpoints} == forms
    assert "gender: m" not in catalog.to_yaml()
    bad = catalog.to_yaml().replace("gender: f", "gender: x", 1)
    with pytest.raises(CatalogError, match=r"touchpoints\[\d+\] \(id 'direct_mail'\): field 'gender': Input should be 'm' or 'f'"):  # fmt: skip
        parse_catalog(bad)


def test_a_suggested_action_agrees_with_the_touchpoint() -> None:
    from touchpoints.server.dashboard.recommendations import merged

    def weak(tp: str) -> dict[str, object]:
        return {
            "phase": "before",
            "touchpoint": tp,
            "topic": "attribution",
            "direction": "weakness",
            "impact": 3.0,
            "numbers": {"removal_effect": 0.01},
            "text": {"en": "x", "pt-BR": "x"},
        }

    nouns = {lang: {tp: forms[lang] for tp, forms in names().items()} for lang in msg.LANGS}
    problems, _ = merged([weak("signage"), weak("direct_mail")], {}, None, "pt-BR", nouns["pt-BR"])
    assert sorted(p.action for p in problems) == [
        "Reveja o orçamento da Mala direta: ela agrega pouco às vendas nesta fase.",
        "Reveja o orçamento das Placas e outdoors: elas agregam pouco às vendas nesta fase.",
    ]
    problems, _ = merged([weak("signage")], {}, None, "en", nouns["en"])
    assert problems[0].action == (
        "Review the budget of Signage and billboards: they add little to sales in this phase."
    )
