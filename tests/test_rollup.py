"""The KPI roll-up kept beside the events (`store.derived`, `kpi_facts`): maintained at every
ingestion for the customers that received events, it answers `kpis`, `heatmap` and
`summary` with exactly the numbers the raw events give (distinct customers included), and
the questions it cannot answer still go to the raw events."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run
from test_derived import BATCHES, fed_in_batches, record
from touchpoints.analytics import agents as agents_module
from touchpoints.analytics import kpis as kpis_module
from touchpoints.analytics import summary as summary_module
from touchpoints.analytics.registry import get
from touchpoints.analytics.scope import Scope
from touchpoints.core.catalog import default_catalog
from touchpoints.core.errors import UsageError
from touchpoints.ingest import ingest_records
from touchpoints.ingest.identities import link
from touchpoints.ingest.privacy import erase_customer, purge_comments
from touchpoints.store import derived
from touchpoints.store.base import Store


@pytest.fixture(autouse=True)
def _not_on_spark(request: pytest.FixtureRequest) -> None:
    """Spark keeps no KPI roll-up (docs/spark.md): its KPIs are one pass over its events,
    compared with the other engines' answers in tests/test_engines_agree.py."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("engine") == "spark":
        pytest.skip("Spark keeps no KPI roll-up; it answers KPIs from its events")


def test_spark_keeps_no_rollup_and_answers_kpis_from_events() -> None:
    """The roll-up is DuckDB's and PostgreSQL's: a Spark warehouse has no kpi_facts."""
    from touchpoints.store import spark

    assert "kpi_facts" not in spark.TABLES


# The team's scorecards (`agent_facts`): filters they answer, and some they cannot.
TEAM_QUESTIONS: list[tuple[str, dict[str, Any]]] = [
    ("agents", {}),
    ("agents", {"timezone": "America/Sao_Paulo"}),
    ("agents", {"segment": "gold"}),
    ("agents", {"channel": "phone", "min_answers": 1}),
    ("agents", {"agent": ["ann", "bot"], "touchpoint": ["phone", "whatsapp"]}),
    ("agents", {"date_from": "2026-01-20", "date_to": "2026-02-10", "min_answers": 2}),
    ("agents", {"date_from": "2026-01-05T10:30:00"}),  # not whole hours: raw events
    ("agents", {"timezone": "Asia/Kolkata"}),  # a half-hour offset: raw events
    ("agents", {"short_abandon": 5}),  # not what was counted: raw events
]

# (analysis, options): every grouping, filters the roll-up answers and some it cannot.
QUESTIONS: list[tuple[str, dict[str, Any]]] = [
    ("summary", {}),
    ("summary", {"segment": "gold"}),
    ("summary", {"touchpoint": ["phone", "store"], "timezone": "America/Sao_Paulo"}),
    ("summary", {"date_from": "2026-01-20", "date_to": "2026-02-10"}),
    ("summary", {"phase": "after"}),
    ("summary", {"timezone": "Asia/Kolkata"}),
    ("summary", {"timezone": "Asia/Kolkata", "date_from": "2026-02-01"}),
    *(("kpis", {"by": by}) for by in (None, *kpis_module.GROUP_KEYS)),
    *(
        ("kpis", {"by": by, "timezone": "America/Sao_Paulo"})
        for by in ("day", "week", "month", "touchpoint")
    ),
    ("kpis", {"touchpoint": "phone"}),
    ("kpis", {"touchpoint": "phone", "by": "phase"}),
    ("kpis", {"touchpoint": ["phone", "whatsapp"]}),
    ("kpis", {"segment": "gold", "by": "segment"}),
    ("kpis", {"agent": "ann", "by": "touchpoint"}),
    ("kpis", {"channel": "phone", "by": "kind"}),
    ("kpis", {"phase": "during", "by": "agent"}),
    ("kpis", {"date_from": "2026-01-10", "date_to": "2026-03-01", "by": "week"}),
    ("kpis", {"date_from": "2026-02-01", "timezone": "America/Sao_Paulo", "by": "day"}),
    ("kpis", {"date_from": "2026-01-05T10:30:00", "by": "touchpoint"}),  # not whole hours
    ("kpis", {"timezone": "Asia/Kolkata", "by": "day"}),  # a half-hour offset
    ("kpis", {"answer_within": 45, "by": "touchpoint"}),
    ("kpis", {"answer_within": 20}),
    ("kpis", {"short_abandon": 5, "by": "agent"}),
    ("kpis", {"during": "2h", "by": "phase"}),
    ("heatmap", {}),
    ("heatmap", {"timezone": "America/Sao_Paulo", "segment": "silver"}),
    *TEAM_QUESTIONS,
]


