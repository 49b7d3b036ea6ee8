"""The catalog as a form (admins): add, edit and retire a touchpoint with the catalog's
validator speaking beside each field, nothing saved until the whole entry is valid; other
roles cannot open it; the YAML editor stays."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test_dashboard import client_for, make_app


@pytest.fixture
def app(tmp_path: Path, events_file: Path) -> Iterator[Any]:
    application = make_app(tmp_path / "form.duckdb", events_file)
    yield application
    application.state.service.close()


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from touchpoints import demo

    path = tmp_path_factory.mktemp("form") / "events.parquet"
    demo.generate(customers=60, seed=3, out=path)
    return path


NEW = {
    "id": "kiosk",
    "name_pt": "Totem de autoatendimento",
    "name_en": "Self-service kiosk",
    "channel": "store",
    "kind": "interactive",
    "visibility": "both",
    "phase": ["before", "during"],
    "owner": "retail",
    "target_csat": "80",
}


def test_an_admin_adds_edits_and_retires_a_touchpoint(app: Any) -> None:
    client = client_for(app)
    store = app.state.service.store
    form = client.get("/catalog/touchpoints/new")
    assert form.status_code == 200 and 'action="/catalog/touchpoints"' in form.text
    assert form.text.count('name="csrf_token"') >= 2  # the form and the sign-out button
    r = client.post("/catalog/touchpoints", data=NEW)
    assert r.status_code == 303 and r.headers["location"] == "/catalog?saved=1"
    kiosk = store.catalog().get("kiosk")
    assert kiosk is not None and kiosk.label("pt-BR") == "Totem de autoatendimento"
    assert kiosk.phase == ["before", "during"] and kiosk.target == {"csat": 80.0}
    assert "Catalog saved." in client.get("/catalog?saved=1").text
    # Edit: a target in a Brazilian's decimal comma, a new owner.
    edited = {**NEW, "original": "kiosk", "target_service_level": "0,9", "owner": "digital"}
    assert client.post("/catalog/touchpoints", data=edited).status_code == 303
    kiosk = store.catalog().get("kiosk")
    assert kiosk.owner == "digital" and kiosk.target == {"csat": 80.0, "service_level": 0.9}
    assert (kiosk.gender, kiosk.plural) == ("m", False)  # "o Totem", unless told otherwise
    # The Portuguese name's gender and number: "as Máquinas de autoatendimento".
    plural = {**edited, "name_pt": "Máquinas de autoatendimento", "gender": "f", "plural": "1"}
    assert client.post("/catalog/touchpoints", data=plural).status_code == 303
    kiosk = store.catalog().get("kiosk")
    assert (kiosk.gender, kiosk.plural) == ("f", True)
    assert f"{kiosk.noun('pt-BR'):The}" == "As Máquinas de autoatendimento"
    shown = client.get("/catalog/touchpoints/kiosk").text
    assert re.search(r'name="gender" value="f" checked', shown)
    assert re.search(r'name="plural" value="1" checked', shown)
    bad = client.post("/catalog/touchpoints", data={**plural, "gender": "n"})
    assert bad.status_code == 422 and "Input should be &#39;m&#39; or &#39;f&#39;" in bad.text
    before = len(store.catalog().touchpoints)
    r = client.post("/catalog/touchpoints", data={"original": "kiosk", "retire": "1"})
    assert r.status_code == 303 and store.catalog().get("kiosk") is None
    assert len(store.catalog().touchpoints) == before - 1


def test_bad_values_are_explained_beside_their_field_and_nothing_is_saved(app: Any) -> None:
    client = client_for(app)
    store = app.state.service.store
    before = store.catalog().to_yaml()
    bad = {**NEW, "id": "Kiosk!", "target_service_level": "80", "target_csat": "much"}
    r = client.post("/catalog/touchpoints", data=bad)
    assert r.status_code == 422
    assert re.search(r'id="f-id"[^>]*aria-invalid="true"', r.text)
    assert "must be a slug" in r.text
    assert "&#39;much&#39;: not a number" in r.text
    assert 'value="Kiosk!"' in r.text  # what was typed is kept
    assert store.catalog().to_yaml() == before
    taken = client.post("/catalog/touchpoints", data={**NEW, "id": "phone"})
    assert taken.status_code == 422 and "phone is already in the catalog." in taken.text
    assert store.catalog().to_yaml() == before


def test_targets_are_shown_as_the_reader_types_them(app: Any) -> None:
    pt = client_for(app, lang="pt-BR").get("/catalog/touchpoints/phone").text
    assert 'name="target_service_level" type="text" value="0,8"' in pt
    assert 'name="target_tme_seconds" type="text" value="60"' in pt
    en = client_for(app).get("/catalog/touchpoints/phone").text
    assert 'name="target_service_level" type="text" value="0.8"' in en


def test_a_touchpoint_with_events_is_not_retired(app: Any) -> None:
    client = client_for(app, lang="pt-BR")
    r = client.post("/catalog/touchpoints", data={"original": "website", "retire": "1"})
    assert r.status_code == 422 and "eventos: permanece no catálogo" in r.text
    assert app.state.service.store.catalog().get("website") is not None


def test_only_admins_open_the_form(app: Any) -> None:
    for user in ("ana", "sue"):
        client = client_for(app, user)
        assert client.get("/catalog/touchpoints/new").status_code == 403
        assert client.post("/catalog/touchpoints", data=NEW).status_code == 403
        assert "/catalog/touchpoints/" not in client.get("/catalog").text
    assert 'href="/catalog/touchpoints/phone"' in client_for(app).get("/catalog").text
