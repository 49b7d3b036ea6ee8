"""The attendant in `touchpoints serve`: WhatsApp Cloud API and Chatwoot agent bot, each
against a local stand-in HTTP server that records the exact requests it receives (path,
headers, JSON body) and answers as the real API does, errors included."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from touchpoints.attendant.bot import Reply
from touchpoints.attendant.config import default_config
from touchpoints.attendant.whatsapp import CloudApi, message_body
from touchpoints.core.settings import Settings
from touchpoints.server.app import create_app

APP_SECRET = "wa-app-secret"
TOKEN = "wa-token-123"
PHONE_ID = "106540352242922"
CUSTOMER = "5531988887777"
CW_SECRET = "cw-secret"
CW_TOKEN = "cw-bot-token"
CW_WEBHOOK_TOKEN = "cw-webhook-token"
PAYMENT_PT = default_config().intent("payment").answer["pt-BR"]  # type: ignore[union-attr]


class StandIn:
    """A local HTTP server standing in for an API: records requests, answers from a script."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        # Answers to give to messages (bodies with a "type"), in order; then 200. Read
        # receipts get `receipts`' answers, then Meta's {"success": true}.
        self.script: list[tuple[int, Any]] = []
        self.receipts: list[tuple[int, Any]] = []
        self.receipt_delay = 0.0  # seconds a read receipt takes to be answered
        self.probe: Any = None  # called as each message arrives; its results in `probed`
        self.probed: list[Any] = []
        self.received_at: list[float] = []
        # Close each connection after answering without saying so, as a server does when
        # it drops an idle kept-alive connection.
        self.drop = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps connections alive, as the Cloud API does

            def do_POST(self) -> None:  # noqa: N802 - the http.server spelling
                outer.received_at.append(time.perf_counter())
                size = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(size)
                outer.requests.append(
                    {
                        "connection": self.client_address[1],
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": json.loads(raw),
                    }
                )
                body = outer.requests[-1]["body"]
                if isinstance(body, dict) and body.get("status") == "read":
                    queue, default = outer.receipts, {"success": True}
                    time.sleep(outer.receipt_delay)
                else:
                    queue, default = outer.script, outer.ok()
                    if outer.probe is not None:
                        outer.probed.append(outer.probe())
                status, answer = queue.pop(0) if queue else (200, default)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if outer.drop:
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # a free port
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def ok() -> dict[str, Any]:
        return {"messaging_product": "whatsapp", "messages": [{"id": "wamid.OUT"}]}

    def bodies(self) -> list[Any]:
        return [r["body"] for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api() -> Iterator[StandIn]:
    stand_in = StandIn()
    yield stand_in
    stand_in.close()


def make_client(tmp_path: Path, api: StandIn, **extra: Any) -> TestClient:
    settings = Settings(
        _env_file=None,
        whatsapp_app_secret=APP_SECRET,
        whatsapp_token=TOKEN,
        whatsapp_api_base=api.url,
        chatwoot_webhook_secret=CW_SECRET,
        chatwoot_webhook_token=CW_WEBHOOK_TOKEN,
        chatwoot_api_base=api.url,
        chatwoot_bot_token=CW_TOKEN,
        attendant=extra.pop("attendant"),
        **extra,
    )
    return TestClient(create_app(settings=settings, target=str(tmp_path / "bot.duckdb")))


@pytest.fixture
def client(tmp_path: Path, api: StandIn) -> Iterator[TestClient]:
    """A server whose attendant is the default file; messages are written "now", so a
    hand-off is queued or not by the hour the test runs (the tests do not depend on it)."""
    config = tmp_path / "attendant.yaml"
    text = Path(__file__).parents[1] / "src" / "touchpoints" / "data" / "attendant.yaml"
    config.write_text(text.read_text(encoding="utf-8"), encoding="utf-8")
    with make_client(tmp_path, api, attendant=str(config)) as c:
        yield c


def notification(message: dict[str, Any]) -> bytes:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "5531300000000",
                                "phone_number_id": PHONE_ID,
                            },
                            "contacts": [{"profile": {"name": "Ana"}, "wa_id": CUSTOMER}],
                            "messages": [message],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(payload).encode()


