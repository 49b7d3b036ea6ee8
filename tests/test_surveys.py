"""Feedback surveys: signed single-use links, the customer's page in pt-BR/en, what an
answer stores, and every way a link can be refused (nothing stored each time)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import run
from forms import FormClient
from touchpoints.core.errors import TouchpointsError
from touchpoints.core.settings import Settings
from touchpoints.ingest import ingest_records, surveys
from touchpoints.server.app import create_app
from touchpoints.server.auth import create_key
from touchpoints.server.surveys import SlidingWindow, choose_language
from touchpoints.store.base import Store

SECRET = "test-secret-key-0123456789"
RATED = {
    "event_id": "call-1",
    "customer_id": "ana",
    "touchpoint": "phone",
    "ts": "2026-03-02T10:00:00Z",
}


def settings(**overrides: object) -> Settings:
    base: dict[str, object] = {
        "secret_key": SECRET,
        "public_url": "https://cx.example.com/",
        "survey_rate_limit_per_minute": 1000,
    }
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(settings=settings(), target=str(tmp_path / "s.duckdb"))
    with FormClient(app) as c:
        c.app.state.service.ingest([RATED], "test")
        yield c


def link(c: TestClient, **kw: object) -> dict[str, str]:
    service = c.app.state.service
    return service.read(surveys.create_link, service.settings, "call-1", **kw)


def events(c: TestClient) -> list[dict[str, object]]:
    return c.app.state.service.read(
        lambda s: s.query("SELECT * FROM events WHERE action = 'feedback' ORDER BY event_id")
    )


def count(c: TestClient) -> int:
    return c.app.state.service.read(lambda s: s.count())


# -- tokens -------------------------------------------------------------------------------
def test_token_round_trip() -> None:
    expires = datetime(2030, 1, 1, 12, 0, 0)
    token = surveys.sign(SECRET, "call-1", "tok123", expires)
    claims = surveys.verify(SECRET, token, now=datetime(2029, 12, 31))
    assert claims == surveys.Claims("call-1", "tok123", expires)
    assert claims.feedback_event_id == "survey:tok123"


def test_tampered_expired_and_keyless_tokens() -> None:
    token = surveys.sign(SECRET, "call-1", "tok123", datetime(2030, 1, 1))
    payload, sig = token.split(".")
    forged_payload = surveys._b64(b'{"e":"call-2","t":"tok123","x":1893456000}')
    for bad in (
        f"{forged_payload}.{sig}",
        f"{payload}.{sig[:-2]}AA",
        token.replace(".", ""),
        "",
        "é.é",
    ):
        with pytest.raises(surveys.SurveyLinkError) as info:
            surveys.verify(SECRET, bad, now=datetime(2029, 1, 1))
        assert info.value.kind == "forged"
    with pytest.raises(surveys.SurveyLinkError, match="expired"):
        surveys.verify(SECRET, token, now=datetime(2030, 1, 1))
    with pytest.raises(surveys.SurveyLinkError) as info:
        surveys.verify("another-key", token, now=datetime(2029, 1, 1))
    assert info.value.kind == "forged"
    with pytest.raises(surveys.NoSecretKey, match="TOUCHPOINTS_SECRET_KEY"):
        surveys.verify(None, token)


@pytest.mark.operational
def test_create_link_checks_the_event_and_the_secret(store: Store) -> None:
    ingest_records(store, [RATED], "test")
    made = surveys.create_link(store, settings(), "call-1", now=datetime(2026, 3, 2, 12))
    assert made["url"] == "https://cx.example.com/s/" + made["token"]
    assert made["expires_at"] == "2026-03-16T12:00:00Z"  # 14 days by default
    claims = surveys.verify(SECRET, made["token"], now=datetime(2026, 3, 3))
    assert claims.event_id == "call-1"
    assert surveys.token_state(store, claims) == "open"
    with pytest.raises(surveys.UnknownEvent, match="no event with event_id 'nope' in the store"):
        surveys.create_link(store, settings(), "nope")
    with pytest.raises(surveys.NoSecretKey, match="survey links need a secret key"):
        surveys.create_link(store, settings(secret_key=None), "call-1")
    assert store.count("survey_tokens") == 1


# -- the page -------------------------------------------------------------------------------
def test_page_language_from_header_and_override(client: TestClient) -> None:
    url = "/s/" + link(client)["token"]
    pt = client.get(url, headers={"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.8"})
    assert pt.status_code == 200
    assert '<html lang="pt-BR">' in pt.text
    assert "Como você nos conheceu?" in pt.text
    assert "(Central de atendimento)" in pt.text  # the rated touchpoint, named in pt-BR
    assert '<option value="ads">Anúncios online</option>' in pt.text
    assert 'value="warehouse"' not in pt.text  # backstage steps are not touchpoints
    en = client.get(url, headers={"Accept-Language": "fr-FR, en;q=0.5"})
    assert '<html lang="en">' in en.text
    assert "How did you first hear about us?" in en.text
    assert '<option value="ads">Online ads</option>' in en.text
    forced = client.get(url + "?lang=pt-BR", headers={"Accept-Language": "en"})
    assert '<html lang="pt-BR">' in forced.text
    assert pt.headers["cache-control"] == "no-store"


def test_page_is_accessible_markup(client: TestClient) -> None:
    html = client.get("/s/" + link(client)["token"]).text
    for name, low, high in (("nps", 0, 10), ("csat", 1, 5), ("ces", 1, 7)):
        for n in (low, high):
            assert f'id="{name}-{n}" name="{name}" value="{n}"' in html
            assert f'<label for="{name}-{n}">{n}</label>' in html
        assert f'id="{name}-{high + 1}"' not in html
    assert '<label for="first_heard">' in html and '<label for="comment">' in html
    assert html.count("<legend>") == 3
    assert "http://" not in html and "https://" not in html  # nothing from another host


def test_choose_language() -> None:
    assert choose_language(None) == "en"
    assert choose_language("pt") == "pt-BR"
    assert choose_language("en;q=0.4, pt-PT;q=0.8") == "pt-BR"
    assert choose_language("de, en-GB;q=0.7") == "en"
    assert choose_language("pt-BR", "en") == "en"
    assert choose_language("en", "xx") == "en"


# -- answering --------------------------------------------------------------------------------
ANSWER = {"nps": "9", "csat": "5", "ces": "2", "first_heard": "website", "comment": "Muito bom!"}


def test_answer_stores_feedback_and_first_heard(client: TestClient) -> None:
    made = link(client)
    claims = surveys.verify(SECRET, made["token"])
    response = client.post("/s/" + made["token"], data={**ANSWER, "lang": "pt-BR"})
    assert response.status_code == 200
    assert "Obrigado!" in response.text
    rows = events(client)
    assert len(rows) == 2
    main, heard = rows
    assert main["event_id"] == f"survey:{claims.token_id}"
    assert (main["customer_id"], main["touchpoint"], main["ref_event_id"]) == (
        "ana",
        "phone",
        "call-1",
    )
    assert (main["nps"], main["csat"], main["ces"], main["comment"]) == (9, 5, 2, "Muito bom!")
    assert heard["event_id"] == f"survey:{claims.token_id}:first-heard"
    assert (heard["touchpoint"], heard["phase"], heard["nps"]) == ("website", "before", None)
    assert heard["ref_event_id"] == "call-1"
    used = client.app.state.service.read(lambda s: s.query("SELECT used_at FROM survey_tokens"))
    assert used[0]["used_at"] is not None
    assert client.app.state.service.read(run, "feedback.first-heard") == {
        "answers": 1,
        "rows": [{"touchpoint": "website", "customers": 1, "share": 1.0}],
    }


def test_double_submit_stores_once(client: TestClient) -> None:
    token = link(client)["token"]
    assert client.post("/s/" + token, data=ANSWER).status_code == 200
    before = count(client)
    again = client.post("/s/" + token, data=ANSWER, headers={"Accept-Language": "en"})
    assert again.status_code == 410
    assert "already answered" in again.text
    assert count(client) == before


def test_concurrent_submit_is_a_duplicate_not_a_second_row(client: TestClient) -> None:
    """Another worker stored the answer but had not marked the token yet: the event_id
    derived from the token makes this submit a conflict (other answers: both kept in
    quarantine) or a duplicate, shown as already answered."""
    token = link(client)["token"]
    claims = surveys.verify(SECRET, token)
    event = client.app.state.service.read(surveys.check_open, claims)
    answers, _ = surveys.parse_answers({"nps": "3"}, surveys_catalog(client), "en")
    client.app.state.service.ingest(surveys.feedback_records(claims, event, answers), "survey")
    before = count(client)
    response = client.post("/s/" + token, data={"nps": "10"})
    assert response.status_code == 410
    assert count(client) == before
    assert [r["nps"] for r in events(client)] == [3]


def surveys_catalog(c: TestClient):  # noqa: ANN201
    return c.app.state.service.read(lambda s: s.catalog())


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"nps": "11"}, "The recommendation score must be a whole number from 0 to 10."),
        ({"nps": "-1"}, "The recommendation score must be a whole number from 0 to 10."),
        ({"csat": "0"}, "Satisfaction must be a whole number from 1 to 5."),
        ({"ces": "8"}, "Effort must be a whole number from 1 to 7."),
        ({"ces": "2.5"}, "Effort must be a whole number from 1 to 7."),
        ({"first_heard": "warehouse"}, "Choose one of the listed options"),
        ({"comment": "x" * 2001}, "The comment is too long (at most 2,000 characters)."),
        ({}, "Please answer at least one question."),
    ],
)
def test_invalid_answers_show_the_form_again_and_store_nothing(
    client: TestClient, form: dict[str, str], message: str
) -> None:
    token = link(client)["token"]
    before = count(client)
    response = client.post("/s/" + token, data=form, headers={"Accept-Language": "en"})
    assert response.status_code == 422
    assert message in response.text
    assert 'role="alert"' in response.text
    assert count(client) == before
    # The link is still usable after a mistake.
    assert client.post("/s/" + token, data={"nps": "7"}).status_code == 200


def test_invalid_answer_message_in_portuguese(client: TestClient) -> None:
    response = client.post("/s/" + link(client)["token"], data={"nps": "11", "lang": "pt-BR"})
    assert response.status_code == 422
    assert "A nota de recomendação deve ser um número inteiro de 0 a 10." in response.text
    assert 'value="11"' not in response.text  # nothing rendered as checked that cannot be
    long = client.post("/s/" + link(client)["token"], data={"comment": "x" * 2001, "lang": "pt-BR"})
    assert "O comentário é longo demais (no máximo 2.000 caracteres)." in long.text


@pytest.mark.parametrize("method", ["get", "post"])
def test_refused_links_store_nothing(client: TestClient, method: str) -> None:
    service = client.app.state.service
    good = link(client)["token"]
    payload, sig = good.split(".")
    expired = service.read(
        surveys.create_link,
        service.settings,
        "call-1",
        now=datetime.now() - timedelta(days=30),
    )["token"]
    never_issued = surveys.sign(SECRET, "call-1", "not-in-store", datetime(2099, 1, 1))
    used = link(client)["token"]
    assert client.post("/s/" + used, data={"nps": "8"}).status_code == 200
    before = count(client)
    cases = [
        (f"{payload}.{sig[::-1]}", 404, "Link not valid"),
        ("garbage", 404, "Link not valid"),
        (never_issued, 404, "Link not valid"),
        (expired, 410, "Link expired"),
        (used, 410, "Already answered"),
    ]
    for token, status, heading in cases:
        call = getattr(client, method)
        kwargs = {"data": {"nps": "9"}} if method == "post" else {}
        response = call("/s/" + token, headers={"Accept-Language": "en"}, **kwargs)
        assert (response.status_code, heading in response.text) == (status, True), token
    pt = client.get("/s/" + expired, headers={"Accept-Language": "pt-BR"})
    assert pt.status_code == 410 and "Link expirado" in pt.text
    assert count(client) == before


def test_rate_limit_per_client(tmp_path: Path) -> None:
    app = create_app(
        settings=settings(survey_rate_limit_per_minute=3), target=str(tmp_path / "r.duckdb")
    )
    with FormClient(app) as c:
        c.app.state.service.ingest([RATED], "test")
        token = link(c)["token"]
        assert [c.get("/s/" + token).status_code for _ in range(3)] == [200, 200, 200]
        limited = c.post("/s/" + token, data={"nps": "9"}, headers={"Accept-Language": "pt"})
        assert limited.status_code == 429
        assert "Muitas solicitações" in limited.text
        assert limited.headers["retry-after"] == "60"
        assert count(c) == 1


def test_sliding_window() -> None:
    w = SlidingWindow(2, window=60)
    assert [w.allow("a", t) for t in (0, 1, 2)] == [True, True, False]
    assert w.allow("b", 2)
    assert w.allow("a", 60.5)  # the hit at 0 left the window
    assert not w.allow("a", 60.6)


def test_no_secret_key_pages_say_unavailable(tmp_path: Path) -> None:
    app = create_app(settings=settings(secret_key=None), target=str(tmp_path / "n.duckdb"))
    with FormClient(app) as c:
        token = surveys.sign(SECRET, "call-1", "t", datetime(2099, 1, 1))
        assert c.get("/s/" + token).status_code == 503


# -- API and CLI ------------------------------------------------------------------------------
def test_api_creates_links_with_the_ingest_scope(client: TestClient) -> None:
    service = client.app.state.service
    _, ingest_key = service.read(create_key, ["ingest"])
    _, read_key = service.read(create_key, ["read"])
    url = "/v1/surveys"
    assert client.post(url, json={"event_id": "call-1"}).status_code == 401
    wrong = client.post(url, json={"event_id": "call-1"}, headers=_auth(read_key))
    assert wrong.status_code == 403
    made = client.post(url, json={"event_id": "call-1"}, headers=_auth(ingest_key))
    assert made.status_code == 201
    body = made.json()
    assert set(body) == {"url", "token", "expires_at"}
    assert body["url"] == "https://cx.example.com/s/" + body["token"]
    assert client.get("/s/" + body["token"]).status_code == 200
    unknown = client.post(url, json={"event_id": "nope"}, headers=_auth(ingest_key))
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "no event with event_id 'nope' in the store"
    assert client.post(url, json={}, headers=_auth(ingest_key)).status_code == 422


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_cli_survey_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from touchpoints.cli import app
    from touchpoints.core.settings import get_settings
    from touchpoints.store import open_store

    db = str(tmp_path / "cli.duckdb")
    with open_store(db) as s:
        ingest_records(s, [RATED], "test")
    monkeypatch.setenv("TOUCHPOINTS_SECRET_KEY", SECRET)
    monkeypatch.setenv("TOUCHPOINTS_PUBLIC_URL", "https://cx.example.com")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        ok = runner.invoke(
            app, ["survey", "link", "--event", "call-1", "--db", db, "--json", "--ttl-days", "2"]
        )
        assert ok.exit_code == 0, ok.output
        body = json.loads(ok.stdout)
        assert re.fullmatch(r"https://cx\.example\.com/s/[\w-]+\.[\w-]+", body["url"])
        claims = surveys.verify(SECRET, body["token"])
        assert claims.expires_at - datetime.utcnow() < timedelta(days=2, seconds=5)
        missing = runner.invoke(app, ["survey", "link", "--event", "nope", "--db", db])
        # cli.main turns a TouchpointsError into one line and exit status 2.
        assert isinstance(missing.exception, TouchpointsError)
        assert str(missing.exception) == "no event with event_id 'nope' in the store"
        monkeypatch.delenv("TOUCHPOINTS_SECRET_KEY")
        get_settings.cache_clear()
        keyless = runner.invoke(app, ["survey", "link", "--event", "call-1", "--db", db])
        assert isinstance(keyless.exception, TouchpointsError)
        assert "survey links need a secret key" in str(keyless.exception)
    finally:
        get_settings.cache_clear()
