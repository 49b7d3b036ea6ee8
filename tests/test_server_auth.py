"""API keys (SPEC §6): hashed storage, scopes, 401/403 on every /v1 route, revocation,
and the `touchpoints keys` commands."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import _PG_PROBLEM, PG_URL
from touchpoints.cli import app as cli
from touchpoints.core.errors import UsageError
from touchpoints.server import auth
from touchpoints.server.app import create_app

ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


def _target(engine: str, tmp_path: Path) -> str:
    if engine == "duckdb":
        return str(tmp_path / "auth.duckdb")
    if _PG_PROBLEM:
        pytest.skip(f"PostgreSQL not reachable: {_PG_PROBLEM}")
    return f"{PG_URL}?schema=tp_auth_{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=ENGINES)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(target=_target(request.param, tmp_path))
    with TestClient(app) as c:
        yield c
    if request.param == "postgres":
        import psycopg

        schema = app.state.service.store.schema
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _store(client: TestClient):  # noqa: ANN202 - the app's Store
    return client.app.state.service.store  # type: ignore[attr-defined]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _v1_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) under /v1 in the OpenAPI schema, so a new route is covered too."""
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [
        (method.upper(), path.replace("{key_id}", "k_000000000000"))
        for path, ops in paths.items()
        if path.startswith("/v1/")
        for method in ops
    ]


def _scope_of(method: str, path: str) -> str:
    if path.startswith("/v1/keys"):
        return "admin"
    return {"POST": "ingest", "GET": "read", "PUT": "admin"}[method]


def test_keys_are_stored_as_sha256_only(client: TestClient) -> None:
    store = _store(client)
    key_id, key = auth.create_key(store, ["read", "ingest", "read"], "ci")
    assert key.startswith("tp_") and len(key) > 40
    rows = store.query("SELECT id, name, key_hash, scopes, revoked_at FROM api_keys")
    assert rows == [
        {
            "id": key_id,
            "name": "ci",
            "key_hash": hashlib.sha256(key.encode()).hexdigest(),
            "scopes": "ingest,read",
            "revoked_at": None,
        }
    ]
    listed = auth.list_keys(store)
    assert [(k["id"], k["scopes"], k["revoked_at"]) for k in listed] == [
        (key_id, ["ingest", "read"], None)
    ]
    assert key not in json.dumps(listed) and "key_hash" not in listed[0]


def test_scope_validation_and_unknown_revoke(client: TestClient) -> None:
    store = _store(client)
    with pytest.raises(UsageError, match="unknown scope 'write'; use ingest, read or admin"):
        auth.create_key(store, ["write"])
    with pytest.raises(UsageError, match=r"give at least one --scope"):
        auth.create_key(store, [])
    with pytest.raises(UsageError, match=r"no API key with id 'k_nope'"):
        auth.revoke_key(store, "k_nope")


def test_every_v1_route_needs_a_key(client: TestClient) -> None:
    routes = _v1_routes(client)
    assert ("POST", "/v1/events") in routes and ("GET", "/v1/staffing") in routes
    for method, path in routes:
        r = client.request(method, path)
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json() == {
            "detail": "missing API key: send the header 'Authorization: Bearer <key>'"
        }
        r = client.request(method, path, headers={"Authorization": "Basic abc"})
        assert r.status_code == 401 and "malformed" in r.json()["detail"]
        r = client.request(method, path, headers=_bearer("tp_not-a-real-key"))
        assert r.status_code == 401, (method, path)
        assert r.json() == {"detail": "unknown or revoked API key"}


def test_wrong_scope_is_403_and_admin_implies_all(client: TestClient) -> None:
    store = _store(client)
    keys = {scope: auth.create_key(store, [scope])[1] for scope in auth.SCOPES}
    for method, path in _v1_routes(client):
        needed = _scope_of(method, path)
        for scope, key in keys.items():
            r = client.request(method, path, headers=_bearer(key))
            if scope == needed or scope == "admin":
                assert r.status_code not in (401, 403), (method, path, scope, r.text)
            else:
                assert r.status_code == 403, (method, path, scope)
                assert r.json() == {"detail": f"this API key lacks the {needed!r} scope"}


