"""Writes on Spark: one writer at a time, staged files committed by a journal of renames
(a failed or killed ingest leaves nothing half visible), erase rewriting the affected
tables, and the one-line refusal of operational state (docs/spark.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from conftest import run, spark_target, write_csv
from touchpoints.cli import main
from touchpoints.core.errors import StoreError
from touchpoints.ingest import ingest_files
from touchpoints.ingest.privacy import erase_customer, export_customer, purge_comments
from touchpoints.store import derived, open_store
from touchpoints.store.spark import JOURNAL, STAGING, SparkStore

pytestmark = pytest.mark.spark


def ev(event_id: str, customer: str, touchpoint: str, ts: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "customer_id": customer,
        "touchpoint": touchpoint,
        "ts": ts,
        **extra,
    }


ROWS = [
    ev("a1", "ana", "website", "2026-01-01T10:00:00Z"),
    ev("a2", "ana", "store", "2026-01-01T11:00:00Z", action="purchase", value=100),
    ev("a3", "ana", "phone", "2026-01-02T09:00:00Z", comment="ana was helped", csat=5),
    ev("b1", "bia", "website", "2026-01-03T10:00:00Z"),
    ev("b2", "bia", "chat", "2026-01-04T10:00:00Z", comment="slow chat", csat=2),
]
LATER = [ev("c1", "caio", "website", "2026-01-05T10:00:00Z"), ev("c2", "caio", "website", "bad")]


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[str]:
    target = spark_target(tmp_path)
    yield target
    store = open_store(target)
    store.spark.sql(f"DROP DATABASE IF EXISTS {store.spec.database} CASCADE")  # type: ignore[attr-defined]


def _counts(store: Any) -> tuple[int, int, int]:
    return store.count("events"), store.count("quarantine"), store.count("ingest_log")


def _data_files(store: SparkStore, table: str) -> list[str]:
    folder = store._location(table)
    return [os.path.join(folder, f) for f in os.listdir(folder) if not f.startswith(("_", "."))]


def test_a_second_writer_is_refused_with_a_clear_message(lake: str, tmp_path: Path) -> None:
    first, second = open_store(lake), open_store(lake)
    assert isinstance(first, SparkStore)
    refused = r"is being written by process \d+ on .*one writer"
    with first.writing(), pytest.raises(StoreError, match=refused):
        ingest_files(second, write_csv(tmp_path / "e.csv", ROWS))
    # Once the first is done, the second writes.
    assert ingest_files(second, write_csv(tmp_path / "e.csv", ROWS)).ingested == len(ROWS)


def test_a_failure_before_the_commit_leaves_nothing_visible(
    lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(lake)
    assert isinstance(store, SparkStore)
    ingest_files(store, write_csv(tmp_path / "e.csv", ROWS))
    before = _counts(store)
    staged = SparkStore._stage_frame

    def fail_on_the_log(self: SparkStore, frame: Any, what: str) -> list[str]:
        if what == "ingest_log":
            raise OSError("disk full")
        return staged(self, frame, what)

    monkeypatch.setattr(SparkStore, "_stage_frame", fail_on_the_log)
    with pytest.raises(OSError, match="disk full"):
        ingest_files(store, write_csv(tmp_path / "later.csv", LATER))
    monkeypatch.undo()
    # Events and quarantine rows were staged, never committed: nothing of the batch shows.
    assert _counts(store) == before
    # The next writer drops the orphaned staging files, and the batch then goes in whole.
    result = ingest_files(store, write_csv(tmp_path / "later.csv", LATER))
    assert (result.ingested, result.rejected) == (1, 1)
    assert _counts(store) == (before[0] + 1, before[1] + 1, before[2] + 1)
    assert not os.listdir(os.path.join(store._root() or "", STAGING))


def test_a_commit_killed_half_way_is_finished_by_the_next_open(
    lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(lake)
    assert isinstance(store, SparkStore)
    ingest_files(store, write_csv(tmp_path / "e.csv", ROWS))
    before = _counts(store)
    applied = SparkStore._apply

    def killed_after_the_first_move(plan: dict[str, Any]) -> None:
        if not plan["moves"]:  # a rewrite (the facts marked absent first): not this one
            return applied(plan)
        # The ingest's commit dies after moving one staged file in: its journal stays.
        first = {"swaps": [], "moves": plan["moves"][:1], "tables": []}
        applied(first)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(SparkStore, "_apply", staticmethod(killed_after_the_first_move))
    with pytest.raises(KeyboardInterrupt):
        ingest_files(store, write_csv(tmp_path / "later.csv", LATER))
    monkeypatch.undo()
    store._unlock()  # what the kill released
    root = store._root() or ""
    assert [n for n in os.listdir(os.path.join(root, JOURNAL)) if n.endswith(".json")]
    # Opening the warehouse again completes the commit: the whole batch, once.
    again = open_store(lake)
    assert _counts(again) == (before[0] + 1, before[1] + 1, before[2] + 1)
    assert not os.listdir(os.path.join(root, JOURNAL))
    # The facts were marked absent before the commit: analyses read raw events until a
    # rebuild, which then agrees with them.
    assert derived.stored_options(again) is None
    raw = run(again, "journeys.variants")
    derived.rebuild(again)
    assert run(again, "journeys.variants") == raw
    assert ingest_files(again, write_csv(tmp_path / "later.csv", LATER)).ingested == 0


def test_erase_rewrites_the_affected_tables_and_keeps_the_rest(lake: str, tmp_path: Path) -> None:
    store = open_store(lake)
    assert isinstance(store, SparkStore)
    ingest_files(store, write_csv(tmp_path / "e.csv", ROWS))
    derived.rebuild(store)
    assert store.count("event_facts") == len(ROWS)
    result = erase_customer(store, "ana")
    assert (result["events"], result["comments"]) == (3, 1)
    assert store.query("SELECT DISTINCT customer_id FROM events") == [{"customer_id": "bia"}]
    assert store.query("SELECT DISTINCT customer_id FROM event_facts") == [{"customer_id": "bia"}]
    assert [r["customer_id"] for r in store.query("SELECT customer_id FROM journey_cycles")] == [
        "bia"
    ]
    # The files themselves no longer hold her: the table folder was rewritten and swapped.
    for table in ("events", "event_facts", "journey_cycles"):
        for path in _data_files(store, table):
            assert "ana" not in pq.read_table(path).column("customer_id").to_pylist()
    assert export_customer(store, "ana")["counts"]["events"] == 0
    assert derived.stored_options(store) is not None  # facts still trusted after the erase
    assert run(store, "kpis")["rows"][0]["customers"] == 1
    # Purge drops old comments by rewriting events; scores stay.
    purged = purge_comments(store, 0, now=None)
    assert purged["comments"] == 1
    assert store.query("SELECT comment, csat FROM events WHERE event_id = 'b2'") == [
        {"comment": None, "csat": 2}
    ]
    audit = store.query("SELECT action FROM audit_log ORDER BY logged_at")
    assert [a["action"] for a in audit] == ["erase", "purge_comments"]


def test_a_late_event_commits_its_customers_facts_at_once_as_a_rebuild_would(
    lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The facts of the customers a batch touched are replaced in every facts table by one
    journalled commit (not a DELETE and an INSERT per table), and equal a rebuild's."""
    store = open_store(lake)
    assert isinstance(store, SparkStore)
    ingest_files(store, write_csv(tmp_path / "e.csv", ROWS))
    untouched = {t: sorted(_data_files(store, t)) for t in ("event_facts", "journey_cycles")}
    commits: list[list[str]] = []
    commit = SparkStore._commit_plan

    def spy(self: SparkStore, plan: dict[str, Any]) -> None:
        commits.append(sorted(plan["tables"]))
        commit(self, plan)

    monkeypatch.setattr(SparkStore, "_commit_plan", spy)
    late = [ev("a0", "ana", "whatsapp", "2025-12-31T09:00:00Z")]  # before all of hers
    assert ingest_files(store, write_csv(tmp_path / "late.csv", late)).ingested == 1
    monkeypatch.undo()
    facts = ["event_facts", "journey_customers", "journey_cycles", "journey_steps"]
    assert facts in commits
    assert not any(set(c) & set(facts) and c != facts for c in commits)
    # Ana's rows were in the one file of each table (a batch writes one), so it was
    # replaced; her late step is first in her path.
    for table, files in untouched.items():
        assert sorted(_data_files(store, table)) != files
    kept = {
        name: run(store, name)
        for name in ("journeys.variants", "journeys.dfg", "attribution", "summary")
    }
    path = store.query("SELECT path FROM journey_customers WHERE customer_id = 'ana'")
    assert path[0]["path"].startswith("whatsapp")
    derived.rebuild(store)
    assert {name: run(store, name) for name in kept} == kept


