"""The 24/7 attendant in `touchpoints serve` (SPEC §7), when `TOUCHPOINTS_ATTENDANT` is set.

- WhatsApp: the `/webhooks/whatsapp` route stores its events as always, then hands the
  notification here. Each customer message is decided and recorded in the store *before*
  the webhook is answered (so a redelivery finds its id taken and gets no second answer);
  the reply leaves at once, through the Cloud API, with retries — and its outcome, sent
  or failed with the last error, is recorded either way. The webhook's events are stored
  once the replies are leaving (storing them competes with the send), then it is
  answered.
- Chatwoot: `POST /webhooks/chatwoot-bot` is the agent bot's `outgoing_url`. It answers
  customers in pending conversations, steps back when a person writes or the
  conversation is opened, and hands off with a private note and `toggle_status: open`.

The bot's events (agent = "bot") are stored through ingestion like any connector's.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from touchpoints.attendant import conversation as conv
from touchpoints.attendant.bot import Attendant
from touchpoints.attendant.chatwoot import ChatwootApi, note_body, read_event, reply_body
from touchpoints.attendant.config import load_config
from touchpoints.attendant.whatsapp import (
    CloudApi,
    message_body,
    read_body,
    template_body,
    window_open,
)
from touchpoints.attendant.whatsapp import inbound_messages as whatsapp_messages
from touchpoints.server.service import Service

log = logging.getLogger("touchpoints.attendant")
# The replies' senders: threads of their own, so a slow Cloud API never takes the threads
# that decide and store.
_SENDERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="attendant-send")
# Seconds the webhook's events wait for its replies to leave before being stored anyway.
LEAVING_WAIT = 2.0


@asynccontextmanager
async def prepare(app: Any) -> AsyncIterator[None]:
    """Train the attendant when the server starts, not on the first customer's message."""
    service = getattr(app.state, "service", None)
    if service is not None and service.settings.attendant:
        await run_in_threadpool(runtime, service)
    yield


router = APIRouter(tags=["webhooks"], lifespan=prepare)


@dataclass
class Runtime:
    """The attendant of one server: its trained bot and the channels it can send on."""

    bot: Attendant
    whatsapp: CloudApi | None = None
    chatwoot: ChatwootApi | None = None
    timings: list[float] = field(default_factory=list)  # seconds, webhook -> send request


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return text or None


def runtime(service: Service) -> Runtime | None:
    """The service's attendant, built (and trained) on first use; None when not configured."""
    found = getattr(service, "attendant", None)
    if found is not None or not service.settings.attendant:
        return found
    settings = service.settings
    token = _secret(settings.whatsapp_token)
    bot_token = _secret(settings.chatwoot_bot_token)
    found = Runtime(
        bot=Attendant(load_config(settings.attendant)),
        whatsapp=(
            CloudApi(settings.whatsapp_api_base, settings.whatsapp_api_version, token)
            if token
            else None
        ),
        chatwoot=(
            ChatwootApi(settings.chatwoot_api_base, bot_token)
            if settings.chatwoot_api_base and bot_token
            else None
        ),
    )
    service.attendant = found  # type: ignore[attr-defined]
    return found


def _decide(service: Service, bot: Attendant, inbound: conv.Inbound) -> conv.Outcome:
    outcome = service.read(conv.handle, bot, inbound)
    if outcome.events:
        service.ingest(outcome.events, kind="attendant")
    return outcome


# -- WhatsApp ----------------------------------------------------------------------------
async def answer_whatsapp(service: Service, payload: Any) -> BackgroundTask | None:
    """Decide every customer message of a notification (claimed and recorded in the
    store), start sending the replies at once, and store the bot's events (group commit,
    beside the notification's own). Returns a task that waits for the sends, to run after
    the webhook's answer; None when the attendant is off or nothing is to be sent."""
    run = runtime(service)
    if run is None:
        return None
    received = time.perf_counter()
    inbounds = whatsapp_messages(payload)
    if not inbounds:
        return None

    leaving = threading.Event()

    def decide() -> tuple[list[tuple[str, conv.Inbound, conv.Outcome]], Future[None] | None]:
        decided = [
            (phone, inbound, service.read(conv.handle, run.bot, inbound))
            for phone, inbound in inbounds
        ]
        sends = [d for d in decided if d[2].reply is not None]
        # Straight from this thread to a sender: no hop through the event loop.
        sending = (
            _SENDERS.submit(_whatsapp_send, service, run, sends, received, leaving)
            if sends
            else None
        )
        return decided, sending

    decided, sending = await run_in_threadpool(decide)
    if sending is not None:
        # Storing the events (the notification's and the bot's) waits until the replies
        # are leaving: it competes with the send for the CPU, and under load it took a
        # third of the time from webhook to reply. Bounded, so a slow Cloud API never
        # holds the webhook's answer for long.
        await run_in_threadpool(leaving.wait, LEAVING_WAIT)
    events = [e for _, _, outcome in decided for e in outcome.events]
    if events:
        await service.ingest_async(events, kind="attendant")
    if sending is None:
        return None

    async def finish() -> None:
        await asyncio.wrap_future(sending)

    return BackgroundTask(finish)


def _whatsapp_send(
    service: Service,
    run: Runtime,
    sends: list[tuple[str, conv.Inbound, conv.Outcome]],
    received: float,
    leaving: threading.Event,
) -> None:
    try:
        _whatsapp_send_all(service, run, sends, received, leaving)
    finally:
        leaving.set()


