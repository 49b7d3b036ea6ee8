"""Answers kept in the store (`server.cache`, `answer_cache`): a server started again on the
same store serves what an earlier one computed, as long as the data it was computed from
holds; an ingestion, an erase, a catalog or change-log edit make it compute again."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from conftest import PG_URL, _pg_available
from test_derived import record
from touchpoints.analytics.registry import get
from touchpoints.analytics.scope import Scope
from touchpoints.core.settings import Settings
from touchpoints.ingest import ingest_records
from touchpoints.ingest.privacy import erase_customer
from touchpoints.server import cache
from touchpoints.server.service import Service
from touchpoints.store.derived import answer_stamp


@pytest.fixture(params=["duckdb", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "duckdb":
        yield str(tmp_path / "kept.duckdb")
        return
    problem = _pg_available()
    if problem:
        pytest.skip(problem)
    import uuid

    import psycopg

    schema = f"tp_test_{uuid.uuid4().hex[:12]}"
    yield f"{PG_URL}?schema={schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def service(target: str) -> Service:
    return Service(settings=Settings(secret_key="k" * 40), target=target)


def kpis(svc: Service, calls: list[int]) -> Any:
    analysis = get("kpis")
    options = analysis.options.model_validate({"by": "touchpoint"})

    def counted(store: Any, scope: Scope, values: Any) -> Any:
        calls.append(1)
        return analysis.run(store, scope, values)

    # The kept answer is keyed by the analysis function: stand in for it with its name.
    counted.__module__, counted.__qualname__ = analysis.run.__module__, analysis.run.__qualname__
    return cache.cached(svc, counted, Scope(), options)


def test_a_new_server_serves_answers_an_earlier_one_kept(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "KEEP_SECONDS", 0.0)
    first = service(target)
    try:
        ingest_records(
            first.store,
            [record("k1", "ana", 0, "phone"), record("k2", "bia", 1, "store", "purchase")],
            "k",
        )
        calls: list[int] = []
        answer = kpis(first, calls)
        assert len(calls) == 1 and first.store.count("answer_cache") == 1
    finally:
        first.close()
    second = service(target)
    try:
        again: list[int] = []
        assert kpis(second, again) == answer and again == []  # from the store, not computed
        # New events: the kept answer no longer holds.
        ingest_records(second.store, [record("k3", "caio", 2, "phone")], "k3")
        cache.bump(second)
        fresh = kpis(second, again)
        assert again == [1] and fresh != answer
        assert second.store.count("answer_cache") == 1  # the older data's answer is gone
        erase_customer(second.store, "caio")
        assert second.store.count("answer_cache") == 0  # an erase keeps no answer
    finally:
        second.close()
    third = service(target)
    try:
        assert kpis(third, again) == answer and again == [1, 1]
    finally:
        third.close()


def test_a_comment_purge_empties_the_kept_answers(tmp_path: Path) -> None:
    from datetime import datetime

    from touchpoints.ingest.privacy import purge_comments

    svc = service(str(tmp_path / "purge.duckdb"))
    try:
        row = {**record("p1", "ana", 0, "phone"), "comment": "call me on 555-0100"}
        ingest_records(svc.store, [row], "p")
        stamp = answer_stamp(svc.store)
        cache.save_answer(svc.store, "k", stamp, {"comment": row["comment"]}, 0.0, 1.0)
        assert svc.store.count("answer_cache") == 1
        purge_comments(svc.store, 30, now=datetime(2027, 1, 1), scrub=False)
        assert svc.store.count("answer_cache") == 0
    finally:
        svc.close()


def test_only_aggregate_answers_are_kept() -> None:
    from touchpoints.analytics import customers, events, feedback
    from touchpoints.analytics import kpis as kpis_module
    from touchpoints.server.dashboard.data import all_attribution

    assert cache._keepable(kpis_module.kpis) and cache._keepable(all_attribution)
    assert cache._keepable(feedback.comments)  # a purge of comments empties the table
    assert not cache._keepable(customers.customer_events)
    assert not cache._keepable(events.events)
    assert not cache._keepable(len)


def test_a_warmer_started_on_kept_answers_computes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warm-up round of a new server reads the answers an earlier one kept."""
    import time

    monkeypatch.setattr(cache, "KEEP_SECONDS", 0.0)
    target = str(tmp_path / "warm.duckdb")
    first = service(target)
    try:
        ingest_records(first.store, [record("w1", "ana", 0, "phone")], "w")
        kpis(first, [])
    finally:
        first.close()
    second = service(target)
    calls: list[int] = []
    analysis = get("kpis")
    options = analysis.options.model_validate({"by": "touchpoint"})

    def counted(store: Any, scope: Scope, values: Any) -> Any:
        calls.append(1)
        return analysis.run(store, scope, values)

    counted.__module__, counted.__qualname__ = analysis.run.__module__, analysis.run.__qualname__
    warmer = cache.Warmer(second, lambda run: [(counted, (Scope(), options), {})]).start()
    try:
        deadline = time.monotonic() + 30
        while warmer.rounds == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert warmer.rounds == 1 and calls == []
        assert cache.cached(second, counted, Scope(), options)["rows"][0]["events"] == 1
        assert calls == []
    finally:
        warmer.stop()
        second.close()


