"""Chatwoot (open-source help desk) webhooks -> one service contact per resolved conversation.

A chat is not one moment: it opens, the customer writes, an agent answers, someone
resolves it. Webhooks arrive one by one, so the connector folds them into a small state
per conversation (kept by the route in the `connector_state` table) and emits **one
contact event when the conversation is resolved**:

- `ts` = when the conversation (or its reopening) began; `touchpoint` from the inbox;
- `wait_seconds` = first customer message -> first public reply by a person (0 when the
  company wrote first). A bot's reply (an agent bot, Captain) is not the people's first
  reply: when a bot held the conversation (`pending`) and handed it over by opening it,
  the people's wait runs from that hand-off to their first reply (Chatwoot's own reports
  were fixed the same way);
- `handle_seconds` = first reply -> resolution;
- answered: `abandoned=false`, `resolved=true`; resolved without any reply to a customer
  message: `abandoned=true`, `resolved=false`, `wait_seconds` = how long they waited (from
  the hand-off, when a bot handed over and no person answered);
- a conversation a bot answered and nobody handed over is the bot's contact: `agent =
  "bot"`, `wait_seconds` = the bot's first response, kept apart from the people's by
  `kpis --by agent` (as the 24/7 attendant records its own);
- `agent` = the assignee at resolution, else the person who replied first;
- `event_id` = `chatwoot:<account>:<conversation>:contact:<n>` where n counts resolutions,
  so a reopened and resolved-again conversation is a second contact and a repeated
  webhook is a duplicate.

Messages are folded into the state, not stored as events: a chat of 40 messages is one
contact, and message texts are never stored. Private notes, activity and template messages
are not replies. Events this connector does not use (`contact_created`, `message_updated`,
typing, ...) are unmapped and quarantined, so subscribe the webhook to
`conversation_created`, `conversation_status_changed`, `conversation_updated` and
`message_created` only.

Chatwoot ≥ 4 signs deliveries when the webhook has a secret: `X-Chatwoot-Signature:
sha256=<hex HMAC-SHA256(secret, "<X-Chatwoot-Timestamp>.<raw body>")>`. Older versions send
nothing; for them a separate token (never the HMAC key) goes in the `X-Touchpoints-Token`
header, configured to send it as a custom header.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from touchpoints.connectors.common import (
    Translation,
    event_id,
    from_any_time,
    hmac_hex,
    iso,
    same,
    seconds_between,
    text_or_none,
)

CONNECTOR = "chatwoot"
SIGNATURE_HEADER = "X-Chatwoot-Signature"
TIMESTAMP_HEADER = "X-Chatwoot-Timestamp"
TOKEN_HEADER = "X-Touchpoints-Token"
CONVERSATION_EVENTS = {
    "conversation_created",
    "conversation_status_changed",
    "conversation_updated",
}
# Chatwoot's inbox channel types -> default catalog touchpoints.
CHANNEL_TOUCHPOINTS = {
    "Channel::WebWidget": "chat",
    "Channel::Whatsapp": "whatsapp",
    "Channel::Email": "email",
    "Channel::FacebookPage": "social",
    "Channel::Instagram": "social",
    "Channel::TwitterProfile": "social",
    "Channel::Sms": "sms",
    "Channel::TwilioSms": "sms",
}
MESSAGE_TYPES = {0: "incoming", 1: "outgoing", 2: "activity", 3: "template"}
# Who wrote an outgoing message: `sender.type` in webhooks (push data), `sender_type` (the
# model's class) in the API's messages.
PERSON_SENDERS = {"user"}
BOT_SENDERS = {"agent_bot", "agentbot", "captain_assistant", "captain::assistant"}
BOT = "bot"


def signature_valid(secret: str, body: bytes, timestamp: str | None, header: str | None) -> bool:
    """Chatwoot's signed deliveries: HMAC-SHA256 over `"{timestamp}.{body}"`."""
    if not timestamp:
        return False
    expected = "sha256=" + hmac_hex(secret, timestamp.encode("utf-8") + b"." + body)
    return same(expected, (header or "").strip())


def token_valid(secret: str, token: str | None) -> bool:
    """The shared-token fallback for Chatwoot versions that do not sign."""
    return same(secret, token)


@dataclass(frozen=True)
class Ref:
    """Which conversation a payload is about, and what it says about its inbox/contact."""

    key: str
    account: str
    conversation: str


