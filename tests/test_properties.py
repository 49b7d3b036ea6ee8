"""Property tests of the KPIs on random small event logs (hypothesis).

A plain-Python reference of SPEC §3 (derived phase) and §4 (every KPI, retention) is the
oracle; the other properties are invariants: bounds, sums over groupings, idempotent
re-ingestion, independence from row order and from how the rows are split into files.
"""

from __future__ import annotations

import random
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import _open, run, write_csv
from touchpoints.analytics.kpis import KPI_KEYS
from touchpoints.core.catalog import default_catalog
from touchpoints.core.events import COLUMN_NAMES, PHASES
from touchpoints.ingest import ingest_files
from touchpoints.store.base import Store

CATALOG = {t.id: t for t in default_catalog().touchpoints if t.is_touchpoint}
TOUCHPOINTS = sorted(CATALOG)
GROUPINGS: list[str | None] = [
    None,
    "touchpoint",
    "channel",
    "kind",
    "phase",
    "agent",
    "segment",
    "day",
    "week",
    "month",
]
RATES = (
    "abandonment_rate",
    "service_level",
    "fcr",
    "promise_kept_rate",
    "data_reuse_rate",
    "retention",
    "churn",
)
BASE = datetime(2026, 1, 1)


# -- random event logs ------------------------------------------------------------------------
def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


ROW = st.fixed_dictionaries(
    {
        "customer_id": st.sampled_from(["c1", "c2", "c3", "c4"]),
        "touchpoint": st.sampled_from(TOUCHPOINTS),
        "action": st.sampled_from(["interaction", "purchase", "purchase", "feedback"]),
        "value": st.sampled_from([None, 0, 9.99, 120, 350.5]),
        "phase": st.sampled_from([None, None, None, *PHASES]),
        "agent": maybe(st.sampled_from(["ann", "bob"])),
        "wait_seconds": maybe(st.sampled_from([0, 3, 19.5, 20, 21, 45])),
        "handle_seconds": maybe(st.integers(0, 600)),
        "abandoned": maybe(st.booleans()),
        "resolved": maybe(st.booleans()),
        "nps": maybe(st.integers(0, 10)),
        "csat": maybe(st.integers(1, 5)),
        "ces": maybe(st.integers(1, 7)),
        "promise": maybe(st.sampled_from(["made", "kept", "broken"])),
        "emotion": maybe(st.integers(-2, 2)),
        "data_reused": maybe(st.booleans()),
        "segment": maybe(st.sampled_from(["gold", "silver"])),
    }
)


@st.composite
def event_logs(draw: st.DrawFn, max_size: int = 25) -> list[dict[str, Any]]:
    """Valid rows with explicit event_ids and distinct times: ~4 months, clustered in the
    first hours of each day so that 'within the hour before a purchase' happens often."""
    n = draw(st.integers(1, max_size))
    slots = draw(
        st.lists(
            st.tuples(st.integers(0, 120), st.integers(0, 240)), min_size=n, max_size=n, unique=True
        )
    )
    rows = []
    for i, (day, minute) in enumerate(slots):
        row = draw(ROW)
        row["event_id"] = f"e{i}"
        row["ts"] = BASE + timedelta(days=day, minutes=minute)
        rows.append(row)
    return rows


OPTIONS = st.fixed_dictionaries(
    {
        "answer_within": st.sampled_from([0, 10, 20, 45]),
        "short_abandon": st.sampled_from([0, 0, 5, 30]),
        "timezone": st.sampled_from(["UTC", "America/Sao_Paulo"]),
    }
)


def to_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    def cell(v: Any) -> Any:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, datetime):
            return v.strftime("%Y-%m-%dT%H:%M:%SZ")
        return v

    return write_csv(path, [{k: cell(v) for k, v in r.items()} for r in rows], list(COLUMN_NAMES))


@contextmanager
def fresh_store(engine: str) -> Iterator[tuple[Store, Path]]:
    """An empty store and a scratch directory, per hypothesis example."""
    with tempfile.TemporaryDirectory() as tmp:
        store, cleanup = _open(engine, Path(tmp))
        try:
            yield store, Path(tmp)
        finally:
            cleanup()


def snapshot(store: Store, groupings: list[str | None], **options: Any) -> dict[str | None, Any]:
    return {by: run(store, "kpis", by=by, **options)["rows"] for by in groupings}


# -- the reference (SPEC §3, §4) -----------------------------------------------------------------
def derived_phase(row: dict[str, Any], purchases: list[datetime]) -> str:
    if row["phase"]:
        return row["phase"]
    ts = row["ts"]
    if row["action"] == "purchase" or any(ts <= p <= ts + timedelta(hours=1) for p in purchases):
        return "during"
    if any(ts - timedelta(days=90) <= p <= ts for p in purchases):
        return "after"
    return "before"