SPREAD = [
    ev("m1", "ana", "website", "2026-01-10T10:00:00Z"),
    ev("m2", "bia", "website", "2026-01-11T10:00:00Z"),
    ev("m3", "bia", "phone", "2026-02-10T10:00:00Z", comment="old words", csat=4),
    ev("m4", "bia", "chat", "2026-03-10T10:00:00Z", comment="new words"),
]


def _files_by_month(store: SparkStore) -> dict[str, list[tuple[str, int]]]:
    """Each month's events files as (name, inode): a rewritten file has a new name."""
    months: dict[str, list[tuple[str, int]]] = {}
    for path in sorted(_data_files(store, "events")):
        name = os.path.basename(path)
        months.setdefault(name[:7], []).append((name, os.stat(path).st_ino))
    return months


def test_erase_and_purge_rewrite_only_the_months_they_touch(lake: str, tmp_path: Path) -> None:
    store = open_store(lake)
    assert isinstance(store, SparkStore)
    ingest_files(store, write_csv(tmp_path / "e.csv", SPREAD))
    before = _files_by_month(store)
    # One file per month of `ts`, named by its month.
    assert {m: len(f) for m, f in before.items()} == {"2026-01": 1, "2026-02": 1, "2026-03": 1}
    assert erase_customer(store, "ana")["events"] == 1
    erased = _files_by_month(store)
    assert erased["2026-02"] == before["2026-02"] and erased["2026-03"] == before["2026-03"]
    assert erased["2026-01"] != before["2026-01"]  # January's file replaced, without her
    january = os.path.join(store._location("events"), erased["2026-01"][0][0])
    assert pq.read_table(january).column("customer_id").to_pylist() == ["bia"]
    # A purge with a cutoff of 2026-02-18 drops February's comment: only February changes.
    purged = purge_comments(store, 30, now=datetime(2026, 3, 20))
    assert purged["comments"] == 1
    after = _files_by_month(store)
    assert after["2026-01"] == erased["2026-01"] and after["2026-03"] == erased["2026-03"]
    assert after["2026-02"] != erased["2026-02"]
    assert store.query("SELECT event_id, comment, csat FROM events ORDER BY event_id") == [
        {"event_id": "m2", "comment": None, "csat": None},
        {"event_id": "m3", "comment": None, "csat": 4},
        {"event_id": "m4", "comment": "new words", "csat": None},
    ]
    # A statement that matches no row rewrites nothing.
    store.execute("DELETE FROM events WHERE customer_id = $c", {"c": "nobody"})
    assert _files_by_month(store) == after
    staging = os.path.join(store._root() or "", STAGING)
    assert not os.path.isdir(staging) or not os.listdir(staging)


