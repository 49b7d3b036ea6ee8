"""Twilio Voice connector: the signature exactly as Twilio documents it (with Twilio's own
published example), queue + status callbacks folded into one phone contact, refusals
store nothing, empty TwiML answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from touchpoints.connectors import twilio
from touchpoints.core.settings import Settings
from touchpoints.server.app import create_app

FIXTURES = Path(__file__).parent / "fixtures" / "connectors"
TOKEN = "twilio-auth-token-0a1b2c"
PUBLIC = "https://cx.example.com.br/tp"
NOW = datetime(2023, 11, 14, 23, 0, tzinfo=UTC)


def fixture(name: str) -> list[dict[str, str]]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_twilio_published_example_signature() -> None:
    """The example in Twilio's security docs / SDK samples: auth token 12345."""
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675310",
        "Digits": "1234",
        "From": "+14158675310",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio.signature("12345", url, params.items()) == "GvWf1cFY/Q7PnoempGyD5oXAezc="
    assert twilio.signature_valid(
        "12345", url, list(params.items()), "GvWf1cFY/Q7PnoempGyD5oXAezc="
    )
    assert not twilio.signature_valid(
        "12345", url + "&x=1", list(params.items()), "GvWf1cFY/Q7PnoempGyD5oXAezc="
    )
    # Signed with the explicit default port, checked without it (and the other way).
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert twilio.signature_valid(
        "12345", url, list(params.items()), twilio.signature("12345", with_port, params.items())
    )


def run(callbacks: list[dict[str, str]]) -> tuple[list[dict[str, Any]], list[str]]:
    state: dict[str, Any] | None = None
    events, reasons = [], []
    for params in callbacks:
        t, state = twilio.translate(params, state, NOW)
        events += t.events
        reasons += [u.reason for u in t.unmapped]
    return events, reasons


def test_answered_call_from_queue_and_status_callbacks() -> None:
    events, reasons = run(fixture("twilio_answered.json"))
    assert reasons == []
    assert events == [
        {
            "event_id": "twilio:CA5ef8732a3c49700934481addd5ce1659:contact",
            "customer_id": "+5511987654321",
            "touchpoint": "phone",
            "ts": "2023-11-14T22:24:18Z",  # 22:30:00 minus CallDuration 342 s
            "action": "interaction",
            "abandoned": False,
            "wait_seconds": 42.0,
            "handle_seconds": 300.0,  # 342 - 42 queued
        }
    ]


def test_hangup_in_queue_is_abandoned() -> None:
    events, _ = run(fixture("twilio_abandoned.json"))
    assert events == [
        {
            "event_id": "twilio:CA9c1f2d0b8e7a6f5e4d3c2b1a0f9e8d7c:contact",
            "customer_id": "+5521912345678",
            "touchpoint": "phone",
            "ts": "2023-11-14T22:38:10Z",
            "action": "interaction",
            "abandoned": True,
            "wait_seconds": 95.0,
        }
    ]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("no-answer", {"abandoned": True}),
        ("busy", {"abandoned": True}),
        ("canceled", {"abandoned": True}),
        ("failed", {"action": "call_failed"}),
        ("completed", {"abandoned": False, "handle_seconds": 20.0}),
    ],
)
def test_terminal_statuses_without_queue(status: str, expected: dict[str, Any]) -> None:
    params = {
        "CallSid": "CA1",
        "CallStatus": status,
        "From": "+1",
        "To": "+5511",
        "Direction": "outbound-api",
        "CallDuration": "20",
    }
    events, _ = run(
        [
            {**params, "CallStatus": "initiated", "Timestamp": "Tue, 14 Nov 2023 22:00:00 +0000"},
            params,
        ]
    )
    (event,) = events
    assert event["customer_id"] == "+5511"  # outbound: the customer is To
    assert event["ts"] == "2023-11-14T22:00:00Z"  # from the initiated callback
    assert {k: event[k] for k in expected} == expected
    assert "wait_seconds" not in event