def _whatsapp_send_all(
    service: Service,
    run: Runtime,
    sends: list[tuple[str, conv.Inbound, conv.Outcome]],
    received: float,
    leaving: threading.Event,
) -> None:
    for phone_id, inbound, outcome in sends:
        if run.whatsapp is None:
            service.read(
                conv.record_send,
                inbound.message_id,
                "not_sent",
                0,
                "TOUCHPOINTS_WHATSAPP_TOKEN is not set",
            )
            continue
        reply = outcome.reply
        assert reply is not None
        now = datetime.now(UTC)
        if window_open(inbound.at, now):
            body = message_body(inbound.customer_id, reply)
        elif run.bot.config.template is not None:
            body = template_body(inbound.customer_id, run.bot.config.template)
        else:
            service.read(conv.record_send, inbound.message_id, "outside_window", 0, None)
            continue
        # Blue ticks and "typing..." in one request, before the reply (after it, the
        # indicator would show for 25 s under an answer already given). Tried once: a
        # receipt must not hold the reply back through retries.
        receipt = run.whatsapp.send(phone_id, read_body(inbound.message_id, typing=True), 1)
        if not receipt.ok:
            log.info("read receipt for %s not sent: %s", inbound.message_id, receipt.error)
        run.timings.append(time.perf_counter() - received)
        leaving.set()
        sent = run.whatsapp.send(phone_id, body)
        status = "sent" if sent.ok else "send_failed"
        if not sent.ok:
            log.warning("attendant reply to %s not sent: %s", inbound.message_id, sent.error)
        service.read(conv.record_send, inbound.message_id, status, sent.attempts, sent.error)


# -- Chatwoot agent bot --------------------------------------------------------------------
@router.post(
    "/webhooks/chatwoot-bot",
    responses={
        401: {"description": "Missing or wrong signature or token: nothing is done."},
        503: {"description": "The attendant or the Chatwoot secret is not configured."},
    },
)
async def chatwoot_bot(request: Request) -> Response:
    """Chatwoot agent-bot events: the attendant answers pending conversations."""
    from touchpoints.server.webhooks import _chatwoot_authentic, _parse_json
    from touchpoints.server.webhooks import _secret as setting

    service: Service = request.app.state.service
    secret = setting(service, "chatwoot_webhook_secret")
    token = setting(service, "chatwoot_webhook_token")
    if (secret is None and token is None) or not service.settings.attendant:
        return JSONResponse(
            {
                "detail": "agent bot not configured: set TOUCHPOINTS_ATTENDANT and"
                " TOUCHPOINTS_CHATWOOT_WEBHOOK_SECRET (signed) or TOUCHPOINTS_CHATWOOT_WEBHOOK_TOKEN"
            },
            status_code=503,
        )
    body = await request.body()
    problem = _chatwoot_authentic(request, secret, token, body)
    if problem:
        return JSONResponse({"detail": problem}, status_code=401)

    def work() -> Response:
        payload, bad = _parse_json(service, "chatwoot-bot", body)
        if bad is not None:
            return bad
        run = runtime(service)
        assert run is not None
        event = read_event(payload, dict(service.settings.chatwoot_inbox_map or {}))
        moment = datetime.now(UTC)
        if event.kind == "person":
            service.read(conv.person_took_over, "chatwoot", event.thread, event.at or moment)
            return JSONResponse({"action": "silent"})
        if event.kind == "resolved":
            service.read(conv.resolve, "chatwoot", event.thread, moment)
            return JSONResponse({"action": "resolved"})
        if event.kind != "message" or event.inbound is None:
            return JSONResponse({"action": "ignored"})
        outcome = _decide(service, run.bot, event.inbound)
        if outcome.duplicate or outcome.silent or outcome.reply is None:
            return JSONResponse({"action": "duplicate" if outcome.duplicate else "silent"})
        return JSONResponse(
            {"action": "handoff" if outcome.handed_off else "reply"},
            background=BackgroundTask(_chatwoot_send, service, run, event, outcome),
        )

    return await run_in_threadpool(work)


def _chatwoot_send(service: Service, run: Runtime, event: Any, outcome: conv.Outcome) -> None:
    inbound = event.inbound
    if run.chatwoot is None:
        service.read(
            conv.record_send,
            inbound.message_id,
            "not_sent",
            0,
            "TOUCHPOINTS_CHATWOOT_API_BASE or TOUCHPOINTS_CHATWOOT_BOT_TOKEN is not set",
        )
        return
    sent = run.chatwoot.message(event.account, event.conversation, reply_body(outcome.reply))
    errors = [sent.error] if not sent.ok else []
    if outcome.handed_off and outcome.conversation is not None:
        lang = outcome.reply.lang if outcome.reply else "pt-BR"
        note = run.chatwoot.message(
            event.account,
            event.conversation,
            note_body(conv.summary_note(outcome.conversation, lang)),
        )
        opened = run.chatwoot.open(event.account, event.conversation)
        errors += [s.error for s in (note, opened) if not s.ok]
    status = "sent" if not errors else "send_failed"
    service.read(
        conv.record_send, inbound.message_id, status, 1, "; ".join(e for e in errors if e) or None
    )


def release_queue(service: Service) -> int:
    """Housekeeping: at opening time, queued hand-offs become the people's."""
    run = runtime(service)
    if run is None:
        return 0
    return service.read(conv.release_queue, run.bot, datetime.now(UTC))
