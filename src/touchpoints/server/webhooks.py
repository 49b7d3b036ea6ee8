"""Channel webhooks: WhatsApp Cloud API, Chatwoot and Twilio Voice (SPEC §6).

Every route follows the same order: refuse when its secret is not configured (503: never
accept unsigned data), check the signature on the raw bytes before parsing (401, nothing
stored), translate with the pure connector, store the events, quarantine whatever could
not be mapped, and only then answer — so an acknowledged notification is durable, and a
provider retry of it is a duplicate (event ids come from the provider's ids).
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from touchpoints.connectors import chatwoot, state, twilio, whatsapp
from touchpoints.connectors.common import Translation, raw_text, same
from touchpoints.ingest.pseudonymize import pseudonymize
from touchpoints.server.service import Service

router = APIRouter(tags=["webhooks"])

# How old a signed Chatwoot delivery may be; older ones are refused as replays (a replayed
# "resolved" could otherwise count a reopened conversation's contact twice).
CHATWOOT_MAX_AGE_SECONDS = 300
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _service(request: Request) -> Service:
    return request.app.state.service


# Declared in the OpenAPI schema (schemathesis checks that answers match it).
UNCONFIGURED: dict[int | str, dict[str, str]] = {
    503: {"description": "The channel's secret is not configured on this server."}
}
SIGNED: dict[int | str, dict[str, str]] = {
    400: {"description": "A signed body that is not a JSON/form payload (kept in quarantine)."},
    401: {"description": "Missing or wrong signature: nothing is stored."},
}


def _secret(service: Service, name: str) -> str | None:
    """A secret from settings (TOUCHPOINTS_<NAME> in the environment), or None."""
    value = getattr(service.settings, name, None)
    if value is None:
        return None
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return text or None


def _refuse(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _not_configured(variable: str) -> JSONResponse:
    return _refuse(503, f"webhook not configured: set {variable} to accept these notifications")


def _deliver(service: Service, kind: str, translation: Translation) -> dict[str, int]:
    """Store the events and quarantine the unmapped parts; durable when it returns."""
    for part in translation.unmapped:
        service.quarantine_raw(kind, part.raw, part.reason, row=part.row)
    if translation.aliases:
        service.link(translation.aliases, kind)
    summary = {"events": len(translation.events), "stored": 0, "duplicates": 0, "rejected": 0}
    if translation.events:
        result = service.ingest(translation.events, kind=kind)
        summary.update(stored=result.stored, duplicates=result.duplicates, rejected=result.rejected)
    summary["quarantined"] = len(translation.unmapped) + summary["rejected"]
    return summary


async def _deliver_async(service: Service, kind: str, translation: Translation) -> dict[str, int]:
    """As `_deliver` for stateless connectors, from the event loop: where the service
    offers group commit (`ingest_async`), concurrent notifications share one transaction."""
    events, unmapped = translation.events, translation.unmapped
    grouped = getattr(service, "ingest_async", None)
    if grouped is None or not events:
        return await run_in_threadpool(_deliver, service, kind, translation)
    if unmapped:
        await run_in_threadpool(_deliver, service, kind, Translation([], unmapped))
    result = await grouped(events, kind=kind)
    return {
        "events": len(events),
        "stored": result.stored,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "quarantined": len(unmapped) + result.rejected,
    }


def _parse_json(service: Service, kind: str, body: bytes) -> tuple[Any, JSONResponse | None]:
    """Decode a signed body; one that is not JSON is quarantined raw and answered 400."""
    try:
        return json.loads(body), None
    except RecursionError:  # hostile, not a provider's mistake: refused, nothing kept
        return None, _refuse(400, "body is JSON nested too deeply to read")
    except (ValueError, UnicodeDecodeError) as exc:
        reason = f"body is not JSON: {exc}"
        service.quarantine_raw(kind, raw_text(body), reason)
        return None, _refuse(400, f"{reason} (kept in quarantine)")


# -- WhatsApp Business Cloud API --------------------------------------------------------
@router.get(
    "/webhooks/whatsapp",
    response_class=PlainTextResponse,
    responses={403: {"description": "Wrong verify token or mode."}, **UNCONFIGURED},
)
async def whatsapp_verify(request: Request) -> Response:
    """Meta's subscription handshake: echo `hub.challenge` when the verify token matches."""
    service = _service(request)
    expected = _secret(service, "whatsapp_verify_token")
    if expected is None:
        return _not_configured("TOUCHPOINTS_WHATSAPP_VERIFY_TOKEN")
    query = request.query_params
    if query.get("hub.mode") == "subscribe" and same(expected, query.get("hub.verify_token")):
        return PlainTextResponse(query.get("hub.challenge", ""))
    return _refuse(
        403, "verification refused: hub.mode must be subscribe and hub.verify_token must match"
    )


