"""Hypothesis-fuzzed webhook bodies, validly signed: random JSON, random bytes, and the
providers' documented payloads with one field replaced by anything. Every answer is 2xx
or 4xx (never 5xx) and nothing is lost: each accepted payload yields events or quarantine
rows (or, for Twilio progress callbacks, call state)."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from touchpoints.connectors import twilio, whatsapp
from touchpoints.core.settings import Settings
from touchpoints.server.app import create_app

FIXTURES = Path(__file__).parent / "fixtures" / "connectors"
SECRET = "fuzz-secret"
PUBLIC = "https://cx.example.com"
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location in a JSON document (keys and list positions)."""
    found = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            found += paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found += paths(v, (*prefix, i))
    return found


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    doc = copy.deepcopy(doc)
    target = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return doc


def mutations(name: str) -> st.SearchStrategy[Any]:
    docs = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    docs = docs if isinstance(docs, list) and name.startswith(("chatwoot", "twilio")) else [docs]
    return st.sampled_from(docs).flatmap(
        lambda doc: st.tuples(st.sampled_from(paths(doc)), json_values).map(
            lambda pv: replaced(doc, pv[0], pv[1])
        )
    )


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    mp = pytest.MonkeyPatch()
    mp.setenv("TOUCHPOINTS_CHATWOOT_WEBHOOK_TOKEN", SECRET)
    target = str(tmp_path_factory.mktemp("fuzz") / "fuzz.duckdb")
    app = create_app(
        settings=Settings(
            _env_file=None,
            whatsapp_app_secret=SECRET,
            whatsapp_verify_token=SECRET,
            twilio_auth_token=SECRET,
            public_url=PUBLIC,
        ),
        target=target,
    )
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    mp.undo()


def quarantined(client: TestClient) -> int:
    return client.app.state.service.store.count("quarantine")  # type: ignore[attr-defined]


def check_whatsapp(client: TestClient, body: bytes) -> None:
    before = quarantined(client)
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    answer = client.post(
        "/webhooks/whatsapp", content=body, headers={whatsapp.SIGNATURE_HEADER: signature}
    )
    assert 200 <= answer.status_code < 500, answer.text
    kept = quarantined(client) - before
    if answer.status_code == 200:
        assert answer.json()["events"] + kept >= 1
    else:
        assert answer.status_code == 400 and kept == 1


def check_chatwoot(client: TestClient, body: bytes) -> None:
    before = quarantined(client)
    answer = client.post(
        "/webhooks/chatwoot", content=body, headers={"X-Touchpoints-Token": SECRET}
    )
    assert 200 <= answer.status_code < 500, answer.text
    kept = quarantined(client) - before
    if answer.status_code == 400:
        assert kept == 1
        return
    assert answer.status_code == 200
    # A folded message or status change may legitimately produce neither an event nor a
    # quarantine row: it lives in the conversation's state. Anything not about a
    # conversation must be quarantined.
    payload = json.loads(body)
    from touchpoints.connectors.chatwoot import conversation_of

    if conversation_of(payload)[0] is None:
        assert kept == 1


@FUZZ
@given(body=json_values.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=200))
def test_whatsapp_random_bodies(client: TestClient, body: bytes) -> None:
    check_whatsapp(client, body)


@FUZZ
@given(
    doc=st.one_of(
        mutations("whatsapp_text.json"),
        mutations("whatsapp_statuses.json"),
        mutations("whatsapp_failed.json"),
        mutations("whatsapp_button_reply.json"),
    )
)
def test_whatsapp_mutated_documented_payloads(client: TestClient, doc: Any) -> None:
    check_whatsapp(client, json.dumps(doc).encode())


@FUZZ
@given(
    body=json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=200)
    | mutations("chatwoot_answered.json").map(lambda d: json.dumps(d).encode())
    | mutations("chatwoot_abandoned.json").map(lambda d: json.dumps(d).encode())
)
def test_chatwoot_bodies(client: TestClient, body: bytes) -> None:
    check_chatwoot(client, body)


params_strategy = st.one_of(
    st.dictionaries(st.text(max_size=12), st.text(max_size=20), max_size=6),
    mutations("twilio_answered.json").map(lambda d: {k: str(v) for k, v in d.items()}),
    mutations("twilio_abandoned.json").map(lambda d: {k: str(v) for k, v in d.items()}),
)


@FUZZ
@given(params=params_strategy)
def test_twilio_params(client: TestClient, params: dict[str, str]) -> None:
    body = urlencode(params)
    from urllib.parse import parse_qsl

    signed = twilio.signature(
        SECRET, PUBLIC + "/webhooks/twilio", parse_qsl(body, keep_blank_values=True)
    )
    before = quarantined(client)
    answer = client.post(
        "/webhooks/twilio",
        content=body,
        headers={
            twilio.SIGNATURE_HEADER: signed,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert answer.status_code == 200, answer.text
    if not (params.get("CallSid") or "").strip():
        assert quarantined(client) - before == 1