def test_an_answer_an_ingestion_overtook_is_not_kept_as_current(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events that land while an answer is computed: the answer is older than the store,
    so it is not kept under the store's new stamp (a later server would serve it as
    current) and no newer answer is dropped for it."""
    from touchpoints.store import open_store

    monkeypatch.setattr(cache, "KEEP_SECONDS", 0.0)
    svc = service(target)
    try:
        ingest_records(svc.store, [record("r1", "ana", 0, "phone")], "r1")
        analysis = get("kpis")
        options = analysis.options.model_validate({"by": "touchpoint"})

        def overtaken(store: Any, scope: Scope, values: Any) -> Any:
            answer = analysis.run(store, scope, values)
            writer = svc.store if svc.store.engine == "duckdb" else open_store(target)
            ingest_records(writer, [record("r2", "bia", 1, "phone")], "r2")
            if writer is not svc.store:
                writer.close()
            return answer

        overtaken.__module__ = analysis.run.__module__
        overtaken.__qualname__ = analysis.run.__qualname__
        answer = cache.cached(svc, overtaken, Scope(), options)
        assert answer["rows"][0]["events"] == 1
        assert not svc.store.has_table("answer_cache") or svc.store.count("answer_cache") == 0
    finally:
        svc.close()


def test_with_a_warmer_the_visitors_answer_is_stored_by_the_warmer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The visitor's request returns before its answer is written to the store; the
    warmer's thread writes it."""
    import threading
    import time

    monkeypatch.setattr(cache, "KEEP_SECONDS", 0.0)
    writers: list[str] = []
    save = cache.save_answer

    def recording(*args: Any) -> None:
        writers.append(threading.current_thread().name)
        save(*args)

    monkeypatch.setattr(cache, "save_answer", recording)
    svc = service(str(tmp_path / "warmer.duckdb"))
    warmer = cache.Warmer(svc, lambda run: []).start()
    try:
        ingest_records(svc.store, [record("v1", "ana", 0, "phone")], "v")
        deadline = time.monotonic() + 30
        while warmer.rounds == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        calls: list[int] = []
        assert kpis(svc, calls)["rows"][0]["events"] == 1 and calls == [1]
        while not writers and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writers == ["touchpoints-cache-warmer"]
        assert svc.store.count("answer_cache") == 1
    finally:
        warmer.stop()
        svc.close()


def test_what_the_warmer_s_job_list_reads_is_computed_once_a_round(tmp_path: Path) -> None:
    """The job list reads answers pages show too (the latest event's day, the busiest
    channel: `dashboard.default_jobs`); it reads them through the cache, so a round
    computes each once, not once for the list and again as a job (6 s a round for the
    busiest channel at 50M events)."""
    import time

    svc = service(str(tmp_path / "listing.duckdb"))
    calls: list[int] = []

    def busiest(store: Any) -> str:
        calls.append(1)
        return "phone"

    def jobs(run: Any) -> list[Any]:
        assert run(busiest) == "phone"
        return [(busiest, (), {})]

    warmer = cache.Warmer(svc, jobs).start()
    try:
        deadline = time.monotonic() + 30
        while warmer.rounds == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert warmer.rounds >= 1 and calls == [1]
    finally:
        warmer.stop()
        svc.close()