@contextmanager
def raw_events_only() -> Iterator[None]:
    """Every answer computed from raw events, as before the roll-up existed."""
    with (
        mock.patch.object(kpis_module, "rollup_relation", lambda *a, **k: None),
        mock.patch.object(summary_module, "rollup_relation", lambda *a, **k: None),
        mock.patch.object(agents_module, "kept_sums", lambda *a, **k: False),
    ):
        yield


def answer(store: Store, name: str, options: dict[str, Any]) -> Any:
    """The JSON answer; a filter value the data lacks is the same error on both paths."""
    try:
        return run(store, name, **options)
    except UsageError as e:
        return str(e)


def answers(store: Store) -> list[Any]:
    return [answer(store, name, options) for name, options in QUESTIONS]


def raw_answers(store: Store) -> list[Any]:
    with raw_events_only():
        return answers(store)


def rollup(store: Store) -> list[tuple[Any, ...]]:
    cols = ", ".join(derived.rollup_columns())
    return [
        tuple(r.values())
        for r in store.query(
            f"SELECT {cols} FROM kpi_facts ORDER BY customer_id, hour, touchpoint, agent, "
            "segment, phase"
        )
    ]


def assert_same(store: Store) -> None:
    for (name, options), fast, raw in zip(
        QUESTIONS, answers(store), raw_answers(store), strict=True
    ):
        assert fast == raw, (name, options)


# -- by hand ------------------------------------------------------------------------------
def test_the_rollup_answers_by_hand(store: Store) -> None:
    rows = [
        {**record("h1", "ana", 0, "phone"), "abandoned": "false", "wait_seconds": "10"},
        {**record("h2", "ana", 0.01, "phone"), "abandoned": "true", "wait_seconds": "40"},
        {**record("h3", "bia", 0.5, "phone"), "abandoned": "false", "wait_seconds": "30"},
        record("h4", "bia", 1, "store", "purchase"),
        {**record("h5", "ana", 2, "website"), "segment": "gold"},
    ]
    ingest_records(store, rows, "hand")
    scope = Scope()
    assert kpis_module.rollup_relation(store, scope) is not None
    # ana's two calls fall in one hour: one roll-up row of 2 events.
    assert store.count("kpi_facts") == 4
    whole = run(store, "kpis")["rows"][0]
    assert (whole["events"], whole["customers"], whole["offered"], whole["answered"]) == (
        5,
        2,
        3,
        2,
    )
    # phone's target: answered within 60 s (10 s and 30 s); the abandon counts against.
    assert whole["service_level"] == 2 / 3
    assert whole["revenue"] == 100.0 and whole["conversions"] == 1
    by_tp = {r["group"]: r["customers"] for r in run(store, "kpis", by="touchpoint")["rows"]}
    assert by_tp == {"phone": 2, "store": 1, "website": 1}
    summary = run(store, "summary")
    assert (summary["events"], summary["customers"], summary["segment_count"]) == (5, 2, 1)
    assert summary["first_event"] == "2026-03-01T00:00:00"
    assert summary["last_event"] == "2026-03-03T00:00:00"
    assert_same(store)