def test_operational_state_is_refused_in_one_line(
    lake: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from touchpoints.connectors import state
    from touchpoints.ingest.identities import link
    from touchpoints.reports import alerts
    from touchpoints.server.auth import create_key

    store = open_store(lake)
    expected = (
        r"keeps row-level state at request rate, which a Spark store does not hold: run it on "
        r"an operational store \(--db postgresql://\.\.\. or a DuckDB file\)"
    )
    with pytest.raises(StoreError, match="^API keys " + expected):
        create_key(store, ["read"])
    with pytest.raises(StoreError, match="^linking identities " + expected):
        link(store, [["a", "b"]], "test")
    with pytest.raises(
        StoreError, match="^the chatwoot connector's conversation state " + expected
    ):
        state.load(store, "chatwoot", "1")
    with pytest.raises(StoreError, match="^alerting " + expected):
        alerts.ensure_table(store)
    # On the command line: the one line and exit code 2, no stack trace.
    monkeypatch.setattr(
        "sys.argv", ["touchpoints", "keys", "create", "--scope", "read", "--db", lake]
    )
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "API keys keeps row-level state" in err, err


def test_the_next_seq_comes_from_the_files_footers_without_a_spark_job(
    lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest numbers its events after the largest stored `seq`, read from the events
    files' Parquet statistics (a file's answer kept by name) instead of a Spark job that
    reads every stored `seq`; the same answer after an erase swaps the files."""
    store = open_store(lake)
    assert isinstance(store, SparkStore)
    assert store._largest_seq() == 0
    ingest_files(store, write_csv(tmp_path / "a.csv", ROWS))
    assert store._largest_seq() == 5

    def no_max_job(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("max(seq) asked of Spark")

    monkeypatch.setattr("pyspark.sql.DataFrame.agg", no_max_job)
    ingest_files(store, write_csv(tmp_path / "b.csv", LATER))
    seqs = store.query("SELECT event_id, seq FROM events ORDER BY seq")
    assert [(r["event_id"], r["seq"]) for r in seqs][-1] == ("c1", 6)
    monkeypatch.undo()

    erase_customer(store, "caio")  # events rewritten into new files
    assert store._largest_seq() == 5 == store.query("SELECT max(seq) AS m FROM events")[0]["m"]
    assert len(store._file_seqs) == len(_data_files(store, "events"))
    ingest_files(
        store, write_csv(tmp_path / "c.csv", [ev("d1", "dani", "chat", "2026-01-06T10:00:00Z")])
    )
    assert store.query("SELECT seq FROM events WHERE event_id = 'd1'") == [{"seq": 6}]
