"""Journey facts kept beside the events (`store.derived`): maintained at every ingestion
for the customers that received events, equal to a computation from scratch, read by the
journey analyses and attribution with the answers of the raw-event path."""

from __future__ import annotations

import inspect
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import SPARK_MATRIX
from test_properties import event_logs, fresh_store, to_csv
from touchpoints.analytics.registry import get
from touchpoints.cli import app as cli
from touchpoints.ingest import ingest_files, ingest_records
from touchpoints.ingest.privacy import erase_customer
from touchpoints.store import derived
from touchpoints.store.base import Store

DAY = datetime(2026, 3, 1)
# The analyses that read journey steps, with options that take their different paths.
JOURNEY_QUESTIONS: list[tuple[str, dict[str, Any]]] = [
    ("journeys.dfg", {}),
    ("journeys.dfg", {"case": "cycle"}),
    ("journeys.variants", {"case": "cycle"}),
    ("journeys.variants", {}),
    ("journeys.variants", {"top": 2}),
    ("journeys.funnel", {"touchpoint": ["website", "store", "phone"]}),
    ("journeys.gaps", {}),
    ("journeys.sankey", {}),
    ("journeys.sankey", {"depth": 1}),
    ("journeys.sankey", {"depth": 2}),
    ("journeys.moments", {}),
    ("journeys.dfg", {"case": "cycle", "phase": ["before"]}),
    ("attribution", {"model": "last"}),
    ("attribution", {"model": "first"}),
    ("attribution", {"model": "linear"}),
    ("attribution", {"model": "position"}),
    ("attribution", {"model": "time-decay"}),
    ("attribution", {"model": "markov"}),
    ("attribution", {"model": "markov", "order": 2, "details": True}),
    ("attribution", {"model": "shapley"}),
    ("attribution", {"model": "time-decay", "by": "phase"}),
    ("attribution", {"model": "position", "by": "phase"}),
    ("strength", {}),
    ("insights", {"all": True}),
]


def record(event_id: str, customer: str, day: float, touchpoint: str, action: str = "") -> dict:
    row: dict[str, Any] = {
        "event_id": event_id,
        "customer_id": customer,
        "touchpoint": touchpoint,
        "ts": (DAY + timedelta(days=day)).isoformat() + "Z",
    }
    if action:
        row["action"] = action
    if action == "purchase":
        row["value"] = 100.0
    return row


def cycles(store: Store) -> list[tuple[Any, ...]]:
    return [
        (r["cycle_id"], r["steps"], r["path"], r["converts"], r["revenue"])
        for r in store.query(
            "SELECT cycle_id, steps, path, converts, revenue FROM journey_cycles "
            "ORDER BY customer_id, cycle_no"
        )
    ]


def customers(store: Store) -> list[tuple[Any, ...]]:
    return [
        tuple(r.values())
        for r in store.query(
            "SELECT customer_id, cycles, path, converts FROM journey_customers ORDER BY customer_id"
        )
    ]


def facts(store: Store) -> list[tuple[Any, ...]]:
    return [
        tuple(r.values())
        for r in store.query(
            "SELECT e.event_id, f.phase, f.cycle_no, f.step FROM event_facts f "
            "JOIN events e ON e.seq = f.seq ORDER BY e.event_id"
        )
    ]


