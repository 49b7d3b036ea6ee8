"""The drill-down analyses of SPEC §5: `events` (the rows behind a number) and `customer
journey` (one customer's cycles), on every engine of the `store` fixture.

The core promise of `events --metric M` is that its `total` is the very count the KPI is
built from: checked against `kpis` for every metric under several filters, and against a
plain-Python reading of SPEC §4 written independently of the SQL.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import run
from touchpoints.cli import app as cli
from touchpoints.cli import common
from touchpoints.cli.app import main
from touchpoints.core import format as fmt
from touchpoints.core.catalog import default_catalog
from touchpoints.core.errors import NotFoundError, UsageError
from touchpoints.core.settings import Settings, get_settings
from touchpoints.ingest import ingest_records
from touchpoints.server import auth
from touchpoints.server.app import create_app
from touchpoints.store import open_store
from touchpoints.store.base import Store

METRICS = (
    "offered",
    "answered",
    "abandoned",
    "within-target",
    "resolved",
    "unresolved",
    "promoters",
    "passives",
    "detractors",
    "satisfied",
    "dissatisfied",
    "conversions",
    "promises-broken",
    "data-not-reused",
)
CHANNEL = {"phone": "phone", "whatsapp": "messaging", "chat": "messaging", "store": "store",
           "website": "website", "sales_rep": "store"}  # fmt: skip
PHONE_TARGET = 30.0  # the phone's own answer_within target; every other touchpoint: 20 s
START = datetime(2026, 1, 1, 8)


def _maybe(rng: random.Random, values: list[Any], none: float = 0.5) -> Any:
    return None if rng.random() < none else rng.choice(values)


def service_rows(n: int = 160, seed: int = 11) -> list[dict[str, Any]]:
    """Events with every field a SPEC §4 count reads, some of each kind."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        tp = rng.choice(list(CHANNEL))
        row: dict[str, Any] = {
            "event_id": f"e{i:03d}",
            "customer_id": f"c{rng.randrange(20)}",
            "touchpoint": tp,
            "ts": (START + timedelta(hours=13 * i + rng.randrange(5))).isoformat(),
            "segment": rng.choice(["fleet", "retail"]),
            "agent": _maybe(rng, ["ana", "bia"], 0.3),
            "abandoned": _maybe(rng, [True, False, False], 0.4),
            "wait_seconds": rng.choice([0, 2, 4, 10, 15, 20, 25, 30, 45, 90]),
            "handle_seconds": rng.choice([None, 60, 300]),
            "resolved": _maybe(rng, [True, False]),
            "nps": _maybe(rng, list(range(11))),
            "csat": _maybe(rng, [1, 2, 3, 4, 5]),
            "promise": _maybe(rng, ["made", "kept", "broken"], 0.6),
            "data_reused": _maybe(rng, [True, False]),
        }
        if rng.random() < 0.12:
            row.update(action="purchase", value=rng.choice([120.5, 899.9, 1500]))
        rows.append(row)
    return rows


ROWS = service_rows()


def load(store: Store, rows: list[dict[str, Any]] = ROWS) -> None:
    """The default catalog with an `answer_within` target on the phone only (the others'
    removed: they fall back to 20 s), then `rows`."""
    catalog = default_catalog()
    touchpoints = [
        tp.model_copy(
            update={
                "target": {k: v for k, v in tp.target.items() if k != "answer_within"}
                | ({"answer_within": PHONE_TARGET} if tp.id == "phone" else {})
            }
        )
        for tp in catalog.touchpoints
    ]
    store.set_catalog(catalog.model_copy(update={"touchpoints": touchpoints}))
    assert ingest_records(store, rows, "drilldown").rejected == 0


@pytest.fixture
def loaded(shared_store: Callable[..., Store]) -> Store:
    """ROWS under the phone-only target (`load`), once per engine: the tests only read it."""
    return shared_store("rows", lambda store, _folder: load(store))


