"""Offline sentiment (touchpoints.sentiment): rules on hand-picked cases, accuracy on a
hand-labelled set of comments in pt-BR and en, language detection, and the read-time
analysis `feedback comments` over a store."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import run
from touchpoints.analytics import sentiment
from touchpoints.core.errors import UsageError
from touchpoints.ingest import ingest_records
from touchpoints.store.base import Store

# Comments of the kind customers write after a contact, labelled by hand by what the
# writer meant (positive / negative / neutral). Written before the scorer was run on them
# and not edited afterwards; the ones the scorer gets wrong stay in.
LABELLED: list[tuple[str, str]] = [
    # pt-BR
    ("Atendimento muito bom, resolveram meu problema rapidinho", "positive"),
    ("Não gostei do atendimento", "negative"),
    ("Péssimo atendimento, ninguém me respondeu", "negative"),
    ("A entrega chegou antes do prazo, adorei!", "positive"),
    ("Demorou demais para me atenderem no telefone", "negative"),
    ("A atendente foi super educada e paciente", "positive"),
    ("Produto veio quebrado e até agora sem resposta", "negative"),
    ("Nunca mais compro nessa loja", "negative"),
    ("Tudo certo, sem problemas", "positive"),
    ("O app é confuso e trava toda hora", "negative"),
    ("Recomendo a todos, experiência excelente", "positive"),
    ("Fiquei esperando 40 minutos na fila, um absurdo", "negative"),
    ("O vendedor foi atencioso mas a entrega atrasou", "negative"),
    ("Preço um pouco caro, mas o produto é ótimo", "positive"),
    ("Não foi ruim", "positive"),
    ("Comprei um celular na loja do shopping", "neutral"),
    ("Muito obrigado pela ajuda, vocês são demais", "positive"),
    ("Fui mal atendido e o gerente foi grosso comigo", "negative"),
    ("O site é fácil de usar e o pagamento foi rápido", "positive"),
    ("Cobraram errado na fatura e ninguém resolve", "negative"),
    ("Pedido chegou certinho, tudo perfeito", "positive"),
    ("Infelizmente o produto deixou a desejar", "negative"),
    ("A loja estava limpa e organizada", "positive"),
    ("Liguei três vezes e desligaram na minha cara", "negative"),
    ("Não recomendo, atendimento péssimo", "negative"),
    ("Nada a declarar", "neutral"),
    # en
    ("Very good service, thank you", "positive"),
    ("Not good at all", "negative"),
    ("The agent was rude and unhelpful", "negative"),
    ("Delivery was fast and the package arrived in perfect condition", "positive"),
    ("I waited an hour on hold and nobody answered", "negative"),
    ("Great experience, I will definitely recommend you", "positive"),
    ("The app keeps crashing, really frustrating", "negative"),
    ("Not bad, the staff was friendly", "positive"),
    ("Never again, worst customer service ever", "negative"),
    ("The product is fine but shipping was slow", "negative"),
    ("The price was high but the quality is excellent", "positive"),
    ("I bought a new phone last week", "neutral"),
    ("Thanks for solving my problem so quickly", "positive"),
    ("They charged me twice and didn't refund me", "negative"),
    ("Easy to use website and helpful chat support", "positive"),
    ("My order was lost and support was useless", "negative"),
    ("I didn't like the new store layout", "negative"),
    ("The technician was professional and on time", "positive"),
    ("Terrible experience, the food was cold and late", "negative"),
    ("Everything worked smoothly, love it", "positive"),
    ("The manager ignored my complaint", "negative"),
    ("Nice people, clean store, fair prices", "positive"),
    ("The call got disconnected twice, very annoying", "negative"),
    ("I asked about my invoice", "neutral"),
]


def predicted(text: str) -> str:
    return sentiment.label(sentiment.score(text))


def test_the_labelled_set_is_large_and_balanced() -> None:
    assert len(LABELLED) >= 40
    pt = [t for t, _ in LABELLED[:26]]
    en = [t for t, _ in LABELLED[26:]]
    assert all(sentiment.detect_language(t) == "pt-BR" for t in pt)
    assert all(sentiment.detect_language(t) == "en" for t in en)


def test_accuracy_on_the_labelled_set_is_at_least_85_percent() -> None:
    wrong = [(t, want, predicted(t)) for t, want in LABELLED if predicted(t) != want]
    accuracy = 1 - len(wrong) / len(LABELLED)
    assert accuracy >= 0.85, f"accuracy {accuracy:.2f}; wrong: {wrong}"


@pytest.mark.parametrize(
    ("text", "lang", "sign"),
    [
        ("não gostei", "pt-BR", -1),
        ("gostei", "pt-BR", 1),
        ("muito bom", "pt-BR", 1),
        ("péssimo atendimento", "pt-BR", -1),
        ("pessimo atendimento", "pt-BR", -1),
        ("not good", "en", -1),
        ("good", "en", 1),
        ("never helpful", "en", -1),
        ("not bad", "en", 1),
        ("sem problemas", "pt-BR", 1),
    ],
)
def test_rules_give_the_expected_sign(text: str, lang: str, sign: int) -> None:
    value = sentiment.score(text, lang)
    assert value * sign > 0.1


def test_intensifiers_and_accents() -> None:
    assert sentiment.score("muito bom", "pt-BR") > sentiment.score("bom", "pt-BR") > 0
    assert sentiment.score("very bad", "en") < sentiment.score("bad", "en") < 0
    assert sentiment.score("PÉSSIMO", "pt-BR") == sentiment.score("pessimo", "pt-BR")
    assert sentiment.score("ótimas", "pt-BR") == sentiment.score("ótimo", "pt-BR")
    assert sentiment.score("bom demais", "pt-BR") > sentiment.score("bom", "pt-BR")
    assert sentiment.score("um pouco caro", "pt-BR") > sentiment.score("caro", "pt-BR")


def test_one_strong_word_squashes_to_a_known_value() -> None:
    # 3 / sqrt(9 + 15): the normalisation is what the module documents.
    assert sentiment.score("excelente", "pt-BR") == pytest.approx(3 / 24**0.5)
    assert sentiment.score("bad", "en") == pytest.approx(-2 / 19**0.5)


def test_contrast_weighs_the_last_clause() -> None:
    # before "but": 0.5 * 1 (fine); after: 1.5 * -2 (slow) -> -2.5
    assert sentiment.score("fine but slow", "en") == pytest.approx(-2.5 / (2.5**2 + 15) ** 0.5)


def test_emoji() -> None:
    assert sentiment.score("😡", "pt-BR") < -0.5
    assert sentiment.score("obrigado ☺", "pt-BR") > 0.3


def test_empty_and_neutral_text_is_zero() -> None:
    assert sentiment.score("") == 0.0
    assert sentiment.score(None) == 0.0
    assert sentiment.score("   ") == 0.0
    assert sentiment.score("comprei ontem na loja", "pt-BR") == 0.0


def test_language_detection() -> None:
    assert sentiment.detect_language("o atendimento foi rápido") == "pt-BR"
    assert sentiment.detect_language("the service was quick") == "en"
    assert sentiment.detect_language("ação") == "pt-BR"


def test_unknown_language_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="sentiment language 'fr': use en or pt-BR"):
        sentiment.score("bon", "fr")


@given(st.text(max_size=200), st.sampled_from([None, "en", "pt-BR"]))
def test_score_is_always_in_range(text: str, lang: str | None) -> None:
    value = sentiment.score(text, lang)
    assert -1.0 <= value <= 1.0


def test_comment_sentiment_reads_scores_at_query_time(store: Store) -> None:
    result = ingest_records(
        store,
        [
            {"customer_id": "c1", "touchpoint": "website", "ts": "2026-01-01T10:00:00Z"},
            {
                "customer_id": "c1",
                "touchpoint": "website",
                "ts": "2026-01-01T11:00:00Z",
                "action": "feedback",
                "comment": "Péssimo atendimento",
                "emotion": 1,
            },
            {
                "customer_id": "c2",
                "touchpoint": "website",
                "ts": "2026-01-02T11:00:00Z",
                "action": "feedback",
                "comment": "Great service, thank you",
            },
            {
                "customer_id": "c3",
                "touchpoint": "phone",
                "ts": "2026-01-03T11:00:00Z",
                "action": "feedback",
                "comment": "ok",
            },
        ],
        "test",
    )
    assert result.stored == 4
    out = run(store, "feedback.comments")
    assert [c["customer_id"] for c in out["comments"]] == ["c3", "c2", "c1"]
    by_customer = {c["customer_id"]: c for c in out["comments"]}
    assert by_customer["c1"]["label"] == "negative"
    assert by_customer["c1"]["lang"] == "pt-BR"
    assert by_customer["c2"]["label"] == "positive"
    assert by_customer["c2"]["lang"] == "en"
    assert out["summary"]["comments"] == 3
    assert out["summary"]["negative"] == 1
    assert out["summary"]["positive"] == 2  # "ok" is mildly positive
    assert [g["touchpoint"] for g in out["by_touchpoint"]] == ["phone", "website"]
    assert out["by_touchpoint"][1]["comments"] == 2
    # The customer's own emotion is untouched by the comment's score.
    rows = store.query("SELECT emotion FROM events WHERE comment LIKE 'P%'")
    assert rows == [{"emotion": 1}]


def test_a_comment_belongs_to_the_touchpoint_of_the_contact_it_rates(store: Store) -> None:
    """A survey answer rating a WhatsApp contact is WhatsApp's comment (its own touchpoint
    is the survey's), for the touchpoint, channel and kind filters alike."""
    ingest_records(
        store,
        [
            {"event_id": "w1", "customer_id": "c1", "touchpoint": "whatsapp",
             "ts": "2026-01-01T10:00:00Z", "abandoned": False},
            {"event_id": "s1", "customer_id": "c1", "touchpoint": "nps_survey",
             "ts": "2026-01-02T10:00:00Z", "action": "feedback", "nps": 2,
             "comment": "Demorou demais", "ref_event_id": "w1"},
            {"event_id": "s2", "customer_id": "c2", "touchpoint": "nps_survey",
             "ts": "2026-01-02T11:00:00Z", "action": "feedback", "nps": 9, "comment": "Ótimo"},
        ],
        "rated",
    )  # fmt: skip
    whatsapp = run(store, "feedback.comments", touchpoint=["whatsapp"])
    assert [(c["event_id"], c["touchpoint"]) for c in whatsapp["comments"]] == [("s1", "whatsapp")]
    assert [c["event_id"] for c in run(store, "feedback.comments", channel=["messaging"])["comments"]] == ["s1"]  # fmt: skip
    survey = run(store, "feedback.comments", touchpoint=["nps_survey"])["comments"]
    assert [c["event_id"] for c in survey] == ["s2"]  # not rating any contact: its own
    everything = run(store, "feedback.comments")
    assert {t["touchpoint"] for t in everything["by_touchpoint"]} == {"whatsapp", "nps_survey"}


def test_each_comment_text_is_scored_once_however_often_it_is_asked_for(store: Store) -> None:
    """The warmer asks for the comments after every ingestion: a text already read is not
    scored again, and a kept reading is what scoring it would give."""
    texts = ["Péssimo atendimento", "Great service, thank you", "Péssimo atendimento", "ok"]
    ingest_records(
        store,
        [
            {
                "customer_id": f"c{i}",
                "touchpoint": "website",
                "ts": f"2026-01-0{i + 1}T11:00:00Z",
                "action": "feedback",
                "comment": text,
            }
            for i, text in enumerate(texts)
        ],
        "test",
    )
    sentiment.read.cache_clear()
    first = run(store, "feedback.comments")
    assert sentiment.read.cache_info().misses == 3  # three distinct texts
    second = run(store, "feedback.comments")
    assert second == first
    assert sentiment.read.cache_info().misses == 3
    for c in first["comments"]:
        assert (c["lang"], c["sentiment"]) == (
            sentiment.detect_language(c["comment"]),
            sentiment.score(c["comment"], sentiment.detect_language(c["comment"])),
        )
