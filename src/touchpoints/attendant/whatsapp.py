"""The attendant on WhatsApp: customer messages out of a Cloud API notification, and the
bot's replies sent back through the Cloud API's send endpoint.

`POST {api_base}/{version}/{phone_number_id}/messages` with `Authorization: Bearer
<token>`, JSON bodies as Meta documents them: a text; interactive reply buttons (at most
3, titles at most 20 characters); an interactive list (at most 10 rows, titles at most
24); a read receipt (`status: read`) carrying the typing indicator, sent just before the
reply. Free-form messages are allowed only within 24 hours
of the customer's last message; outside it, the configured template or nothing.

Meta answers a throughput or pair-rate limit with error codes 130429 / 131056 (HTTP 4xx),
and sometimes a 5xx: those are retried with exponential backoff. Anything else (a bad
token, an unknown number) fails at once. The last error is returned so the caller records
it: a reply that could not be sent is kept, never silently lost.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from touchpoints.attendant.bot import Reply
from touchpoints.attendant.config import Template
from touchpoints.attendant.conversation import Inbound
from touchpoints.connectors.common import from_epoch, text_or_none
from touchpoints.core.messages import t

RETRY_CODES = {130429, 131056, 80007}
MAX_BUTTONS = 3
MAX_ROWS = 10
BUTTON_TITLE = 20
ROW_TITLE = 24
BODY_TEXT = 4096
INTERACTIVE_BODY = 1024
WINDOW = timedelta(hours=24)
# What a customer sends that the bot cannot read: answered politely, with a person offered.
UNSUPPORTED = {
    "audio",
    "image",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "order",
    "unknown",
    "unsupported",
}


def inbound_messages(payload: Any) -> list[tuple[str, Inbound]]:
    """(phone_number_id, message) for every customer message of a notification; statuses,
    reactions and system messages are not messages to answer."""
    found: list[tuple[str, Inbound]] = []
    if not isinstance(payload, dict):
        return found
    for entry in payload.get("entry") or []:
        for change in (entry or {}).get("changes") or [] if isinstance(entry, dict) else []:
            if not isinstance(change, dict) or change.get("field") != "messages":
                continue
            value = change.get("value") or {}
            if not isinstance(value, dict):
                continue
            phone_id = text_or_none((value.get("metadata") or {}).get("phone_number_id"))
            for message in value.get("messages") or []:
                inbound = _inbound(message)
                if phone_id and inbound is not None:
                    found.append((phone_id, inbound))
    return found


def _inbound(message: Any) -> Inbound | None:
    if not isinstance(message, dict):
        return None
    wamid, sender = text_or_none(message.get("id")), text_or_none(message.get("from"))
    at = from_epoch(message.get("timestamp"))
    kind = message.get("type")
    if wamid is None or sender is None or at is None or kind in ("system", "reaction"):
        return None
    common = {
        "channel": "whatsapp",
        "thread": sender,
        "customer_id": sender,
        "message_id": wamid,
        "at": at,
    }
    if kind == "text":
        body = (message.get("text") or {}).get("body")
        return Inbound(**common, text=body if isinstance(body, str) else "")
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        picked = interactive.get("button_reply") or interactive.get("list_reply") or {}
        return Inbound(
            **common,
            text=str(picked.get("title") or ""),
            kind="choice",
            choice=text_or_none(picked.get("id")),
        )
    if kind == "button":  # a template's quick-reply button
        button = message.get("button") or {}
        return Inbound(
            **common,
            text=str(button.get("text") or ""),
            kind="choice",
            choice=text_or_none(button.get("payload")),
        )
    return Inbound(**common, text="", kind="unsupported")


def window_open(last_customer_at: datetime | None, now: datetime) -> bool:
    """Free-form messages are allowed within 24 hours of the customer's last message."""
    return last_customer_at is not None and now - last_customer_at < WINDOW


def message_body(to: str, reply: Reply) -> dict[str, Any]:
    """The Cloud API body of one reply: text, reply buttons (≤ 3) or a list (≤ 10 rows)."""
    base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    choices = reply.choices[:MAX_ROWS]
    if not choices:
        return {
            **base,
            "type": "text",
            "text": {"preview_url": False, "body": reply.text[:BODY_TEXT]},
        }
    body = {"text": reply.text[:INTERACTIVE_BODY]}
    if len(choices) <= MAX_BUTTONS:
        buttons = [
            {"type": "reply", "reply": {"id": cid, "title": title[:BUTTON_TITLE]}}
            for cid, title in choices
        ]
        return {
            **base,
            "type": "interactive",
            "interactive": {"type": "button", "body": body, "action": {"buttons": buttons}},
        }
    rows = [{"id": cid, "title": title[:ROW_TITLE]} for cid, title in choices]
    label = t(reply.lang, "attendant.options")
    return {
        **base,
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": body,
            "action": {"button": label, "sections": [{"title": label, "rows": rows}]},
        },
    }