@router.post("/webhooks/whatsapp", responses={**SIGNED, **UNCONFIGURED})
async def whatsapp_notification(request: Request) -> Response:
    """Message and status notifications, signed with `X-Hub-Signature-256`."""
    service = _service(request)
    secret = _secret(service, "whatsapp_app_secret")
    if secret is None:
        return _not_configured("TOUCHPOINTS_WHATSAPP_APP_SECRET")
    body = await request.body()
    header = request.headers.get(whatsapp.SIGNATURE_HEADER)
    if not header:
        return _refuse(401, f"missing {whatsapp.SIGNATURE_HEADER} header")
    if not whatsapp.signature_valid(secret, body, header):
        return _refuse(401, f"{whatsapp.SIGNATURE_HEADER} does not match the body")

    payload = _small_json(body)
    if payload is None:
        payload, bad = await run_in_threadpool(_parse_json, service, "whatsapp", body)
        if bad is not None:
            return bad
    # The 24/7 attendant (when configured) decides and starts sending its replies first,
    # then the notification's events are stored; the answer waits for both.
    from touchpoints.server.attendant import answer_whatsapp

    replies = await answer_whatsapp(service, payload)
    translation = whatsapp.translate(payload)
    summary = await _deliver_async(service, "whatsapp", translation)
    return JSONResponse(summary, background=replies)


# A notification of one message is about 1 KB: decoded in the event loop it costs
# microseconds, while a hop to the thread pool costs milliseconds under load (on the way
# from the webhook to the attendant's reply). Larger or bad bodies take the pool's way
# (bad ones are quarantined there).
SMALL_JSON = 64 * 1024


def _small_json(body: bytes) -> Any:
    """A small body that is a JSON object, decoded; None for anything else."""
    if len(body) > SMALL_JSON:
        return None
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


# -- Chatwoot ---------------------------------------------------------------------------
def _chatwoot_authentic(
    request: Request, secret: str | None, token: str | None, body: bytes
) -> str | None:
    """None when authentic, else why not. A signed delivery is checked with the HMAC key
    (`secret`); the `X-Touchpoints-Token` header with the separate `token` serves Chatwoot
    versions that do not sign. A token in the query string is refused: URLs land in
    access logs and proxies' logs."""
    signature = request.headers.get(chatwoot.SIGNATURE_HEADER)
    if signature:
        if secret is None:
            return "signed deliveries need TOUCHPOINTS_CHATWOOT_WEBHOOK_SECRET on this server"
        stamp = request.headers.get(chatwoot.TIMESTAMP_HEADER, "")
        if not chatwoot.signature_valid(secret, body, stamp, signature):
            return f"{chatwoot.SIGNATURE_HEADER} does not match the body and {chatwoot.TIMESTAMP_HEADER}"
        try:
            sent = float(stamp)
        except ValueError:
            sent = math.nan
        if not math.isfinite(sent):
            return f"{chatwoot.TIMESTAMP_HEADER} is not unix seconds"
        if abs(time.time() - sent) > CHATWOOT_MAX_AGE_SECONDS:
            return f"{chatwoot.TIMESTAMP_HEADER} is more than {CHATWOOT_MAX_AGE_SECONDS} s away from now (replay?)"
        return None
    if "token" in request.query_params:
        return f"send the token in the {chatwoot.TOKEN_HEADER} header, not in the URL"
    sent_token = request.headers.get(chatwoot.TOKEN_HEADER)
    if not sent_token:
        return f"missing {chatwoot.SIGNATURE_HEADER} (or {chatwoot.TOKEN_HEADER}) for this webhook"
    if token is None:
        return "token deliveries need TOUCHPOINTS_CHATWOOT_WEBHOOK_TOKEN on this server"
    return None if chatwoot.token_valid(token, sent_token) else "token does not match"


