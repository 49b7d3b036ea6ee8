"""The dashboard page "Attendant" (pt-BR and English): conversations, containment,
hand-offs by reason, CSAT bot vs people, and the messages the bot missed as YAML lines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from forms import FormClient
from touchpoints.attendant import conversation as conv
from touchpoints.attendant.bot import Attendant
from touchpoints.attendant.config import default_config
from touchpoints.core.settings import Settings
from touchpoints.server import users
from touchpoints.server.app import create_app

SECRET = "test-secret-key-0123456789abcdef"
PASSWORD = "correct horse"
OPEN = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
MISSED = 'e aquele "negócio" de ontem?'


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    db = tmp_path_factory.mktemp("attendant-dash") / "dash.duckdb"
    application = create_app(settings=Settings(_env_file=None, secret_key=SECRET), target=str(db))
    service = application.state.service
    bot = Attendant(default_config())
    for thread, text in (
        ("a", "aceita pix?"),
        ("b", "quero falar com atendente"),
        ("c", MISSED),
        ("d", MISSED),
    ):
        inbound = conv.Inbound("whatsapp", thread, thread, f"m-{thread}", OPEN, text)
        outcome = service.read(conv.handle, bot, inbound, OPEN + timedelta(seconds=4))
        if outcome.events:
            service.ingest(outcome.events, kind="attendant")
    rated = conv.Inbound(
        "whatsapp",
        "a",
        "a",
        "m-a2",
        OPEN + timedelta(minutes=1),
        "Bom",
        kind="choice",
        choice="csat:5",
    )
    service.read(conv.handle, bot, rated)
    service.read(users.create_user, "sue", PASSWORD, "supervisor")
    yield application
    service.close()


def client_for(app: Any, lang: str) -> TestClient:
    client = FormClient(app, follow_redirects=False)
    client.cookies.set("tp_lang", lang)
    assert client.post("/login", data={"username": "sue", "password": PASSWORD}).status_code == 303
    return client


def test_the_page_in_english(app: Any) -> None:
    page = client_for(app, "en").get("/attendant")
    assert page.status_code == 200
    html = page.text
    assert '<a href="/attendant' in html  # in the navigation, for supervisors too
    assert "Hand-offs by reason" in html and "asked for a person" in html
    assert "CSAT: bot vs people" in html
    assert "75.0%" in html  # containment: 3 of 4 (a miss without a second one is not a hand-off)
    assert "Messages it did not understand" in html
    assert "http://" not in html.replace("http://www.w3.org", "")


def test_the_page_in_portuguese_lists_missed_phrases_ready_to_paste(app: Any) -> None:
    html = client_for(app, "pt-BR").get("/attendant").text
    assert "Atendente virtual" in html and "Transferências por motivo" in html
    assert "pediu uma pessoa" in html
    start = html.index('<pre class="paste"')
    block = html[html.index(">", start) + 1 : html.index("</pre>", start)]
    import html as htmllib

    assert yaml.safe_load(htmllib.unescape(block)) == [MISSED]


def test_the_data_behind_the_page(app: Any) -> None:
    client = client_for(app, "en")
    kpis = client.get("/data/attendant").json()
    assert (kpis["conversations"], kpis["handoffs"], kpis["csat_bot"]) == (4, 1, 100.0)
    csv = client.get("/data/attendant_missed?format=csv").text
    assert MISSED.replace('"', '""') in csv


def test_an_empty_store_says_how_to_start(tmp_path: Path) -> None:
    application = create_app(
        settings=Settings(_env_file=None, secret_key=SECRET), target=str(tmp_path / "e.duckdb")
    )
    application.state.service.read(users.create_user, "sue", PASSWORD, "supervisor")
    with FormClient(application, follow_redirects=False) as client:
        client.cookies.set("tp_lang", "en")
        assert (
            client.post("/login", data={"username": "sue", "password": PASSWORD}).status_code == 303
        )
        html = client.get("/attendant").text
        assert "set TOUCHPOINTS_ATTENDANT" in html