def test_questions_the_rollup_cannot_answer_go_to_raw_events(store: Store) -> None:
    ingest_records(store, [record("q1", "ana", 0, "phone")], "q")
    assert kpis_module.rollup_relation(store, Scope()) is not None
    half_hour = Scope.build("2026-03-01T00:30:00")
    assert kpis_module.rollup_relation(store, half_hour) is None
    kolkata = Scope(timezone="Asia/Kolkata")  # +05:30: an hour of UTC is two local hours
    assert kpis_module.rollup_relation(store, kolkata) is None
    assert kpis_module.rollup_relation(store, kolkata, local_periods=False) is not None
    # São Paulo's offsets are whole hours over the years the data spans (not before 1914):
    # its days, weeks and months are sums of roll-up hours.
    assert kpis_module.rollup_relation(store, Scope(timezone="America/Sao_Paulo")) is not None
    assert not kpis_module.whole_hour_zone("America/Sao_Paulo")  # 1900-2200: -3:06:28 LMT
    assert kpis_module.whole_hour_zone("America/Sao_Paulo", 2025, 2027)
    assert kpis_module.rollup_relation(store, Scope(), short_abandon=5) is None
    # The catalog's targets differ by touchpoint: one T for all is not what was counted.
    assert kpis_module.rollup_relation(store, Scope(), answer_within=60) is None
    other_windows = Scope(during_seconds=7200.0)
    assert kpis_module.rollup_relation(store, other_windows) is not None  # phase unused
    assert kpis_module.rollup_relation(store, other_windows, uses_phase=True) is None


def test_a_catalog_that_changes_the_threshold_recounts_the_rollup(store: Store) -> None:
    rows = [
        {**record(f"t{i}", f"c{i}", i / 24, "phone"), "abandoned": "false", "wait_seconds": w}
        for i, w in enumerate(("5", "15", "25", "35"))
    ]
    ingest_records(store, rows, "t")
    assert run(store, "kpis")["rows"][0]["service_level"] == 1.0  # phone: within 60 s
    catalog = default_catalog()
    phone = next(tp for tp in catalog.touchpoints if tp.id == "phone")
    changed = catalog.model_copy(
        update={
            "touchpoints": [
                tp.model_copy(update={"target": {**tp.target, "answer_within": 20}})
                if tp is phone
                else tp
                for tp in catalog.touchpoints
            ]
        }
    )
    store.set_catalog(changed)
    targets = derived.rollup_targets(store)
    assert targets is not None and dict(targets.touchpoints)["phone"] == 20.0
    assert kpis_module.rollup_relation(store, Scope()) is not None
    assert run(store, "kpis")["rows"][0]["service_level"] == 0.5
    assert_same(store)


def test_erase_and_identity_merge_keep_the_rollup_exact(store: Store) -> None:
    ingest_records(
        store,
        [
            record("m1", "ana", 0, "phone"),
            record("m2", "ana-alias", 3, "store", "purchase"),
            record("m3", "bia", 1, "website"),
        ],
        "m",
    )
    link(store, [["ana", "ana-alias"]], "hand")
    assert run(store, "summary")["customers"] == 2
    assert_same(store)
    erase_customer(store, "bia")
    assert run(store, "kpis")["rows"][0]["customers"] == 1
    assert_same(store)
    kept = rollup(store)
    report = derived.rebuild(store)
    assert report["rollup_rows"] == report["previous_rollup_rows"] == len(kept)
    assert rollup(store) == kept


def test_a_store_without_the_rollup_answers_from_raw_events_until_rebuilt(store: Store) -> None:
    ingest_records(store, [record("s1", "ana", 0, "phone")], "s")
    store.execute("DELETE FROM kpi_facts")
    store.execute("DELETE FROM meta WHERE key = $key", {"key": derived.ROLLUP_KEY})
    ingest_records(store, [record("s2", "bia", 1, "store")], "s2")
    assert store.count("kpi_facts") == 0  # not kept until rebuilt
    assert kpis_module.rollup_relation(store, Scope()) is None
    assert run(store, "summary")["customers"] == 2
    report = derived.rebuild(store)
    assert (report["previous_rollup_rows"], report["rollup_rows"]) == (0, 2)
    assert kpis_module.rollup_relation(store, Scope()) is not None
    assert_same(store)


