"""Conversations the attendant handles, kept in the store (not in process memory), so they
survive restarts and are shared by every server worker.

One row per conversation: who owns it (`bot`, `person`, or `queued` for a person outside
opening hours), the data collected (slots: order number, tyre size), how many times the
bot missed, when the customer last wrote (the WhatsApp 24-hour window), and a `version`
bumped by every write: a write that finds another version lost a race with another worker
and is done again from the fresh row (optimistic locking).

One row per inbound message, keyed by the provider's message id: a provider delivers a
webhook at least once, and the second delivery finds the id taken and gets no answer.

`handle` decides and records; it sends nothing. It returns the reply to send and the
canonical events (agent = "bot") for the caller to store through ingestion, so that
`kpis --by agent`, journeys and the dashboard count the bot like any other agent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from touchpoints.attendant.bot import Attendant, Reply
from touchpoints.core.messages import t

if TYPE_CHECKING:
    from touchpoints.store.base import Store

# WhatsApp's customer-service window, and what ends a conversation for the attendant.
WINDOW = timedelta(hours=24)
# The transcript kept for a person taking over (the latest turns).
TRANSCRIPT_TURNS = 20
MAX_TEXT = 4000
OWNERS = ("bot", "person", "queued")
# A closing answer asks for a rating; the buttons' ids carry the CSAT score (1-5).
CLOSING_INTENTS = ("thanks",)
CSAT_PREFIX = "csat:"
CSAT_BUTTONS = ((5, "good"), (3, "ok"), (1, "bad"))


class StaleConversation(Exception):
    """Another worker wrote the conversation between our read and our write."""


@dataclass
class Inbound:
    """One customer message as every channel hands it to the attendant."""

    channel: str  # whatsapp | chatwoot
    thread: str  # the customer's thread on the channel (wa_id, Chatwoot conversation id)
    customer_id: str
    message_id: str
    at: datetime
    text: str = ""
    kind: str = "text"  # text | choice | unsupported
    choice: str | None = None  # the id of a pressed button or list row
    touchpoint: str = "whatsapp"


@dataclass
class Conversation:
    conversation_id: str
    channel: str
    thread: str
    customer_id: str
    touchpoint: str
    owner: str = "bot"
    lang: str | None = None
    misses: int = 0
    state: dict[str, Any] = field(
        default_factory=lambda: {"slots": {}, "intents": [], "transcript": []}
    )
    started_at: datetime | None = None
    last_customer_at: datetime | None = None
    first_response_seconds: float | None = None
    handoff_at: datetime | None = None
    handoff_reason: str | None = None
    person_reply_at: datetime | None = None
    resolved_at: datetime | None = None
    csat: int | None = None
    optout: bool = False
    version: int = 0

    @property
    def slots(self) -> dict[str, str]:
        return self.state.setdefault("slots", {})

    @property
    def transcript(self) -> list[dict[str, str]]:
        return self.state.setdefault("transcript", [])

    def said(self, who: str, text: str, at: datetime) -> None:
        self.transcript.append({"who": who, "text": text[:MAX_TEXT], "at": _iso(at)})
        del self.transcript[:-TRANSCRIPT_TURNS]


@dataclass
class Outcome:
    """What handling one inbound message decided."""

    duplicate: bool = False
    silent: bool = False  # a person owns the conversation: the bot says nothing
    reply: Reply | None = None
    conversation: Conversation | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    handed_off: bool = False  # this message handed the conversation to a person


COLUMNS = (
    "conversation_id",
    "channel",
    "thread",
    "customer_id",
    "touchpoint",
    "owner",
    "lang",
    "misses",
    "state",
    "started_at",
    "last_customer_at",
    "first_response_seconds",
    "handoff_at",
    "handoff_reason",
    "person_reply_at",
    "resolved_at",
    "csat",
    "optout",
    "version",
)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _naive(moment: datetime | None) -> datetime | None:
    """Stored times are naive UTC, like the events'."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _aware(moment: Any) -> datetime | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _row(conversation: Conversation) -> dict[str, Any]:
    values = {name: getattr(conversation, name) for name in COLUMNS}
    values["state"] = json.dumps(conversation.state, ensure_ascii=False, sort_keys=True)
    for name in (
        "started_at",
        "last_customer_at",
        "handoff_at",
        "person_reply_at",
        "resolved_at",
    ):
        values[name] = _naive(values[name])
    return values


def _from_row(row: dict[str, Any]) -> Conversation:
    values = dict(row)
    values["state"] = json.loads(values["state"] or "{}")
    for name in ("started_at", "last_customer_at", "handoff_at", "person_reply_at", "resolved_at"):
        values[name] = _aware(values[name])
    values["misses"] = int(values["misses"] or 0)
    values["version"] = int(values["version"] or 0)
    values["optout"] = bool(values["optout"])
    return Conversation(**values)


