"""The store as a plain engine adapter: values bound to `$name` markers in queries and
writes on every engine, transactions, and a layering that keeps ingestion and analytics
out of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import touchpoints
from conftest import every_engine
from touchpoints.core.errors import OutOfMemoryError, StoreError, UsageError
from touchpoints.ingest import ingest_records
from touchpoints.server import users
from touchpoints.store import open_store
from touchpoints.store.base import Store

EVENTS = [
    {"event_id": "e1", "customer_id": "100%", "touchpoint": "phone", "ts": "2026-01-01T10:00:00Z"},
    {"event_id": "e2", "customer_id": "1000", "touchpoint": "chat", "ts": "2026-01-01T11:00:00Z"},
    {"event_id": "e3", "customer_id": "$word", "touchpoint": "phone", "ts": "2026-01-01T12:00:00Z"},
]


def _service_tables(store: Store) -> None:
    """Skip on Spark (`make test-spark`): service tables (keys, users, connector state)
    live in the operational store; tests/test_spark_writes.py checks Spark's refusal."""
    if store.engine == "spark":
        pytest.skip("no service tables on Spark; Spark writes are tested in test_spark.py")


@every_engine
def test_query_binds_values_next_to_percent_signs_and_dollar_words(store: Store) -> None:
    """A literal `%` (LIKE pattern, modulo) and a `$word` inside a string literal are SQL
    text, not markers, on every engine; values reach the query only through markers."""
    assert ingest_records(store, EVENTS, "test").stored == 3
    rows = store.query(
        "SELECT event_id, 7 % 4 AS m, '$word' AS text FROM events "
        "WHERE customer_id LIKE '100%' AND touchpoint = $touchpoint ORDER BY event_id",
        {"touchpoint": "phone"},
    )
    assert rows == [{"event_id": "e1", "m": 3, "text": "$word"}]
    # A value holding `%`, `'` or `$word` is only ever data.
    for value, expected in (("100%", ["e1"]), ("$word", ["e3"]), ("x' OR '1'='1", [])):
        got = store.query(
            "SELECT event_id FROM events WHERE customer_id = $id ORDER BY event_id", {"id": value}
        )
        assert [r["event_id"] for r in got] == expected
    pattern = store.query(
        "SELECT event_id FROM events WHERE customer_id LIKE $pattern ORDER BY event_id",
        {"pattern": "100%"},
    )
    assert [r["event_id"] for r in pattern] == ["e1", "e2"]


@every_engine
def test_holds_rows_says_whether_a_table_is_empty(store: Store) -> None:
    """A new store's events hold no row, one event later they do; its quarantine, never
    written, holds none (a Spark warehouse answers the empty cases from its folder)."""
    assert store.holds_rows("events") is False
    assert ingest_records(store, EVENTS[:1], "test").stored == 1
    assert store.holds_rows("events") is True
    assert store.holds_rows("quarantine") is False


@every_engine
def test_a_marker_without_a_value_names_itself(store: Store) -> None:
    with pytest.raises(KeyError, match="touchpoint"):
        store.query("SELECT 1 AS x FROM events WHERE touchpoint = $touchpoint", {})


def test_execute_takes_duckdb_sql_with_markers_on_every_engine(store: Store) -> None:
    """Writes are written once, in DuckDB's dialect, like queries (an upsert included)."""
    _service_tables(store)
    upsert = (
        "INSERT INTO connector_state (connector, key, value, updated_at) "
        "VALUES ($connector, $key, $value, CURRENT_TIMESTAMP) "
        "ON CONFLICT (connector, key) DO UPDATE SET value = excluded.value"
    )
    store.execute(upsert, {"connector": "c", "key": "k'1", "value": "50%"})
    store.execute(upsert, {"connector": "c", "key": "k'1", "value": "$word"})
    rows = store.query("SELECT key, value FROM connector_state WHERE connector = $c", {"c": "c"})
    assert rows == [{"key": "k'1", "value": "$word"}]
    store.execute("DELETE FROM connector_state WHERE key = $key", {"key": "k'1"})
    assert store.count("connector_state") == 0


@every_engine
def test_transaction_is_all_or_nothing_and_nests(store: Store) -> None:
    if store.engine == "spark":
        # No multi-statement transactions (docs/spark.md): the block holds the writer lock,
        # so another store on the warehouse is refused, and each statement commits alone.
        other = open_store(store.target)
        with pytest.raises(RuntimeError), store.transaction():
            store.execute("INSERT INTO meta (key, value) VALUES ($key, 'x')", {"key": "a"})
            with pytest.raises(StoreError, match="one writer at a time"):
                other.execute("INSERT INTO meta (key, value) VALUES ($key, 'x')", {"key": "z"})
            raise RuntimeError("half-way")
        assert store.query("SELECT key FROM meta WHERE key IN ('a', 'z')") == [{"key": "a"}]
        return
    insert = "INSERT INTO meta (key, value) VALUES ($key, 'x')"
    with pytest.raises(RuntimeError), store.transaction():
        store.execute(insert, {"key": "a"})
        raise RuntimeError("half-way")
    assert store.query("SELECT key FROM meta WHERE key = 'a'") == []
    with store.transaction():
        store.execute(insert, {"key": "b"})
        with store.transaction():  # joins the outer one
            store.execute(insert, {"key": "c"})
    keys = store.query("SELECT key FROM meta WHERE key IN ('b', 'c') ORDER BY key")
    assert [r["key"] for r in keys] == ["b", "c"]