def expected(rows: list[dict[str, Any]], answer_within: float | None = None,
             short_abandon: float = 0.0, **filters: Any) -> dict[str, int]:  # fmt: skip
    """SPEC §4's counts in plain Python (the oracle): which rows each metric counts."""

    def keep(r: dict[str, Any]) -> bool:
        day = r["ts"][:10]
        return (
            r["touchpoint"] in filters.get("touchpoint", [r["touchpoint"]])
            and CHANNEL[r["touchpoint"]] in filters.get("channel", [CHANNEL[r["touchpoint"]]])
            and r["segment"] in filters.get("segment", [r["segment"]])
            and r["agent"] in filters.get("agent", [r["agent"]])
            and day >= filters.get("date_from", day)
            and day <= filters.get("date_to", day)
        )

    def threshold(r: dict[str, Any]) -> float:
        if answer_within is not None:
            return answer_within
        return PHONE_TARGET if r["touchpoint"] == "phone" else 20.0

    def short(r: dict[str, Any]) -> bool:
        return r["abandoned"] is True and r["wait_seconds"] < short_abandon

    tests = {
        "offered": lambda r: r["abandoned"] is not None and not short(r),
        "answered": lambda r: r["abandoned"] is False,
        "abandoned": lambda r: r["abandoned"] is True and not short(r),
        "within-target": lambda r: r["abandoned"] is False and r["wait_seconds"] <= threshold(r),
        "resolved": lambda r: r["resolved"] is True,
        "unresolved": lambda r: r["resolved"] is False,
        "promoters": lambda r: r["nps"] is not None and r["nps"] >= 9,
        "passives": lambda r: r["nps"] in (7, 8),
        "detractors": lambda r: r["nps"] is not None and r["nps"] <= 6,
        "satisfied": lambda r: r["csat"] is not None and r["csat"] >= 4,
        "dissatisfied": lambda r: r["csat"] is not None and r["csat"] <= 3,
        "conversions": lambda r: r.get("action") == "purchase",
        "promises-broken": lambda r: r["promise"] == "broken",
        "data-not-reused": lambda r: r["data_reused"] is False,
        "kept": lambda r: r["promise"] == "kept",
        "reused": lambda r: r["data_reused"] is True,
    }
    kept = [r for r in rows if keep(r)]
    return {name: sum(1 for r in kept if test(r)) for name, test in tests.items()}


def totals(store: Store, **options: Any) -> dict[str, int]:
    return {m: run(store, "events", metric=m, limit=1, **options)["total"] for m in METRICS}


def share(num: int, den: int, scale: float = 1.0) -> float | None:
    return None if not den else scale * num / den


def assert_kpis_built_from(kpi: dict[str, Any], n: dict[str, int], kept: int | None,
                           reused: int | None) -> None:  # fmt: skip
    """The KPI row is made of exactly these counts (SPEC §4)."""
    for key in ("offered", "answered", "abandoned", "conversions"):
        assert kpi[key] == n[key], key
    assert kpi["service_level"] == pytest.approx(share(n["within-target"], n["offered"]))
    assert kpi["fcr"] == pytest.approx(share(n["resolved"], n["resolved"] + n["unresolved"]))
    answers = n["promoters"] + n["passives"] + n["detractors"]
    assert kpi["nps"] == pytest.approx(share(n["promoters"] - n["detractors"], answers, 100))
    assert kpi["csat"] == pytest.approx(share(n["satisfied"], n["satisfied"] + n["dissatisfied"], 100))  # fmt: skip
    if kept is not None:
        assert kpi["promise_kept_rate"] == pytest.approx(share(kept, kept + n["promises-broken"]))
    if reused is not None:
        assert kpi["data_reuse_rate"] == pytest.approx(share(reused, reused + n["data-not-reused"]))


