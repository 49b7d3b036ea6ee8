"""WhatsApp Business Cloud API webhooks -> events at the `whatsapp` touchpoint.

Meta signs every notification with `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of
the raw body under the app secret; the route checks it before parsing anything.

Mapping (one event per message and per status, ids from Meta's `wamid`):
- an incoming message (`value.messages[]`) -> `action=interaction`, customer = `from`
  (the wa_id), ts = its unix `timestamp`. The text, caption, media ids and the profile
  name are NOT stored: a message is not feedback, and keeping chat content would turn the
  events table into a message archive with personal data the analyses never use.
- a status of a message the business sent (`value.statuses[]`) -> `message_sent`,
  `message_delivered`, `message_read` or `message_failed`, customer = `recipient_id`.
  Meta's error codes of a failed message are not an event column; the event says failed.
- anything else (other `field`s such as template status updates, `system` messages, a
  status Meta adds later, entries without ids or times, webhook-level `errors`) is unmapped,
  kept raw for quarantine with the reason.
"""

from __future__ import annotations

from typing import Any

from touchpoints.connectors.common import (
    Translation,
    event_id,
    from_epoch,
    hmac_hex,
    iso,
    same,
    text_or_none,
)

TOUCHPOINT = "whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
STATUS_ACTIONS = {
    "sent": "message_sent",
    "delivered": "message_delivered",
    "read": "message_read",
    "failed": "message_failed",
}
# Message types a customer sends in a conversation (Meta's documented `type` values).
MESSAGE_TYPES = {
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
    "unknown",
    "unsupported",
}


def signature_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature-256` is `sha256=` + hex HMAC-SHA256(app secret, raw body)."""
    return same("sha256=" + hmac_hex(app_secret, body), (header or "").strip().lower())


def translate(payload: Any) -> Translation:
    """One notification body (already JSON-decoded) -> events and unmapped parts."""
    out = Translation()
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        out.skip(
            payload,
            "not a WhatsApp Business Account notification (object must be 'whatsapp_business_account')",
        )
        return out
    entries = payload.get("entry")
    if not isinstance(entries, list) or not entries:
        out.skip(payload, "notification without entries")
        return out
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list) or not changes:
            out.skip(entry, "entry without changes")
            continue
        for change in changes:
            out.extend(_change(change))
    return out


def _change(change: Any) -> Translation:
    out = Translation()
    if not isinstance(change, dict):
        out.skip(change, "change is not an object")
        return out
    field = change.get("field")
    value = change.get("value")
    if field != "messages":
        out.skip(change, f"field {field!r} is not mapped (only 'messages' notifications are)")
        return out
    if not isinstance(value, dict):
        out.skip(change, "messages change without a value object")
        return out
    known = {"messaging_product", "metadata", "contacts", "messages", "statuses", "errors"}
    messages, statuses = value.get("messages"), value.get("statuses")
    if messages is not None and not isinstance(messages, list):
        out.skip(messages, "value.messages is not a list")
        messages = None
    if statuses is not None and not isinstance(statuses, list):
        out.skip(statuses, "value.statuses is not a list")
        statuses = None
    for message in messages or []:
        _message(message, out)
    for status in statuses or []:
        _status(status, out)
    if value.get("errors"):
        out.skip(value["errors"], "webhook-level errors reported by Meta")
    extra = {k: v for k, v in value.items() if k not in known}
    if not messages and not statuses and not value.get("errors"):
        out.skip(change, "messages change with neither messages nor statuses")
    elif extra:
        out.skip(extra, f"fields not mapped: {', '.join(sorted(extra))}")
    return out


def _message(message: Any, out: Translation) -> None:
    if not isinstance(message, dict):
        out.skip(message, "message is not an object")
        return
    kind = message.get("type")
    kind = kind if isinstance(kind, str) else repr(kind)
    if kind == "system":
        out.skip(message, "system message (e.g. the customer changed number) is not an interaction")
        return
    if kind not in MESSAGE_TYPES:
        out.skip(message, f"message type {message.get('type')!r} is not mapped")
        return
    wamid, sender = text_or_none(message.get("id")), text_or_none(message.get("from"))
    moment = from_epoch(message.get("timestamp"))
    problem = _missing(id=wamid, **{"from": sender}, timestamp=moment)
    if problem:
        out.skip(message, f"message {problem}")
        return
    out.events.append(
        {
            "event_id": event_id(TOUCHPOINT, wamid, "received"),
            "customer_id": sender,
            "touchpoint": TOUCHPOINT,
            "ts": iso(moment),  # type: ignore[arg-type]
            "action": "interaction",
        }
    )


def _status(status: Any, out: Translation) -> None:
    if not isinstance(status, dict):
        out.skip(status, "status is not an object")
        return
    name = status.get("status")
    action = STATUS_ACTIONS.get(name) if isinstance(name, str) else None
    if action is None:
        out.skip(status, f"message status {status.get('status')!r} is not mapped")
        return
    wamid, recipient = text_or_none(status.get("id")), text_or_none(status.get("recipient_id"))
    moment = from_epoch(status.get("timestamp"))
    problem = _missing(id=wamid, recipient_id=recipient, timestamp=moment)
    if problem:
        out.skip(status, f"status {problem}")
        return
    out.events.append(
        {
            "event_id": event_id(TOUCHPOINT, wamid, name),
            "customer_id": recipient,
            "touchpoint": TOUCHPOINT,
            "ts": iso(moment),  # type: ignore[arg-type]
            "action": action,
        }
    )


def _missing(**fields: Any) -> str | None:
    bad = [name for name, value in fields.items() if value is None]
    if not bad:
        return None
    return f"without a valid {', '.join(bad)}" + (
        " (unix seconds, 2000-2100)" if "timestamp" in bad else ""
    )