@every_engine
def test_set_meta_sets_and_removes_several_keys_as_sql_sees_them(store: Store) -> None:
    """`meta`/`set_meta` agree with the table read through SQL (Spark reads and writes it
    as files, bypassing SQL), keep the keys not named, and take quotes as values."""
    store.set_meta({"a": "1", "b": "it's", "c": "3"})
    store.set_meta({"a": None, "b": "two", "missing": None})
    assert (store.meta("a"), store.meta("b"), store.meta("c"), store.meta("missing")) == (
        None,
        "two",
        "3",
        None,
    )
    rows = store.query("SELECT key, value FROM meta WHERE key IN ('a', 'b', 'c') ORDER BY key")
    assert rows == [{"key": "b", "value": "two"}, {"key": "c", "value": "3"}]
    # Another store on the same database sees them; a row written by SQL reads back too.
    store.execute("INSERT INTO meta (key, value) VALUES ('d', 'by sql')")
    other = open_store(store.target) if store.engine == "spark" else store
    assert (other.meta("b"), other.meta("d")) == ("two", "by sql")
    if store.engine != "spark":
        with pytest.raises(RuntimeError), store.transaction():
            store.set_meta({"b": None, "c": "changed"})
            raise RuntimeError("half-way")
        assert (store.meta("b"), store.meta("c")) == ("two", "3")  # rolled back, both


@every_engine
def test_replace_customers_swaps_only_those_customers_rows(store: Store) -> None:
    """The facts of customers whose events changed: their rows go, the new rows come, the
    other customers' rows stay; a table without new rows only loses theirs."""
    for customer, step in (("ana", 1), ("bia", 1), ("bia", 2), ("caio", 1)):
        store.execute(
            "INSERT INTO event_facts (seq, customer_id, phase, cycle_no, step) "
            "VALUES ($seq, $customer, 'before', 1, $step)",
            {"seq": step * 10 + len(customer), "customer": customer, "step": step},
        )
    store.execute(
        "INSERT INTO journey_steps (customer_id, touchpoint, next_touchpoint, next_seconds, "
        "first_step) VALUES ('bia', 'website', 'store', 60.0, 1), ('caio', 'phone', NULL, NULL, 1)"
    )
    store.execute("CREATE TEMPORARY TABLE _new_rows AS SELECT 99 AS seq, 'bia' AS customer_id")
    store.replace_customers(
        "SELECT customer_id FROM (SELECT $who AS customer_id) t",
        {
            "event_facts": "SELECT seq, customer_id, 'during', 2, 1 FROM _new_rows",
            "journey_steps": None,
        },
        {"who": "bia"},
    )
    store.execute("DROP TABLE _new_rows")
    facts = store.query("SELECT customer_id, seq, phase, step FROM event_facts ORDER BY seq")
    assert facts == [
        {"customer_id": "ana", "seq": 13, "phase": "before", "step": 1},
        {"customer_id": "caio", "seq": 14, "phase": "before", "step": 1},
        {"customer_id": "bia", "seq": 99, "phase": "during", "step": 1},
    ]
    assert store.query("SELECT customer_id FROM journey_steps") == [{"customer_id": "caio"}]


def test_login_name_with_sql_in_it_finds_no_user_and_breaks_nothing(store: Store) -> None:
    _service_tables(store)
    users.create_user(store, "ana", "correct horse", "analyst")
    for name in ("x' OR '1'='1", "ana' --", "ana'; DELETE FROM users; --", "$username"):
        assert users.get_user(store, name) is None
        assert users.authenticate(store, name, "correct horse") is None
        assert users.delete_user(store, name) is False
        with pytest.raises(UsageError):
            users.create_user(store, name, "correct horse", "admin")
    assert users.list_users(store)[0]["username"] == "ana"
    assert users.authenticate(store, "ana", "correct horse") == users.User("ana", "analyst")


