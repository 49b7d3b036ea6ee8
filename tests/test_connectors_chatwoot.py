"""Chatwoot connector: conversations folded into contact events (wait, handle, abandoned,
agent, touchpoint from the inbox), state kept in `connector_state` on DuckDB and
PostgreSQL, retries and replays deduped, authentication by signature or token."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from touchpoints.connectors import chatwoot
from touchpoints.core.settings import Settings
from touchpoints.server.app import create_app
from touchpoints.store.base import Store

FIXTURES = Path(__file__).parent / "fixtures" / "connectors"
SECRET = "chatwoot-shared-secret-51d2"
TOKEN = "chatwoot-plain-token-77aa"
ANSWERED = {
    "event_id": "chatwoot:2:207:contact:1",
    "customer_id": "cust-42",
    "touchpoint": "chat",
    "ts": "2023-11-14T22:13:20Z",
    "action": "interaction",
    "wait_seconds": 120.0,  # first message 22:13:50 -> first public reply 22:15:50
    "handle_seconds": 600.5,  # first reply -> resolved at 22:25:50.5
    "abandoned": False,
    "resolved": True,
    "agent": "Bruna Souza",
}
ABANDONED = {
    "event_id": "chatwoot:2:208:contact:1",
    "customer_id": "+5521988887777",
    "touchpoint": "whatsapp",
    "ts": "2023-11-14T23:13:20Z",
    "action": "interaction",
    "wait_seconds": 900.0,  # message at +10 s, resolved unanswered at +910 s
    "abandoned": True,
    "resolved": False,
}


def fixture(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def fold(
    payloads: list[Any], inbox_map: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], list[str], dict[str, dict[str, Any]]]:
    """Run payloads through the translator with an in-memory state table."""
    states: dict[str, dict[str, Any]] = {}
    events: list[dict[str, Any]] = []
    reasons: list[str] = []
    for payload in payloads:
        ref, _, _ = chatwoot.conversation_of(payload)
        t, after = chatwoot.translate(payload, states.get(ref.key) if ref else None, inbox_map)
        if ref and after is not None:
            states[ref.key] = after
        events += t.events
        reasons += [u.reason for u in t.unmapped]
    return events, reasons, states


# -- translation ---------------------------------------------------------------------------
def test_answered_conversation_is_one_contact_with_wait_handle_and_agent() -> None:
    events, reasons, _ = fold(fixture("chatwoot_answered.json"))
    assert reasons == []
    assert events == [ANSWERED]


def test_resolved_without_reply_is_abandoned() -> None:
    events, reasons, _ = fold(fixture("chatwoot_abandoned.json"))
    assert reasons == []
    assert events == [ABANDONED]


def test_private_note_is_not_the_first_reply() -> None:
    payloads = fixture("chatwoot_answered.json")
    del payloads[3]  # the public reply; only the private note remains
    events, _, _ = fold(payloads)
    assert events[0]["abandoned"] is True and events[0]["wait_seconds"] == 720.5


# An agent bot holds the conversation (pending): the customer writes at 22:13:50, the bot
# answers at 22:13:51 and 22:14:31, hands over by opening it at 22:14:32, Bruna answers at
# 22:19:32 and resolves at 22:27:52 (tests/fixtures/connectors/chatwoot_bot_handoff.json).
BOT_HANDOFF = {
    "event_id": "chatwoot:2:209:contact:1",
    "customer_id": "cust-42",
    "touchpoint": "chat",
    "ts": "2023-11-14T22:13:20Z",
    "action": "interaction",
    "wait_seconds": 300.0,  # hand-off 22:14:32 -> Bruna 22:19:32 (not 1 s to the bot)
    "handle_seconds": 500.0,  # Bruna 22:19:32 -> resolved 22:27:52
    "abandoned": False,
    "resolved": True,
    "agent": "Bruna Souza",
}


def test_a_bots_reply_is_not_the_peoples_first_reply() -> None:
    events, reasons, _ = fold(fixture("chatwoot_bot_handoff.json"))
    assert reasons == []
    assert events == [BOT_HANDOFF]


def test_a_bot_known_by_sender_type_is_a_bot_too() -> None:
    """Messages read from Chatwoot's API name their author by `sender_type`."""
    payloads = fixture("chatwoot_bot_handoff.json")
    for payload in payloads:
        if (payload.get("sender") or {}).get("type") == "agent_bot":
            del payload["sender"]["type"]
            payload["sender_type"] = "AgentBot"
    events, _, _ = fold(payloads)
    assert events == [BOT_HANDOFF]