def test_revoke_takes_effect_at_once_in_this_process(client: TestClient) -> None:
    store = _store(client)
    key_id, key = auth.create_key(store, ["read"])
    assert client.get("/v1/catalog", headers=_bearer(key)).status_code == 200  # now cached
    auth.revoke_key(store, key_id)
    r = client.get("/v1/catalog", headers=_bearer(key))
    assert r.status_code == 401 and r.json() == {"detail": "unknown or revoked API key"}
    assert auth.list_keys(store)[0]["revoked_at"] is not None
    audit = store.query("SELECT action, detail FROM audit_log ORDER BY action")
    assert [a["action"] for a in audit] == ["key.create", "key.revoke"]
    assert all(key not in a["detail"] for a in audit)


def test_revoke_by_another_process_is_seen_after_the_cache_expires(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker revokes in the database only; this process's cache expires. The
    cache's clock is the test's: a loaded machine taking longer than the cache's life
    between two requests must not decide the outcome."""
    from types import SimpleNamespace

    now = [1000.0]
    monkeypatch.setattr(auth, "time", SimpleNamespace(monotonic=lambda: now[0]))
    store = _store(client)
    key_id, key = auth.create_key(store, ["read"])
    assert client.get("/v1/catalog", headers=_bearer(key)).status_code == 200
    store.execute(
        "UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE id = $id", {"id": key_id}
    )
    now[0] += auth.CACHE_SECONDS - 0.1
    assert client.get("/v1/catalog", headers=_bearer(key)).status_code == 200  # cached
    now[0] += 0.2
    assert client.get("/v1/catalog", headers=_bearer(key)).status_code == 401


def test_keys_cli_create_list_revoke(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.duckdb")
    runner = CliRunner()
    res = runner.invoke(
        cli, ["keys", "create", "--scope", "ingest", "--scope", "read", "--name", "crm", "--json", "--db", db]
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    created = json.loads(res.stdout)
    assert set(created) == {"id", "key", "scopes"}
    assert created["scopes"] == ["ingest", "read"]
    res = runner.invoke(cli, ["keys", "list", "--json", "--db", db])
    listed = json.loads(res.stdout)["keys"]
    assert [(k["id"], k["name"], k["revoked_at"]) for k in listed] == [(created["id"], "crm", None)]
    assert created["key"] not in res.stdout
    res = runner.invoke(cli, ["keys", "revoke", created["id"], "--db", db])
    assert res.exit_code == 0 and f"revoked {created['id']}" in res.stdout
    # CliRunner skips cli.main(), which turns a UsageError into one line and exit 2.
    res = runner.invoke(cli, ["keys", "create", "--scope", "write", "--db", db])
    assert isinstance(res.exception, UsageError)
    assert str(res.exception) == "unknown scope 'write'; use ingest, read or admin"


def test_serve_refuses_workers_on_duckdb(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "x.duckdb"), "--workers", "2"])
    assert isinstance(res.exception, UsageError)
    assert str(res.exception).startswith("--workers 2: a DuckDB file is opened by one process only")


def test_keys_over_the_api(client: TestClient) -> None:
    """While a server holds a DuckDB file the CLI cannot open it: admins manage keys here."""
    admin = auth.create_key(_store(client), ["admin"])[1]
    r = client.post("/v1/keys", json={"scopes": ["ingest"], "name": "van"}, headers=_bearer(admin))
    assert r.status_code == 201
    made = r.json()
    assert set(made) == {"id", "key", "scopes"} and made["scopes"] == ["ingest"]
    assert client.post("/v1/events", json=[], headers=_bearer(made["key"])).status_code == 200
    listed = client.get("/v1/keys", headers=_bearer(admin)).json()["keys"]
    assert [k["name"] for k in listed] == [None, "van"]
    r = client.delete(f"/v1/keys/{made['id']}", headers=_bearer(admin))
    assert r.json() == {"id": made["id"], "revoked": True}
    assert client.post("/v1/events", json=[], headers=_bearer(made["key"])).status_code == 401
    r = client.post("/v1/keys", json={"scopes": ["root"]}, headers=_bearer(admin))
    assert r.status_code == 400
    assert r.json() == {"detail": "unknown scope 'root'; use ingest, read or admin"}