def same(a: Any, b: Any) -> bool:
    """Equal to the last bit (JSON is exact): the answers read from the facts and cut
    from raw events add the same numbers exactly, or in one fixed order."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def both_paths(store: Store, name: str, options: dict[str, Any]) -> tuple[Any, Any]:
    """The answer read from the facts, and the one computed from raw events.

    The raw one is the analysis's own function under every wrapper the registry adds
    (`inspect.unwrap`): one level down is still the wrapper that reads the facts."""
    analysis = get(name)
    scope, parsed = analysis.parse(options)
    assert scope.facts is False
    raw = inspect.unwrap(analysis.run)(store, scope, parsed)
    return analysis.run(store, scope, parsed), raw


# -- by hand ------------------------------------------------------------------------------
def test_a_late_event_recuts_that_customers_cycles_only(store: Store) -> None:
    ingest_records(
        store,
        [
            record("a1", "ana", 0, "website"),
            record("a2", "ana", 1, "store", "purchase"),
            record("a3", "ana", 60, "phone"),
            record("b1", "bia", 0, "whatsapp"),
            record("b2", "bia", 45, "store"),
        ],
        "first",
    )
    assert cycles(store) == [
        ("ana#1", 2, "website > store", 1, 100.0),
        ("ana#2", 1, "phone", 0, None),
        ("bia#1", 1, "whatsapp", 0, None),
        ("bia#2", 1, "store", 0, None),  # 45 days after: a gap of more than 30 days
    ]
    bia_facts = [f for f in facts(store) if f[0].startswith("b")]
    # A late event between them: within 30 days of both, so bia's two cycles become one.
    ingest_records(store, [record("b3", "bia", 22, "phone")], "late")
    assert cycles(store) == [
        ("ana#1", 2, "website > store", 1, 100.0),
        ("ana#2", 1, "phone", 0, None),
        ("bia#1", 3, "whatsapp > phone > store", 0, None),
    ]
    assert customers(store) == [
        ("ana", 2, "website > store > phone", 1),
        ("bia", 1, "whatsapp > phone > store", 0),
    ]
    assert [f for f in facts(store) if f[0].startswith("b")] != bia_facts
    assert facts(store)[:3] == [  # ana's untouched
        ("a1", "before", 1, 1),  # the purchase is a day later, not within the hour
        ("a2", "during", 1, 2),
        ("a3", "after", 2, 1),  # 59 days after a purchase; a new cycle after it
    ]
    assert derived.rebuild(store)["events_changed"] == 0


def test_phases_and_steps_by_hand(store: Store) -> None:
    ingest_records(
        store,
        [
            record("p1", "caio", 0, "website"),
            record("p2", "caio", 0.02, "store", "purchase"),  # 29 minutes later
            record("p3", "caio", 10, "phone"),
            record("p4", "caio", 200, "whatsapp"),
        ],
        "hand",
    )
    assert facts(store) == [
        ("p1", "during", 1, 1),  # within the hour before the purchase
        ("p2", "during", 1, 2),
        ("p3", "after", 2, 1),  # a new cycle: the previous step was a purchase
        ("p4", "before", 3, 1),  # 190 days later: past the 90-day `after` window
    ]


def test_erasing_a_customer_removes_their_facts_only(store: Store) -> None:
    ingest_records(
        store,
        [record("e1", "dora", 0, "website"), record("e2", "eva", 0, "store", "purchase")],
        "erase",
    )
    erase_customer(store, "dora")
    assert cycles(store) == [("eva#1", 1, "store", 1, 100.0)]
    assert customers(store) == [("eva", 1, "store", 1)]
    assert [f[0] for f in facts(store)] == ["e2"]
    assert derived.rebuild(store)["events_changed"] == 0


def test_duplicates_and_rejected_rows_leave_the_facts_alone(store: Store) -> None:
    ingest_records(store, [record("d1", "fabio", 0, "website")], "one")
    before = (facts(store), cycles(store))
    result = ingest_records(
        store, [record("d1", "fabio", 0, "website"), record("d2", "fabio", 1, "nowhere")], "two"
    )
    assert (result.stored, result.duplicates, result.rejected) == (0, 1, 1)
    assert (facts(store), cycles(store)) == before


def test_a_store_without_facts_answers_from_raw_events_until_rebuilt(store: Store) -> None:
    ingest_records(
        store,
        [record("r1", "gil", 0, "website"), record("r2", "gil", 1, "store", "purchase")],
        "r",
    )
    expected = both_paths(store, "journeys.variants", {"case": "cycle"})[1]
    # As a store from before the facts existed: events, no facts.
    store.execute("DELETE FROM meta WHERE key = 'derived_facts'")
    store.execute("DELETE FROM event_facts")
    store.execute("DELETE FROM journey_cycles")
    assert derived.stored_options(store) is None
    ingest_records(store, [record("r3", "gil", 2, "phone")], "more")
    assert store.count("event_facts") == 0  # not maintained until rebuilt
    fast, raw = both_paths(store, "journeys.variants", {"case": "cycle"})
    assert fast == raw != expected
    report = derived.rebuild(store)
    assert report["events"] == 3 and report["cycles"] == 2 and report["events_changed"] == 3
    assert report["previous_options"] is None
    assert both_paths(store, "journeys.variants", {"case": "cycle"})[0] == raw


def steps(store: Store) -> list[tuple[Any, ...]]:
    return [
        tuple(r.values())
        for r in store.query(
            "SELECT customer_id, touchpoint, next_touchpoint, next_seconds, first_step "
            "FROM journey_steps ORDER BY customer_id, first_step DESC, next_seconds NULLS LAST"
        )
    ]


def test_facts_cut_before_journey_paths_existed_fill_them_once(store: Store) -> None:
    """A store whose facts predate `journey_customers` and `journey_steps` answers customer
    variants and DFG from raw events until they are filled, at the next opening for
    writing (or `rebuild`)."""
    ingest_records(
        store,
        [
            record("u1", "hugo", 0, "website"),
            record("u2", "hugo", 1, "store", "purchase"),
            record("u3", "hugo", 70, "phone"),
            record("u4", "iris", 0, "whatsapp"),
        ],
        "u",
    )
    kept = customers(store)
    assert kept == [("hugo", 2, "website > store > phone", 1), ("iris", 1, "whatsapp", 0)]
    kept_steps = steps(store)
    assert kept_steps == [
        ("hugo", "website", "store", 86400.0, 1),
        ("hugo", "store", "phone", 69 * 86400.0, 0),
        ("hugo", "phone", None, None, 0),
        ("iris", "whatsapp", None, None, 1),
    ]
    store.execute("DELETE FROM journey_customers")
    store.execute("DELETE FROM journey_steps")
    store.execute("DELETE FROM meta WHERE key = $key", {"key": derived.PATHS_KEY})
    assert not derived.keeps_paths(store)
    fast, raw = both_paths(store, "journeys.variants", {})
    assert fast == raw and [v["path"] for v in fast["variants"]] == [
        ["website", "store", "phone"],
        ["whatsapp"],
    ]
    dfg_fast, dfg_raw = both_paths(store, "journeys.dfg", {})
    assert dfg_fast == dfg_raw
    derived.start_if_empty(store)  # what opening the store for writing runs
    assert derived.keeps_paths(store) and customers(store) == kept and steps(store) == kept_steps
    assert both_paths(store, "journeys.variants", {})[0] == raw
    assert both_paths(store, "journeys.dfg", {})[0] == dfg_raw


def test_rebuild_command_with_another_gap_says_what_changed(tmp_path: Any) -> None:
    from touchpoints.store import open_store

    db = str(tmp_path / "gap.duckdb")

    with open_store(db) as store:
        ingest_records(
            store,
            [record("g1", "hugo", 0, "website"), record("g2", "hugo", 10, "phone")],
            "g",
        )
        assert len(cycles(store)) == 1
    result = CliRunner().invoke(cli, ["rebuild", "--gap", "7d", "--db", db, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["options"]["gap_seconds"] == 7 * 86400
    assert report["previous_options"]["gap_seconds"] == 30 * 86400
    assert (report["cycles"], report["previous_cycles"], report["events_changed"]) == (2, 1, 1)
    with open_store(db) as store:
        # Questions at the default gap now compute from raw events; at 7d from the facts.
        for options in ({"case": "cycle"}, {"case": "cycle", "gap": "7d"}):
            fast, raw = both_paths(store, "journeys.variants", options)
            assert fast == raw
        assert len(cycles(store)) == 2
        # Later ingestion keeps cutting at 7 days.
        ingest_records(store, [record("g3", "hugo", 12, "store")], "g3")
        assert [c[0] for c in cycles(store)] == ["hugo#1", "hugo#2"]
        assert derived.rebuild(store)["events_changed"] == 0


# -- properties ----------------------------------------------------------------------------
def _records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        r = {k: v for k, v in row.items() if v is not None}
        r["ts"] = row["ts"].isoformat() + "Z"
        out.append(r)
    return out


BATCHES = given(
    rows=event_logs(max_size=30),
    order=st.randoms(use_true_random=False),
    cuts=st.lists(st.integers(0, 30), max_size=4),
    resend=st.integers(0, 5),
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@BATCHES
def test_facts_kept_batch_by_batch_equal_facts_from_scratch(
    engine: str, rows: list[dict[str, Any]], order: random.Random, cuts: list[int], resend: int
) -> None:
    """Events arriving in any order, in any batches (files and API records, with repeats),
    leave the facts a from-scratch rebuild would compute, and every journey question gives
    the answer the raw events give, on one store as on a store fed everything at once."""
    if engine == "spark":
        pytest.skip("on Spark with fewer examples: the test below")
    _batch_by_batch(engine, rows, order, cuts, resend)


@pytest.mark.spark
@pytest.mark.skipif(not SPARK_MATRIX, reason="the Spark matrix only (TOUCHPOINTS_TEST_SPARK=all)")
@settings(max_examples=3, deadline=None)
@BATCHES
def test_facts_kept_batch_by_batch_on_spark(
    rows: list[dict[str, Any]], order: random.Random, cuts: list[int], resend: int
) -> None:
    """The same property on Spark, where every batch is several Spark jobs and rewrites:
    three examples (each up to five batches on two stores) keep the matrix in minutes."""
    _batch_by_batch("spark", rows, order, cuts, resend)


@contextmanager
def fed_in_batches(
    engine: str, rows: list[dict[str, Any]], order: random.Random, cuts: list[int], resend: int
) -> Iterator[tuple[Store, Store]]:
    """Two stores of the same events: one fed them shuffled, cut into batches that
    alternate files and API records (each after the first repeating `resend` rows), the
    other fed them all at once."""
    shuffled = list(rows)
    order.shuffle(shuffled)
    bounds = sorted({min(c, len(rows)) for c in cuts} | {0, len(rows)})
    batches = [shuffled[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    with fresh_store(engine) as (store, tmp), fresh_store(engine) as (whole, tmp2):
        for i, batch in enumerate(batches):
            repeat = shuffled[: min(resend, len(shuffled))] if i else []
            if i % 2:
                ingest_records(store, _records(batch + repeat), f"api-{i}")
            else:
                ingest_files(store, [to_csv(tmp / f"batch{i}.csv", batch + repeat)])
        ingest_files(whole, [to_csv(tmp2 / "all.csv", rows)])
        yield store, whole


def _batch_by_batch(
    engine: str, rows: list[dict[str, Any]], order: random.Random, cuts: list[int], resend: int
) -> None:
    with fed_in_batches(engine, rows, order, cuts, resend) as (store, whole):
        kept = (facts(store), cycles(store), customers(store))
        assert kept == (facts(whole), cycles(whole), customers(whole))
        report = derived.rebuild(store)
        assert report["events_changed"] == 0 and report["cycles"] == len(kept[1])
        assert (facts(store), cycles(store), customers(store)) == kept
        # The questions below read the facts (on every engine, Spark included), so `fast`
        # and `raw` are two computations, not one twice.
        assert derived.stored_options(store) == derived.FactOptions()
        for name, options in JOURNEY_QUESTIONS:
            fast, raw = both_paths(store, name, options)
            assert same(fast, raw), (name, options)
            assert same(fast, both_paths(whole, name, options)[0]), (name, options)


def test_every_engine_fixture_starts_with_facts(store: Store) -> None:
    assert derived.stored_options(store) == derived.FactOptions()


@pytest.mark.parametrize("name", sorted({n for n, _ in JOURNEY_QUESTIONS}))
def test_the_demo_year_answers_the_same_from_facts(demo_300: str, name: str) -> None:
    from touchpoints.store import open_store

    with open_store(demo_300, read_only=True) as store:
        assert derived.stored_options(store) == derived.FactOptions()
        for question, options in JOURNEY_QUESTIONS:
            if question == name:
                fast, raw = both_paths(store, name, options)
                assert same(fast, raw), options


def test_a_crash_in_the_middle_of_an_ingest_leaves_events_and_facts_consistent(
    tmp_path: Any,
) -> None:
    """kill -9 at some point of a file's ingestion: after it, the store holds either none
    or all of the file, and facts for exactly the events it holds."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import touchpoints
    from touchpoints.demo import generate
    from touchpoints.store import open_store

    events, db = tmp_path / "events.parquet", str(tmp_path / "crash.duckdb")
    total = generate(customers=6000, seed=3, out=str(events))["events"]
    src = os.path.dirname(os.path.dirname(touchpoints.__file__))
    for delay in (0.3, 0.9, 1.8):
        proc = subprocess.Popen(
            [sys.executable, "-c", "from touchpoints.cli import main; main()"]
            + ["ingest", str(events), "--db", db],
            env={**os.environ, "PYTHONPATH": src},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with open_store(db) as store:
            n = store.count()
            assert n in (0, total)
            assert store.count("event_facts") == n
            assert derived.rebuild(store)["events_changed"] == 0


@pytest.mark.postgres
@pytest.mark.parametrize(
    "engine", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_commit_on_postgres_reads_the_touched_customers_facts_by_index(store: Store) -> None:
    """PostgreSQL plans a join with a temporary table it has no statistics of as if it held
    a thousand rows; the commit gives it those statistics, so that replacing one customer's
    facts reads them through each fact table's customer index instead of scanning every
    stored customer's rows (at 1M events a one-event commit took 2.0–2.6 s, 0.2 s now)."""
    rows = [
        record(f"e{i}", f"c{i % 4000}", i % 50, ["website", "phone"][i % 2]) for i in range(8000)
    ]
    ingest_records(store, rows, "many")
    tables = ("kpi_facts", "event_facts", "journey_steps", "journey_customers", "journey_cycles")
    for table in tables:
        store.execute(f"ANALYZE {table}")  # as autovacuum would after the load

    def scans() -> dict[str, int]:
        # This session's counts reach the statistics when it goes idle: force that now.
        store.execute("SELECT pg_stat_force_next_flush()")
        store.execute("SELECT pg_stat_clear_snapshot()")
        found = store.query(
            "SELECT relname, seq_scan FROM pg_stat_user_tables WHERE schemaname = current_schema()"
        )
        return {r["relname"]: int(r["seq_scan"]) for r in found if r["relname"] in tables}

    before = scans()
    assert ingest_records(store, [record("late", "c7", 20.5, "store")], "one").stored == 1
    assert scans() == before
    assert [c[0] for c in cycles(store) if c[0].startswith("c7#")] == ["c7#1"]
