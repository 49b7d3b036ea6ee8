"""A DuckDB store held by `touchpoints serve` stays usable from the CLI and the Python API:
reads and writes go through the server (`store.remote`, `server.local`) and give the
answers direct access gives. The server is a real process, as `make demo` starts it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import touchpoints
from conftest import free_port
from forms import form_token
from touchpoints.cli import app as cli
from touchpoints.core.errors import StoreError
from touchpoints.ingest import ingest_records
from touchpoints.store import open_store
from touchpoints.store.remote import (
    PREFIX,
    TOKEN_HEADER,
    RemoteStore,
    announcement_path,
    dumps,
    loads,
)

SRC = str(Path(touchpoints.__file__).resolve().parent.parent)
NEW_EVENTS = """event_id,ts,customer_id,touchpoint,action,revenue
sbs-1,2026-11-02T10:00:00,sbs-customer-1,store,interaction,
sbs-2,2026-11-02T11:00:00,sbs-customer-1,store,purchase,350.00
sbs-3,2026-11-03T09:30:00,sbs-customer-2,website,interaction,
sbs-4,2026-11-03T09:40:00,sbs-customer-2,no-such-touchpoint,interaction,
"""


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def as_json(*args: str) -> Any:
    return json.loads(invoke(*args, "--json").stdout)


class Server:
    """`touchpoints serve` on `db` in a process of its own."""

    def __init__(self, db: str, demo: bool = False) -> None:
        self.db = db
        self.port = free_port()
        command = "demo-serve" if demo else "serve"
        extra = ["--rate", "0", "--password", "side-by-side"] if demo else []
        env = {**os.environ, "PYTHONPATH": SRC}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from touchpoints.cli import main; main()", command]
            + ["--db", db, "--port", str(self.port)]
            + extra,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read().decode()  # type: ignore[union-attr]
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("the server did not start")
        assert announcement_path(db).exists()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def stores(demo_300: str, tmp_path: Path) -> tuple[str, str]:
    """Two copies of the demo store: one the server will hold, one opened directly."""
    served, direct = str(tmp_path / "served.duckdb"), str(tmp_path / "direct.duckdb")
    shutil.copy(demo_300, served)
    shutil.copy(demo_300, direct)
    return served, direct


@pytest.fixture
def served(stores: tuple[str, str]) -> Iterator[tuple[Server, str]]:
    server = Server(stores[0])
    try:
        yield server, stores[1]
    finally:
        server.stop()


ANALYSES = [
    ["kpis"],
    ["kpis", "--by", "touchpoint"],
    ["journeys", "variants"],
    ["journeys", "dfg"],
    ["attribution", "--model", "markov"],
    ["insights"],
]


def test_analyses_through_the_server_answer_as_direct_access(served: tuple[Server, str]) -> None:
    server, direct = served
    with pytest.raises(duckdb.Error):  # the file really is held by the server process
        duckdb.connect(server.db).close()
    for args in ANALYSES:
        a, b = as_json(*args, "--db", server.db), as_json(*args, "--db", direct)
        for row in a.get("rows", []) + b.get("rows", []):  # when each store took it in
            row.pop("quarantined_at", None)
        assert a == b, args


def test_ingest_through_the_server_stores_what_direct_ingest_stores(
    served: tuple[Server, str], tmp_path: Path
) -> None:
    server, direct = served
    csv = tmp_path / "new.csv"
    csv.write_text(NEW_EVENTS)
    remote = as_json("ingest", str(csv), "--db", server.db)
    local = as_json("ingest", str(csv), "--db", direct)
    assert remote == local
    assert remote["ingested"] == 3 and remote["rejected"] == 1
    again = as_json("ingest", str(csv), "--db", server.db)
    assert again["ingested"] == 0 and again["duplicates"] == 3
    as_json("ingest", str(csv), "--db", direct)
    for args in (["kpis"], ["quarantine"], ["journeys", "variants"]):
        a, b = as_json(*args, "--db", server.db), as_json(*args, "--db", direct)
        for row in a.get("rows", []) + b.get("rows", []):  # when each store took it in
            row.pop("quarantined_at", None)
        assert a == b, args
    # The server itself sees the new events (its cache is told of the write).
    with open_store(server.db) as store:
        assert isinstance(store, RemoteStore)
        rows = store.query(
            "SELECT seq, event_id FROM events WHERE event_id LIKE 'sbs-%' ORDER BY seq"
        )
    with open_store(direct, read_only=True) as store:
        assert rows == store.query(
            "SELECT seq, event_id FROM events WHERE event_id LIKE 'sbs-%' ORDER BY seq"
        )


def test_keys_and_users_created_beside_the_server_work_on_it(served: tuple[Server, str]) -> None:
    server, _ = served
    before = {k["id"] for k in as_json("keys", "list", "--db", server.db)["keys"]}
    created = as_json("keys", "create", "--scope", "read", "--name", "side", "--db", server.db)
    listed = {k["id"] for k in as_json("keys", "list", "--db", server.db)["keys"]}
    assert listed - before == {created["id"]}
    answer = httpx.get(
        server.url + "/v1/kpis", headers={"Authorization": f"Bearer {created['key']}"}
    )
    assert answer.status_code == 200, answer.text
    invoke("users", "create", "--username", "ana", "--role", "analyst", "--password",
           "a long enough password", "--db", server.db)  # fmt: skip
    users = as_json("users", "list", "--db", server.db)["users"]
    assert "ana" in [u["username"] for u in users]
    with httpx.Client(base_url=server.url) as browser:
        login = browser.post(
            "/login",
            data={
                "username": "ana",
                "password": "a long enough password",
                "csrf_token": form_token(browser),  # type: ignore[arg-type]
            },
            follow_redirects=False,
        )
    assert login.status_code in (302, 303), login.text


def test_python_api_reads_and_writes_beside_the_server(
    served: tuple[Server, str], tmp_path: Path
) -> None:
    import pyarrow as pa

    server, direct = served
    table = pa.table(
        {
            "event_id": ["py-1", "py-2"],
            "ts": [datetime(2026, 11, 5, 9), datetime(2026, 11, 5, 10)],
            "customer_id": ["py-customer", "py-customer"],
            "touchpoint": ["store", "store"],
            "action": ["interaction", "purchase"],
            "revenue": [None, 120.5],
        }
    )
    with touchpoints.open(server.db) as remote, touchpoints.open(direct) as local:
        assert remote.kpis(by="phase").to_dict() == local.kpis(by="phase").to_dict()
        assert remote.ingest(table).ingested == local.ingest(table).ingested == 2
        assert remote.kpis().to_dict() == local.kpis().to_dict()


def test_a_transaction_through_the_server_is_all_or_nothing(served: tuple[Server, str]) -> None:
    server, _ = served
    with open_store(server.db) as store:
        before = store.count()
        with pytest.raises(RuntimeError), store.transaction():
            store.execute("DELETE FROM events WHERE customer_id = $c", {"c": "nobody"})
            store.execute("DELETE FROM events")
            assert store.count() == 0  # inside: the transaction's own view
            raise RuntimeError("changed my mind")
        assert store.count() == before
        with pytest.raises(duckdb.CatalogException):  # errors keep DuckDB's class
            store.query("SELECT * FROM no_such_table")
        assert store.query("SELECT $x::DATE AS d", {"x": "2026-01-02"}) == [{"d": date(2026, 1, 2)}]


def test_a_records_conflict_through_the_server_is_logged_as_direct_access_logs_it(
    served: tuple[Server, str],
) -> None:
    """The records fast path settles a conflict after its commit and writes its own
    ingest_log row: through the local door as on the file itself."""
    server, direct = served

    def event(event_id: str, touchpoint: str) -> dict[str, Any]:
        return {"event_id": event_id, "ts": "2026-11-04T10:00:00Z",
                "customer_id": "sbs-c", "touchpoint": touchpoint}  # fmt: skip

    answers = []
    for db in (server.db, direct):
        with open_store(db) as store:
            ingest_records(store, [event("sbs-r1", "store")], source="api:first")
            result = ingest_records(
                store, [event("sbs-r1", "website"), event("sbs-r2", "store")], source="api:x"
            )
            log = store.query(
                "SELECT ingested, duplicates, rejected FROM ingest_log WHERE source = 'api:x'"
            )
            answers.append(([i["status"] for i in result.items], log))
    assert (
        answers[0]
        == answers[1]
        == (
            ["rejected", "stored"],
            [{"ingested": 1, "duplicates": 0, "rejected": 1}],
        )
    )


def test_the_local_door_needs_the_local_token(served: tuple[Server, str]) -> None:
    server, _ = served
    path = announcement_path(server.db)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    info = json.loads(path.read_text())
    assert info["url"] == server.url and info["pid"] == server.proc.pid
    key = as_json("keys", "create", "--scope", "admin", "--db", server.db)["key"]
    for headers in ({}, {TOKEN_HEADER: "wrong"}, {"Authorization": f"Bearer {key}"}):
        assert httpx.post(server.url + PREFIX + "/session", headers=headers).status_code == 404
    assert (
        httpx.post(
            server.url + PREFIX + "/session", headers={TOKEN_HEADER: info["token"]}
        ).status_code
        == 200
    )
    assert PREFIX not in httpx.get(server.url + "/openapi.json").text
    # A second server on the same file is refused with the first one's details.
    with pytest.raises(StoreError, match=f"PID {server.proc.pid}.*already serves it"):
        open_store(server.db, via_server=False)


def test_a_stopped_server_takes_its_announcement_away(stores: tuple[str, str]) -> None:
    server = Server(stores[0])
    server.stop()
    assert server.proc.returncode is not None
    assert not announcement_path(stores[0]).exists()
    with open_store(stores[0]) as store:
        assert not isinstance(store, RemoteStore)


def test_a_hung_server_gets_a_message_that_says_what_to_do(stores: tuple[str, str]) -> None:
    server = Server(stores[0])
    try:
        server.proc.send_signal(signal.SIGSTOP)
        result = subprocess.run(
            [sys.executable, "-c", "from touchpoints.cli import main; main()"]
            + ["kpis", "--db", stores[0]],
            env={**os.environ, "PYTHONPATH": SRC, "COLUMNS": "400"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        message = " ".join(result.stderr.split())
        assert f"PID {server.proc.pid}" in message and "does not answer" in message
        assert f"kill {server.proc.pid}" in message
        assert "served.duckdb.server.json" in message
        with pytest.raises(StoreError, match="does not answer"):
            open_store(stores[0])
    finally:
        server.stop()


def test_a_killed_server_leaves_a_store_the_cli_writes_directly(
    stores: tuple[str, str], tmp_path: Path
) -> None:
    server = Server(stores[0])
    server.proc.kill()
    server.proc.wait()
    assert announcement_path(stores[0]).exists()  # nobody removed it
    csv = tmp_path / "new.csv"
    csv.write_text(NEW_EVENTS)
    assert as_json("ingest", str(csv), "--db", stores[0])["ingested"] == 3
    assert not announcement_path(stores[0]).exists()  # stale: its process is gone
    with open_store(stores[0]) as after, open_store(stores[1]) as before:
        assert not isinstance(after, RemoteStore)
        assert after.count() == before.count() + 3


def test_demo_serve_lets_the_tour_run_beside_it(stores: tuple[str, str]) -> None:
    server = Server(stores[0], demo=True)
    try:
        for args in (["kpis", "--by", "phase"], ["insights"]):
            assert as_json(*args, "--db", stores[0]) == as_json(*args, "--db", stores[1])
    finally:
        server.stop()


VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.datetimes()
    | st.datetimes(timezones=st.just(UTC))
    | st.dates()
    | st.times()
    | st.timedeltas()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.uuids()
    | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text().filter(lambda k: not k.startswith("$")), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(VALUES)
def test_values_cross_the_wire_unchanged(value: Any) -> None:
    back = loads(dumps(value))
    assert back == value and type(back) is type(value)


def test_wire_types_by_example() -> None:
    row = [datetime(2026, 1, 2, 3, 4, 5, 6), Decimal("1.10"), timedelta(hours=5), UUID(int=7)]
    assert loads(dumps(row)) == row


def test_an_erase_beside_the_server_leaves_no_trace_once_it_stops(
    stores: tuple[str, str], tmp_path: Path
) -> None:
    served_db = stores[0]
    needle = "zed.unique.erase@example.com"
    rows = tmp_path / "zed.csv"
    rows.write_text(
        "event_id,customer_id,touchpoint,ts\n"
        f"zed1,{needle},website,2025-06-01T10:00:00Z\n"
        f"zed2,{needle},whatsapp,2025-06-02T10:00:00Z\n",
        encoding="utf-8",
    )
    server = Server(served_db)
    try:
        invoke("ingest", str(rows), "--db", served_db)
        with open_store(served_db) as store:
            assert isinstance(store, RemoteStore)
            store.execute("CHECKPOINT")
        assert needle.encode() in Path(served_db).read_bytes()
        result = invoke("customer", "erase", needle, "--yes", "--db", served_db)
        assert "erased 2 events" in result.stdout
        assert "rewrites the file without the erased rows when it stops" in result.stdout
    finally:
        server.stop()
    assert needle.encode() not in Path(served_db).read_bytes()
    with open_store(served_db) as store:
        assert store.query(
            "SELECT count(*) AS n FROM events WHERE customer_id = $c", {"c": needle}
        ) == [{"n": 0}]
        assert store.count() > 0