def test_a_conversation_only_the_bot_answered_is_the_bots_contact() -> None:
    payloads = fixture("chatwoot_bot_handoff.json")
    kept = payloads[:5] + [payloads[-1]]  # no hand-off, no person: resolved at 22:27:52
    events, _, _ = fold(kept)
    assert events == [
        {
            **BOT_HANDOFF,
            "wait_seconds": 1.0,  # the bot's first response, 22:13:50 -> 22:13:51
            "handle_seconds": 841.0,  # 22:13:51 -> 22:27:52
            "agent": "bot",
        }
    ]


def test_a_hand_off_nobody_answered_is_abandoned_from_the_hand_off() -> None:
    payloads = fixture("chatwoot_bot_handoff.json")
    del payloads[6]  # Bruna's reply
    events, _, _ = fold(payloads)
    assert events == [
        {
            "event_id": "chatwoot:2:209:contact:1",
            "customer_id": "cust-42",
            "touchpoint": "chat",
            "ts": "2023-11-14T22:13:20Z",
            "action": "interaction",
            "wait_seconds": 800.0,  # hand-off 22:14:32 -> resolved 22:27:52
            "abandoned": True,
            "resolved": False,
            "agent": "Bruna Souza",  # the assignee at resolution
        }
    ]


def test_retried_and_duplicated_resolution_emits_once() -> None:
    payloads = fixture("chatwoot_answered.json")
    updated = copy.deepcopy(payloads[-1])
    updated["event"] = "conversation_updated"  # Chatwoot sends both for one change
    events, _, _ = fold([*payloads, payloads[-1], updated])
    assert events == [ANSWERED]


def test_reopened_conversation_is_a_second_contact() -> None:
    payloads = fixture("chatwoot_answered.json")
    reopened = copy.deepcopy(payloads[0])
    reopened.update(event="conversation_status_changed", status="open", updated_at=1700004000.0)
    message = copy.deepcopy(payloads[1])
    message["created_at"] = "2023-11-15T00:00:30.000Z"  # 1700006430
    reply = copy.deepcopy(payloads[3])
    reply["created_at"] = "2023-11-15T00:01:00.000Z"  # 1700006460
    resolved = copy.deepcopy(payloads[-1])
    resolved["updated_at"] = 1700006500.0
    events, _, states = fold([*payloads, reopened, message, reply, resolved])
    assert [e["event_id"] for e in events] == [
        "chatwoot:2:207:contact:1",
        "chatwoot:2:207:contact:2",
    ]
    second = events[1]
    assert second["ts"] == "2023-11-14T23:20:00Z"  # reopened at 1700004000
    assert second["wait_seconds"] == 30.0 and second["handle_seconds"] == 40.0
    assert states["2:207"]["contacts"] == 2


def test_inbox_map_by_name_then_channel() -> None:
    payloads = fixture("chatwoot_answered.json")
    by_name, _, _ = fold(payloads, {"Site - chat": "social", "Channel::WebWidget": "email"})
    by_channel, _, _ = fold(payloads, {"Channel::WebWidget": "email"})
    assert by_name[0]["touchpoint"] == "social"
    assert by_channel[0]["touchpoint"] == "email"