# Filters and service rules, as option values; `phase` needs the derived phase (no oracle).
CASES: list[dict[str, Any]] = [
    {},
    {"touchpoint": ["phone"]},
    {"touchpoint": ["phone"], "answer_within": 15},
    {"channel": ["messaging"], "short_abandon": 5},
    {"date_from": "2026-01-20", "date_to": "2026-02-10", "segment": ["fleet"]},
    {"agent": ["ana"], "touchpoint": ["phone", "whatsapp", "chat"], "short_abandon": 12},
    {"phase": ["before"]},
    {"phase": ["during", "after"], "channel": ["store"]},
]


@pytest.mark.parametrize("options", CASES, ids=lambda o: ",".join(o) or "all")
def test_events_total_is_the_count_kpis_is_built_from(
    loaded: Store, options: dict[str, Any]
) -> None:
    store = loaded
    n = totals(store, **options)
    kpi = run(store, "kpis", **options)["rows"][0]
    if "phase" in options:
        assert_kpis_built_from(kpi, n, None, None)
        return
    oracle = expected(ROWS, **options)
    assert n == {m: oracle[m] for m in METRICS}
    assert_kpis_built_from(kpi, n, oracle["kept"], oracle["reused"])
    assert n["offered"] and n["within-target"], "a case worth testing"
    if options.get("short_abandon"):
        without = expected(ROWS, **{**options, "short_abandon": 0})
        assert without["abandoned"] > n["abandoned"], "short abandons left out"


@pytest.mark.parametrize("by", ["touchpoint", "agent", "segment"])
def test_every_table_cell_drills_down_to_its_count(loaded: Store, by: str) -> None:
    """A cell of `kpis --by X` (what a dashboard table links) is `events` filtered on X."""
    store = loaded
    for row in run(store, "kpis", by=by)["rows"]:
        if row["group"] is None:
            continue
        n = totals(store, **{by: [row["group"]]})
        assert n == {m: expected(ROWS, **{by: [row["group"]]})[m] for m in METRICS}
        for key in ("offered", "answered", "abandoned", "conversions"):
            assert row[key] == n[key], (row["group"], key)
        assert row["service_level"] == pytest.approx(share(n["within-target"], n["offered"]))


def test_every_heatmap_cell_drills_down_to_its_count(loaded: Store) -> None:
    """A cell of `heatmap` (what the Service page's chart links) is `events --weekday D
    --hour H` in the same time zone: every cell's counts, and the events of each local
    weekday and hour counted in plain Python."""
    store = loaded
    zone = "America/Sao_Paulo"
    oracle: Counter[tuple[int, int]] = Counter()
    for r in ROWS:
        local = datetime.fromisoformat(r["ts"]).replace(tzinfo=ZoneInfo("UTC"))
        local = local.astimezone(ZoneInfo(zone))
        oracle[(local.isoweekday(), local.hour)] += 1
    cells = run(store, "heatmap", timezone=zone)["rows"]
    assert {(c["weekday"], c["hour"]): c["events"] for c in cells} == dict(oracle)
    for cell in cells:
        where = {"weekday": cell["weekday"], "hour": cell["hour"], "timezone": zone}
        assert run(store, "events", limit=1, **where)["total"] == cell["events"]
        for metric in ("offered", "answered", "abandoned"):
            listed = run(store, "events", metric=metric, limit=1, **where)["total"]
            assert listed == cell[metric], (cell["weekday"], cell["hour"], metric)
    # A whole weekday is the sum of its hours; a bad weekday or hour is a clear error.
    monday = sum(c["events"] for c in cells if c["weekday"] == 1)
    assert run(store, "events", weekday=1, timezone=zone, limit=1)["total"] == monday
    with pytest.raises(UsageError, match="--weekday 8"):
        run(store, "events", weekday=8)
    with pytest.raises(UsageError, match="--hour 24"):
        run(store, "events", hour=24)


