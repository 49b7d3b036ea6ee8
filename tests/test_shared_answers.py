"""Answers one analysis borrows from another (`analytics.registry.shared`, `core.memo`):
`insights` reads `touchpoint_strength` and `moments`, which pages also ask for on their own.
Within one data stamp each engine query runs once; any change of the data or the catalog
makes a new stamp, and the next answer is computed afresh (a stale answer is a defect)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from conftest import run
from test_answer_cache import service, target  # noqa: F401  (the fixture)
from test_derived import record
from touchpoints.core.catalog import parse_catalog
from touchpoints.core.memo import Memo
from touchpoints.ingest import ingest_records
from touchpoints.ingest.privacy import erase_customer
from touchpoints.server import cache
from touchpoints.store.base import Store
from touchpoints.store.derived import rebuild

# Text only each analysis's own engine query holds (strength_sql, promises_sql).
STRENGTH = "SELECT 'steps' AS part"
MOMENTS = "AS made_no"


def counting(store: Store, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], int]:
    """Count the engine queries `store` runs; returns: how many held a marker."""
    seen: list[str] = []
    query = store.query

    def counted(sql: str, params: Any = None) -> list[dict[str, Any]]:
        seen.append(sql)
        return query(sql, params)

    monkeypatch.setattr(store, "query", counted)
    return lambda marker: sum(marker in sql for sql in seen)


def journeys(prefix: str = "e") -> list[dict[str, Any]]:
    return [
        record(f"{prefix}1", "ana", 0, "phone"),
        record(f"{prefix}2", "ana", 1, "store", "purchase"),
        record(f"{prefix}3", "bia", 0, "website"),
        record(f"{prefix}4", "bia", 2, "phone"),
        {**record(f"{prefix}5", "caio", 0, "phone"), "promise": "made"},
        {**record(f"{prefix}6", "caio", 1, "phone"), "promise": "kept"},
    ]


@pytest.fixture
def store(store: Store) -> Store:
    """The engine matrix's store, where answers are kept: DuckDB and PostgreSQL. A Spark
    store keeps none (`answer_stamp` is None there: every call computes afresh)."""
    if store.engine == "spark":
        pytest.skip("a Spark store keeps no answers (store.derived.answer_stamp is None)")
    return store


def test_insights_and_its_parts_run_each_query_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_records(store, journeys(), "t")
    count = counting(store, monkeypatch)
    run(store, "insights", all=True)
    strength = run(store, "strength")
    moments = run(store, "journeys.moments")
    assert count(STRENGTH) == 1 and count(MOMENTS) == 1
    # The same answers as computed alone, and each caller gets its own copy.
    strength["rows"].clear()
    store.memo.clear()
    assert run(store, "strength") == run(store, "strength")
    assert run(store, "strength")["rows"] and run(store, "journeys.moments") == moments
    assert count(STRENGTH) == 2


def test_any_change_of_data_or_catalog_computes_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_records(store, journeys(), "t")
    count = counting(store, monkeypatch)
    before = run(store, "strength")
    run(store, "insights")
    assert count(STRENGTH) == 1

    ingest_records(store, [record("late", "dora", 3, "phone")], "late")
    after = run(store, "strength")
    assert count(STRENGTH) == 2 and after != before
    assert sum(r["reach"] for r in after["rows"]) == sum(r["reach"] for r in before["rows"]) + 1

    erase_customer(store, "dora")
    assert run(store, "strength") == before and count(STRENGTH) == 3

    text = store.catalog().to_yaml().replace("Phone call centre", "Call centre")
    store.set_catalog(parse_catalog(text, "test"))
    renamed = run(store, "strength")
    assert count(STRENGTH) == 4
    assert {r["name"]["en"] for r in renamed["rows"] if r["touchpoint"] == "phone"} == {
        "Call centre"
    }
    # Recomputed facts (after an upgrade) may differ under the same options.
    rebuild(store)
    assert run(store, "strength") == renamed and count(STRENGTH) == 5
    # Other options or another scope are other answers.
    run(store, "strength", by_phase=False)
    run(store, "strength", touchpoint="phone")
    assert count(STRENGTH) == 7
    run(store, "strength")
    assert count(STRENGTH) == 7


def test_nothing_read_inside_a_transaction_is_kept(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events stored in a transaction that is then rolled back were never data, yet the
    next ingestion gives the store the very stamp they had (same counts, same catalog):
    an answer computed from them must not be kept."""
    ingest_records(store, journeys(), "t")
    before = run(store, "strength")
    count = counting(store, monkeypatch)

    class Undo(Exception):
        pass

    with pytest.raises(Undo), store.transaction():
        ingest_records(store, [record("x", "eva", 3, "phone")], "x")
        undone = run(store, "strength")
        assert undone != before
        raise Undo
    assert run(store, "strength") == before  # the answer kept before the transaction
    assert count(STRENGTH) == 1
    ingest_records(store, [record("y", "fay", 3, "website")], "y")
    after = run(store, "strength")
    assert count(STRENGTH) == 2 and after not in (before, undone)


def test_a_server_s_readers_share_the_memo(target: str) -> None:  # noqa: F811
    svc = service(target)
    try:
        ingest_records(svc.store, journeys(), "t")
        reader = cache.open_reader(svc)
        assert reader is not None and reader is not svc.store
        try:
            assert reader.memo is svc.store.memo
            computed = svc.store.memo.computed
            run(reader, "insights")
            assert run(svc.store, "strength") == run(reader, "strength")
            assert svc.store.memo.computed == computed + 2  # strength and moments, once each
        finally:
            reader.close()
    finally:
        svc.close()


def test_an_answer_overtaken_by_new_data_is_not_kept() -> None:
    memo = Memo()
    stamps = iter(["s2"])
    assert memo.get("k", "s1", lambda: {"n": 1}, lambda: next(stamps)) == {"n": 1}
    assert len(memo) == 0
    assert memo.get("k", "s2", lambda: {"n": 2}, lambda: "s2") == {"n": 2}
    assert memo.get("k", "s2", lambda: {"n": 3}, lambda: "s2") == {"n": 2}
    # A new stamp drops the older ones' answers.
    memo.get("j", "s3", lambda: 0, lambda: "s3")
    assert len(memo) == 1 and memo.get("k", "s3", lambda: {"n": 4}, lambda: "s3") == {"n": 4}


def test_two_threads_asking_at_once_compute_once() -> None:
    memo = Memo()
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow() -> list[int]:
        calls.append(1)
        started.set()
        release.wait(5)
        return [len(calls)]

    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(memo.get("k", "s", slow, lambda: "s")))
    first.start()
    started.wait(5)
    second = threading.Thread(target=lambda: answers.append(memo.get("k", "s", slow, lambda: "s")))
    second.start()
    release.set()
    first.join(5)
    second.join(5)
    assert calls == [1] and answers == [[1], [1]]


def test_a_failed_computation_lets_the_next_caller_compute() -> None:
    memo = Memo()

    def fail() -> None:
        raise RuntimeError("engine gone")

    with pytest.raises(RuntimeError):
        memo.get("k", "s", fail, lambda: "s")
    assert memo.get("k", "s", lambda: 1, lambda: "s") == 1