def test_channel_without_touchpoint_is_unmapped_with_a_hint() -> None:
    payloads = fixture("chatwoot_answered.json")
    for p in payloads:
        conv = p if p["event"] != "message_created" else p["conversation"]
        conv["channel"] = "Channel::Api"
    for p in payloads:
        if "inbox" in p:
            p["inbox"]["name"] = "Integração"
    events, reasons, _ = fold(payloads)
    assert events == []
    assert reasons == [
        "contact without touchpoint (inbox 'Integração', channel 'Channel::Api' has no "
        "touchpoint: add it to TOUCHPOINTS_CHATWOOT_INBOX_MAP)"
    ]
    mapped, _, _ = fold(payloads, {"Channel::Api": "chat"})
    assert mapped[0]["touchpoint"] == "chat"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"event": "contact_created", "id": 4}, "event 'contact_created' is not mapped"),
        ({"event": "message_created", "id": 1}, "message_created without a conversation object"),
        ({"event": "conversation_created"}, "conversation_created without a conversation id"),
        ("text", "payload is not a JSON object"),
    ],
)
def test_unmapped_events(payload: Any, reason: str) -> None:
    t, after = chatwoot.translate(payload, None)
    assert t.events == [] and [u.reason for u in t.unmapped] == [reason] and after is None


def test_resolved_empty_conversation_is_not_a_contact() -> None:
    created = fixture("chatwoot_answered.json")[0]
    resolved = {**created, "event": "conversation_status_changed", "status": "resolved"}
    events, reasons, _ = fold([created, resolved])
    assert events == []
    assert reasons == ["resolved without any customer message or reply: not a contact"]


def test_signature_algorithm() -> None:
    body, stamp = b'{"event":"message_created"}', "1731000000"
    expected = (
        "sha256=" + hmac.new(SECRET.encode(), b"1731000000." + body, hashlib.sha256).hexdigest()
    )
    assert chatwoot.signature_valid(SECRET, body, stamp, expected)
    assert not chatwoot.signature_valid(SECRET, body + b" ", stamp, expected)
    assert not chatwoot.signature_valid(SECRET, body, "1731000001", expected)
    assert not chatwoot.signature_valid(SECRET, body, None, expected)