def period_start(local: datetime, period: str) -> date:
    d = local.date()
    if period == "week":
        return d - timedelta(days=d.weekday())
    if period == "month":
        return d.replace(day=1)
    return d


def next_period(start: date, period: str) -> date:
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return (start + timedelta(days=32)).replace(day=1)


def label(start: date, period: str) -> str:
    return start.strftime("%Y-%m") if period == "month" else start.isoformat()


def reference(
    rows: list[dict[str, Any]],
    by: str | None,
    answer_within: float,
    short_abandon: float,
    timezone: str,
) -> dict[Any, dict[str, Any]]:
    zone = ZoneInfo(timezone)

    def local(ts: datetime) -> datetime:
        return ts.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)

    purchases: dict[str, list[datetime]] = defaultdict(list)
    for r in rows:
        if r["action"] == "purchase":
            purchases[r["customer_id"]].append(r["ts"])

    def key(r: dict[str, Any]) -> Any:
        if by is None:
            return "all"
        if by in ("channel", "kind"):
            return getattr(CATALOG[r["touchpoint"]], by)
        if by == "phase":
            return derived_phase(r, purchases[r["customer_id"]])
        if by in ("day", "week", "month"):
            return label(period_start(local(r["ts"]), by), by)
        return r[by]

    grouped: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        grouped[key(r)].append(r)

    def share(num: float, den: float) -> float | None:
        return num / den if den else None

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    out = {}
    for grp, rs in grouped.items():
        contacts = [r for r in rs if r["abandoned"] is not None]
        short = [
            r
            for r in contacts
            if r["abandoned"]
            and r["wait_seconds"] is not None
            and r["wait_seconds"] < short_abandon
        ]
        offered = len(contacts) - len(short)
        answered = [r for r in contacts if r["abandoned"] is False]
        abandoned = offered - len(answered)
        nps = [r["nps"] for r in rs if r["nps"] is not None]
        p = share(sum(x >= 9 for x in nps), len(nps))
        d = share(sum(x <= 6 for x in nps), len(nps))
        csat = [r["csat"] for r in rs if r["csat"] is not None]
        resolved = [r["resolved"] for r in rs if r["resolved"] is not None]
        reused = [r["data_reused"] for r in rs if r["data_reused"] is not None]
        kept = sum(r["promise"] == "kept" for r in rs)
        broken = sum(r["promise"] == "broken" for r in rs)
        buys = [r for r in rs if r["action"] == "purchase"]
        out[grp] = {
            "events": len(rs),
            "customers": len({r["customer_id"] for r in rs}),
            "offered": offered,
            "answered": len(answered),
            "abandoned": abandoned,
            "abandonment_rate": share(abandoned, offered),
            "tme_seconds": mean(
                [r["wait_seconds"] for r in answered if r["wait_seconds"] is not None]
            ),
            "tma_seconds": mean(
                [r["handle_seconds"] for r in answered if r["handle_seconds"] is not None]
            ),
            "service_level": share(
                sum(
                    r["wait_seconds"] is not None and r["wait_seconds"] <= answer_within
                    for r in answered
                ),
                offered,
            ),
            "fcr": share(sum(resolved), len(resolved)),
            "csat": None if not csat else 100 * sum(x >= 4 for x in csat) / len(csat),
            "nps": None if p is None or d is None else 100 * (p - d),
            "nps_margin": None
            if p is None or d is None
            else 196 * ((p + d - (p - d) ** 2) / len(nps)) ** 0.5,
            "ces": mean([r["ces"] for r in rs if r["ces"] is not None]),
            "conversions": len(buys),
            "revenue": float(sum(r["value"] or 0 for r in buys)),
            "promise_kept_rate": share(kept, kept + broken),
            "data_reuse_rate": share(sum(reused), len(reused)),
            "emotion": mean([r["emotion"] for r in rs if r["emotion"] is not None]),
            "retention": None,
            "churn": None,
        }
    if by in ("day", "week", "month"):
        buyers: dict[date, set[str]] = defaultdict(set)
        for r in rows:
            if r["action"] == "purchase":
                buyers[period_start(local(r["ts"]), by)].add(r["customer_id"])
        last = max(local(r["ts"]) for r in rows)
        for start, who in buyers.items():
            following = next_period(start, by)
            complete = last >= datetime.combine(next_period(following, by), datetime.min.time())
            if label(start, by) in out and complete:
                retention = len(who & buyers.get(following, set())) / len(who)
                out[label(start, by)].update(retention=retention, churn=1 - retention)
    return out


def assert_matches(
    actual_rows: list[dict[str, Any]], expected: dict[Any, dict[str, Any]], context: Any
) -> None:
    actual = {r["group"]: r for r in actual_rows}
    assert set(actual) == set(expected), context
    for grp, want in expected.items():
        got = actual[grp]
        for k in KPI_KEYS:
            if want[k] is None:
                assert got[k] is None, (context, grp, k, got[k])
            else:
                assert got[k] == pytest.approx(want[k]), (
                    context,
                    grp,
                    k,
                    got[k],
                    want[k],
                )


