"""The demo generator: deterministic, ingestible in every format, and realistic in the ways the
dashboards rely on (queues by hour, abandonment, satisfaction, promises, phases, retention).

Realism is asserted through the store, as a user would see it: KPIs and plain SQL over the
ingested events. Times of day are São Paulo's (UTC-3), where the simulated shop lives.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import touchpoints as tp
from conftest import run
from touchpoints import demo
from touchpoints.core.errors import UsageError
from touchpoints.core.events import COLUMN_NAMES
from touchpoints.demo import data as _data  # noqa: F401 - demo.data for monkeypatch
from touchpoints.ingest import ingest_files
from touchpoints.store import open_store
from touchpoints.store.base import Store

CUSTOMERS = 4000
SEED = 11
LOCAL_HOUR = "hour(ts - INTERVAL 3 HOUR)"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("demo") / "events.parquet"
    return path, demo.generate(customers=CUSTOMERS, seed=SEED, out=path)


@pytest.fixture(scope="module")
def demo_store(
    demo_file: tuple[Path, dict[str, int]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    store = open_store(str(tmp_path_factory.mktemp("db") / "demo.duckdb"))
    result = ingest_files(store, [demo_file[0]])
    assert (result.rejected, result.duplicates) == (0, 0), result.quarantine[:5]
    assert result.ingested == demo_file[1]["events"]
    yield store
    store.close()


def _one(store: Store, sql: str) -> dict[str, Any]:
    return store.query(sql)[0]


def _groups(store: Store, by: str) -> dict[str, dict[str, Any]]:
    return {r["group"]: r for r in run(store, "kpis", by=by)["rows"]}


# -- determinism and shape -----------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["parquet", "csv", "jsonl"])
def test_same_seed_same_bytes(tmp_path: Path, ext: str) -> None:
    a = demo.generate(300, 5, tmp_path / f"a.{ext}")
    b = demo.generate(300, 5, tmp_path / "again" / f"b.{ext}")
    assert a == b
    assert _digest(tmp_path / f"a.{ext}") == _digest(tmp_path / "again" / f"b.{ext}")
    assert not list(tmp_path.glob(".*partial")), "the temporary file is renamed into place"


def test_other_seed_other_data(tmp_path: Path) -> None:
    # Not just other event_ids (they carry the seed): other times, places and customers' stories.
    tables = []
    for seed in (5, 6):
        demo.generate(300, seed, tmp_path / f"{seed}.parquet")
        tables.append(pq.read_table(tmp_path / f"{seed}.parquet"))
    for column in ("ts", "touchpoint", "wait_seconds", "segment"):
        assert tables[0][column].to_pylist() != tables[1][column].to_pylist()


def test_columns_ids_and_counts(demo_file: tuple[Path, dict[str, int]]) -> None:
    path, stats = demo_file
    table = pq.read_table(path)
    assert tuple(table.column_names) == COLUMN_NAMES
    assert str(table.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    assert stats["customers"] == CUSTOMERS == len(set(table["customer_id"].to_pylist()))
    assert table.num_rows == stats["events"]
    assert 4 <= stats["events"] / stats["customers"] <= 7
    ids = table["event_id"].to_pylist()
    assert len(set(ids)) == len(ids) and ids[0] == f"ev-{SEED}-0"
    assert all(re.fullmatch(r"C\d{6}", c) for c in table["customer_id"].to_pylist()[:1000])
    used = set(table["touchpoint"].to_pylist())
    catalog = {t.id for t in tp.default_catalog().touchpoints if t.is_touchpoint}
    assert used == catalog  # every touchpoint, never a backstage or customer-only lane


def test_chunks_number_events_and_customers_continuously(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo.data, "CHUNK_CUSTOMERS", 150)  # the module that cuts chunks
    path = tmp_path / "chunks.parquet"
    stats = demo.generate(500, 3, path)
    table = pq.read_table(path)
    assert pq.ParquetFile(path).num_row_groups == 4
    assert table["event_id"].to_pylist() == [f"ev-3-{i}" for i in range(stats["events"])]
    customers = sorted(set(table["customer_id"].to_pylist()))
    assert customers == [f"C{i:06d}" for i in range(1, 501)]
    ids = set(table["event_id"].to_pylist())
    refs = [r for r in table["ref_event_id"].to_pylist() if r is not None]
    assert refs and set(refs) <= ids


def test_span_starts_at_start_and_lasts_a_year(tmp_path: Path) -> None:
    path = tmp_path / "y.parquet"
    demo.generate(400, 1, path, start="2024-03-01")
    ts = pq.read_table(path)["ts"].to_pylist()
    assert min(ts).isoformat() >= "2024-03-01T03:00:00+00:00"  # local midnight
    assert max(ts).isoformat() < "2025-03-01T00:00:00+00:00"
    assert (max(ts) - min(ts)).days >= 330


def test_bad_arguments_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="parquet, .csv or .jsonl"):
        demo.generate(10, 1, tmp_path / "x.xlsx")
    with pytest.raises(UsageError, match="--start"):
        demo.generate(10, 1, tmp_path / "x.csv", start="yesterday")
    with pytest.raises(UsageError, match="--customers"):
        demo.generate(-1, 1, tmp_path / "x.csv")
    assert not list(tmp_path.iterdir())


def test_zero_customers_writes_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    assert demo.generate(0, 1, path) == {"events": 0, "customers": 0}
    assert pq.read_table(path).num_rows == 0


# -- ingestion ----------------------------------------------------------------------------------
def test_every_format_ingests_identically(tmp_path: Path) -> None:
    results = {}
    for ext in ("parquet", "csv", "jsonl"):
        path = tmp_path / f"events.{ext}"
        stats = demo.generate(600, 9, path)
        with open_store(str(tmp_path / f"{ext}.duckdb")) as store:
            r = ingest_files(store, [path])
            assert (r.ingested, r.rejected) == (stats["events"], 0)
            results[ext] = (run(store, "kpis", by="touchpoint"), run(store, "kpis", by="phase"))
    assert results["parquet"] == results["csv"] == results["jsonl"]


# -- realism, measured through the store --------------------------------------------------------
def test_queues_are_worse_at_lunch_and_evening(demo_store: Store) -> None:
    row = _one(
        demo_store,
        f"""SELECT
        avg(wait_seconds) FILTER (WHERE {LOCAL_HOUR} IN (12, 19)) AS peak,
        avg(wait_seconds) FILTER (WHERE {LOCAL_HOUR} IN (10, 15)) AS calm
        FROM events WHERE abandoned = FALSE""",
    )
    assert row["peak"] > 1.4 * row["calm"]


def test_queues_are_worse_on_mondays(demo_store: Store) -> None:
    row = _one(
        demo_store,
        """SELECT
        avg(wait_seconds) FILTER (WHERE isodow(ts - INTERVAL 3 HOUR) = 1) AS monday,
        avg(wait_seconds) FILTER (WHERE isodow(ts - INTERVAL 3 HOUR) IN (2, 3, 4)) AS midweek
        FROM events WHERE abandoned = FALSE AND touchpoint = 'phone'""",
    )
    assert row["monday"] > 1.15 * row["midweek"]


def test_abandonment_grows_with_the_wait(demo_store: Store) -> None:
    row = _one(
        demo_store,
        """SELECT
        avg(CASE WHEN abandoned THEN 1.0 ELSE 0.0 END) FILTER (WHERE wait_seconds > 300) AS long,
        avg(CASE WHEN abandoned THEN 1.0 ELSE 0.0 END) FILTER (WHERE wait_seconds < 60) AS short,
        count(*) FILTER (WHERE abandoned AND wait_seconds < 5) AS instant
        FROM events WHERE abandoned IS NOT NULL""",
    )
    assert row["long"] > 3 * row["short"]
    assert row["instant"] > 0  # misdials for --short-abandon to leave out
    overall = _groups(demo_store, "touchpoint")
    for channel in ("phone", "whatsapp", "chat", "store"):
        assert 0.01 < overall[channel]["abandonment_rate"] < 0.2


def test_long_waits_and_unresolved_contacts_lower_csat(demo_store: Store) -> None:
    row = _one(
        demo_store,
        """SELECT
        avg(csat) FILTER (WHERE wait_seconds > 300) AS long_wait,
        avg(csat) FILTER (WHERE wait_seconds < 60) AS short_wait,
        avg(csat) FILTER (WHERE resolved = FALSE) AS unresolved,
        avg(csat) FILTER (WHERE resolved = TRUE) AS resolved,
        avg(emotion) FILTER (WHERE wait_seconds > 300) AS long_mood,
        avg(emotion) FILTER (WHERE wait_seconds < 60) AS short_mood
        FROM events WHERE abandoned = FALSE""",
    )
    assert row["long_wait"] < row["short_wait"] - 0.5
    assert row["unresolved"] < row["resolved"] - 0.5
    assert row["long_mood"] < row["short_mood"]


def test_broken_promises_lower_nps(demo_store: Store) -> None:
    rows = demo_store.query("""SELECT d.promise AS promise, count(*) AS n,
          100.0 * avg(CASE WHEN f.nps >= 9 THEN 1 WHEN f.nps <= 6 THEN -1 ELSE 0 END) AS nps,
          avg(f.ces) AS ces
        FROM events f JOIN events d ON d.event_id = f.ref_event_id
        WHERE f.action = 'feedback' AND d.touchpoint = 'delivery' AND d.promise IS NOT NULL
        GROUP BY 1""")
    by = {r["promise"]: r for r in rows}
    assert by["broken"]["n"] > 20 and by["kept"]["n"] > 20
    assert by["broken"]["nps"] < by["kept"]["nps"] - 40
    assert by["broken"]["ces"] > by["kept"]["ces"]
    kept_rate = _groups(demo_store, "touchpoint")["delivery"]["promise_kept_rate"]
    assert 0.65 < kept_rate < 0.95


def test_surveys_rate_an_earlier_interaction_of_the_same_customer(demo_store: Store) -> None:
    row = _one(
        demo_store,
        """SELECT count(*) AS n,
          count(*) FILTER (WHERE r.event_id IS NULL OR r.customer_id <> f.customer_id OR r.ts >= f.ts) AS bad,
          count(*) FILTER (WHERE f.comment IS NOT NULL) AS commented
        FROM events f LEFT JOIN events r ON r.event_id = f.ref_event_id
        WHERE f.action = 'feedback'""",
    )
    assert row["n"] > 200 and row["bad"] == 0
    assert 0.3 < row["commented"] / row["n"] < 0.8
    assert (
        _one(
            demo_store,
            "SELECT count(*) AS n FROM events WHERE action = 'feedback' AND touchpoint <> 'nps_survey'",
        )["n"]
        == 0
    )


def test_comments_match_the_score_and_are_mostly_portuguese(demo_store: Store) -> None:
    rows = demo_store.query("SELECT comment, nps FROM events WHERE comment IS NOT NULL")
    english = {c for _, (_, en) in demo.COMMENTS.items() for c in en}
    complaints = {
        c for k in ("broken", "unresolved", "wait") for group in demo.COMMENTS[k] for c in group
    }
    praise = {
        c
        for k, groups in demo.COMMENTS.items()
        if k.startswith("good_")
        for group in groups
        for c in group
    }
    assert sum(r["comment"] in english for r in rows) / len(rows) < 0.3
    assert max(r["nps"] for r in rows if r["comment"] in complaints) <= 6
    assert min(r["nps"] for r in rows if r["comment"] in praise) >= 9


def test_conversion_share_is_plausible(demo_store: Store) -> None:
    # Cycles as SPEC §3 cuts them: up to a purchase, or a gap of more than 30 days.
    row = _one(
        demo_store,
        """WITH e AS (
          SELECT customer_id, ts, action, lag(action) OVER w AS prev_action, lag(ts) OVER w AS prev_ts
          FROM events WHERE action <> 'feedback'
          WINDOW w AS (PARTITION BY customer_id ORDER BY ts, seq))
        SELECT sum(CASE WHEN prev_ts IS NULL OR prev_action = 'purchase'
                         OR ts - prev_ts > INTERVAL 30 DAY THEN 1 ELSE 0 END) AS cycles,
               count(*) FILTER (WHERE action = 'purchase') AS purchases,
               count(DISTINCT customer_id) FILTER (WHERE action = 'purchase') AS buyers,
               count(DISTINCT customer_id) AS customers
        FROM e""",
    )
    assert 0.2 < row["purchases"] / row["cycles"] < 0.45
    assert 0.3 < row["buyers"] / row["customers"] < 0.6
    values = _one(
        demo_store,
        "SELECT min(value) AS lo, median(value) AS mid FROM events WHERE action = 'purchase'",
    )
    assert values["lo"] >= 250 and 500 < values["mid"] < 3000


def test_customers_come_back_so_monthly_retention_is_not_zero(demo_store: Store) -> None:
    months = run(demo_store, "kpis", by="month")["rows"]
    assert len(months) == 12
    retained = [m["retention"] for m in months if m["retention"] is not None]
    assert len(retained) >= 10 and min(retained) > 0


def test_every_phase_and_kind_is_present(demo_store: Store) -> None:
    phases = _groups(demo_store, "phase")
    assert set(phases) == {"before", "during", "after"}
    assert phases["during"]["conversions"] > 0 and phases["before"]["conversions"] == 0
    assert phases["after"]["nps"] is not None
    assert all(p["events"] > 500 for p in phases.values())
    kinds = _groups(demo_store, "kind")
    assert set(kinds) == {"static", "interactive", "human"}
    explicit = _one(demo_store, "SELECT count(phase) AS n, count(*) AS total FROM events")
    assert 0 < explicit["n"] < 0.01 * explicit["total"]  # derived, set only rarely


def test_segments(demo_store: Store) -> None:
    segments = _groups(demo_store, "segment")
    assert set(segments) == {"retail", "app_driver", "fleet"}
    assert segments["retail"]["customers"] > segments["fleet"]["customers"]


# -- the people who serve -----------------------------------------------------------------------
def test_named_agents_differ_in_skill(demo_store: Store) -> None:
    rows = demo_store.query("""SELECT touchpoint, agent, count(*) AS n, avg(handle_seconds) AS tma,
          avg(CASE WHEN resolved THEN 1.0 ELSE 0.0 END) AS fcr
        FROM events WHERE abandoned = FALSE AND agent <> 'bot' GROUP BY 1, 2""")
    for channel in ("phone", "whatsapp", "chat", "store"):
        team = [r for r in rows if r["touchpoint"] == channel]
        assert 8 <= len(team) <= 15
        busy = [r for r in team if r["n"] >= 30]
        assert max(r["tma"] for r in busy) > 1.3 * min(r["tma"] for r in busy)
        assert max(r["fcr"] for r in busy) > min(r["fcr"] for r in busy) + 0.1


def test_opening_hours_and_night_bots(demo_store: Store) -> None:
    row = _one(
        demo_store,
        f"""SELECT
        count(*) FILTER (WHERE touchpoint IN ('phone', 'store') AND action <> 'purchase'
                         AND ({LOCAL_HOUR} < 8 OR {LOCAL_HOUR} >= 20)) AS after_hours,
        count(*) FILTER (WHERE touchpoint IN ('phone', 'store', 'delivery')
                         AND isodow(ts - INTERVAL 3 HOUR) = 7) AS sundays,
        count(*) FILTER (WHERE agent = 'bot' AND {LOCAL_HOUR} BETWEEN 8 AND 21) AS day_bots,
        count(*) FILTER (WHERE agent = 'bot' AND touchpoint NOT IN ('whatsapp', 'chat')) AS odd_bots,
        count(*) FILTER (WHERE touchpoint IN ('whatsapp', 'chat') AND ({LOCAL_HOUR} < 6)) AS night_chats,
        count(*) FILTER (WHERE data_reused = FALSE) AS repeated
        FROM events""",
    )
    assert row["after_hours"] == row["sundays"] == row["day_bots"] == row["odd_bots"] == 0
    assert row["night_chats"] > 0 and row["repeated"] > 0


def test_the_year_can_end_on_a_given_day_and_the_command_ends_it_today(tmp_path: Path) -> None:
    from datetime import date, timedelta

    from typer.testing import CliRunner

    from touchpoints.cli import app

    by_end, by_start = tmp_path / "end.parquet", tmp_path / "start.parquet"
    demo.generate(200, 3, by_end, end="2026-11-30")
    demo.generate(200, 3, by_start, start="2025-12-01")  # 365 days ending 2026-11-30
    assert by_end.read_bytes() == by_start.read_bytes()
    ts = pq.read_table(by_end)["ts"].to_pylist()
    assert max(ts).isoformat() < "2026-12-01T03:00:00+00:00"  # the last local day
    assert max(ts).date() >= date(2026, 11, 20)
    with pytest.raises(UsageError, match="--end 'soon'"):
        demo.generate(10, 1, tmp_path / "x.csv", end="soon")
    out = tmp_path / "today.csv"
    res = CliRunner().invoke(app, ["demo-data", "--customers", "200", "--out", str(out)])
    assert res.exit_code == 0, res.output
    today = date.today()
    import csv

    last = max(row["ts"][:10] for row in csv.DictReader(out.open(encoding="utf-8")))
    assert today - timedelta(days=10) <= date.fromisoformat(last) <= today + timedelta(days=1)
    both = CliRunner().invoke(app, ["demo-data", "--start", "2025-01-01", "--end", "2025-12-31",
                                    "--out", str(tmp_path / "no.csv")])  # fmt: skip
    assert isinstance(both.exception, UsageError)