def test_threshold_is_the_option_else_the_touchpoint_target_else_20s(loaded: Store) -> None:
    store = loaded
    default, phone_at_20 = expected(ROWS), expected(ROWS, answer_within=20)
    assert default["within-target"] != phone_at_20["within-target"]  # the phone's 30 s counts
    assert totals(store)["within-target"] == default["within-target"]
    assert totals(store, answer_within=20)["within-target"] == phone_at_20["within-target"]
    sl = run(store, "kpis", by="touchpoint")["rows"]
    by_tp = {r["group"]: r for r in sl}
    phone = expected(ROWS, touchpoint=["phone"])
    assert by_tp["phone"]["service_level"] == pytest.approx(
        phone["within-target"] / phone["offered"]
    )
    hours = run(store, "heatmap", touchpoint=["phone"])["rows"]
    within = sum(h["service_level"] * h["offered"] for h in hours if h["offered"])
    assert within == pytest.approx(phone["within-target"])


def test_rows_are_newest_first_with_iso_times_and_page_with_offset(loaded: Store) -> None:
    store = loaded
    everything = run(store, "events", limit=1000)
    assert everything["total"] == len(ROWS) == len(everything["rows"])
    stamps = [r["ts"] for r in everything["rows"]]
    assert stamps == sorted(stamps, reverse=True)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", s) for s in stamps)
    assert set(everything["rows"][0]) == set(ROWS[0]) | {"action", "value", "phase", "ces",
                                                          "comment", "emotion", "ref_event_id"}  # fmt: skip
    pages = [run(store, "events", limit=50, offset=o)["rows"] for o in (0, 50, 100, 150)]
    assert [r["event_id"] for p in pages for r in p] == [r["event_id"] for r in everything["rows"]]
    assert run(store, "events", offset=5000) == {"total": len(ROWS), "rows": []}
    first = everything["rows"][0]
    assert first["event_id"] == "e159" and first["ts"] == ROWS[-1]["ts"] + "Z"


def test_ties_in_time_list_the_latest_ingested_first(store: Store) -> None:
    same = {"customer_id": "c1", "touchpoint": "phone", "ts": "2026-03-01T10:00:00"}
    ingest_records(store, [{**same, "event_id": "first"}], "one")
    ingest_records(store, [{**same, "event_id": "second"}], "two")
    ingest_records(store, [{**same, "event_id": "older", "ts": "2026-02-01T10:00:00"}], "three")
    assert [r["event_id"] for r in run(store, "events")["rows"]] == ["second", "first", "older"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"metric": "abandons"}, "--metric 'abandons': use one of offered, answered, abandoned, "
         "within-target, resolved, unresolved, promoters, passives, detractors, satisfied, "
         "dissatisfied, conversions, promises-broken, data-not-reused"),
        ({"limit": 5000}, "--limit 5000: list 1 to 1,000 events at a time; page through more "
         "with --offset"),
        ({"limit": 0}, "--limit 0: list 1 to 1,000 events at a time"),
        ({"offset": -1}, "--offset -1: Input should be greater than or equal to 0"),
        ({"answer_within": -1}, "--answer-within -1.0: use a number of seconds >= 0"),
    ],
)  # fmt: skip
def test_bad_options_are_clear_usage_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        run(None, "events", **options)
    assert str(caught.value).startswith(message)


# -- customer journey ---------------------------------------------------------------------
JOURNEY = [
    {"event_id": "j1", "customer_id": "ana", "touchpoint": "ads", "ts": "2026-01-01T10:00:00"},
    {"event_id": "j2", "customer_id": "ana", "touchpoint": "website", "ts": "2026-01-03T09:30:00"},
    {"event_id": "j3", "customer_id": "ana", "touchpoint": "whatsapp", "ts": "2026-01-03T12:10:00"},
    {"event_id": "j4", "customer_id": "ana", "touchpoint": "store", "ts": "2026-01-03T12:40:00",
     "action": "purchase", "value": 899.9},
    {"event_id": "j5", "customer_id": "ana", "touchpoint": "nps_survey", "ts": "2026-01-04T09:00:00",
     "action": "feedback", "nps": 9, "ref_event_id": "j4"},
    {"event_id": "j6", "customer_id": "ana", "touchpoint": "delivery", "ts": "2026-01-05T15:00:00"},
    {"event_id": "j7", "customer_id": "ana", "touchpoint": "website", "ts": "2026-01-25T08:00:00"},
    {"event_id": "b1", "customer_id": "bia", "touchpoint": "phone", "ts": "2026-01-02T10:00:00"},
]  # fmt: skip