def current(store: Store, channel: str, thread: str) -> Conversation | None:
    """The thread's latest conversation, whether or not it is still going."""
    store.refuse_operational("the attendant")
    rows = store.query(
        f"SELECT {', '.join(COLUMNS)} FROM attendant_conversations "
        "WHERE channel = $channel AND thread = $thread ORDER BY started_at DESC LIMIT 1",
        {"channel": channel, "thread": thread},
    )
    return _from_row(rows[0]) if rows else None


def get(store: Store, conversation_id: str) -> Conversation | None:
    store.refuse_operational("the attendant")
    rows = store.query(
        f"SELECT {', '.join(COLUMNS)} FROM attendant_conversations WHERE conversation_id = $id",
        {"id": conversation_id},
    )
    return _from_row(rows[0]) if rows else None


def _one_writer(store: Store) -> bool:
    """Whether every write to the store goes through one process's lock (DuckDB: one
    process writes its file, and the server serialises its threads). There, a look-up
    then a plain INSERT cannot race, and it costs a fifth of DuckDB's upsert path
    (`ON CONFLICT ... RETURNING`, measured 5 ms against 1 ms inside a transaction) — twice
    per new conversation, on the way from the webhook to the reply. PostgreSQL, shared
    by several server processes, keeps the upsert."""
    return store.engine == "duckdb"


def _insert_once(store: Store, table: str, key: str, values: dict[str, Any]) -> bool:
    """INSERT `values` unless a row with the same `key` exists; whether it was inserted."""
    names = ", ".join(values)
    marks = ", ".join(f"${n}" for n in values)
    if _one_writer(store):
        taken = store.query(f"SELECT 1 AS taken FROM {table} WHERE {key} = ${key}", values)
        if taken:
            return False
        store.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)
        return True
    inserted = store.query(
        f"INSERT INTO {table} ({names}) VALUES ({marks}) "
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}",
        values,
    )
    return bool(inserted)


def save(store: Store, conversation: Conversation) -> None:
    """Insert a new conversation or update it if nobody else did since it was read."""
    store.refuse_operational("the attendant")
    values = _row(conversation)
    if conversation.version == 0:
        values["version"] = 1
        if not _insert_once(store, "attendant_conversations", "conversation_id", values):
            raise StaleConversation(conversation.conversation_id)
        conversation.version = 1
        return
    sets = ", ".join(f"{n} = ${n}" for n in COLUMNS if n not in ("conversation_id", "version"))
    updated = store.query(
        f"UPDATE attendant_conversations SET {sets}, version = $version + 1 "
        "WHERE conversation_id = $conversation_id AND version = $version "
        "RETURNING version",
        values,
    )
    if not updated:
        raise StaleConversation(conversation.conversation_id)
    conversation.version += 1


def claim(store: Store, inbound: Inbound) -> bool:
    """Take the inbound message's id; False when it was taken before (a redelivery)."""
    return _insert_once(
        store,
        "attendant_messages",
        "message_id",
        {
            "message_id": inbound.message_id,
            "received_at": _naive(inbound.at),
            "text": inbound.text[:MAX_TEXT],
            "status": "received",
            "attempts": 0,
        },
    )


def record_message(
    store: Store,
    inbound: Inbound,
    conversation: Conversation | None,
    reply: Reply | None,
    status: str,
) -> None:
    store.execute(
        "UPDATE attendant_messages SET conversation_id = $conversation, intent = $intent, "
        "confidence = $confidence, kind = $kind, reply = $reply, status = $status "
        "WHERE message_id = $id",
        {
            "id": inbound.message_id,
            "conversation": conversation.conversation_id if conversation else None,
            "intent": reply.intent if reply else None,
            "confidence": reply.confidence if reply else None,
            "kind": (reply.kind if reply else inbound.kind),
            "reply": reply.text if reply else None,
            "status": status,
        },
    )


def record_send(
    store: Store, message_id: str, status: str, attempts: int, error: str | None
) -> None:
    """The outcome of sending the reply to one inbound message: `sent`, or `send_failed`
    with the provider's last error once the retries gave up (kept, never lost)."""
    store.execute(
        "UPDATE attendant_messages SET status = $status, attempts = $attempts, error = $error "
        "WHERE message_id = $id",
        {"id": message_id, "status": status, "attempts": attempts, "error": error},
    )


def _new(inbound: Inbound) -> Conversation:
    stamp = int(inbound.at.timestamp())
    return Conversation(
        conversation_id=f"{inbound.channel}:{inbound.thread}:{stamp}",
        channel=inbound.channel,
        thread=inbound.thread,
        customer_id=inbound.customer_id,
        touchpoint=inbound.touchpoint,
        started_at=inbound.at,
    )


