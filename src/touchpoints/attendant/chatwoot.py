"""The attendant as a Chatwoot agent bot.

Chatwoot posts every event of the inboxes the bot is connected to (the bot's
`outgoing_url`); a conversation the bot owns is `pending`. The bot replies through the
account API (`POST {base}/api/v1/accounts/{account}/conversations/{id}/messages`, header
`api_access_token`), offers choices as an `input_select` message (Chatwoot shows them as
buttons, or as WhatsApp interactive messages on a WhatsApp inbox), and hands off by
writing a private note — intent, collected data, transcript — and opening the
conversation (`POST .../toggle_status {"status": "open"}`), which triggers Chatwoot's own
assignment to people. Once a person writes or the conversation is open, the bot is silent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from touchpoints.attendant.bot import Reply
from touchpoints.attendant.conversation import Inbound
from touchpoints.attendant.whatsapp import KeepAlive, Post, Sent
from touchpoints.connectors.chatwoot import CHANNEL_TOUCHPOINTS
from touchpoints.connectors.common import from_any_time, text_or_none


@dataclass
class Event:
    """What one agent-bot delivery means for the attendant."""

    kind: str  # message | person | resolved | ignored
    account: str | None = None
    conversation: str | None = None
    inbound: Inbound | None = None
    at: datetime | None = None  # when it happened, by Chatwoot's clock (None: unknown)

    @property
    def thread(self) -> str:
        return f"{self.account}:{self.conversation}"


def read_event(payload: Any, inbox_map: dict[str, str] | None = None) -> Event:
    """An agent-bot delivery -> a customer message to answer, a person taking over, a
    resolution, or nothing for the bot."""
    if not isinstance(payload, dict):
        return Event("ignored")
    name = payload.get("event")
    conversation = payload.get("conversation") if name == "message_created" else payload
    conversation = conversation if isinstance(conversation, dict) else {}
    account = text_or_none(
        (payload.get("account") or {}).get("id")
        if isinstance(payload.get("account"), dict)
        else None
    )
    account = account or text_or_none(conversation.get("account_id"))
    conv_id = text_or_none(conversation.get("id"))
    if account is None or conv_id is None:
        return Event("ignored")
    if name == "conversation_status_changed" and conversation.get("status") == "resolved":
        return Event("resolved", account, conv_id)
    if name == "conversation_status_changed" and conversation.get("status") == "open":
        return Event("person", account, conv_id)
    if name != "message_created" or payload.get("private"):
        return Event("ignored", account, conv_id)
    kind = payload.get("message_type")
    sender = payload.get("sender") if isinstance(payload.get("sender"), dict) else {}
    if kind in ("outgoing", 1) and sender.get("type") == "user":
        # A person wrote: the bot steps back, and the people's wait ends here.
        return Event("person", account, conv_id, at=from_any_time(payload.get("created_at")))
    if kind not in ("incoming", 0):
        return Event("ignored", account, conv_id)
    if conversation.get("status") not in (None, "pending"):
        return Event("person", account, conv_id)  # open: people own it
    message_id = text_or_none(payload.get("id"))
    at = from_any_time(payload.get("created_at"))
    if message_id is None or at is None:
        return Event("ignored", account, conv_id)
    customer = (
        text_or_none(sender.get("identifier"))
        or text_or_none(sender.get("phone_number"))
        or f"chatwoot-contact:{sender.get('id')}"
    )
    inbox = payload.get("inbox") if isinstance(payload.get("inbox"), dict) else {}
    channel = conversation.get("channel")
    maps = inbox_map or {}
    touchpoint = (
        maps.get(str(inbox.get("name")))
        or maps.get(str(channel))
        or CHANNEL_TOUCHPOINTS.get(str(channel), "chat")
    )
    attributes = (
        payload.get("content_attributes")
        if isinstance(payload.get("content_attributes"), dict)
        else {}
    )
    submitted = attributes.get("submitted_values")
    choice = None
    if isinstance(submitted, list) and submitted and isinstance(submitted[0], dict):
        choice = text_or_none(submitted[0].get("value"))
    attachments = payload.get("attachments")
    content = payload.get("content")
    text = content if isinstance(content, str) else ""
    message_kind = "choice" if choice else ("unsupported" if attachments and not text else "text")
    inbound = Inbound(
        channel="chatwoot",
        thread=f"{account}:{conv_id}",
        customer_id=customer,
        message_id=f"chatwoot:{account}:{message_id}",
        at=at,
        text=text,
        kind=message_kind,
        choice=choice,
        touchpoint=touchpoint,
    )
    return Event("message", account, conv_id, inbound)


def reply_body(reply: Reply) -> dict[str, Any]:
    """A public reply; with choices, an `input_select` whose items are the buttons."""
    body: dict[str, Any] = {"content": reply.text, "message_type": "outgoing", "private": False}
    if reply.choices:
        body["content_type"] = "input_select"
        body["content_attributes"] = {
            "items": [{"title": title, "value": cid} for cid, title in reply.choices]
        }
    return body


def note_body(note: str) -> dict[str, Any]:
    """A private note for the person taking over (customers never see it)."""
    return {"content": note, "message_type": "outgoing", "private": True}


class ChatwootApi:
    """Chatwoot's account API with the agent bot's access token."""

    def __init__(
        self, base: str, token: str, post: Post | None = None, timeout: float = 10.0
    ) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.post: Post = post if post is not None else KeepAlive()
        self.timeout = timeout

    def _post(self, path: str, body: dict[str, Any]) -> Sent:
        headers = {"api_access_token": self.token, "Content-Type": "application/json"}
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            status, raw = self.post(self.base + path, headers, data, self.timeout)
        except OSError as exc:
            return Sent(False, 1, f"network error: {exc}")
        if 200 <= status < 300:
            return Sent(True, 1)
        return Sent(False, 1, f"HTTP {status}: {raw[:200].decode('utf-8', 'replace')}")

    def conversation_path(self, account: str, conversation: str) -> str:
        return f"/api/v1/accounts/{account}/conversations/{conversation}"

    def message(self, account: str, conversation: str, body: dict[str, Any]) -> Sent:
        return self._post(self.conversation_path(account, conversation) + "/messages", body)

    def open(self, account: str, conversation: str) -> Sent:
        """Hand off: the conversation leaves `pending`, and Chatwoot assigns it to people."""
        return self._post(
            self.conversation_path(account, conversation) + "/toggle_status", {"status": "open"}
        )