@router.post("/webhooks/chatwoot", responses={**SIGNED, **UNCONFIGURED})
async def chatwoot_event(request: Request) -> Response:
    """Conversation and message events, folded per conversation into contact events."""
    service = _service(request)
    secret = _secret(service, "chatwoot_webhook_secret")
    token = _secret(service, "chatwoot_webhook_token")
    if secret is None and token is None:
        return _not_configured(
            "TOUCHPOINTS_CHATWOOT_WEBHOOK_SECRET (signed) or TOUCHPOINTS_CHATWOOT_WEBHOOK_TOKEN"
        )
    body = await request.body()
    problem = _chatwoot_authentic(request, secret, token, body)
    if problem:
        return _refuse(401, problem)
    inbox_map = dict(getattr(service.settings, "chatwoot_inbox_map", None) or {})

    def work() -> Response:
        payload, bad = _parse_json(service, "chatwoot", body)
        if bad is not None:
            return bad

        def fold(store: Any) -> dict[str, int]:
            ref, _, _ = chatwoot.conversation_of(payload)
            before = state.load(store, chatwoot.CONNECTOR, ref.key) if ref else None
            translation, after = chatwoot.translate(payload, before, inbox_map)
            if ref is not None and service.settings.attendant:
                _leave_bot_contacts_to_the_attendant(store, ref.key, translation)
            summary = _deliver(service, "chatwoot", translation)
            # Saved after the events are stored: a crash in between replays the same
            # contact id on Chatwoot's retry, which is a duplicate, never a loss.
            if ref is not None and after is not None and after != before:
                state.save(store, chatwoot.CONNECTOR, ref.key, _pseudonymous(after, service.key))
            return summary

        return JSONResponse(service.read(fold))

    return await run_in_threadpool(work)


def _leave_bot_contacts_to_the_attendant(store: Any, thread: str, translation: Translation) -> None:
    """A Chatwoot conversation the 24/7 attendant answered through the agent-bot webhook
    is already the bot's contact (`attendant:<conversation>:bot`, agent "bot"): the
    connector's bot-only contact for the same conversation would count it twice when both
    webhooks are configured. Contacts of people, and of a bot the attendant never saw
    (Captain), are kept."""
    if not any(e.get("agent") == chatwoot.BOT for e in translation.events):
        return
    if not store.has_table("attendant_conversations"):
        return
    answered = store.query(
        "SELECT 1 AS found FROM attendant_conversations "
        "WHERE channel = $channel AND thread = $thread LIMIT 1",
        {"channel": "chatwoot", "thread": thread},
    )
    if answered:
        translation.events[:] = [e for e in translation.events if e.get("agent") != chatwoot.BOT]


def _pseudonymous(st: dict[str, Any], key: str | None) -> dict[str, Any]:
    """The conversation state as stored: with a pseudonymisation key its customer id is
    the pseudonym, like the events' (the raw phone or e-mail never reaches the store).
    Contacts emitted later carry the pseudonym, which ingestion keeps as it is."""
    customer = st.get("customer_id")
    if key is None or not isinstance(customer, str) or not customer.strip():
        return st
    return {**st, "customer_id": pseudonymize(customer, key)}


# -- Twilio Voice -----------------------------------------------------------------------
def _twilio_url(request: Request, public_url: str) -> str:
    """The URL Twilio called, as seen from outside (behind a proxy `request.url` is not)."""
    url = public_url.rstrip("/") + request.url.path
    return f"{url}?{request.url.query}" if request.url.query else url


@router.post("/webhooks/twilio", responses={**SIGNED, **UNCONFIGURED})
async def twilio_callback(request: Request) -> Response:
    """Call status and `<Enqueue>` action callbacks (form-encoded), signed by Twilio."""
    service = _service(request)
    token = _secret(service, "twilio_auth_token")
    if token is None:
        return _not_configured("TOUCHPOINTS_TWILIO_AUTH_TOKEN")
    body = await request.body()
    params = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    header = request.headers.get(twilio.SIGNATURE_HEADER)
    if not header:
        return _refuse(401, f"missing {twilio.SIGNATURE_HEADER} header")
    url = _twilio_url(request, service.settings.public_url)
    if not twilio.signature_valid(token, url, params, header):
        return _refuse(401, f"{twilio.SIGNATURE_HEADER} does not match (signed URL must be {url})")
    received = datetime.now(UTC)

    def fold(store: Any) -> None:
        fields = dict(params)
        sid = (fields.get("CallSid") or "").strip()
        before = state.load(store, twilio.CONNECTOR, sid) if sid else None
        translation, after = twilio.translate(fields, before, received)
        for part in translation.unmapped:
            part.raw = raw_text(body)  # the form body exactly as Twilio sent it
        _deliver(service, "twilio", translation)
        if sid and after is not None and after != before:
            state.save(store, twilio.CONNECTOR, sid, after)

    await run_in_threadpool(service.read, fold)
    return Response(EMPTY_TWIML, media_type="text/xml")