def test_customer_journey_cycles_steps_phases_and_gaps(store: Store) -> None:
    ingest_records(store, JOURNEY, "journey")
    got = run(store, "customer.journey", customer_id="ana")
    assert got == {
        "customer_id": "ana",
        "cycles": [
            {
                "cycle": 1,
                "converts": True,
                "steps": [
                    {"event_id": "j1", "ts": "2026-01-01T10:00:00Z", "touchpoint": "ads", "phase": "before"},
                    {"event_id": "j2", "ts": "2026-01-03T09:30:00Z", "touchpoint": "website", "phase": "before"},
                    {"event_id": "j3", "ts": "2026-01-03T12:10:00Z", "touchpoint": "whatsapp", "phase": "during"},
                    {"event_id": "j4", "ts": "2026-01-03T12:40:00Z", "touchpoint": "store", "phase": "during"},
                ],
                "gaps": [
                    {"from": "ads", "to": "website", "seconds": 171000.0},
                    {"from": "website", "to": "whatsapp", "seconds": 9600.0},
                    {"from": "whatsapp", "to": "store", "seconds": 1800.0},
                ],
            },
            # The feedback (j5) is not a step; delivery opens the next cycle after the purchase.
            {
                "cycle": 2,
                "converts": False,
                "steps": [
                    {"event_id": "j6", "ts": "2026-01-05T15:00:00Z", "touchpoint": "delivery", "phase": "after"},
                    {"event_id": "j7", "ts": "2026-01-25T08:00:00Z", "touchpoint": "website", "phase": "after"},
                ],
                "gaps": [{"from": "delivery", "to": "website", "seconds": 1702800.0}],
            },
        ],
    }  # fmt: skip


def test_customer_journey_honours_gap_during_and_after(store: Store) -> None:
    ingest_records(store, JOURNEY, "journey")
    cycles = run(store, "customer.journey", customer_id="ana", gap="10d")["cycles"]
    assert [[s["event_id"] for s in c["steps"]] for c in cycles] == [["j1", "j2", "j3", "j4"],
                                                                     ["j6"], ["j7"]]  # fmt: skip
    cycles = run(store, "customer.journey", customer_id="ana", during="4h", after="10d")["cycles"]
    phases = [s["phase"] for c in cycles for s in c["steps"]]
    assert phases == ["before", "during", "during", "during", "after", "before"]


def test_customer_journey_cuts_cycles_like_the_journey_analyses(loaded: Store) -> None:
    store = loaded
    customers = sorted({r["customer_id"] for r in ROWS})
    paths: Counter[tuple[str, ...]] = Counter()
    converting: Counter[tuple[str, ...]] = Counter()
    for customer in customers:
        for c in run(store, "customer.journey", customer_id=customer, gap="7d")["cycles"]:
            assert len(c["gaps"]) == len(c["steps"]) - 1
            path = tuple(s["touchpoint"] for s in c["steps"])
            paths[path] += 1
            converting[path] += c["converts"]
    variants = run(store, "journeys.variants", case="cycle", gap="7d", top=10_000)["variants"]
    assert {tuple(v["path"]): v["count"] for v in variants} == dict(paths)
    assert {tuple(v["path"]): v["conversions"] for v in variants} == dict(converting)


