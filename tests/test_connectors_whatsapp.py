"""WhatsApp Business Cloud API connector: translation of Meta's documented payloads, the
verification handshake, signature checks (nothing stored on refusal), dedupe of retries,
and quarantine of what cannot be mapped."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from touchpoints.connectors import whatsapp
from touchpoints.core.settings import Settings
from touchpoints.server.app import create_app

FIXTURES = Path(__file__).parent / "fixtures" / "connectors"
SECRET = "meta-app-secret-3f9a"
VERIFY = "verify-me-7c1e"
WAMID_OUT = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def body_of(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, whatsapp_app_secret=SECRET, whatsapp_verify_token=VERIFY)
    with TestClient(create_app(settings=settings, target=str(tmp_path / "wa.duckdb"))) as c:
        yield c


def counts(client: TestClient) -> tuple[int, int]:
    store = client.app.state.service.store  # type: ignore[attr-defined]
    return store.count("events"), store.count("quarantine")


def post(client: TestClient, body: bytes, signature: str | None = "auto") -> Any:
    headers = {"Content-Type": "application/json"}
    if signature == "auto":
        headers[whatsapp.SIGNATURE_HEADER] = sign(body)
    elif signature is not None:
        headers[whatsapp.SIGNATURE_HEADER] = signature
    return client.post("/webhooks/whatsapp", content=body, headers=headers)


# -- translation ---------------------------------------------------------------------------
def test_text_message_becomes_one_interaction_without_its_text() -> None:
    t = whatsapp.translate(fixture("whatsapp_text.json"))
    assert t.unmapped == []
    assert t.events == [
        {
            "event_id": "whatsapp:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=:received",
            "customer_id": "16505551234",
            "touchpoint": "whatsapp",
            "ts": "2025-06-08T20:59:43Z",
            "action": "interaction",
        }
    ]
    assert "another color" not in json.dumps(t.events)
    assert "Sheena" not in json.dumps(t.events)


def test_image_and_button_reply_are_interactions() -> None:
    image = whatsapp.translate(fixture("whatsapp_image.json")).events
    button = whatsapp.translate(fixture("whatsapp_button_reply.json")).events
    assert [(e["ts"], e["action"]) for e in image] == [("2025-06-16T16:18:22Z", "interaction")]
    assert [(e["ts"], e["customer_id"]) for e in button] == [
        ("2025-06-16T00:06:53Z", "16505551234")
    ]
    assert "Black jacket" not in json.dumps(image)


def test_statuses_become_sent_delivered_read() -> None:
    t = whatsapp.translate(fixture("whatsapp_statuses.json"))
    assert t.unmapped == []
    assert [(e["event_id"], e["action"], e["ts"]) for e in t.events] == [
        (f"whatsapp:{WAMID_OUT}:sent", "message_sent", "2025-06-18T16:22:53Z"),
        (f"whatsapp:{WAMID_OUT}:delivered", "message_delivered", "2025-06-18T16:22:55Z"),
        (f"whatsapp:{WAMID_OUT}:read", "message_read", "2025-06-18T16:24:00Z"),
    ]
    assert {e["customer_id"] for e in t.events} == {"16505551234"}


def test_failed_status_is_an_event() -> None:
    t = whatsapp.translate(fixture("whatsapp_failed.json"))
    assert [(e["action"], e["customer_id"], e["ts"]) for e in t.events] == [
        ("message_failed", "16505559876", "2025-06-19T14:51:05Z")
    ]


def test_template_status_update_is_unmapped_with_reason() -> None:
    t = whatsapp.translate(fixture("whatsapp_template_status.json"))
    assert t.events == []
    assert [u.reason for u in t.unmapped] == [
        "field 'message_template_status_update' is not mapped (only 'messages' notifications are)"
    ]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            [],
            "not a WhatsApp Business Account notification (object must be 'whatsapp_business_account')",
        ),
        ({"object": "whatsapp_business_account", "entry": []}, "notification without entries"),
        ({"object": "whatsapp_business_account", "entry": [{"id": "1"}]}, "entry without changes"),
    ],
)
def test_shapes_that_are_not_notifications(payload: Any, reason: str) -> None:
    t = whatsapp.translate(payload)
    assert t.events == [] and [u.reason for u in t.unmapped] == [reason]


def test_bad_message_parts_are_unmapped_one_by_one() -> None:
    payload = fixture("whatsapp_text.json")
    value = payload["entry"][0]["changes"][0]["value"]
    good = value["messages"][0]
    value["messages"] = [
        good,
        {**good, "id": "wamid.2", "timestamp": "yesterday"},
        {**good, "id": "wamid.3", "type": "system", "system": {"body": "changed number"}},
        {**good, "id": "wamid.4", "type": "hologram"},
    ]
    value["statuses"] = [
        {"id": "wamid.5", "status": "deleted", "timestamp": "1750263773", "recipient_id": "1"}
    ]
    t = whatsapp.translate(payload)
    assert len(t.events) == 1
    assert [u.reason for u in t.unmapped] == [
        "message without a valid timestamp (unix seconds, 2000-2100)",
        "system message (e.g. the customer changed number) is not an interaction",
        "message type 'hologram' is not mapped",
        "message status 'deleted' is not mapped",
    ]


# -- routes ----------------------------------------------------------------------------------
def test_verification_handshake(client: TestClient) -> None:
    ok = client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"},
    )
    assert ok.status_code == 200
    assert ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    wrong = client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
    )
    assert wrong.status_code == 403
    mode = client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"},
    )
    assert mode.status_code == 403


def test_signed_notification_is_stored_and_retry_is_a_duplicate(client: TestClient) -> None:
    body = body_of("whatsapp_statuses.json")
    first = post(client, body)
    assert first.status_code == 200
    assert first.json() == {
        "events": 3,
        "stored": 3,
        "duplicates": 0,
        "rejected": 0,
        "quarantined": 0,
    }
    again = post(client, body)
    assert again.json()["duplicates"] == 3 and again.json()["stored"] == 0
    assert counts(client) == (3, 0)


@pytest.mark.parametrize(
    ("signature", "detail"),
    [
        (None, "missing X-Hub-Signature-256 header"),
        ("sha256=" + "0" * 64, "X-Hub-Signature-256 does not match the body"),
        (sign(b"x", "another-secret"), "X-Hub-Signature-256 does not match the body"),
        ("sha1=abc", "X-Hub-Signature-256 does not match the body"),
    ],
)
def test_bad_signature_is_refused_and_nothing_stored(
    client: TestClient, signature: str | None, detail: str
) -> None:
    before = counts(client)
    answer = post(client, body_of("whatsapp_text.json"), signature)
    assert answer.status_code == 401
    assert answer.json() == {"detail": detail}
    assert counts(client) == before == (0, 0)


def test_tampered_body_is_refused(client: TestClient) -> None:
    body = body_of("whatsapp_text.json")
    signature = sign(body)
    tampered = body.replace(b"16505551234", b"16505550000")
    assert post(client, tampered, signature).status_code == 401
    assert counts(client) == (0, 0)


def test_signature_covers_raw_bytes_not_reserialised_json(client: TestClient) -> None:
    """Meta signs the bytes it sent (escaped unicode, its spacing): verify those bytes."""
    payload = fixture("whatsapp_text.json")
    body = json.dumps(payload, ensure_ascii=True, indent=None, separators=(",", ":")).encode()
    assert post(client, body).status_code == 200
    assert counts(client) == (1, 0)


def test_unmapped_parts_are_quarantined_with_reason(client: TestClient) -> None:
    answer = post(client, body_of("whatsapp_template_status.json"))
    assert answer.status_code == 200
    assert answer.json()["quarantined"] == 1
    store = client.app.state.service.store  # type: ignore[attr-defined]
    rows = store.query("SELECT source, reason, raw FROM quarantine")
    assert rows[0]["source"].startswith("whatsapp:")
    assert rows[0]["reason"].startswith("field 'message_template_status_update' is not mapped")
    assert json.loads(rows[0]["raw"])["field"] == "message_template_status_update"


def test_signed_body_that_is_not_json_is_kept_and_answered_400(client: TestClient) -> None:
    answer = post(client, b"\xff{not json")
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("body is not JSON")
    assert counts(client) == (0, 1)


def test_unknown_touchpoint_in_catalog_is_rejected_into_quarantine(tmp_path: Path) -> None:
    """A catalog without `whatsapp`: the events are refused by validation, and kept."""
    from touchpoints.core.catalog import parse_catalog

    settings = Settings(_env_file=None, whatsapp_app_secret=SECRET, whatsapp_verify_token=VERIFY)
    app = create_app(settings=settings, target=str(tmp_path / "nowa.duckdb"))
    app.state.service.store.set_catalog(
        parse_catalog(
            "touchpoints:\n  - id: phone\n    name: Phone\n    channel: phone\n    kind: human\n",
            "t",
        )
    )
    with TestClient(app) as c:
        answer = post(c, body_of("whatsapp_text.json"))
        assert answer.status_code == 200
        assert answer.json()["rejected"] == 1 and answer.json()["quarantined"] == 1
        assert counts(c) == (0, 1)


def test_not_configured_answers_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOUCHPOINTS_WHATSAPP_APP_SECRET", raising=False)
    monkeypatch.delenv("TOUCHPOINTS_WHATSAPP_VERIFY_TOKEN", raising=False)
    app = create_app(settings=Settings(_env_file=None), target=str(tmp_path / "n.duckdb"))
    with TestClient(app) as c:
        body = body_of("whatsapp_text.json")
        answer = c.post(
            "/webhooks/whatsapp", content=body, headers={whatsapp.SIGNATURE_HEADER: sign(body)}
        )
        assert answer.status_code == 503
        assert "TOUCHPOINTS_WHATSAPP_APP_SECRET" in answer.json()["detail"]
        assert c.get("/webhooks/whatsapp", params={"hub.mode": "subscribe"}).status_code == 503
        assert c.app.state.service.store.count("events") == 0  # type: ignore[attr-defined]