def _ongoing(conversation: Conversation | None, at: datetime) -> bool:
    if conversation is None or conversation.resolved_at is not None or conversation.optout:
        return False
    last = conversation.last_customer_at or conversation.started_at
    return last is not None and at - last < WINDOW


def handle(store: Store, bot: Attendant, inbound: Inbound, now: datetime | None = None) -> Outcome:
    """Decide the reply to one inbound message and record it (idempotent per message id).

    `now` is when the reply leaves (the bot's first-response time runs from the message's
    own time to it)."""
    store.refuse_operational("the attendant")
    for _attempt in range(5):
        try:
            with store.transaction():
                return _handle(store, bot, inbound, now or datetime.now(UTC))
        except StaleConversation:
            continue
    raise StaleConversation(f"{inbound.channel}:{inbound.thread}: five concurrent writes in a row")


def _handle(store: Store, bot: Attendant, inbound: Inbound, now: datetime) -> Outcome:
    if not claim(store, inbound):
        return Outcome(duplicate=True)
    latest = current(store, inbound.channel, inbound.thread)
    if inbound.choice and inbound.choice.startswith(CSAT_PREFIX):
        return _rated(store, bot, inbound, latest, now)
    conversation = latest if _ongoing(latest, inbound.at) else _new(inbound)
    assert conversation is not None
    conversation.last_customer_at = inbound.at
    conversation.said("customer", inbound.text or f"[{inbound.kind}]", inbound.at)
    if conversation.owner == "queued" and bot.hours.is_open(inbound.at):
        conversation.owner = "person"  # people are back: the queue is theirs
    if conversation.owner != "bot":
        save(store, conversation)
        record_message(store, inbound, conversation, None, "silent")
        return Outcome(silent=True, conversation=conversation)

    if inbound.kind == "unsupported":
        reply = bot.unsupported(conversation.lang)
    else:
        reply = bot.respond(
            inbound.text,
            lang=conversation.lang if inbound.kind == "choice" else None,
            at=inbound.at,
            misses=conversation.misses,
            choice=inbound.choice,
        )
    conversation.lang = reply.lang
    conversation.slots.update(reply.entities)
    if reply.intent:
        conversation.state.setdefault("intents", []).append(reply.intent)
    if reply.kind == "clarify":
        conversation.misses += 1
        conversation.state.setdefault("missed", []).append(inbound.text[:MAX_TEXT])
    if reply.kind == "optout":
        conversation.optout = True
    events: list[dict[str, Any]] = []
    if conversation.first_response_seconds is None:
        conversation.first_response_seconds = max(0.0, (now - inbound.at).total_seconds())
        events.append(contact_event(conversation))
    handed_off = False
    if reply.handoff:
        handed_off = True
        conversation.owner = "queued" if reply.queued else "person"
        conversation.handoff_at = inbound.at
        conversation.handoff_reason = reply.reason
        events.append(handoff_event(conversation))
    if reply.kind == "answer" and reply.intent in CLOSING_INTENTS and conversation.csat is None:
        reply = ask_csat(bot, reply)
    conversation.said("bot", reply.text, now)
    save(store, conversation)
    record_message(store, inbound, conversation, reply, "replied")
    return Outcome(reply=reply, conversation=conversation, events=events, handed_off=handed_off)


def ask_csat(bot: Attendant, reply: Reply) -> Reply:
    """A closing answer ("thanks", "bye") followed by the CSAT question as three reply
    buttons: on WhatsApp one tap, no survey link to open."""
    lang = reply.lang
    reply.text = f"{reply.text}\n\n{bot.say('csat', lang)}"
    reply.choices = [
        (f"{CSAT_PREFIX}{score}", t(lang, f"attendant.csat_{name}")) for score, name in CSAT_BUTTONS
    ]
    return reply


def _rated(
    store: Store, bot: Attendant, inbound: Inbound, conversation: Conversation | None, now: datetime
) -> Outcome:
    """A CSAT button pressed: the score is kept with the conversation it rates (the
    thread's latest, even if it has ended), stored as a feedback event, and the bot thanks
    the customer; a contained conversation ends here. A second rating changes nothing."""
    lang = (conversation.lang if conversation else None) or bot.config.language
    thanks = Reply(bot.say("csat_thanks", lang), None, 1.0, kind="csat", lang=lang)
    try:
        score = int((inbound.choice or "").removeprefix(CSAT_PREFIX))
    except ValueError:
        score = 0
    recent = (
        conversation is not None
        and inbound.at - (conversation.last_customer_at or conversation.started_at or inbound.at)
        < WINDOW
    )
    if conversation is None or not recent or conversation.csat is not None or not 1 <= score <= 5:
        record_message(store, inbound, conversation, thanks, "replied")
        return Outcome(reply=thanks, conversation=conversation)
    conversation.last_customer_at = inbound.at
    conversation.csat = score
    if conversation.handoff_at is None and conversation.resolved_at is None:
        conversation.resolved_at = inbound.at
    reply = thanks
    conversation.said("bot", reply.text, now)
    save(store, conversation)
    record_message(store, inbound, conversation, reply, "replied")
    events = [csat_event(conversation, conversation.csat, inbound.at)]
    return Outcome(reply=reply, conversation=conversation, events=events)