def template_body(to: str, template: Template) -> dict[str, Any]:
    """An approved template (outside the 24-hour window)."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {"name": template.name, "language": {"code": template.language}},
    }


def read_body(message_id: str, typing: bool = False) -> dict[str, Any]:
    """Mark the customer's message as read (blue ticks); with `typing`, in the same request,
    show the customer that a reply is being typed (Meta shows it until the reply arrives,
    or for 25 seconds)."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": message_id,
    }
    if typing:
        body["typing_indicator"] = {"type": "text"}
    return body


@dataclass
class Sent:
    ok: bool
    attempts: int
    error: str | None = None
    message_id: str | None = None


Post = Callable[[str, dict[str, str], bytes, float], tuple[int, bytes]]


def urllib_post(
    url: str, headers: dict[str, str], data: bytes, timeout: float
) -> tuple[int, bytes]:
    """POST with the standard library: (status, body); an HTTP error is a status too."""
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class KeepAlive:
    """POST over kept-alive HTTP/1.1 connections, reused from one send to the next: a new
    connection to the Cloud API costs a TCP and a TLS handshake (several round trips to
    Meta) before every reply. Up to `size` idle connections are kept per host, so that
    parallel senders each reuse one. A kept connection the server has meanwhile closed is
    replaced once with a fresh one; a malformed answer is an OSError like a refused
    connection, so the caller's retries handle both."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.opened = 0  # connections opened so far (the tests count them)
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def __call__(
        self, url: str, headers: dict[str, str], data: bytes, timeout: float
    ) -> tuple[int, bytes]:
        parts = urllib.parse.urlsplit(url)
        https = parts.scheme == "https"
        key = (parts.scheme, parts.hostname or "", parts.port or (443 if https else 80))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for fresh in (False, True):
            connection, reused = self._take(key, timeout, fresh)
            try:
                connection.request("POST", path, body=data, headers=headers)
                answer = connection.getresponse()
                raw = answer.read()
            except (BrokenPipeError, ConnectionResetError):  # incl. RemoteDisconnected
                connection.close()
                if reused and not fresh:
                    continue  # the server closed the idle connection: never received
                raise
            except http.client.HTTPException as exc:
                connection.close()
                raise OSError(f"bad HTTP answer: {exc!r}") from exc
            except BaseException:
                connection.close()
                raise
            if answer.will_close:
                connection.close()
            else:
                self._give(key, connection)
            return answer.status, raw
        raise AssertionError("unreachable: the fresh connection returns or raises")

    def _take(
        self, key: tuple[str, str, int], timeout: float, fresh: bool
    ) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(key)
            if idle and not fresh:
                connection = idle.pop()
                connection.timeout = timeout
                if connection.sock is not None:
                    connection.sock.settimeout(timeout)
                return connection, True
            self.opened += 1
        scheme, host, port = key
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            return http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self._tls
            ), False
        return http.client.HTTPConnection(host, port, timeout=timeout), False

    def _give(self, key: tuple[str, str, int], connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.size:
                idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle = [c for connections in self._idle.values() for c in connections]
            self._idle.clear()
        for connection in idle:
            connection.close()


class CloudApi:
    """The send endpoint of one WhatsApp Business phone number."""

    def __init__(
        self,
        api_base: str,
        version: str,
        token: str,
        post: Post | None = None,
        attempts: int = 4,
        backoff: float = 0.25,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.version = version
        self.token = token
        self.post: Post = post if post is not None else KeepAlive()
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.sleep = sleep

    def url(self, phone_number_id: str) -> str:
        return f"{self.api_base}/{self.version}/{phone_number_id}/messages"

    def send(self, phone_number_id: str, body: dict[str, Any], attempts: int | None = None) -> Sent:
        """POST one body, retrying rate limits and server errors with backoff (`attempts`
        in all, the client's by default)."""
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        error = None
        tries = self.attempts if attempts is None else max(1, attempts)
        for attempt in range(1, tries + 1):
            try:
                status, raw = self.post(self.url(phone_number_id), headers, data, self.timeout)
            except OSError as exc:  # connection refused, timeout: worth another try
                status, raw, error = 0, b"", f"network error: {exc}"
            answer = _json(raw)
            if 200 <= status < 300:
                messages = answer.get("messages") if isinstance(answer, dict) else None
                first = messages[0] if isinstance(messages, list) and messages else {}
                return Sent(
                    True, attempt, None, first.get("id") if isinstance(first, dict) else None
                )
            code = _error_code(answer)
            if status:
                error = (
                    f"HTTP {status}"
                    + (f", error {code}" if code is not None else "")
                    + _error_message(answer)
                )
            retry = status == 0 or status >= 500 or status == 429 or code in RETRY_CODES
            if not retry or attempt == tries:
                return Sent(False, attempt, error)
            self.sleep(self.backoff * 2 ** (attempt - 1))
        return Sent(False, tries, error)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None


def _error_code(answer: Any) -> int | None:
    error = answer.get("error") if isinstance(answer, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) else None


def _error_message(answer: Any) -> str:
    error = answer.get("error") if isinstance(answer, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return f": {message}" if isinstance(message, str) and message else ""