def test_customer_events_are_every_column_oldest_first(store: Store) -> None:
    ingest_records(store, JOURNEY, "journey")
    got = run(store, "customer.events", customer_id="ana")
    assert got["customer_id"] == "ana"
    assert [r["event_id"] for r in got["rows"]] == ["j1", "j2", "j3", "j4", "j5", "j6", "j7"]
    survey = got["rows"][4]
    assert (survey["nps"], survey["ref_event_id"], survey["action"]) == (9, "j4", "feedback")
    assert got["rows"][3]["value"] == 899.9 and got["rows"][0]["ts"] == "2026-01-01T10:00:00Z"
    with pytest.raises(NotFoundError, match="no customer 'carla' in this store"):
        run(store, "customer.events", customer_id="carla")


def test_unknown_customer_is_a_usage_error(store: Store) -> None:
    ingest_records(store, JOURNEY, "journey")
    with pytest.raises(UsageError, match="no customer 'carla' in this store"):
        run(store, "customer.journey", customer_id="carla")
    feedback_only = {**JOURNEY[4], "event_id": "f1", "customer_id": "dora"}
    ingest_records(store, [feedback_only], "feedback")
    assert run(store, "customer.journey", customer_id="dora") == {
        "customer_id": "dora",
        "cycles": [],
    }


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Environment changes that `get_settings()` sees, forgotten after the test."""
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def test_customer_journey_finds_a_pseudonymised_customer_by_the_id_given(
    store: Store, settings_env: pytest.MonkeyPatch
) -> None:
    hidden = "p:" + hashlib.sha256(b"k3y:ana").hexdigest()  # SPEC: 'p:' + sha256(key:id)
    ingest_records(store, [{**r, "customer_id": hidden} for r in JOURNEY[:4]], "pseudonymised")
    with pytest.raises(UsageError):
        run(store, "customer.journey", customer_id="ana")  # no key configured: not found
    settings_env.setenv("TOUCHPOINTS_PSEUDONYMIZE_KEY", "k3y")
    get_settings.cache_clear()
    got = run(store, "customer.journey", customer_id="ana")
    assert got["customer_id"] == "ana"
    assert [s["event_id"] for s in got["cycles"][0]["steps"]] == ["j1", "j2", "j3", "j4"]
    assert hidden not in json.dumps(got)
    moments = run(store, "customer.events", customer_id="ana")
    assert [r["customer_id"] for r in moments["rows"]] == ["ana"] * 4
    assert hidden not in json.dumps(moments)


# -- the command line ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("drill") / "drill.duckdb")
    store = open_store(path)
    load(store, [*ROWS, *JOURNEY])
    store.close()
    return path


def cli_run(db: str, *args: str, columns: int = 100) -> str:
    """The command's standard output on a terminal `columns` wide."""
    width = common.out.width
    common.out.width = columns
    try:
        result = CliRunner().invoke(cli, [*args, "--db", db])
    finally:
        common.out.width = width
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.stdout


def test_cli_json_is_the_analysis_object(db: str) -> None:
    store = open_store(db, read_only=True)
    try:
        for args, name, options in [
            (["events", "--metric", "abandoned", "--touchpoint", "phone", "--limit", "3"],
             "events", {"metric": "abandoned", "touchpoint": ["phone"], "limit": 3}),
            (["customer", "journey", "ana", "--gap", "10d"], "customer.journey",
             {"customer_id": "ana", "gap": "10d"}),
        ]:  # fmt: skip
            assert json.loads(cli_run(db, *args, "--json")) == run(store, name, **options)
    finally:
        store.close()


def test_cli_unknown_customer_exits_2_with_the_message(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["touchpoints", "customer", "journey", "nobody", "--db", db])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    assert "error: no customer 'nobody' in this store" in capsys.readouterr().err