def conversation_of(payload: Any) -> tuple[Ref | None, dict[str, Any] | None, str]:
    """The conversation object a payload is about (the payload itself for conversation
    events, `payload.conversation` for messages), or a reason why there is none."""
    if not isinstance(payload, dict):
        return None, None, "payload is not a JSON object"
    event = payload.get("event")
    if not isinstance(event, str):
        return None, None, f"event {event!r} is not mapped"
    if event in CONVERSATION_EVENTS:
        conv = payload
    elif event == "message_created":
        conv = payload.get("conversation")
        if not isinstance(conv, dict):
            return None, None, "message_created without a conversation object"
    else:
        return None, None, f"event {event!r} is not mapped"
    number = text_or_none(conv.get("id")) or text_or_none(conv.get("display_id"))
    if number is None:
        return None, None, f"{event} without a conversation id"
    account = payload.get("account")
    account_id = (
        text_or_none(conv.get("account_id"))
        or text_or_none(payload.get("account_id"))
        or (text_or_none(account.get("id")) if isinstance(account, dict) else None)
        or "-"
    )
    return Ref(f"{account_id}:{number}", account_id, number), conv, ""


def new_state() -> dict[str, Any]:
    return {
        "customer_id": None,
        "inbox_id": None,
        "inbox_name": None,
        "channel": None,
        "assignee": None,
        "status": None,
        "start": None,
        "first_in": None,
        "first_reply": None,
        "replier": None,
        "bot_reply": None,
        "handoff": None,
        "contacts": 0,
    }


def translate(
    payload: Any, state: dict[str, Any] | None, inbox_map: dict[str, str] | None = None
) -> tuple[Translation, dict[str, Any] | None]:
    """One webhook + the conversation's state -> (events and unmapped parts, new state).

    Returns state None when the payload is not about a conversation (nothing to save).
    Pure: the same payload on the same state gives the same result, so a retried webhook
    changes nothing.
    """
    out = Translation()
    ref, conv, reason = conversation_of(payload)
    if ref is None or conv is None:
        out.skip(payload, reason)
        return out, None
    st = {**new_state(), **(state or {})}
    _learn(st, payload, conv)
    aliases = contact_aliases(_contact(payload, conv))
    if aliases:
        out.aliases.append(aliases)
    event = payload["event"]
    if event == "message_created":
        _message(st, payload, out)
        return out, st
    status = conv.get("status")
    if not isinstance(status, str):
        out.skip(payload, f"{event} without a status")
        return out, st
    at = from_any_time(conv.get("updated_at")) or from_any_time(conv.get("timestamp"))
    previous = st["status"]
    st["status"] = status
    if status == "resolved" and previous != "resolved":
        _resolve(st, ref, at, payload, out, inbox_map or {})
    elif status != "resolved" and previous == "resolved":
        # Reopened: a new contact starts now; replies of the old one do not count.
        st.update(
            start=iso(at) if at else st["start"],
            first_in=None,
            first_reply=None,
            replier=None,
            bot_reply=None,
            handoff=None,
        )
    elif status == "open" and previous == "pending" and st["handoff"] is None and at:
        # The bot handed the conversation to the people (an agent bot opens it).
        st["handoff"] = iso(at)
    return out, st


def _contact(payload: dict[str, Any], conv: dict[str, Any]) -> dict[str, Any] | None:
    """The conversation's contact, wherever this payload carries it."""
    meta = conv.get("meta") if isinstance(conv.get("meta"), dict) else {}
    contact = meta.get("sender") if isinstance(meta.get("sender"), dict) else None
    if contact is None and isinstance(payload.get("contact"), dict):
        contact = payload["contact"]
    sender = payload.get("sender")
    if contact is None and isinstance(sender, dict) and sender.get("type") == "contact":
        contact = sender
    return contact


def contact_aliases(contact: dict[str, Any] | None) -> list[str]:
    """Every id Chatwoot knows the contact by — the one events use first — when there are
    several: they are one person across channels (WhatsApp by phone, e-mail by address)."""
    if contact is None:
        return []
    first = customer_id(contact)
    ids = [text_or_none(contact.get(k)) for k in ("identifier", "phone_number", "email")]
    number = text_or_none(contact.get("id"))
    ids.append(f"chatwoot-contact:{number}" if number else None)
    found = list(dict.fromkeys(i for i in [first, *ids] if i))
    return found if len(found) > 1 else []


def _learn(st: dict[str, Any], payload: dict[str, Any], conv: dict[str, Any]) -> None:
    """Fill what the payload tells about the conversation (latest assignee wins)."""
    meta = conv.get("meta") if isinstance(conv.get("meta"), dict) else {}
    contact = _contact(payload, conv)
    if contact is not None and st["customer_id"] is None:
        st["customer_id"] = customer_id(contact)
    inbox = payload.get("inbox") if isinstance(payload.get("inbox"), dict) else {}
    st["inbox_id"] = (
        text_or_none(conv.get("inbox_id")) or text_or_none(inbox.get("id")) or st["inbox_id"]
    )
    st["inbox_name"] = text_or_none(inbox.get("name")) or st["inbox_name"]
    st["channel"] = text_or_none(conv.get("channel")) or st["channel"]
    assignee = meta.get("assignee")
    if isinstance(assignee, dict) and text_or_none(assignee.get("name")):
        st["assignee"] = text_or_none(assignee.get("name"))
    if st["start"] is None:
        created = from_any_time(conv.get("created_at"))
        if created is None and payload.get("event") == "message_created":
            created = from_any_time(payload.get("created_at"))
        st["start"] = iso(created) if created else None