# -- properties ----------------------------------------------------------------------------
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@BATCHES
def test_rollup_kept_batch_by_batch_answers_as_raw_events(
    engine: str, rows: list[dict[str, Any]], order: random.Random, cuts: list[int], resend: int
) -> None:
    """Events arriving in any order, in any batches (files and API records, with repeats):
    every summary, kpis and heatmap answer equals the raw events' one, the roll-up equals
    one built from everything at once and a rebuild changes nothing."""
    with fed_in_batches(engine, rows, order, cuts, resend) as (store, whole):
        assert kpis_module.rollup_relation(store, Scope()) is not None
        fast = answers(store)
        assert fast == raw_answers(store)
        assert fast == answers(whole)
        kept = rollup(store)
        # The same rows; the customer key and which row holds a customer's first event
        # follow the order events were stored in, different in the two stores.
        flags = len(derived.FIRST_FLAGS)
        assert [r[:1] + r[2:-flags] for r in kept] == [r[:1] + r[2:-flags] for r in rollup(whole)]
        for flag, by in (
            ("customer_first", "customer_id"),
            *((f"{k}_first", f"customer_id, {k}") for k in derived.FLAG_KEYS),
        ):
            sums = store.query(f"SELECT sum({flag}) AS n FROM kpi_facts GROUP BY {by}")
            assert {int(r["n"]) for r in sums} <= {1}, flag
        derived.rebuild(store)
        assert rollup(store) == kept


# -- the team's scorecards -----------------------------------------------------------------
COMMENTS = ["demorou demais", "não resolveu", "Took too long, not resolved", "ok obrigado"]


@st.composite
def team_logs(draw: st.DrawFn, max_size: int = 24) -> list[dict[str, Any]]:
    """Contacts of three agents (the bot among them) and survey answers rating them by
    `ref_event_id`: answers of the contact's customer or another's, rating a contact that
    exists, one that is not a contact (a feedback row) or none; low and high scores, some
    with comments; times spread over hours and days so hours of service differ from the
    answers' own."""
    n = draw(st.integers(1, max_size))
    slots = draw(
        st.lists(
            st.tuples(st.integers(0, 40), st.integers(0, 600)), min_size=n, max_size=n, unique=True
        )
    )
    rows = []
    for i, (day, minute) in enumerate(slots):
        row: dict[str, Any] = {
            "event_id": f"t{i}",
            "customer_id": draw(st.sampled_from(["c1", "c2", "c3"])),
            "ts": TEAM_BASE + timedelta(days=day, minutes=minute),
            "segment": draw(st.sampled_from([None, "gold", "silver"])),
        }
        if draw(st.booleans()):
            row |= {
                "touchpoint": draw(st.sampled_from(["phone", "whatsapp", "website"])),
                "agent": draw(st.sampled_from(["ann", "bob", "bot"])),
                "abandoned": draw(st.sampled_from([None, True, False, False])),
                "wait_seconds": draw(st.sampled_from([None, 0, 3, 19.5, 21, 3600.25])),
                "handle_seconds": draw(st.sampled_from([None, 0, 45.125, 600])),
                "resolved": draw(st.sampled_from([None, True, False])),
                "promise": draw(st.sampled_from([None, "made", "kept", "broken"])),
                "data_reused": draw(st.sampled_from([None, True, False])),
            }
        else:
            row |= {
                "touchpoint": "nps_survey",
                "action": "feedback",
                "ref_event_id": f"t{draw(st.integers(0, max_size))}",
            }
        row["csat"] = draw(st.sampled_from([None, None, 1, 3, 4, 5]))
        row["nps"] = draw(st.sampled_from([None, None, 2, 6, 8, 10]))
        row["comment"] = draw(st.sampled_from([None, *COMMENTS]))
        rows.append(row)
    return rows


TEAM_BASE = datetime(2026, 2, 2, 9)  # a Monday
TEAM_CHECKED: list[tuple[str, dict[str, Any]]] = [
    ("agents", {}),
    ("agents", {"timezone": "America/Sao_Paulo", "min_answers": 1}),
    ("agents", {"segment": ["gold", "silver"]}),
    ("agents", {"channel": "messaging", "agent": ["ann", "bot"]}),
    ("agents", {"date_from": "2026-02-10", "date_to": "2026-02-28", "min_answers": 1}),
]