@pytest.mark.parametrize("lang", ["en", "pt-BR"])
def test_events_table_in_both_languages_never_cuts_a_value(db: str, lang: str) -> None:
    text = cli_run(db, "events", "--metric", "abandoned", "--touchpoint", "phone", "--limit", "4",
                   "--lang", lang, "--timezone", "America/Sao_Paulo")  # fmt: skip
    data = json.loads(cli_run(db, "events", "--metric", "abandoned", "--touchpoint", "phone",
                              "--limit", "4", "--json"))  # fmt: skip
    words = {
        "en": ["Events — abandoned contacts", "Phone call centre", "events 1–4 of", "next page: --offset 4",
               "times in America/Sao_Paulo", "wait"],
        "pt-BR": ["Eventos — contatos abandonados", "Central de atendimento", "eventos 1–4 de",
                  "próxima página: --offset 4", "horários em America/Sao_Paulo", "espera"],
    }[lang]  # fmt: skip
    flat = " ".join(text.split())
    for word in words[:1] + words[2:]:
        assert word in flat, word
    # The touchpoint's name may wrap inside its column (never cut): each of its words.
    assert all(part in flat for part in words[1].split()), words[1]
    for row in data["rows"]:
        assert row["event_id"] in text
        local = datetime.fromisoformat(row["ts"]).astimezone(ZoneInfo("America/Sao_Paulo"))
        day = (
            local.strftime("%d/%m/%Y")
            if lang == "pt-BR"
            else f"{local.month}/{local.day}/{local.year}"
        )
        assert f"{day} {local:%H:%M:%S}" in text  # one cell, never wrapped
        assert fmt.duration(row["wait_seconds"], lang) in text
    assert all(len(line) <= 100 for line in text.splitlines())


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["Customer ana: 2 journey cycles; times in UTC", "Cycle 1 — ends in a purchase",
                "Cycle 2 — no purchase", "invisible time", "1 day 23 hr", "2 hr 40 min",
                "19 days 17 hr", "Online ads", "during", "after"]),
        ("pt-BR", ["Cliente ana: 2 ciclos de jornada; horários em UTC", "Ciclo 1 — termina em compra",
                   "Ciclo 2 — sem compra", "tempo invisível", "1 dia 23 h", "2 h 40 min",
                   "19 dias 17 h", "Anúncios online", "durante", "depois", "03/01/2026 12:40:00"]),
    ],
)  # fmt: skip
def test_customer_journey_table_in_both_languages(db: str, lang: str, words: list[str]) -> None:
    text = cli_run(db, "customer", "journey", "ana", "--lang", lang)
    flat = " ".join(text.split())
    for word in words:
        assert word in flat, word
    assert all(len(line) <= 100 for line in text.splitlines())


def test_csv_of_a_journey_is_one_row_per_step(db: str, tmp_path: Path) -> None:
    text = cli_run(db, "customer", "journey", "ana", "--format", "csv")
    lines = text.strip().splitlines()
    assert lines[0] == "cycle,converts,event_id,ts,touchpoint,phase"
    assert lines[1:] == [
        "1,True,j1,2026-01-01T10:00:00Z,ads,before",
        "1,True,j2,2026-01-03T09:30:00Z,website,before",
        "1,True,j3,2026-01-03T12:10:00Z,whatsapp,during",
        "1,True,j4,2026-01-03T12:40:00Z,store,during",
        "2,False,j6,2026-01-05T15:00:00Z,delivery,after",
        "2,False,j7,2026-01-25T08:00:00Z,website,after",
    ]