def text_message(wamid: str, text: str, at: datetime | None = None) -> dict[str, Any]:
    moment = at or datetime.now(UTC)
    return {
        "from": CUSTOMER,
        "id": wamid,
        "timestamp": str(int(moment.timestamp())),
        "type": "text",
        "text": {"body": text},
    }


def post_whatsapp(client: TestClient, body: bytes) -> Any:
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        "/webhooks/whatsapp",
        content=body,
        headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
    )


def messages(client: TestClient) -> list[dict[str, Any]]:
    store = client.app.state.service.store
    return store.query(
        "SELECT message_id, status, attempts, error, kind, intent FROM attendant_messages ORDER BY received_at, message_id"
    )


# -- WhatsApp -------------------------------------------------------------------------------
def test_a_whatsapp_question_is_answered_through_the_cloud_api(
    client: TestClient, api: StandIn
) -> None:
    answer = post_whatsapp(client, notification(text_message("wamid.A1", "aceita pix?")))
    assert answer.status_code == 200
    assert [r["path"] for r in api.requests] == [f"/v23.0/{PHONE_ID}/messages"] * 2
    receipt, reply = api.requests
    # Blue ticks and "typing..." in one request, before the reply.
    assert receipt["body"] == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.A1",
        "typing_indicator": {"type": "text"},
    }
    assert receipt["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert reply["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert reply["headers"]["content-type"] == "application/json"
    assert reply["body"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "text",
        "text": {"preview_url": False, "body": PAYMENT_PT},
    }
    assert messages(client) == [
        {
            "message_id": "wamid.A1",
            "status": "sent",
            "attempts": 1,
            "error": None,
            "kind": "answer",
            "intent": "payment",
        }
    ]
    store = client.app.state.service.store
    bot = store.query("SELECT agent, touchpoint, abandoned FROM events WHERE agent = 'bot'")
    assert bot == [{"agent": "bot", "touchpoint": "whatsapp", "abandoned": False}]
    # the customer's own message is still the connector's event
    assert store.count() == 2


def test_a_redelivered_webhook_gets_no_second_answer(client: TestClient, api: StandIn) -> None:
    body = notification(text_message("wamid.R1", "onde fica a loja?"))
    assert post_whatsapp(client, body).status_code == 200
    assert post_whatsapp(client, body).status_code == 200
    replies = [b for b in api.bodies() if b.get("type") == "text"]
    assert len(replies) == 1
    # no second "typing..." either: it would show for 25 s with no answer under it
    assert len([b for b in api.bodies() if b.get("status") == "read"]) == 1
    assert len(messages(client)) == 1


def test_a_slow_cloud_api_holds_the_webhooks_answer_only_briefly(
    client: TestClient, api: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook's events are stored once its reply is leaving, or after LEAVING_WAIT
    when the Cloud API is slow; the reply still goes out after."""
    from touchpoints.server import attendant

    monkeypatch.setattr(attendant, "LEAVING_WAIT", 0.2)
    api.receipt_delay = 4.0  # far beyond LEAVING_WAIT and a store write on a loaded machine
    service = client.app.state.service
    api.probe = lambda: service.read(lambda store: store.count())
    answer = post_whatsapp(client, notification(text_message("wamid.S1", "aceita pix?")))
    assert answer.status_code == 200
    # when the reply arrived, 4 s late, the customer's message and the bot's contact
    # were already stored
    assert api.probed == [2]
    assert [b.get("status") or b.get("type") for b in api.bodies()] == ["read", "text"]


def test_a_failing_read_receipt_is_not_retried_and_does_not_hold_the_reply(
    client: TestClient, api: StandIn
) -> None:
    api.receipts = [(429, {"error": {"code": 130429, "message": "Rate limit hit"}})]
    post_whatsapp(client, notification(text_message("wamid.RR1", "aceita pix?")))
    assert [b.get("status") or b.get("type") for b in api.bodies()] == ["read", "text"]
    assert messages(client)[0]["status"] == "sent"


@pytest.mark.parametrize(
    "message",
    [
        {
            "type": "audio",
            "audio": {"id": "1", "mime_type": "audio/ogg; codecs=opus", "voice": True},
        },
        {"type": "image", "image": {"id": "2", "mime_type": "image/jpeg", "sha256": "x"}},
        {"type": "location", "location": {"latitude": -19.9, "longitude": -43.9}},
        {"type": "sticker", "sticker": {"id": "3", "mime_type": "image/webp", "animated": False}},
    ],
)
def test_what_the_bot_cannot_read_gets_a_polite_reply_offering_a_person(
    client: TestClient, api: StandIn, message: dict[str, Any]
) -> None:
    full = {"from": CUSTOMER, "id": "wamid.U1", "timestamp": str(int(time.time())), **message}
    assert post_whatsapp(client, notification(full)).status_code == 200
    reply = api.requests[1]["body"]
    assert reply["type"] == "interactive"
    assert reply["interactive"]["type"] == "button"
    assert reply["interactive"]["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "human", "title": "Falar com atendente"}}
    ]
    assert "áudios" in reply["interactive"]["body"]["text"]


def test_a_miss_offers_reply_buttons_and_a_pressed_button_answers(
    client: TestClient, api: StandIn
) -> None:
    post_whatsapp(
        client, notification(text_message("wamid.M1", "preciso de uma coisa sobre o pneu"))
    )
    clarify = api.requests[1]["body"]
    buttons = clarify["interactive"]["action"]["buttons"]
    assert clarify["interactive"]["type"] == "button" and 1 <= len(buttons) <= 3
    assert all(len(b["reply"]["title"]) <= 20 for b in buttons)
    pressed = {
        "from": CUSTOMER,
        "id": "wamid.M2",
        "timestamp": str(int(time.time())),
        "type": "interactive",
        "interactive": {
            "type": "button_reply",
            "button_reply": {"id": "payment", "title": "Pagamento"},
        },
    }
    post_whatsapp(client, notification(pressed))
    assert api.requests[3]["body"]["text"]["body"] == PAYMENT_PT


def test_a_person_takes_over_and_the_bot_stays_silent(client: TestClient, api: StandIn) -> None:
    post_whatsapp(client, notification(text_message("wamid.H1", "quero falar com um atendente")))
    assert len(api.requests) == 2  # the read receipt and the hand-off reply
    post_whatsapp(client, notification(text_message("wamid.H2", "alô?")))
    assert len(api.requests) == 2
    assert [m["status"] for m in messages(client)] == ["sent", "silent"]


def test_rate_limits_are_retried_with_backoff(client: TestClient, api: StandIn) -> None:
    from touchpoints.server.attendant import runtime

    runtime(client.app.state.service).whatsapp.backoff = 0.01  # type: ignore[union-attr]
    api.script = [
        (429, {"error": {"code": 130429, "message": "Rate limit hit"}}),
        (400, {"error": {"code": 131056, "message": "Pair rate limit hit"}}),
    ]
    post_whatsapp(client, notification(text_message("wamid.L1", "aceita pix?")))
    sends = [r for r in api.requests if r["body"].get("type") == "text"]
    assert len(sends) == 3
    assert messages(client)[0]["status"] == "sent" and messages(client)[0]["attempts"] == 3


def test_a_failing_send_is_retried_then_recorded_not_lost(client: TestClient, api: StandIn) -> None:
    from touchpoints.server.attendant import runtime

    runtime(client.app.state.service).whatsapp.backoff = 0.01  # type: ignore[union-attr]
    api.script = [(500, {"error": {"code": 1, "message": "Unknown error"}})] * 4
    assert (
        post_whatsapp(client, notification(text_message("wamid.F1", "aceita pix?"))).status_code
        == 200
    )
    assert len([r for r in api.requests if r["body"].get("type") == "text"]) == 4
    row = messages(client)[0]
    assert (row["status"], row["attempts"]) == ("send_failed", 4)
    assert row["error"] == "HTTP 500, error 1: Unknown error"


def test_an_error_that_retrying_cannot_fix_is_not_retried(client: TestClient, api: StandIn) -> None:
    api.script = [(401, {"error": {"code": 190, "message": "Invalid OAuth access token"}})]
    post_whatsapp(client, notification(text_message("wamid.T1", "aceita pix?")))
    row = messages(client)[0]
    assert (row["status"], row["attempts"]) == ("send_failed", 1)


def test_outside_the_24_hour_window_the_template_is_sent(client: TestClient, api: StandIn) -> None:
    old = datetime.now(UTC) - timedelta(hours=30)
    post_whatsapp(client, notification(text_message("wamid.W1", "aceita pix?", at=old)))
    assert api.requests[1]["body"] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "template",
        "template": {"name": "retomar_conversa", "language": {"code": "pt_BR"}},
    }


def test_without_a_template_nothing_is_sent_outside_the_window(
    tmp_path: Path, api: StandIn
) -> None:
    config = tmp_path / "bot.yaml"
    text = (Path(__file__).parents[1] / "src/touchpoints/data/attendant.yaml").read_text(
        encoding="utf-8"
    )
    config.write_text(
        text.replace("template: {name: retomar_conversa, language: pt_BR}\n", ""), encoding="utf-8"
    )
    with make_client(tmp_path, api, attendant=str(config)) as client:
        old = datetime.now(UTC) - timedelta(hours=30)
        post_whatsapp(client, notification(text_message("wamid.W2", "aceita pix?", at=old)))
        assert [r for r in api.requests if r["body"].get("type")] == []
        assert messages(client)[0]["status"] == "outside_window"


def test_without_the_attendant_the_webhook_only_stores(tmp_path: Path, api: StandIn) -> None:
    settings = Settings(
        _env_file=None,
        whatsapp_app_secret=APP_SECRET,
        whatsapp_token=TOKEN,
        whatsapp_api_base=api.url,
    )
    with TestClient(create_app(settings=settings, target=str(tmp_path / "x.duckdb"))) as client:
        assert (
            post_whatsapp(client, notification(text_message("wamid.N1", "aceita pix?"))).status_code
            == 200
        )
        assert api.requests == []


def test_a_list_holds_up_to_ten_rows() -> None:
    choices = [(f"c{i}", f"Choice number {i} long title") for i in range(12)]
    body = message_body(CUSTOMER, Reply("Pick one", None, 0.0, choices=choices, lang="en"))
    rows = body["interactive"]["action"]["sections"][0]["rows"]
    assert body["interactive"]["type"] == "list" and len(rows) == 10
    assert all(len(r["title"]) <= 24 for r in rows)
    assert body["interactive"]["action"]["button"] == "Options"


def test_sends_reuse_one_kept_alive_connection(api: StandIn) -> None:
    """Three replies, one connection: no handshake per message."""
    cloud = CloudApi(api.url, "v23.0", TOKEN)
    reply = Reply(text="Olá!", intent="greeting", confidence=1.0, lang="pt-BR")
    for _ in range(3):
        assert cloud.send(PHONE_ID, message_body(CUSTOMER, reply)).ok
    assert len(api.requests) == 3
    assert len({r["connection"] for r in api.requests}) == 1
    assert cloud.post.opened == 1  # type: ignore[attr-defined]


def test_a_connection_the_server_dropped_is_replaced_without_a_lost_reply(
    api: StandIn,
) -> None:
    cloud = CloudApi(api.url, "v23.0", TOKEN, sleep=lambda s: None)
    reply = Reply(text="Olá!", intent="greeting", confidence=1.0, lang="pt-BR")
    api.drop = True
    for _ in range(3):
        sent = cloud.send(PHONE_ID, message_body(CUSTOMER, reply))
        assert (sent.ok, sent.attempts) == (True, 1)
    assert len(api.requests) == 3  # each message arrived once
    assert len({r["connection"] for r in api.requests}) == 3
    assert cloud.post.opened == 3  # type: ignore[attr-defined]


def test_a_network_failure_is_retried() -> None:
    calls = []

    def refuse(url: str, headers: dict[str, str], data: bytes, timeout: float) -> tuple[int, bytes]:
        calls.append(url)
        raise ConnectionRefusedError("refused")

    sent = CloudApi("http://127.0.0.1:9", "v23.0", "t", post=refuse, sleep=lambda s: None).send(
        PHONE_ID, {}
    )
    assert not sent.ok and sent.attempts == 4 and len(calls) == 4
    assert sent.error is not None and sent.error.startswith("network error")


# -- Chatwoot agent bot --------------------------------------------------------------------
def chatwoot_message(
    message_id: int, content: str, status: str = "pending", **extra: Any
) -> dict[str, Any]:
    return {
        "event": "message_created",
        "id": message_id,
        "content": content,
        "content_type": "text",
        "content_attributes": {},
        "message_type": "incoming",
        "private": False,
        "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "account": {"id": 2, "name": "Pneus Brasil"},
        "inbox": {"id": 3, "name": "Site - chat"},
        "sender": {"id": 4, "identifier": "cust-42", "name": "Ana Lima", "type": "contact"},
        "conversation": {
            "id": 207,
            "account_id": 2,
            "status": status,
            "channel": "Channel::WebWidget",
        },
        **extra,
    }


def post_chatwoot(
    client: TestClient, payload: dict[str, Any], token: str = CW_WEBHOOK_TOKEN
) -> Any:
    """An unsigned delivery: the token travels in the X-Touchpoints-Token header."""
    return client.post(
        "/webhooks/chatwoot-bot", json=payload, headers={"X-Touchpoints-Token": token}
    )


def test_chatwoot_agent_bot_replies_through_the_api(client: TestClient, api: StandIn) -> None:
    answer = post_chatwoot(client, chatwoot_message(900, "aceita pix?"))
    assert answer.status_code == 200 and answer.json() == {"action": "reply"}
    assert len(api.requests) == 1
    sent = api.requests[0]
    assert sent["path"] == "/api/v1/accounts/2/conversations/207/messages"
    assert sent["headers"]["api_access_token"] == CW_TOKEN
    assert sent["body"] == {"content": PAYMENT_PT, "message_type": "outgoing", "private": False}
    store = client.app.state.service.store
    assert store.query("SELECT touchpoint, agent FROM events") == [
        {"touchpoint": "chat", "agent": "bot"}
    ]


def test_chatwoot_hand_off_opens_the_conversation_with_a_private_note(
    client: TestClient, api: StandIn
) -> None:
    post_chatwoot(client, chatwoot_message(901, "meu pedido 556677 não chegou ainda"))
    answer = post_chatwoot(client, chatwoot_message(902, "quero falar com um atendente"))
    assert answer.json() == {"action": "handoff"}
    paths = [r["path"] for r in api.requests]
    assert paths == [
        "/api/v1/accounts/2/conversations/207/messages",
        "/api/v1/accounts/2/conversations/207/messages",
        "/api/v1/accounts/2/conversations/207/messages",
        "/api/v1/accounts/2/conversations/207/toggle_status",
    ]
    note = api.requests[2]["body"]
    assert note["private"] is True and note["message_type"] == "outgoing"
    assert "pediu uma pessoa" in note["content"]
    assert "order: 556677" in note["content"]
    assert "Cliente: meu pedido 556677 não chegou ainda" in note["content"]
    assert api.requests[3]["body"] == {"status": "open"}
    # once open, a person owns it: the bot says nothing more
    post_chatwoot(client, chatwoot_message(903, "oi?", status="open"))
    assert len(api.requests) == 4


def test_chatwoot_choices_are_an_input_select(client: TestClient, api: StandIn) -> None:
    post_chatwoot(client, chatwoot_message(910, "preciso de uma coisa sobre o pneu"))
    body = api.requests[0]["body"]
    assert body["content_type"] == "input_select"
    items = body["content_attributes"]["items"]
    assert items[-1] == {"title": "Falar com atendente", "value": "human"}
    picked = chatwoot_message(
        911,
        "Pagamento",
        content_attributes={"submitted_values": [{"title": "Pagamento", "value": "payment"}]},
    )
    post_chatwoot(client, picked)
    assert api.requests[1]["body"]["content"] == PAYMENT_PT


def test_chatwoot_an_agent_reply_silences_the_bot(client: TestClient, api: StandIn) -> None:
    post_chatwoot(client, chatwoot_message(920, "oi"))
    agent = chatwoot_message(
        921,
        "Olá, sou a Bia",
        message_type="outgoing",
        sender={"id": 1, "name": "Bia", "type": "user"},
    )
    assert post_chatwoot(client, agent).json() == {"action": "silent"}
    post_chatwoot(client, chatwoot_message(922, "aceita pix?"))
    assert len(api.requests) == 1


def test_chatwoot_redelivery_and_bad_token(client: TestClient, api: StandIn) -> None:
    payload = chatwoot_message(930, "aceita pix?")
    post_chatwoot(client, payload)
    assert post_chatwoot(client, payload).json() == {"action": "duplicate"}
    assert post_chatwoot(client, chatwoot_message(931, "oi"), token="wrong").status_code == 401
    in_the_url = client.post(
        f"/webhooks/chatwoot-bot?token={CW_WEBHOOK_TOKEN}", json=chatwoot_message(932, "oi")
    )
    assert in_the_url.status_code == 401 and "header" in in_the_url.json()["detail"]
    assert len(api.requests) == 1


def test_chatwoot_failing_api_is_recorded(client: TestClient, api: StandIn) -> None:
    api.script = [(500, {"error": "boom"})]
    post_chatwoot(client, chatwoot_message(940, "aceita pix?"))
    row = messages(client)[0]
    assert row["status"] == "send_failed" and row["error"].startswith("HTTP 500")


def test_chatwoot_the_peoples_wait_runs_from_the_hand_off_to_their_reply(
    client: TestClient, api: StandIn
) -> None:
    post_chatwoot(client, chatwoot_message(950, "quero falar com um atendente"))
    store = client.app.state.service.store
    handed = store.query("SELECT handoff_at FROM attendant_conversations")[0]["handoff_at"]
    reply_at = handed.replace(tzinfo=UTC) + timedelta(seconds=75)
    agent = chatwoot_message(
        951,
        "Olá, sou a Bia",
        message_type="outgoing",
        sender={"id": 1, "name": "Bia", "type": "user"},
        created_at=reply_at.isoformat().replace("+00:00", "Z"),
    )
    post_chatwoot(client, agent)
    from touchpoints.analytics.registry import get

    kpis = get("attendant.kpis").compute(store)
    assert kpis["handoff_wait_seconds"] == pytest.approx(75, abs=0.001)


def test_chatwoot_a_bot_only_conversation_is_one_contact_with_both_webhooks(
    client: TestClient, api: StandIn
) -> None:
    """With the agent-bot webhook and the connector's webhook both configured, the
    conversation the attendant answered and nobody handed over is the attendant's contact
    only; a bot-only conversation the attendant never saw (another bot) stays the
    connector's."""
    question = chatwoot_message(960, "aceita pix?")
    assert post_chatwoot(client, question).json() == {"action": "reply"}
    bot_reply = chatwoot_message(
        961,
        PAYMENT_PT,
        message_type="outgoing",
        sender={"id": 9, "name": "Atendente 24h", "type": "agent_bot"},
    )
    other = {"id": 208, "account_id": 2, "status": "pending", "channel": "Channel::WebWidget"}
    for conversation in (question["conversation"], other):
        for payload in (
            {**question, "conversation": conversation},
            {**bot_reply, "conversation": conversation},
            {
                "event": "conversation_status_changed",
                **conversation,
                "status": "resolved",
                "meta": {"sender": question["sender"]},
                "inbox_id": 3,
            },
        ):
            answer = client.post(
                "/webhooks/chatwoot",
                json=payload,
                headers={"X-Touchpoints-Token": CW_WEBHOOK_TOKEN},
            )
            assert answer.status_code == 200, answer.text
    store = client.app.state.service.store
    contacts = store.query(
        "SELECT event_id FROM events WHERE agent = 'bot' AND action = 'interaction' "
        "ORDER BY event_id"
    )
    ids = [c["event_id"] for c in contacts]
    assert len(ids) == 2, ids
    assert ids[0].startswith("attendant:chatwoot:2:207:") and ids[0].endswith(":bot"), ids
    assert ids[1] == "chatwoot:2:208:contact:1"