def _loaded_modules(statement: str) -> list[str]:
    """The touchpoints modules a fresh interpreter holds after `statement`."""
    code = (
        f"import json, sys; {statement}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('touchpoints'))))"
    )
    # This checkout's sources, whatever the venv has installed.
    env = {**os.environ, "PYTHONPATH": str(Path(touchpoints.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    )
    return json.loads(done.stdout)


def _layer(module: str) -> str:
    """`touchpoints.store.duckdb` -> `store` (the package itself -> "")."""
    return (module + ".").split(".")[1]


ABOVE_STORE = ("ingest", "connectors", "analytics", "cli", "commands", "server", "reports")
ABOVE_INGEST = ("analytics", "cli", "commands", "server", "reports", "render", "feedback")


def test_the_store_imports_nothing_above_it() -> None:
    for module in ("duckdb", "postgres", "spark"):
        loaded = _loaded_modules(f"import touchpoints.store.{module}")
        assert f"touchpoints.store.{module}" in loaded
        above = [m for m in loaded if _layer(m) in ABOVE_STORE]
        assert above == [], (module, above)


def test_ingestion_imports_no_analysis_nor_interface() -> None:
    loaded = _loaded_modules(
        "import touchpoints.ingest, touchpoints.ingest.privacy, touchpoints.ingest.surveys"
    )
    above = [m for m in loaded if _layer(m) in ABOVE_INGEST]
    assert above == []


@pytest.fixture
def memory_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set TOUCHPOINTS_DUCKDB_MEMORY_LIMIT for the stores the test opens."""
    from touchpoints.core.settings import get_settings

    def set_limit(value: str) -> None:
        monkeypatch.setenv("TOUCHPOINTS_DUCKDB_MEMORY_LIMIT", value)
        get_settings.cache_clear()

    yield set_limit
    get_settings.cache_clear()


def test_a_duckdb_memory_limit_holds_for_the_store_and_after_a_scrub(
    memory_limit: Callable[[str], None], tmp_path: Path
) -> None:
    memory_limit("512MB")
    store = open_store(str(tmp_path / "m.duckdb"))
    try:
        setting = "SELECT current_setting('memory_limit') AS m"
        assert store.query(setting) == [{"m": "488.2 MiB"}]  # 512e6 bytes in MiB
        store.scrub(["events"])  # reconnects to the rewritten file: the limit stays
        assert store.query(setting) == [{"m": "488.2 MiB"}]
    finally:
        store.close()


def test_a_memory_limit_duckdb_cannot_read_is_named_and_no_file_is_made(
    memory_limit: Callable[[str], None], tmp_path: Path
) -> None:
    memory_limit("lots")
    with pytest.raises(StoreError) as caught:
        open_store(str(tmp_path / "m.duckdb"))
    assert str(caught.value) == (
        "TOUCHPOINTS_DUCKDB_MEMORY_LIMIT='lots' is not a memory size DuckDB understands "
        "(write it like '3GB', '512MB' or '25%')"
    )
    assert not (tmp_path / "m.duckdb").exists()


def test_a_question_past_the_memory_limit_is_one_line_and_the_store_goes_on(
    memory_limit: Callable[[str], None], tmp_path: Path
) -> None:
    """DuckDB cannot spill a list() aggregate: past the limit it raises, and the user gets
    the limit and what helps instead of DuckDB's stack trace; the store still answers."""
    memory_limit("64MB")
    store = open_store(str(tmp_path / "m.duckdb"))
    try:
        store.execute("CREATE TABLE kept AS SELECT 1 AS x")
        with pytest.raises(OutOfMemoryError) as caught:
            store.query("SELECT list(i) AS l FROM range(50000000) t(i)")
        message = str(caught.value)
        assert message.startswith(
            "DuckDB needed more memory than TOUCHPOINTS_DUCKDB_MEMORY_LIMIT=64MB allows "
            "(failed to allocate "
        )
        assert message.endswith(
            "): raise the limit, free memory on the machine, or ask for less at once (a "
            "shorter period, a smaller file)"
        )
        assert "\n" not in message and caught.value.limit == "64MB"
        assert isinstance(caught.value, StoreError)  # the CLI's one-line error path
        assert store.query("SELECT x FROM kept") == [{"x": 1}]
    finally:
        store.close()


def test_a_server_held_store_that_runs_out_of_memory_gives_the_same_one_line(
    memory_limit: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI beside a running server gets DuckDB's error back by class name; running out
    of memory there reads as in-process, not as a raw DuckDB exception."""
    from touchpoints.store.remote import RemoteStore, dumps

    memory_limit("2.5GB")
    store = object.__new__(RemoteStore)
    store.session, store.target = "s1", "shop.duckdb"
    answer = {
        "error": "OutOfMemoryException",
        "detail": "Out of Memory Error: failed to allocate data of size 16.0 MiB (2.3 GiB/2.3 GiB used)",
    }
    monkeypatch.setattr(store, "_send", lambda *a: (422, dumps(answer)), raising=False)
    with pytest.raises(OutOfMemoryError) as caught:
        store.query("SELECT 1")
    assert str(caught.value) == (
        "DuckDB needed more memory than TOUCHPOINTS_DUCKDB_MEMORY_LIMIT=2.5GB allows (failed "
        "to allocate data of size 16.0 MiB (2.3 GiB/2.3 GiB used)): raise the limit, free "
        "memory on the machine, or ask for less at once (a shorter period, a smaller file)"
    )