# -- HTTP ---------------------------------------------------------------------------------------
def test_http_drill_down_and_journey(db: str, tmp_path: Path) -> None:
    store = open_store(db, read_only=True)
    try:
        expected_events = run(store, "events", metric="within-target", channel=["messaging"])
        expected_journey = run(store, "customer.journey", customer_id="ana", after="10d")
    finally:
        store.close()
    served = tmp_path / "served.duckdb"
    served.write_bytes(Path(db).read_bytes())
    with TestClient(create_app(Settings(db=str(served)), str(served))) as client:
        key = auth.create_key(client.app.state.service.store, ["read"])[1]  # type: ignore[attr-defined]
        headers = {"Authorization": f"Bearer {key}"}
        r = client.get("/v1/events?metric=within-target&channel=messaging", headers=headers)
        assert (r.status_code, r.json()) == (200, expected_events)
        r = client.get("/v1/customers/ana/journey?after=10d", headers=headers)
        assert (r.status_code, r.json()) == (200, expected_journey)
        r = client.get("/v1/events?limit=5000", headers=headers)
        assert r.status_code == 400
        assert r.json()["detail"].startswith("--limit 5000: list 1 to 1,000 events at a time")
        for what in ("journey", "events"):
            r = client.get(f"/v1/customers/nobody/{what}", headers=headers)
            assert (r.status_code, r.json()) == (
                404,
                {"detail": "no customer 'nobody' in this store"},
            )
        r = client.get("/v1/customers/ana/events", headers=headers)
        assert r.status_code == 200
        assert [e["event_id"] for e in r.json()["rows"]] == [f"j{i}" for i in range(1, 8)]
        assert client.get("/v1/events").status_code == 401


def test_metric_totals_in_one_pass_equal_each_list(loaded: Store) -> None:
    from touchpoints.analytics.events import metric_totals
    from touchpoints.analytics.scope import Scope

    store = loaded
    scope = Scope.build(channel="messaging", date_from="2026-01-10")
    got = metric_totals(store, scope, METRICS)
    assert got == totals(store, channel=["messaging"], date_from="2026-01-10")
    # A heatmap cell: the counts beside its list are the cell's, not the whole filter's.
    for weekday, hour in ((3, 14), (6, 9)):
        cell = metric_totals(store, scope, METRICS, weekday=weekday, hour=hour)
        assert cell == totals(
            store, channel=["messaging"], date_from="2026-01-10", weekday=weekday, hour=hour
        )


def test_an_offset_past_any_engine_is_a_clear_error_not_a_crash(store: Store) -> None:
    from touchpoints.core.errors import UsageError

    with pytest.raises(UsageError, match="offset"):
        run(store, "events", offset=6229422274267795423232)


@pytest.mark.parametrize(
    "where",
    [
        {},
        {"date_from": "2026-01-10", "channel": ["messaging"]},
        {"touchpoint": ["phone"], "segment": ["fleet"]},
        {"agent": ["ana"], "date_to": "2026-01-20"},
        {"weekday": 2, "hour": 14},
        {"hour": 9},
    ],
    ids=lambda w: ",".join(w) or "all",
)
def test_totals_from_the_rollup_are_the_events_counted(
    loaded: Store, where: dict[str, Any]
) -> None:
    """The Events page's total and its side-by-side counts are summed from the KPI roll-up
    when it answers: for every metric (and every event), the count of the listed rows."""
    from touchpoints.analytics.events import EventsOptions, _relation, rollup_counts
    from touchpoints.analytics.scope import Scope

    store = loaded
    cell = {k: where.pop(k) for k in ("weekday", "hour") if k in where}
    scope = Scope.build(**where)
    for metric in (None, *METRICS):
        options = EventsOptions(metric=metric, **cell)
        summed = rollup_counts(store, scope, options, (metric,))
        if store.engine == "spark":
            assert summed is None  # a Spark warehouse keeps no roll-up
            continue
        assert summed is not None, "the roll-up answers this question"
        relation, params = _relation(store, scope, options)
        counted_rows = store.query(f"SELECT count(*) AS n FROM ({relation}) r", params)[0]["n"]
        assert summed[metric] == counted_rows, metric
    # Not on whole hours, or with short abandons left out: the events are counted.
    assert (
        rollup_counts(store, Scope.build(date_from="2026-01-10T10:30"), EventsOptions(), (None,))
        is None
    )
    assert rollup_counts(store, scope, EventsOptions(short_abandon=5), ("offered",)) is None