def test_a_cheap_answer_recomputed_after_new_data_does_not_look_in_the_store(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer that cost less than KEEP_SECONDS was not kept, so when new data make it
    out of date it is computed again without reading the store's stamp and kept answers
    (under a live feed that look-up ran for every cheap answer of every page load). An
    answer never computed here is looked up: an earlier server may have kept it."""
    lookups: list[str] = []
    real_load = cache.load_answer

    def load(store: Any, key: str, stamp: str) -> Any:
        lookups.append(key)
        return real_load(store, key, stamp)

    monkeypatch.setattr(cache, "load_answer", load)
    monkeypatch.setattr(cache, "KEEP_SECONDS", 60.0)
    svc = service(target)
    try:
        ingest_records(svc.store, [record("k1", "ana", 0, "phone")], "k")
        calls: list[int] = []
        first = kpis(svc, calls)
        assert len(calls) == 1 and len(lookups) == 1  # first time: looked up, then computed
        ingest_records(svc.store, [record("k2", "bia", 1, "store", "purchase")], "k2")
        second = kpis(svc, calls)
        assert len(calls) == 2 and len(lookups) == 1  # cheap last time: no look-up
        assert second != first  # and the new data are in it
        monkeypatch.setattr(cache, "KEEP_SECONDS", 0.0)  # now worth keeping: looked up again
        ingest_records(svc.store, [record("k3", "caio", 2, "phone")], "k3")
        kpis(svc, calls)
        assert len(calls) == 3 and len(lookups) == 2
    finally:
        svc.close()


def test_visitors_asking_together_share_one_computation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five requests for the same answer at once: one computes it, the other four wait for
    it and get the same object (a failure in the one that computes lets a waiter compute);
    a request at another data version does not wait. The warmer waits for a visitor's
    computation too instead of running it a second time."""
    import threading
    import time

    monkeypatch.setattr(cache, "KEEP_SECONDS", 60.0)
    svc = service(str(tmp_path / "together.duckdb"))
    try:
        ingest_records(svc.store, [record("t1", "ana", 0, "phone")], "t")
        calls: list[str] = []
        started, go = threading.Event(), threading.Event()

        def slow(store: Any, label: str) -> dict[str, Any]:
            calls.append(threading.current_thread().name)
            started.set()
            go.wait(30)
            return {"events": store.count(), "label": label}

        answers: list[Any] = []

        def visit() -> None:
            answers.append(cache.cached(svc, slow, "x"))

        threads = [threading.Thread(target=visit, name=f"visitor-{i}") for i in range(5)]
        threads[0].start()
        assert started.wait(30)
        for t in threads[1:]:
            t.start()
        deadline = time.monotonic() + 30
        while cache.cache_for(svc).joined < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cache.cache_for(svc).joined == 4
        go.set()
        for t in threads:
            t.join(30)
        assert calls == ["visitor-0"]
        assert len(answers) == 5 and all(a is answers[0] for a in answers)
        assert answers[0] == {"events": 1, "label": "x"}
        assert "touchpoints_cache_joined_total 4" in cache.metrics_text(svc)

        # The one computing fails: a waiter computes it itself.
        go.clear()
        started.clear()
        failing = {"left": 1}

        def flaky(store: Any, label: str) -> dict[str, Any]:
            calls.append(threading.current_thread().name)
            started.set()
            go.wait(30)
            if failing["left"]:
                failing["left"] -= 1
                raise RuntimeError("boom")
            return {"label": label}

        results: dict[str, Any] = {}

        def ask(name: str) -> None:
            try:
                results[name] = cache.cached(svc, flaky, "y")
            except RuntimeError as exc:
                results[name] = str(exc)

        first = threading.Thread(target=ask, args=("a",), name="flaky-a")
        second = threading.Thread(target=ask, args=("b",), name="flaky-b")
        first.start()
        assert started.wait(30)
        second.start()
        while cache.cache_for(svc).joined < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        go.set()
        first.join(30)
        second.join(30)
        assert results == {"a": "boom", "b": {"label": "y"}}
        assert calls[-2:] == ["flaky-a", "flaky-b"]
        assert cache.cache_for(svc).computing == {}
    finally:
        svc.close()


def test_the_warmer_waits_for_the_visitor_computing_its_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A visitor computing an answer the warmer's round also needs: the warmer takes the
    visitor's answer when it lands, and computes nothing itself."""
    import threading
    import time

    monkeypatch.setattr(cache, "KEEP_SECONDS", 60.0)
    svc = service(str(tmp_path / "warmer-waits.duckdb"))
    calls: list[str] = []
    started, go = threading.Event(), threading.Event()

    def slow(store: Any) -> int:
        calls.append(threading.current_thread().name)
        started.set()
        go.wait(30)
        return int(store.count())

    warmer = None
    try:
        ingest_records(svc.store, [record("w1", "ana", 0, "phone")], "w")
        visitor = threading.Thread(target=cache.cached, args=(svc, slow), name="visitor")
        visitor.start()
        assert started.wait(30)
        warmer = cache.Warmer(svc, lambda run: [(slow, (), {})]).start()
        deadline = time.monotonic() + 30
        while cache.cache_for(svc).joined < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cache.cache_for(svc).joined == 1 and warmer.rounds == 0
        go.set()
        visitor.join(30)
        while warmer.rounds == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert warmer.rounds == 1
        assert calls == ["visitor"]
    finally:
        if warmer is not None:
            warmer.stop()
        svc.close()


@pytest.fixture
def pg_target() -> Any:
    problem = _pg_available()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {PG_URL} is required in CI: {problem}")
        pytest.skip(problem)
    import uuid

    import psycopg

    schema = f"tp_test_{uuid.uuid4().hex[:12]}"
    yield f"{PG_URL}?schema={schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.postgres
def test_postgres_reads_run_on_lent_connections_beside_the_lock(pg_target: str) -> None:
    """On PostgreSQL a request thread reads on a connection lent from the Service's pool,
    not under the lock ingestion holds: a read completes while another thread holds that
    lock. Nested reads get the same connection back; at most `size` are open, a further
    reader waits for one to come back; a broken one is dropped; close closes them all."""
    import threading

    svc = service(pg_target)
    pool = cache._pool(svc)
    assert pool is not None
    pool.size = 2
    try:
        ingest_records(svc.store, [record("p1", "ana", 0, "phone")], "t")
        counted: list[int] = []
        with svc.lock:  # as an ingestion would, for as long as it takes
            reader = threading.Thread(
                target=lambda: counted.append(cache.current(svc, lambda s: s.count()))
            )
            reader.start()
            reader.join(20)
            assert counted == [1]

        with cache._reading(svc) as run:
            outer = run(lambda s: s)
            assert outer.conn is not svc.store.conn
            with cache._reading(svc) as again:
                assert again(lambda s: s) is outer

        held, release, got = threading.Barrier(3), threading.Event(), []

        def hold() -> None:
            with pool.borrow() as lent:
                got.append(lent)
                held.wait(10)
                release.wait(10)

        holders = [threading.Thread(target=hold) for _ in range(2)]
        for t in holders:
            t.start()
        held.wait(10)
        third: list[Any] = []
        late = threading.Thread(target=lambda: third.append(pool._take()))
        late.start()
        late.join(0.5)
        assert late.is_alive() and pool.opened == 2  # waits: no third connection
        release.set()
        late.join(10)
        assert third and third[0] in got
        for t in holders:
            t.join(10)
        pool._give(third[0])

        with pool.borrow() as lent:
            lent.conn.close()  # as a restarted server leaves it
        assert pool.opened == 1 and lent not in pool.idle
        with cache._reading(svc) as run:
            assert run(lambda s: s.count()) == 1
    finally:
        svc.close()
    assert pool.idle == [] and pool.opened == 0