# -- routes, on DuckDB and PostgreSQL ------------------------------------------------------
@pytest.fixture
def client(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app over the engine-parametrised store's own target (state on both engines)."""
    monkeypatch.setenv("TOUCHPOINTS_CHATWOOT_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("TOUCHPOINTS_CHATWOOT_WEBHOOK_TOKEN", TOKEN)
    if store.engine == "duckdb":
        store.close()  # one process, one writer: the app opens the file itself
    app = create_app(settings=Settings(_env_file=None), target=store.target)
    with TestClient(app) as c:
        yield c


def post(client: TestClient, payload: Any, **auth: str) -> Any:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    params: dict[str, str] = {}
    if auth.get("mode", "token") == "token":
        headers[chatwoot.TOKEN_HEADER] = auth.get("token", TOKEN)
    else:
        stamp = auth.get("stamp", str(int(time.time())))
        signed = body if auth.get("tamper") is None else body + b" "
        headers[chatwoot.TIMESTAMP_HEADER] = stamp
        headers[chatwoot.SIGNATURE_HEADER] = (
            "sha256="
            + hmac.new(
                auth.get("secret", SECRET).encode(), stamp.encode() + b"." + signed, hashlib.sha256
            ).hexdigest()
        )
    return client.post("/webhooks/chatwoot", content=body, headers=headers, params=params)


def stored(client: TestClient) -> list[dict[str, Any]]:
    store = client.app.state.service.store  # type: ignore[attr-defined]
    return store.query(
        "SELECT event_id, customer_id, touchpoint, wait_seconds, handle_seconds, abandoned, "
        "resolved, agent FROM events ORDER BY event_id"
    )


def counts(client: TestClient) -> tuple[int, int, int]:
    store = client.app.state.service.store  # type: ignore[attr-defined]
    return store.count("events"), store.count("quarantine"), store.count("connector_state")


@pytest.mark.operational
def test_conversations_over_http_keep_state_in_the_store(client: TestClient) -> None:
    for payload in fixture("chatwoot_answered.json") + fixture("chatwoot_abandoned.json"):
        answer = post(client, payload)
        assert answer.status_code == 200, answer.text
    rows = stored(client)
    assert [
        (r["event_id"], r["wait_seconds"], r["handle_seconds"], r["abandoned"], r["agent"])
        for r in rows
    ] == [
        ("chatwoot:2:207:contact:1", 120.0, 600.5, False, "Bruna Souza"),
        ("chatwoot:2:208:contact:1", 900.0, None, True, None),
    ]
    assert counts(client) == (2, 0, 2)
    # Chatwoot retries the resolution: nothing new.
    again = post(client, fixture("chatwoot_answered.json")[-1])
    assert again.json()["events"] == 0
    assert counts(client) == (2, 0, 2)


@pytest.mark.operational
def test_signed_delivery_accepted_and_bad_ones_refused(client: TestClient) -> None:
    payloads = fixture("chatwoot_answered.json")
    assert post(client, payloads[0], mode="signed").status_code == 200
    before = counts(client)
    stale = str(int(time.time()) - 3600)
    refusals = [
        (
            post(client, payloads[1], mode="signed", secret="wrong"),
            "X-Chatwoot-Signature does not match the body and X-Chatwoot-Timestamp",
        ),
        (
            post(client, payloads[1], mode="signed", tamper="yes"),
            "X-Chatwoot-Signature does not match the body and X-Chatwoot-Timestamp",
        ),
        (
            post(client, payloads[1], mode="signed", stamp=stale),
            "X-Chatwoot-Timestamp is more than 300 s away from now (replay?)",
        ),
        (post(client, payloads[1], token="guess"), "token does not match"),
        # The HMAC key is not a token: the two are kept apart.
        (post(client, payloads[1], token=SECRET), "token does not match"),
        (
            client.post("/webhooks/chatwoot", json=payloads[1], params={"token": TOKEN}),
            "send the token in the X-Touchpoints-Token header, not in the URL",
        ),
        (
            client.post("/webhooks/chatwoot", json=payloads[1]),
            "missing X-Chatwoot-Signature (or X-Touchpoints-Token) for this webhook",
        ),
        (
            # Signed, but NaN compares false with everything: it must not pass the window.
            post(client, payloads[1], mode="signed", stamp="nan"),
            "X-Chatwoot-Timestamp is not unix seconds",
        ),
    ]
    for answer, detail in refusals:
        assert answer.status_code == 401
        assert answer.json() == {"detail": detail}
    assert counts(client) == before


@pytest.mark.operational
def test_unmapped_event_is_quarantined(client: TestClient) -> None:
    answer = post(client, {"event": "webwidget_triggered", "id": 9, "event_info": {}})
    assert answer.json()["quarantined"] == 1
    store = client.app.state.service.store  # type: ignore[attr-defined]
    rows = store.query("SELECT reason, raw FROM quarantine")
    assert rows[0]["reason"] == "event 'webwidget_triggered' is not mapped"
    assert json.loads(rows[0]["raw"])["event"] == "webwidget_triggered"


def test_not_configured_answers_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOUCHPOINTS_CHATWOOT_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("TOUCHPOINTS_CHATWOOT_WEBHOOK_TOKEN", raising=False)
    app = create_app(settings=Settings(_env_file=None), target=str(tmp_path / "n.duckdb"))
    with TestClient(app) as c:
        answer = c.post(
            "/webhooks/chatwoot",
            json={"event": "conversation_created"},
            headers={chatwoot.TOKEN_HEADER: "x"},
        )
        assert answer.status_code == 503
        assert "TOUCHPOINTS_CHATWOOT_WEBHOOK_SECRET" in answer.json()["detail"]


def test_inbox_map_from_settings_over_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOUCHPOINTS_CHATWOOT_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("TOUCHPOINTS_CHATWOOT_INBOX_MAP", '{"Site - chat": "social"}')
    app = create_app(settings=Settings(_env_file=None), target=str(tmp_path / "map.duckdb"))
    with TestClient(app) as c:
        for payload in fixture("chatwoot_answered.json"):
            assert post(c, payload).status_code == 200
        assert [r["touchpoint"] for r in stored(c)] == ["social"]
