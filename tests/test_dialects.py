"""Translated SQL is pinned, and the idioms that most often go wrong compute the same answer
on every engine.

Analytics SQL is written once in DuckDB's dialect and translated by sqlglot for PostgreSQL
and Spark. A sqlglot upgrade that changes a translation must show up as a diff of
`tests/snapshots/dialects/*.sql`, not as silently different numbers. After checking a diff
is right, rewrite the snapshots with `TOUCHPOINTS_UPDATE_SNAPSHOTS=1 pytest
tests/test_dialects.py`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conftest import run, spark_target
from touchpoints.analytics import sql as idioms
from touchpoints.analytics.attribution import transitions_sql
from touchpoints.analytics.journeys import dfg_sql
from touchpoints.analytics.scope import Scope
from touchpoints.ingest import ingest_files
from touchpoints.store.base import Store
from touchpoints.store.dialects import to_postgres

try:  # Spark's translation may move beside PostgreSQL's.
    from touchpoints.store.dialects import to_spark  # type: ignore[attr-defined]
except ImportError:
    from touchpoints.store.spark import to_spark

SNAPSHOTS = Path(__file__).parent / "snapshots" / "dialects"
UPDATE = os.environ.get("TOUCHPOINTS_UPDATE_SNAPSHOTS") == "1"
# A Spark store's tables live in its own database (SparkStore.translate qualifies them).
SPARK_TABLES = (("events", "tp_db.events"), ("touchpoints", "tp_db.touchpoints"))
SAO_PAULO = Scope.build(timezone="America/Sao_Paulo")
LOCAL = idioms.local_ts(SAO_PAULO)


class Recorder:
    """A store that answers nothing and keeps every query an analysis sends it."""

    engine = "duckdb"

    def __init__(self) -> None:
        self.sql: list[str] = []

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        self.sql.append(sql)
        return []

    def meta(self, key: str) -> str | None:
        """`meta` rows are read by a query like any other (Store.meta): recorded, absent."""
        return Store.meta(self, key)  # type: ignore[arg-type]

    def catalog(self) -> Any:
        from touchpoints.core.catalog import default_catalog

        return default_catalog()


def _analysis_sql(name: str, **options: Any) -> Callable[[], list[str]]:
    def sent() -> list[str]:
        recorder = Recorder()
        run(recorder, name, **options)  # type: ignore[arg-type]
        return recorder.sql

    return sent


# Each portable idiom of analytics/sql.py, in the smallest query that holds it.
CASES: dict[str, Callable[[], list[str]]] = {
    "local_time": lambda: [f"SELECT {LOCAL} AS v FROM events"],
    "iso_weekday": lambda: [f"SELECT {idioms.iso_weekday(LOCAL)} AS v FROM events"],
    "hour": lambda: [f"SELECT {idioms.hour(LOCAL)} AS v FROM events"],
    "seconds_between": lambda: [
        f"SELECT {idioms.seconds_between('min(ts)', 'max(ts)')} AS v FROM events"
    ],
    "median": lambda: [f"SELECT {idioms.median('wait_seconds')} AS v FROM events"],
    "percentile": lambda: [f"SELECT {idioms.percentile('wait_seconds', 0.9)} AS v FROM events"],
    "interval": lambda: [f"SELECT ts + {idioms.interval(3600)} AS v FROM events"],
    # One whole query per analysis family.
    "kpis_by_week_sao_paulo": _analysis_sql("kpis", by="week", timezone="America/Sao_Paulo"),
    "journeys_dfg_by_cycle": lambda: [dfg_sql(Scope.build(), "cycle")],
    "attribution_markov_transitions": lambda: [transitions_sql(Scope.build(), 2)],
}

BREAKS = (" FROM ", " WHERE ", " GROUP BY ", " LEFT JOIN ", " CROSS JOIN ", " UNION ALL ")


def _readable(translated: str) -> str:
    """One generated line broken before its clauses and after each selected column, so a
    snapshot diff points at what changed. Generated SQL holds no newline, so nothing is
    lost: removing the inserted ones gives the text back."""
    assert "\n" not in translated
    for word in BREAKS:
        translated = translated.replace(word, "\n " + word.lstrip())
    translated = re.sub(r"(EXTRACT\(\w+)\n FROM ", r"\1 FROM ", translated)
    return re.sub(r"( AS \w+), ", r"\1,\n  ", translated)


def snapshot_text(statements: list[str]) -> str:
    parts = []
    for i, source in enumerate(statements, 1):
        parts += [
            f"-- statement {i}, as written (DuckDB)",
            "\n".join(line.rstrip() for line in source.strip().splitlines()),
            "-- PostgreSQL",
            _readable(to_postgres(source)),
            "-- Spark",
            _readable(to_spark(source, SPARK_TABLES)),
            "",
        ]
    return "\n".join(parts)


@pytest.mark.parametrize("case", sorted(CASES))
def test_translation_is_pinned(case: str) -> None:
    path = SNAPSHOTS / f"{case}.sql"
    text = snapshot_text(CASES[case]())
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}: run with TOUCHPOINTS_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"the translation of {case} changed: check the diff, then rewrite the snapshot with "
        "TOUCHPOINTS_UPDATE_SNAPSHOTS=1"
    )


def test_every_snapshot_has_its_case() -> None:
    """A case that was renamed or removed leaves no stale snapshot behind."""
    assert {p.stem for p in SNAPSHOTS.glob("*.sql")} == set(CASES)


# -- the same numbers on every engine -----------------------------------------------------------
MOMENTS = [
    "2026-01-04T02:30:00Z",  # Sunday in UTC; Saturday 23:30 in São Paulo; Sunday 08:00 in Kolkata
    "2026-03-08T06:59:59Z",  # New York: 01:59:59 EST, the second before clocks go forward
    "2026-03-08T07:00:00Z",  # New York: 03:00 EDT
    "2026-11-01T05:30:00Z",  # New York: 01:30 EDT, before clocks go back
    "2026-11-01T06:30:00Z",  # New York: 01:30 EST, the same wall time an hour later
    "2026-07-15T03:00:00Z",  # Wednesday: midnight exactly in São Paulo
    "2026-12-31T23:59:59Z",  # Thursday; Friday 05:29:59 in Kolkata (a half-hour zone)
    "2000-12-31T12:00:00Z",  # a Sunday before the weekday idiom's Monday 2001-01-01
    "1999-06-15T00:00:00Z",  # a Tuesday, years before it: the modulo of a negative count
]
ZONES = ["UTC", "America/Sao_Paulo", "America/New_York", "Asia/Kolkata"]


def expected(zone: str) -> list[tuple[str, int, int]]:
    """(event_id, ISO weekday, hour) of each moment, as Python's zoneinfo reads it."""
    out = []
    for i, moment in enumerate(MOMENTS):
        local = datetime.fromisoformat(moment).astimezone(ZoneInfo(zone))
        out.append((f"m{i}", local.isoweekday(), local.hour))
    return out