def team_answers(store: Store) -> list[Any]:
    return [answer(store, name, options) for name, options in TEAM_CHECKED]


def team_facts(store: Store) -> tuple[list[Any], ...]:
    """The kept tables' rows, sorted (as text: keys may be null)."""
    sums = ", ".join(derived.AGENT_COLUMNS)
    return tuple(
        sorted((tuple(r.values()) for r in store.query(sql)), key=lambda r: [str(v) for v in r])
        for sql in (
            f"SELECT customer_id, contact_customer, hour, served_hour, touchpoint, agent, "
            f"segment, {sums} FROM agent_facts",
            f"SELECT served_hour, touchpoint, agent, {sums} FROM agent_hours",
            "SELECT * FROM agent_comments",
        )
    )


def assert_team_same(store: Store) -> None:
    """Both kept tables answer (no period nor segment: agent_hours) as raw events do."""
    scope, options = get("agents").parse({})
    assert agents_module.kept_sums(store, scope, options, True) == "agent_hours"
    scope, options = get("agents").parse({"segment": "gold"})
    assert agents_module.kept_sums(store, scope, options, True) == "agent_facts"
    fast = team_answers(store)
    with raw_events_only():
        assert fast == team_answers(store)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=team_logs(),
    order=st.randoms(use_true_random=False),
    cuts=st.lists(st.integers(0, 24), max_size=4),
    resend=st.integers(0, 3),
)
def test_team_sums_kept_batch_by_batch_answer_as_raw_events(
    engine: str, rows: list[dict[str, Any]], order: random.Random, cuts: list[int], resend: int
) -> None:
    """Contacts and the answers rating them arriving in any order and batches (an answer
    before its contact, in another batch, from another customer): the team's scorecards,
    trends and comment themes from the kept sums equal the raw events' ones, and the kept
    tables equal those of a store fed everything at once; so after an identity link, a
    comment purge and an erase, and a rebuild changes nothing."""
    with fed_in_batches(engine, rows, order, cuts, resend) as (store, whole):
        assert_team_same(store)
        assert team_answers(store) == team_answers(whole)
        assert team_facts(store) == team_facts(whole)
        link(store, [["c1", "c2"]], "hand")  # c2's events (and their answers) become c1's
        assert_team_same(store)
        purge_comments(store, 0, now=TEAM_BASE + timedelta(days=20))
        assert_team_same(store)
        erase_customer(store, "c3")  # answers rating c3's contacts lose their agent
        assert_team_same(store)
        kept = team_facts(store)
        derived.rebuild(store)
        assert team_facts(store) == kept