def customer_id(contact: dict[str, Any]) -> str | None:
    """The company's own id when Chatwoot has one (`identifier`), else the phone or e-mail
    (so the same person joins their WhatsApp or phone events), else Chatwoot's contact id."""
    for key in ("identifier", "phone_number", "email"):
        value = text_or_none(contact.get(key))
        if value:
            return value
    number = text_or_none(contact.get("id"))
    return f"chatwoot-contact:{number}" if number else None


def _message(st: dict[str, Any], payload: dict[str, Any], out: Translation) -> None:
    kind = payload.get("message_type")
    if isinstance(kind, int) and not isinstance(kind, bool):
        kind = MESSAGE_TYPES.get(kind, kind)
    at = from_any_time(payload.get("created_at"))
    if kind not in ("incoming", "outgoing", "activity", "template"):
        out.skip(payload, f"message_type {kind!r} is not mapped")
        return
    if at is None:
        out.skip(payload, "message without a valid created_at")
        return
    if kind == "incoming" and st["first_in"] is None:
        st["first_in"] = iso(at)
    if kind != "outgoing" or payload.get("private"):
        return
    sender = payload.get("sender") if isinstance(payload.get("sender"), dict) else {}
    who = {str(sender.get("type", "")).lower(), str(payload.get("sender_type") or "").lower()}
    if who & BOT_SENDERS:
        if st["bot_reply"] is None:
            st["bot_reply"] = iso(at)
    elif who & PERSON_SENDERS and st["first_reply"] is None:
        st["first_reply"] = iso(at)
        st["replier"] = text_or_none(sender.get("name"))


def touchpoint_for(st: dict[str, Any], inbox_map: dict[str, str]) -> str | None:
    """Inbox name, then inbox id, then channel type in the configured map; then defaults."""
    for key in (st["inbox_name"], st["inbox_id"], st["channel"]):
        if key is not None and key in inbox_map:
            return inbox_map[key]
    return CHANNEL_TOUCHPOINTS.get(st["channel"] or "")


def _resolve(
    st: dict[str, Any],
    ref: Ref,
    at: datetime | None,
    payload: dict[str, Any],
    out: Translation,
    inbox_map: dict[str, str],
) -> None:
    first_in, first_reply = _dt(st["first_in"]), _dt(st["first_reply"])
    bot_reply, handoff = _dt(st.get("bot_reply")), _dt(st.get("handoff"))
    start = _dt(st["start"]) or first_in or first_reply or bot_reply
    if first_in is None and first_reply is None and bot_reply is None:
        out.skip(payload, "resolved without any customer message or reply: not a contact")
        return
    # The people's wait starts at the bot's hand-off when there was one.
    waiting_since = handoff if handoff is not None else first_in
    bot_only = first_reply is None and handoff is None and bot_reply is not None
    touchpoint = touchpoint_for(st, inbox_map)
    st["contacts"] += 1
    contact: dict[str, Any] = {
        "event_id": event_id(CONNECTOR, ref.account, ref.conversation, "contact", st["contacts"]),
        "customer_id": st["customer_id"],
        "touchpoint": touchpoint,
        "ts": iso(start) if start else None,
        "action": "interaction",
    }
    if first_reply is not None:
        waited_from = (
            waiting_since
            if waiting_since is not None and waiting_since <= first_reply
            else first_reply
        )
        contact.update(
            wait_seconds=seconds_between(waited_from, first_reply),
            handle_seconds=seconds_between(first_reply, at),
            abandoned=False,
            resolved=True,
        )
    elif bot_only:
        assert bot_reply is not None
        waited_from = first_in if first_in is not None and first_in <= bot_reply else bot_reply
        contact.update(
            wait_seconds=seconds_between(waited_from, bot_reply),
            handle_seconds=seconds_between(bot_reply, at),
            abandoned=False,
            resolved=True,
        )
    else:
        contact.update(
            wait_seconds=seconds_between(waiting_since, at), abandoned=True, resolved=False
        )
    agent = BOT if bot_only else st["assignee"] or st["replier"]
    if agent:
        contact["agent"] = agent
    contact = {k: v for k, v in contact.items() if v is not None}
    missing = [k for k in ("customer_id", "touchpoint", "ts") if k not in contact]
    if missing:
        where = f"inbox {st['inbox_name'] or st['inbox_id']!r}, channel {st['channel']!r}"
        hint = (
            f" ({where} has no touchpoint: add it to TOUCHPOINTS_CHATWOOT_INBOX_MAP)"
            if "touchpoint" in missing
            else ""
        )
        out.skip(contact, f"contact without {', '.join(missing)}{hint}")
        return
    out.events.append(contact)


def _dt(text: str | None) -> datetime | None:
    return from_any_time(text) if text else None