def test_retry_of_final_callback_and_unknown_status() -> None:
    answered = fixture("twilio_answered.json")
    events, _ = run([*answered, answered[-1]])
    assert len(events) == 1
    _, reasons = run([{"CallSid": "CA2", "CallStatus": "teleported"}, {"From": "+1"}])
    assert reasons == ["CallStatus 'teleported' is not mapped", "callback without CallSid"]


# -- routes ----------------------------------------------------------------------------------
@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, twilio_auth_token=TOKEN, public_url=PUBLIC)
    with TestClient(create_app(settings=settings, target=str(tmp_path / "tw.duckdb"))) as c:
        yield c


def post(
    client: TestClient, params: dict[str, str], signature: str | None = "auto", query: str = ""
) -> Any:
    path = "/webhooks/twilio" + (f"?{query}" if query else "")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature == "auto":
        headers[twilio.SIGNATURE_HEADER] = twilio.signature(TOKEN, PUBLIC + path, params.items())
    elif signature is not None:
        headers[twilio.SIGNATURE_HEADER] = signature
    return client.post(path, content=urlencode(params), headers=headers)


def counts(client: TestClient) -> tuple[int, int]:
    store = client.app.state.service.store  # type: ignore[attr-defined]
    return store.count("events"), store.count("quarantine")


def test_callbacks_over_http_answer_twiml_and_store_one_contact(client: TestClient) -> None:
    for params in fixture("twilio_answered.json"):
        answer = post(client, params, query="src=enqueue")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/xml")
        assert answer.text.endswith("<Response/>")
    store = client.app.state.service.store  # type: ignore[attr-defined]
    rows = store.query("SELECT event_id, wait_seconds, handle_seconds, abandoned FROM events")
    assert rows == [
        {
            "event_id": "twilio:CA5ef8732a3c49700934481addd5ce1659:contact",
            "wait_seconds": 42.0,
            "handle_seconds": 300.0,
            "abandoned": False,
        }
    ]
    post(client, fixture("twilio_answered.json")[-1])  # Twilio retries
    assert counts(client) == (1, 0)


@pytest.mark.parametrize("signature", [None, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", "wrong"])
def test_bad_signature_is_refused_and_nothing_stored(
    client: TestClient, signature: str | None
) -> None:
    answer = post(client, fixture("twilio_answered.json")[-1], signature)
    assert answer.status_code == 401
    assert counts(client) == (0, 0)
    assert client.app.state.service.store.count("connector_state") == 0  # type: ignore[attr-defined]


def test_signature_is_over_public_url_not_the_internal_one(client: TestClient) -> None:
    params = fixture("twilio_answered.json")[-1]
    internal = twilio.signature(TOKEN, "http://testserver/webhooks/twilio", params.items())
    answer = post(client, params, internal)
    assert answer.status_code == 401
    assert answer.json()["detail"] == (
        "X-Twilio-Signature does not match (signed URL must be https://cx.example.com.br/tp/webhooks/twilio)"
    )


def test_tampered_params_are_refused(client: TestClient) -> None:
    params = fixture("twilio_answered.json")[-1]
    signature = twilio.signature(TOKEN, PUBLIC + "/webhooks/twilio", params.items())
    assert post(client, {**params, "CallDuration": "1"}, signature).status_code == 401
    assert counts(client) == (0, 0)


def test_unmapped_callback_is_quarantined_as_sent(client: TestClient) -> None:
    params = {"AccountSid": "AC1", "RecordingUrl": "https://api.twilio.com/rec/RE1"}
    assert post(client, params).status_code == 200
    store = client.app.state.service.store  # type: ignore[attr-defined]
    (row,) = store.query("SELECT reason, raw FROM quarantine")
    assert row == {"reason": "callback without CallSid", "raw": urlencode(params)}


def test_not_configured_answers_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOUCHPOINTS_TWILIO_AUTH_TOKEN", raising=False)
    app = create_app(settings=Settings(_env_file=None), target=str(tmp_path / "n.duckdb"))
    with TestClient(app) as c:
        answer = c.post("/webhooks/twilio", data={"CallSid": "CA1"})
        assert answer.status_code == 503
        assert "TOUCHPOINTS_TWILIO_AUTH_TOKEN" in answer.json()["detail"]
