"""Twilio Voice callbacks -> one phone contact per call.

Twilio reports a call in pieces: the `<Enqueue action=...>` callback when the caller leaves
the queue (`QueueResult`, `QueueTime`), and the status callback when the call ends
(`CallStatus`, `CallDuration`). Both point at `POST /webhooks/twilio`; the connector keeps
what it learnt per `CallSid` (in `connector_state`) and emits the contact at the terminal
status, event_id `twilio:<CallSid>:contact`:

- `completed` after `QueueResult=bridged` (or `redirected-from-bridged`): answered,
  `wait_seconds = QueueTime`, `handle_seconds = CallDuration - QueueTime` (so it includes
  any IVR time before the queue), `abandoned=false`;
- `completed` after any other QueueResult (`hangup`, `leave`, `queue-full`, `error`,
  `system-shutdown`, `redirected`): `abandoned=true`, `wait_seconds = QueueTime`;
- `completed` without a queue: answered, `handle_seconds = CallDuration`, wait unknown;
- `busy`, `no-answer`, `canceled`: `abandoned=true` (the customer was never served);
- `failed`: the call never connected: `action=call_failed`, not a service contact.

Progress statuses (`queued`, `initiated`, `ringing`, `in-progress`) only note when the
call began, and queue callbacks (with `QueueSid`) only note the queue: the contact is
emitted by the call's status callback, which must therefore be configured. The customer is `From` on inbound calls and `To` on outbound ones; `ts` is
the first callback's `Timestamp` (or arrival), else the end minus `CallDuration`.

Signature (`X-Twilio-Signature`): base64 HMAC-SHA1 under the auth token of the full URL
Twilio called followed by every POST parameter name+value, sorted by name.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from touchpoints.connectors.common import Translation, event_id, from_epoch, from_iso, iso, same

CONNECTOR = "twilio"
TOUCHPOINT = "phone"
SIGNATURE_HEADER = "X-Twilio-Signature"
PROGRESS = {"queued", "initiated", "ringing", "in-progress"}
TERMINAL = {"completed", "busy", "no-answer", "canceled", "failed"}
ANSWERED_QUEUE_RESULTS = {"bridged", "redirected-from-bridged"}


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's algorithm: URL + each name+value, names sorted (repeated names: each
    distinct value, sorted), HMAC-SHA1 with the auth token, base64."""
    grouped: dict[str, set[str]] = {}
    for name, value in params:
        grouped.setdefault(name, set()).add(value)
    data = url + "".join(
        name + value for name in sorted(grouped) for value in sorted(grouped[name])
    )
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def url_variants(url: str) -> list[str]:
    """The URL as given and with its default port added or removed: Twilio signs whichever
    form it called, and proxies differ in whether they show the port."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    variants = [url]
    if default is None or parts.hostname is None:
        return variants
    host = parts.hostname
    if parts.port is None:
        variants.append(urlunsplit(parts._replace(netloc=f"{_userinfo(parts)}{host}:{default}")))
    elif parts.port == default:
        variants.append(urlunsplit(parts._replace(netloc=f"{_userinfo(parts)}{host}")))
    return variants


def _userinfo(parts: Any) -> str:
    return parts.netloc.rpartition("@")[0] + "@" if "@" in parts.netloc else ""


def signature_valid(
    auth_token: str, url: str, params: list[tuple[str, str]], header: str | None
) -> bool:
    return any(same(signature(auth_token, u, params), header) for u in url_variants(url))


def translate(
    params: dict[str, str], state: dict[str, Any] | None, received_at: datetime
) -> tuple[Translation, dict[str, Any] | None]:
    """One callback's parameters + the call's state -> (events/unmapped, new state).

    State None means nothing to save (the callback named no call).
    """
    out = Translation()
    sid = (params.get("CallSid") or "").strip()
    if not sid:
        out.skip(params, "callback without CallSid")
        return out, None
    st: dict[str, Any] = {
        "start": None,
        "queue_time": None,
        "queue_result": None,
        "emitted": False,
        **(state or {}),
    }
    noted = _time(params.get("Timestamp")) or received_at
    queue_callback = bool(params.get("QueueResult") or params.get("QueueSid"))
    if st["start"] is None and params.get("CallStatus") in PROGRESS and not queue_callback:
        st["start"] = iso(noted)
    queue_time = _number(params.get("QueueTime"))
    if queue_time is not None:
        st["queue_time"] = max(queue_time, st["queue_time"] or 0.0)
    if params.get("QueueResult"):
        st["queue_result"] = params["QueueResult"]
    status = params.get("CallStatus")
    # An <Enqueue> action or queue callback only reports the queue; the call's own status
    # callback (terminal CallStatus, CallDuration) ends the contact.
    if status in PROGRESS or queue_callback:
        return out, st
    if status not in TERMINAL:
        out.skip(params, f"CallStatus {status!r} is not mapped")
        return out, st
    if st["emitted"]:
        return out, st  # a retried final callback: the contact is already out
    contact = _contact(sid, status, params, st, noted)
    if isinstance(contact, str):
        out.skip(params, contact)
    else:
        out.events.append(contact)
    st["emitted"] = True
    return out, st


def _contact(
    sid: str, status: str, params: dict[str, str], st: dict[str, Any], ended: datetime
) -> dict[str, Any] | str:
    outbound = (params.get("Direction") or "inbound").startswith("outbound")
    customer = (params.get("To") if outbound else params.get("From")) or ""
    if not customer.strip():
        return f"call without a {'To' if outbound else 'From'} number"
    duration = _number(params.get("CallDuration"))
    start = _time(st["start"]) if st["start"] else None
    if start is None:
        start = ended - timedelta(seconds=duration or 0)
    event: dict[str, Any] = {
        "event_id": event_id(CONNECTOR, sid, "contact"),
        "customer_id": customer.strip(),
        "touchpoint": TOUCHPOINT,
        "ts": iso(start),
        "action": "interaction",
    }
    wait, result = st["queue_time"], st["queue_result"]
    if status == "failed":
        event["action"] = "call_failed"
    elif status != "completed":
        event.update(abandoned=True, wait_seconds=wait)
    elif result is None or result in ANSWERED_QUEUE_RESULTS:
        handle = None if duration is None else max(0.0, duration - (wait or 0.0))
        event.update(abandoned=False, wait_seconds=wait, handle_seconds=handle)
    else:
        event.update(abandoned=True, wait_seconds=wait)
    return {k: v for k, v in event.items() if v is not None}


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value not in (None, "") else None
    except ValueError:
        return None
    return number if number is not None and 0 <= number < 10**7 else None


def _time(value: str | None) -> datetime | None:
    """Twilio's RFC 2822 `Timestamp` (or our own ISO text from state)."""
    if not value:
        return None
    parsed = from_iso(value)
    if parsed is not None:
        return parsed
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return from_epoch(moment.timestamp()) if moment.tzinfo else None