def assert_in_bounds(row: dict[str, Any]) -> None:
    for k in RATES:
        assert row[k] is None or 0 <= row[k] <= 1, (k, row)
    assert row["csat"] is None or 0 <= row["csat"] <= 100
    assert row["nps"] is None or -100 <= row["nps"] <= 100
    assert row["nps_margin"] is None or row["nps_margin"] >= 0
    assert row["ces"] is None or 1 <= row["ces"] <= 7
    assert row["emotion"] is None or -2 <= row["emotion"] <= 2
    for k in ("tme_seconds", "tma_seconds", "revenue"):
        assert row[k] is None or row[k] >= 0, (k, row)
    assert row["offered"] == row["answered"] + row["abandoned"]
    assert 1 <= row["customers"] <= row["events"]
    assert row["conversions"] <= row["events"]
    if row["retention"] is not None:
        assert row["churn"] == pytest.approx(1 - row["retention"])


# -- properties --------------------------------------------------------------------------------
# Each example costs ~0.2 s per store (ingestion) plus ~15 ms per KPI query, so examples are
# few and each checks three groupings drawn from the ten; over the examples every grouping
# is exercised several times.
THREE_GROUPINGS = st.lists(st.sampled_from(GROUPINGS), min_size=3, max_size=3, unique=True)


@settings(max_examples=20, deadline=None)
@given(rows=event_logs(), options=OPTIONS, groupings=THREE_GROUPINGS)
def test_kpis_match_the_reference_and_stay_in_bounds(
    rows: list[dict[str, Any]], options: dict[str, Any], groupings: list[str | None]
) -> None:
    with fresh_store("duckdb") as (store, tmp):
        ingest_files(store, [to_csv(tmp / "events.csv", rows)])
        for by in groupings:
            result = run(store, "kpis", by=by, **options)["rows"]
            assert_matches(result, reference(rows, by, **options), (by, options))
            for row in result:
                assert_in_bounds(row)
            # Summed over the groups of any grouping, events are the total.
            assert sum(r["events"] for r in result) == len(rows)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=event_logs(), options=OPTIONS, groupings=THREE_GROUPINGS)
def test_reingesting_the_same_file_changes_nothing(
    engine: str, rows: list[dict[str, Any]], options: dict[str, Any], groupings: list[str | None]
) -> None:
    with fresh_store(engine) as (store, tmp):
        path = to_csv(tmp / "events.csv", rows)
        first = ingest_files(store, [path])
        assert (first.ingested, first.duplicates, first.rejected) == (len(rows), 0, 0)
        before = snapshot(store, groupings, **options)
        again = ingest_files(store, [path])
        assert (again.ingested, again.duplicates, again.rejected) == (0, len(rows), 0)
        assert store.count() == len(rows)
        assert snapshot(store, groupings, **options) == before
        # Every engine agrees with the reference (and so with each other).
        for by in groupings:
            assert_matches(before[by], reference(rows, by, **options), (by, options))


@settings(max_examples=12, deadline=None)
@given(
    rows=event_logs(),
    shuffle=st.randoms(use_true_random=False),
    options=OPTIONS,
    groupings=THREE_GROUPINGS,
)
def test_row_order_does_not_matter(
    rows: list[dict[str, Any]],
    shuffle: random.Random,
    options: dict[str, Any],
    groupings: list[str | None],
) -> None:
    shuffled = list(rows)
    shuffle.shuffle(shuffled)
    with fresh_store("duckdb") as (one, tmp1), fresh_store("duckdb") as (two, tmp2):
        ingest_files(one, [to_csv(tmp1 / "events.csv", rows)])
        ingest_files(two, [to_csv(tmp2 / "events.csv", shuffled)])
        assert snapshot(one, groupings, **options) == snapshot(two, groupings, **options)


@settings(max_examples=12, deadline=None)
@given(rows=event_logs(), cut=st.integers(0, 25), options=OPTIONS, groupings=THREE_GROUPINGS)
def test_splitting_a_file_in_two_changes_nothing(
    rows: list[dict[str, Any]], cut: int, options: dict[str, Any], groupings: list[str | None]
) -> None:
    cut = min(cut, len(rows))
    with fresh_store("duckdb") as (one, tmp1), fresh_store("duckdb") as (two, tmp2):
        whole = ingest_files(one, [to_csv(tmp1 / "all.csv", rows)])
        first = ingest_files(two, [to_csv(tmp2 / "first.csv", rows[:cut])])
        second = ingest_files(two, [to_csv(tmp2 / "second.csv", rows[cut:])])
        assert (first.ingested, second.ingested) == (cut, len(rows) - cut)
        assert whole.ingested == len(rows)
        assert snapshot(one, groupings, **options) == snapshot(two, groupings, **options)