def test_keeping_the_team_sums_never_asks_for_not_in_a_subquery(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL runs `x NOT IN (SELECT ...)` row by row against the subquery's rows unless
    they all fit in `work_mem`: a first ingestion of 1M events into PostgreSQL did not end
    in 12 minutes. The statements that keep the facts of a batch of new and stored
    customers, an identity link and an erase use anti-joins (NOT EXISTS) instead."""
    import re

    said: list[str] = []
    for name in ("execute", "query"):
        method = getattr(store, name)

        def watched(sql: str, params: Any = None, _method: Any = method) -> Any:
            said.append(sql)
            return _method(sql, params)

        monkeypatch.setattr(store, name, watched)
    rows = []
    for i in range(12):
        at = TEAM_BASE + timedelta(days=i % 5, hours=i)
        rows.append(
            {
                "event_id": f"k{i}",
                "customer_id": f"c{1 + i % 3}",
                "ts": at,
                "touchpoint": "whatsapp",
                "agent": ["ann", "bob"][i % 2],
                "handle_seconds": 60 + i,
                "csat": 1 + i % 5,
            }
        )
        rows.append({"event_id": f"r{i}", "customer_id": f"c{1 + (i + 1) % 3}",
                     "ts": at + timedelta(hours=2), "touchpoint": "nps_survey",
                     "action": "feedback", "ref_event_id": f"k{i}", "nps": i % 11,
                     "comment": COMMENTS[i % 4]})  # fmt: skip
    ingest_records(store, rows[::2], "contacts")
    ingest_records(store, rows[1::2], "answers")
    link(store, [["c1", "c2"]], "hand")
    erase_customer(store, "c3")
    assert any("agent_facts" in sql for sql in said)
    assert [sql for sql in said if re.search(r"NOT\s+IN\s*\(\s*SELECT", sql, re.I)] == []
    monkeypatch.undo()
    kept = team_facts(store)
    derived.rebuild(store)
    assert team_facts(store) == kept


def test_team_sums_by_hand(store: Store) -> None:
    """An answer stored before the contact it rates, by another customer, is credited
    once the contact arrives; erasing the contact's customer takes it away again."""
    contact = {
        "event_id": "k1", "customer_id": "ana", "touchpoint": "whatsapp", "agent": "ann",
        "ts": "2026-03-02T10:15:00Z", "abandoned": "false", "wait_seconds": "12.5",
        "handle_seconds": "300",
    }  # fmt: skip
    rating = {
        "event_id": "r1", "customer_id": "bia", "touchpoint": "nps_survey", "action": "feedback",
        "ts": "2026-03-03T18:00:00Z", "ref_event_id": "k1", "csat": "2", "comment": "demorou",
    }  # fmt: skip
    ingest_records(store, [rating], "first")
    assert store.count("agent_facts") == 0  # nothing to credit it to yet
    ingest_records(store, [contact], "then")
    hours = store.query("SELECT served_hour, agent, credited, csat_n, contacts FROM agent_hours")
    assert [(r["agent"], r["credited"], r["csat_n"], r["contacts"]) for r in hours] == [
        ("ann", 2, 1, 1)
    ]
    assert str(hours[0]["served_hour"]) == "2026-03-02 10:00:00"  # the contact's hour
    assert [r["customer_id"] for r in store.query("SELECT * FROM agent_comments")] == ["bia"]
    ann = run(store, "agents")["rows"][0]
    assert (ann["agent"], ann["contacts"], ann["csat_answers"], ann["csat"]) == ("ann", 1, 1, 0.0)
    assert_team_same(store)
    erase_customer(store, "ana")
    assert store.count("agent_facts") == store.count("agent_hours") == 0
    assert store.count("agent_comments") == 0
    assert run(store, "agents")["rows"] == []
    assert_team_same(store)


def test_spark_keeps_no_team_sums() -> None:
    """Spark's warehouse keeps neither table: its scorecards come from its events."""
    from touchpoints.store import spark

    assert not {"agent_facts", "agent_hours", "agent_comments"} & set(spark.TABLES)


def test_the_rollup_made_in_passes_holds_the_same_rows(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB rolls a large source up in passes by customer hash (`ROLLUP_PASS_EVENTS`) so
    each fits under a memory limit: a first ingestion (every event new) and a later one
    (touched customers' events) give the very rows one pass gives."""
    from touchpoints import demo
    from touchpoints.ingest import ingest_files
    from touchpoints.store import open_store

    first, later = tmp_path / "first.parquet", tmp_path / "later.parquet"
    demo.generate(customers=60, seed=3, out=first)
    demo.generate(customers=40, seed=4, out=later)  # the same customer ids, new events

    def fed(name: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        with open_store(str(tmp_path / name)) as store:
            ingest_files(store, [str(first)])
            once = rollup(store)
            ingest_files(store, [str(later)])
            return once, rollup(store)

    whole = fed("whole.duckdb")
    monkeypatch.setattr(derived, "ROLLUP_PASS_EVENTS", 37)
    with open_store(str(tmp_path / "probe.duckdb")) as probe:
        ingest_files(probe, [str(first)])
        assert derived._rollup_passes(probe, "events") > 5  # the passes really ran
    in_passes = fed("passes.duckdb")
    assert whole[0] and whole[1] != whole[0]
    assert in_passes == whole
