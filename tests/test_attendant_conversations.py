"""Attendant conversations in the store (both engines): ownership, idempotency per inbound
message, optimistic locking, the queue at opening time, events with agent = "bot" through
ingestion, and `attendant kpis` / `attendant missed` computed by hand on small fixtures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conftest import run
from touchpoints.attendant import conversation as conv
from touchpoints.attendant.bot import Attendant
from touchpoints.attendant.config import default_config
from touchpoints.ingest import ingest_records

# Monday 2026-11-30, 10:00 in São Paulo (open) and 06:00 (closed).
OPEN = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
CLOSED = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def bot() -> Attendant:
    return Attendant(default_config())


def message(n: int, text: str, at: datetime, thread: str = "5531900000001", **kw) -> conv.Inbound:
    return conv.Inbound("whatsapp", thread, thread, f"wamid.{thread}.{n}", at, text, **kw)


@pytest.mark.operational
def test_a_conversation_is_answered_recorded_and_counted(store, bot) -> None:
    first = conv.handle(
        store, bot, message(1, "aceita pix?", OPEN), now=OPEN + timedelta(seconds=2)
    )
    assert first.reply is not None and first.reply.intent == "payment"
    assert first.conversation.owner == "bot" and first.conversation.version == 1
    assert first.events == [
        {
            "event_id": f"attendant:whatsapp:5531900000001:{int(OPEN.timestamp())}:bot",
            "customer_id": "5531900000001",
            "touchpoint": "whatsapp",
            "ts": "2026-11-30T13:00:00Z",
            "action": "interaction",
            "agent": "bot",
            "abandoned": False,
            "wait_seconds": 2.0,
        }
    ]
    again = conv.handle(store, bot, message(1, "aceita pix?", OPEN))
    assert again.duplicate and again.reply is None and again.events == []
    second = conv.handle(store, bot, message(2, "onde fica a loja?", OPEN + timedelta(minutes=1)))
    assert second.reply.intent == "stores" and second.events == []  # same conversation
    assert second.conversation.version == 2
    result = ingest_records(store, first.events, "attendant-test")
    assert result.stored == 1
    by_agent = {r["group"]: r for r in run(store, "kpis", by="agent")["rows"]}
    assert by_agent["bot"]["answered"] == 1 and by_agent["bot"]["tme_seconds"] == 2.0


@pytest.mark.operational
def test_a_person_owns_a_handed_off_conversation_and_the_bot_stays_silent(store, bot) -> None:
    conv.handle(store, bot, message(1, "qual o horário?", OPEN), now=OPEN)
    handed = conv.handle(store, bot, message(2, "quero falar com atendente, pedido 123456", OPEN))
    assert handed.handed_off and handed.conversation.owner == "person"
    assert handed.conversation.slots == {"order": "123456"}
    assert [e["action"] for e in handed.events] == ["handoff"]
    later = conv.handle(store, bot, message(3, "aceita pix?", OPEN + timedelta(minutes=5)))
    assert later.silent and later.reply is None
    statuses = store.query("SELECT message_id, status FROM attendant_messages ORDER BY message_id")
    assert [r["status"] for r in statuses] == ["replied", "replied", "silent"]
    note = conv.summary_note(later.conversation)
    assert "pediu uma pessoa" in note and "order: 123456" in note and "aceita pix?" in note


@pytest.mark.operational
def test_a_hand_off_at_night_is_queued_then_given_to_people_at_opening(store, bot) -> None:
    night = conv.handle(store, bot, message(1, "atendente", CLOSED), now=CLOSED)
    assert night.reply.queued and night.conversation.owner == "queued"
    assert conv.release_queue(store, bot, CLOSED + timedelta(minutes=1)) == 0
    assert conv.release_queue(store, bot, OPEN) == 1
    assert conv.current(store, "whatsapp", "5531900000001").owner == "person"


@pytest.mark.operational
def test_two_misses_hand_off(store, bot) -> None:
    one = conv.handle(store, bot, message(1, "preciso de uma coisa sobre o pneu", OPEN))
    assert one.reply.kind == "clarify" and one.conversation.misses == 1
    two = conv.handle(store, bot, message(2, "aquela coisa la sabe", OPEN + timedelta(seconds=30)))
    assert two.handed_off and two.conversation.handoff_reason == "not_understood"


@pytest.mark.operational
def test_a_stale_write_is_refused_and_handle_retries(store, bot) -> None:
    conv.handle(store, bot, message(1, "oi", OPEN))
    mine = conv.current(store, "whatsapp", "5531900000001")
    theirs = conv.current(store, "whatsapp", "5531900000001")
    theirs.misses = 7
    conv.save(store, theirs)
    mine.misses = 1
    with pytest.raises(conv.StaleConversation):
        conv.save(store, mine)
    assert conv.current(store, "whatsapp", "5531900000001").misses == 7


@pytest.mark.operational
def test_a_new_conversation_inserted_twice_is_stale_and_a_message_claimed_once(store, bot) -> None:
    """The look-up-then-insert of DuckDB (one writer) and PostgreSQL's upsert agree."""
    inbound = message(1, "oi", OPEN)
    first = conv._new(inbound)
    second = conv._new(inbound)
    conv.save(store, first)
    with pytest.raises(conv.StaleConversation):
        conv.save(store, second)
    assert first.version == 1 and store.count("attendant_conversations") == 1
    assert conv.claim(store, inbound) is True
    assert conv.claim(store, inbound) is False
    row = store.query("SELECT message_id, text, status, attempts FROM attendant_messages")
    assert row == [
        {"message_id": inbound.message_id, "text": "oi", "status": "received", "attempts": 0}
    ]