def contact_event(conversation: Conversation) -> dict[str, Any]:
    """The bot answered: a service contact of agent "bot", waited its first-response time."""
    return {
        "event_id": f"attendant:{conversation.conversation_id}:bot",
        "customer_id": conversation.customer_id,
        "touchpoint": conversation.touchpoint,
        "ts": _iso(conversation.started_at),  # type: ignore[arg-type]
        "action": "interaction",
        "agent": "bot",
        "abandoned": False,
        "wait_seconds": conversation.first_response_seconds,
    }


def handoff_event(conversation: Conversation) -> dict[str, Any]:
    """The bot handed the conversation to a person (not a service contact of its own)."""
    return {
        "event_id": f"attendant:{conversation.conversation_id}:handoff",
        "customer_id": conversation.customer_id,
        "touchpoint": conversation.touchpoint,
        "ts": _iso(conversation.handoff_at),  # type: ignore[arg-type]
        "action": "handoff",
        "agent": "bot",
    }


def csat_event(conversation: Conversation, score: int, at: datetime) -> dict[str, Any]:
    """A CSAT answer (WhatsApp buttons) rating the conversation: the bot's when it kept
    it, the people's when it was handed off."""
    return {
        "event_id": f"attendant:{conversation.conversation_id}:csat",
        "customer_id": conversation.customer_id,
        "touchpoint": conversation.touchpoint,
        "ts": _iso(at),
        "action": "feedback",
        "agent": "bot" if conversation.handoff_at is None else "people",
        "csat": score,
        "ref_event_id": f"attendant:{conversation.conversation_id}:bot",
    }


def person_took_over(store: Store, channel: str, thread: str, at: datetime) -> Conversation | None:
    """A person replied or was assigned: the bot stays silent from now on. The first
    person's reply after a hand-off is when the people's wait (TME) ends."""
    for _attempt in range(5):
        try:
            with store.transaction():
                conversation = current(store, channel, thread)
                if conversation is None:
                    return None
                conversation.owner = "person"
                if conversation.person_reply_at is None:
                    conversation.person_reply_at = at
                save(store, conversation)
                return conversation
        except StaleConversation:
            continue
    return None


def resolve(store: Store, channel: str, thread: str, at: datetime) -> Conversation | None:
    """The conversation ended (resolved in Chatwoot, or closed by the customer's CSAT)."""
    for _attempt in range(5):
        try:
            with store.transaction():
                conversation = current(store, channel, thread)
                if conversation is None or conversation.resolved_at is not None:
                    return conversation
                conversation.resolved_at = at
                save(store, conversation)
                return conversation
        except StaleConversation:
            continue
    return None


def release_queue(store: Store, bot: Attendant, at: datetime) -> int:
    """At opening time, queued hand-offs become people's: returns how many."""
    if not bot.hours.is_open(at):
        return 0
    rows = store.query(
        "UPDATE attendant_conversations SET owner = 'person', version = version + 1 "
        "WHERE owner = 'queued' RETURNING conversation_id",
    )
    return len(rows)


def summary_note(conversation: Conversation, lang: str = "pt-BR") -> str:
    """The private note a person reads when taking over: why, what was asked, the data
    collected and the latest turns."""
    intents = ", ".join(dict.fromkeys(conversation.state.get("intents", []))) or "—"
    slots = ", ".join(f"{k}: {v}" for k, v in sorted(conversation.slots.items())) or "—"
    lines = [
        t(lang, "attendant.note_title"),
        t(
            lang,
            "attendant.note_reason",
            reason=t(lang, f"attendant.reason_{conversation.handoff_reason}"),
        ),
        t(lang, "attendant.note_intents", intents=intents),
        t(lang, "attendant.note_data", data=slots),
        t(lang, "attendant.note_transcript"),
    ]
    for turn in conversation.transcript:
        who = t(lang, f"attendant.who_{turn['who']}")
        lines.append(f"{who}: {turn['text']}")
    return "\n".join(lines)