def weekday_and_hour(store: Store, zone: str) -> list[tuple[str, int, int]]:
    scope = Scope.build(timezone=zone)
    local = idioms.local_ts(scope)
    rows = store.query(
        f"SELECT event_id, {idioms.iso_weekday(local)} AS dow, {idioms.hour(local)} AS hr "
        "FROM events ORDER BY event_id",
        scope.params(),
    )
    return [(r["event_id"], int(r["dow"]), int(r["hr"])) for r in rows]


def _moments_csv(make: Callable[..., Path]) -> Path:
    return make(
        [
            {"event_id": f"m{i}", "customer_id": f"c{i}", "touchpoint": "website", "ts": moment}
            for i, moment in enumerate(MOMENTS)
        ]
    )


@contextmanager
def wide_time_range() -> Iterator[None]:
    """MOMENTS reach before 2000 and past tomorrow: widen the accepted range of `ts`."""
    from touchpoints.core.settings import get_settings

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOUCHPOINTS_TS_MIN", "1990-01-01")
        mp.setenv("TOUCHPOINTS_TS_MAX_AHEAD_DAYS", "3650")
        get_settings.cache_clear()
        try:
            yield
        finally:
            get_settings.cache_clear()


def test_weekday_and_hour_are_the_same_on_every_engine(
    store: Store, csv_file: Callable[..., Path]
) -> None:
    with wide_time_range():
        result = ingest_files(store, [_moments_csv(csv_file)])
    assert result.ingested == len(MOMENTS), result.quarantine
    for zone in ZONES:
        assert weekday_and_hour(store, zone) == expected(zone), zone


@pytest.fixture(scope="module")
def spark_moments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    from conftest import write_csv
    from touchpoints.store import open_store

    base = tmp_path_factory.mktemp("spark_dialects")
    spark = open_store(spark_target(base))
    rows = [
        {"event_id": f"m{i}", "customer_id": f"c{i}", "touchpoint": "website", "ts": moment}
        for i, moment in enumerate(MOMENTS)
    ]
    with wide_time_range():
        result = ingest_files(spark, [write_csv(base / "moments.csv", rows)])
    assert result.ingested == len(MOMENTS), result.quarantine
    yield spark
    spark.close()
    spark.execute(f"DROP DATABASE IF EXISTS {spark.spec.database} CASCADE")  # type: ignore[attr-defined]


@pytest.mark.spark
@pytest.mark.parametrize("zone", ZONES)
def test_weekday_and_hour_on_spark(spark_moments: Store, zone: str) -> None:
    assert weekday_and_hour(spark_moments, zone) == expected(zone)


def test_moments_cover_every_weekday_and_both_sides_of_midnight() -> None:
    """The fixture is worth its name: all seven weekdays appear over the zones, and a
    moment's local day differs from its UTC day somewhere."""
    seen = {dow for zone in ZONES for _, dow, _ in expected(zone)}
    assert seen == set(range(1, 8))
    utc_days = [datetime.fromisoformat(m).astimezone(UTC).date() for m in MOMENTS]
    local_days = [
        datetime.fromisoformat(m).astimezone(ZoneInfo("America/Sao_Paulo")).date() for m in MOMENTS
    ]
    assert utc_days != local_days