@pytest.mark.operational
def test_after_24_hours_a_new_conversation_starts(store, bot) -> None:
    first = conv.handle(store, bot, message(1, "oi", OPEN))
    later = conv.handle(store, bot, message(2, "oi", OPEN + timedelta(hours=25)))
    assert later.conversation.conversation_id != first.conversation.conversation_id
    assert len(later.events) == 1


@pytest.mark.operational
def test_attendant_kpis_by_hand(store, bot) -> None:
    """Four conversations: two contained (CSAT 5 and 2), one handed off by ask (a person
    replied 90 s after the hand-off, CSAT 4), one queued at night by anger."""
    a = conv.handle(
        store, bot, message(1, "aceita pix?", OPEN, "a"), now=OPEN + timedelta(seconds=1)
    )
    b = conv.handle(
        store, bot, message(1, "onde fica a loja?", OPEN, "b"), now=OPEN + timedelta(seconds=3)
    )
    c = conv.handle(
        store,
        bot,
        message(1, "quero falar com atendente", OPEN, "c"),
        now=OPEN + timedelta(seconds=2),
    )
    d = conv.handle(
        store,
        bot,
        message(1, "ABSURDO, VOU NO PROCON", CLOSED, "d"),
        now=CLOSED + timedelta(seconds=6),
    )
    assert (d.reply.reason, d.reply.queued) == ("anger", True)
    conv.person_took_over(store, "whatsapp", "c", OPEN + timedelta(seconds=90))
    conv.resolve(store, "whatsapp", "a", OPEN + timedelta(minutes=3))
    for thread, score in (("a", 5), ("b", 2), ("c", 4)):
        row = conv.current(store, "whatsapp", thread)
        row.csat = score
        conv.save(store, row)
    result = run(store, "attendant.kpis")
    assert result == {
        "conversations": 4,
        "contained": 2,
        "containment_rate": 0.5,
        "handoffs": 2,
        "handoff_rate": 0.5,
        "queued": 1,
        "resolved": 1,
        "first_response_seconds": 3.0,
        "handoff_wait_seconds": 90.0,
        "csat_bot": 50.0,
        "csat_people": 100.0,
        "reasons": [{"reason": "anger", "count": 1}, {"reason": "asked", "count": 1}],
    }
    assert all(x.events for x in (a, b, c, d))
    night_only = run(store, "attendant.kpis", date_to="2026-11-30T10:00:00Z")
    assert night_only["conversations"] == 1 and night_only["handoffs"] == 1


def test_attendant_kpis_of_nothing(store) -> None:
    result = run(store, "attendant.kpis")
    assert result["conversations"] == 0 and result["containment_rate"] is None
    assert run(store, "attendant.missed")["rows"] == []


@pytest.mark.operational
def test_missed_lists_the_phrases_to_learn_from(store, bot) -> None:
    conv.handle(store, bot, message(1, "preciso de uma coisa sobre o pneu", OPEN, "x"))
    conv.handle(store, bot, message(1, "preciso de uma coisa sobre o pneu", OPEN, "y"))
    conv.handle(store, bot, message(1, "aceita pix?", OPEN, "z"))
    rows = run(store, "attendant.missed")["rows"]
    assert [(r["text"], r["count"]) for r in rows] == [("preciso de uma coisa sobre o pneu", 2)]


@pytest.mark.operational
def test_csat_is_asked_with_buttons_on_closing_and_recorded(store, bot) -> None:
    conv.handle(store, bot, message(1, "aceita pix?", OPEN))
    thanks = conv.handle(store, bot, message(2, "valeu, era isso", OPEN + timedelta(minutes=1)))
    assert thanks.reply.intent == "thanks"
    assert thanks.reply.choices == [("csat:5", "Bom"), ("csat:3", "Regular"), ("csat:1", "Ruim")]
    assert thanks.reply.text.endswith("Como foi este atendimento?")
    rated = conv.handle(
        store, bot, message(3, "Bom", OPEN + timedelta(minutes=2), kind="choice", choice="csat:5")
    )
    assert rated.reply.text == "Obrigado pela resposta!"
    assert rated.conversation.csat == 5 and rated.conversation.resolved_at is not None
    [event] = rated.events
    assert (event["action"], event["csat"], event["agent"]) == ("feedback", 5, "bot")
    assert event["ref_event_id"].endswith(":bot")
    assert run(store, "attendant.kpis")["csat_bot"] == 100.0
    again = conv.handle(
        store, bot, message(4, "Ruim", OPEN + timedelta(minutes=3), kind="choice", choice="csat:1")
    )
    assert again.conversation.csat == 5  # one rating per conversation


@pytest.mark.operational
def test_attendant_kpis_by_channel_and_kind_through_the_catalog(store, bot) -> None:
    """Channel and kind come from the stored catalog, as for events (ingestion stores it)."""
    store.set_catalog(store.catalog())
    conv.handle(store, bot, message(1, "aceita pix?", OPEN, "a"))
    chat = conv.Inbound("chatwoot", "2:7", "c7", "cw:1", OPEN, "oi", touchpoint="chat")
    conv.handle(store, bot, chat)
    # Both are the "messaging" channel, kind "human", in the default catalog.
    assert run(store, "attendant.kpis", channel=["messaging"])["conversations"] == 2
    assert run(store, "attendant.kpis", channel=["phone"])["conversations"] == 0
    assert run(store, "attendant.kpis", kind=["human"])["conversations"] == 2
    assert run(store, "attendant.kpis", kind=["interactive"])["conversations"] == 0
    assert run(store, "attendant.kpis", touchpoint=["chat"])["conversations"] == 1
    assert run(store, "attendant.missed", touchpoint=["whatsapp"])["rows"] == []
