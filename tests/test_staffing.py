"""`touchpoints staffing` (SPEC §5): Erlang C against textbook values, pyworkforce and
independent formulas, and measured mode on a hand-counted two-week log on every engine.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cli_tables import assert_fits, cli, table_cells
from conftest import run
from touchpoints.analytics.staffing import (
    asa,
    erlang_b,
    erlang_c,
    hours_of_week,
    required_agents,
    scheduled,
    service_level,
)
from touchpoints.core import format as fmt
from touchpoints.core.errors import UsageError
from touchpoints.ingest import ingest_files
from touchpoints.store import open_store
from touchpoints.store.base import Store

SPEC_KEYS = {"agents", "service_level", "waiting_probability", "occupancy", "scheduled_agents"}


# -- independent oracles -------------------------------------------------------------------
def erlang_c_by_factorials(a: float, c: int) -> float:
    """The textbook closed form, fine for small c: (A^c/c! · c/(c−A)) / (Σ A^k/k! + that)."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def erlang_b_in_logs(a: float, c: int) -> float:
    """Erlang B as 1 / Σ_k c!/(k!·A^(c−k)), summed in log space (no overflow at 10^4)."""
    logs = [math.lgamma(c + 1) - math.lgamma(k + 1) - (c - k) * math.log(a) for k in range(c + 1)]
    top = max(logs)
    return 1.0 / (math.exp(top) * sum(math.exp(x - top) for x in logs))


# -- Erlang C: textbook values -----------------------------------------------------------
def test_classic_call_centre_example() -> None:
    """100 calls per 30 min, AHT 180 s → A = 100·180/1800 = 10 erlangs; 80 % in 20 s → 14
    agents (13 give SL 1 − 0.2853·e^(−3·20/180) = 0.7956); the values pyworkforce prints for the same question."""
    r = required_agents(100, 30, 180, 20, 0.8, max_occupancy=0.85)
    assert r["traffic_erlangs"] == 10.0
    assert r["agents"] == 14
    assert r["scheduled_agents"] == 14
    assert r["service_level"] == pytest.approx(0.8883500191794669, abs=1e-12)
    assert r["waiting_probability"] == pytest.approx(0.1741319335950498, abs=1e-12)
    assert r["occupancy"] == pytest.approx(10 / 14, abs=1e-15)
    # ASA = Pw·AHT/(c − A) = 0.17413·180/4
    assert r["asa_seconds"] == pytest.approx(0.1741319335950498 * 180 / 4, abs=1e-9)
    assert service_level(10, 13, 180, 20) == pytest.approx(0.7956, abs=1e-4)
    assert set(r) >= SPEC_KEYS


def test_erlang_c_table_for_ten_erlangs() -> None:
    """Published Erlang C table, A = 10: c = 11..15 → 0.6821, 0.4494, 0.2853, 0.1741, 0.1020."""
    for c, pw in ((11, 0.6821), (12, 0.4494), (13, 0.2853), (14, 0.1741), (15, 0.1020)):
        assert erlang_c(10, c) == pytest.approx(pw, abs=5e-5)
        assert erlang_c(10, c) == pytest.approx(erlang_c_by_factorials(10, c), rel=1e-12)


def test_one_agent_is_m_m_1() -> None:
    """With one agent Pw = ρ = A, and ASA = ρ·S/(1 − ρ)."""
    assert erlang_c(0.3, 1) == pytest.approx(0.3, rel=1e-14)
    assert asa(0.3, 1, 100) == pytest.approx(0.3 * 100 / 0.7, rel=1e-14)
    assert erlang_b(2, 2) == pytest.approx(2 / 5, rel=1e-14)  # (A²/2)/(1 + A + A²/2)


def test_unstable_and_empty_queues() -> None:
    assert erlang_c(10, 10) == 1.0 and erlang_c(10, 3) == 1.0
    assert service_level(10, 10, 180, 20) == 0.0
    assert asa(10, 9, 180) == math.inf
    assert erlang_c(0, 0) == 0.0 and service_level(0, 0, 180, 20) == 1.0
    r = required_agents(0, 60, 300, 20, 0.8, shrinkage=0.3)
    assert (r["agents"], r["scheduled_agents"]) == (0, 0)
    assert (r["service_level"], r["occupancy"], r["waiting_probability"]) == (None, None, None)


def test_large_traffic_is_stable() -> None:
    """10 000 erlangs: no overflow (A^c/c! would be inf); B matches the log-space sum."""
    b = erlang_b(10_000, 10_100)
    assert b == pytest.approx(erlang_b_in_logs(10_000, 10_100), rel=1e-9)
    pw = erlang_c(10_000, 10_100)
    assert 0 < pw < 1 and math.isfinite(pw)
    r = required_agents(10_000 * 3600 / 300, 60, 300, 20, 0.8)  # A = 10 000
    assert r["agents"] > 10_000
    assert r["service_level"] >= 0.8 > service_level(10_000, r["agents"] - 1, 300, 20)


def test_max_occupancy_and_shrinkage() -> None:
    """A = 10: SL needs 14 (occupancy 0.714); at most 0.7 busy needs ceil(10/0.7) = 15;
    30 % shrinkage schedules ceil(15/0.7) = ceil(21.43) = 22, and 14/0.7 is exactly 20."""
    r = required_agents(100, 30, 180, 20, 0.8, max_occupancy=0.7, shrinkage=0.3)
    assert (r["agents"], r["scheduled_agents"]) == (15, 22)
    assert r["occupancy"] == pytest.approx(10 / 15)
    assert scheduled(14, 0.3) == 20
    assert scheduled(21, 0.3) == 30  # 21/0.7 = 30.000000000000004 in floating point
    assert scheduled(0, 0.5) == 0 and scheduled(1, 0.5) == 2


def test_target_asa() -> None:
    """Only the wait target: smallest c with Pw·S/(c − A) ≤ 10 s. A = 10, S = 180 s:
    c = 13 waits 0.2853·180/3 = 17.1 s, c = 14 waits 7.8 s."""
    r = required_agents(100, 30, 180, 20, None, target_asa=10)
    assert r["agents"] == 14
    assert asa(10, 13, 180) > 10 >= r["asa_seconds"]
    # Both targets: SL 95 % needs 16 (15 give 1 − 0.1020·e^(−5·20/180) = 0.9415).
    both = required_agents(100, 30, 180, 20, 0.95, target_asa=10)
    assert both["agents"] == 16 and both["service_level"] >= 0.95


# -- Erlang C: against pyworkforce and invariants -------------------------------------------
def _near_integer(x: float) -> bool:
    return abs(x - round(x)) < 1e-6


@settings(max_examples=150, deadline=None)
@given(
    transactions=st.floats(1, 3000),
    aht_minutes=st.floats(0.1, 15),
    interval=st.sampled_from([15, 30, 60]),
    threshold=st.floats(1, 120),
    target=st.floats(0.3, 0.97),
    max_occupancy=st.floats(0.5, 1.0),
    shrinkage=st.floats(0, 0.6),
)
def test_agrees_with_pyworkforce(
    transactions: float,
    aht_minutes: float,
    interval: int,
    threshold: float,
    target: float,
    max_occupancy: float,
    shrinkage: float,
) -> None:
    """pyworkforce works in minutes (`asa` is its name for the threshold T); it starts its
    search at round(A + 1), which skips floor(A) + 1 when A's fraction is ≥ 0.5, and its
    plain float ceils can add an agent at an exact integer; those cases are left out."""
    from pyworkforce.queuing import ErlangC

    a = transactions / interval * aht_minutes
    assume(a < 400 and a - math.floor(a) < 0.5)
    assume(not _near_integer(a / max_occupancy))
    peer = ErlangC(transactions, aht_minutes, threshold / 60, interval, shrinkage)
    want = peer.required_positions(service_level=target, max_occupancy=max_occupancy)
    assume(not _near_integer(want["raw_positions"] / (1 - shrinkage)))
    got = required_agents(
        transactions, interval, aht_minutes * 60, threshold, target, max_occupancy, shrinkage
    )
    assert got["agents"] == want["raw_positions"]
    assert got["scheduled_agents"] == want["positions"]
    for key in ("service_level", "occupancy", "waiting_probability"):
        assert got[key] == pytest.approx(want[key], abs=1e-9), key
    c = got["agents"]
    assert erlang_c(a, c) == pytest.approx(peer.waiting_probability(c), abs=1e-9)
    assert service_level(a, c, aht_minutes, threshold / 60) == pytest.approx(
        peer.service_level(c), abs=1e-9
    )


@settings(max_examples=100, deadline=None)
@given(a=st.floats(0.01, 300), extra=st.integers(1, 30), aht=st.floats(10, 900))
def test_more_agents_serve_better(a: float, extra: int, aht: float) -> None:
    """Beyond the stable size, each added agent raises SL and lowers Pw, ASA and occupancy."""
    c = math.floor(a) + extra
    assert 0 < erlang_c(a, c + 1) <= erlang_c(a, c) < 1
    assert service_level(a, c + 1, aht, 20) >= service_level(a, c, aht, 20)
    assert asa(a, c + 1, aht) <= asa(a, c, aht)
    assert erlang_b(a, c + 1) < erlang_b(a, c)
    # Pw ≥ B always: waiting happens at least as often as blocking would.
    assert erlang_c(a, c) >= erlang_b(a, c)


@settings(max_examples=100, deadline=None)
@given(
    arrivals=st.floats(0.1, 5000),
    aht=st.floats(5, 1200),
    threshold=st.floats(0, 120),
    target=st.floats(0.05, 0.99),
    max_occupancy=st.floats(0.3, 1.0),
)
def test_required_agents_is_the_smallest(
    arrivals: float, aht: float, threshold: float, target: float, max_occupancy: float
) -> None:
    r = required_agents(arrivals, 60, aht, threshold, target, max_occupancy)
    a, c = r["traffic_erlangs"], r["agents"]
    assert r["service_level"] >= target and r["occupancy"] <= max_occupancy and c > a
    fewer = c - 1
    assert (
        fewer <= a or service_level(a, fewer, aht, threshold) < target or a / fewer > max_occupancy
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arrivals": -1}, "--arrivals -1: use a number of contacts >= 0"),
        ({"aht_seconds": 0}, "--aht-seconds 0: use a number of seconds > 0"),
        ({"interval_minutes": 0}, "--interval-minutes 0: use a number of minutes > 0"),
        ({"answer_within": -5}, "--answer-within -5: use a number of seconds >= 0"),
        (
            {"target_service_level": 1.0},
            "--target-service-level 1: use a share between 0 and 1 (exclusive), like 0.8",
        ),
        (
            {"target_service_level": 0},
            "--target-service-level 0: use a share between 0 and 1 (exclusive), like 0.8",
        ),
        ({"shrinkage": 1}, "--shrinkage 1: use a share >= 0 and < 1, like 0.3"),
        ({"shrinkage": -0.1}, "--shrinkage -0.1: use a share >= 0 and < 1, like 0.3"),
        ({"max_occupancy": 0}, "--max-occupancy 0: use a share > 0 and <= 1, like 0.85"),
        ({"max_occupancy": 1.2}, "--max-occupancy 1.2: use a share > 0 and <= 1, like 0.85"),
        ({"target_asa": 0}, "--target-asa 0: use a number of seconds > 0"),
        ({"arrivals": math.nan}, "--arrivals nan: use a number of contacts >= 0"),
        (
            {"target_service_level": None},
            "give a target: --target-service-level X and/or --target-asa S",
        ),
    ],
)
def test_bad_values(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"arrivals": 100, "interval_minutes": 30, "aht_seconds": 180}
    args.update(kwargs)
    with pytest.raises(UsageError) as info:
        required_agents(**args)
    assert str(info.value) == message


# -- measured mode -------------------------------------------------------------------------
def contact(n: int, tp_id: str, ts: str, abandoned: bool, handle: float | None = None) -> dict:
    return {
        "event_id": f"e{n}",
        "customer_id": f"c{n}",
        "touchpoint": tp_id,
        "ts": ts,
        "abandoned": "true" if abandoned else "false",
        "handle_seconds": handle,
        "wait_seconds": 5,
    }


# Two weeks, Monday 2026-01-05 to Sunday 2026-01-18 (UTC; São Paulo is UTC−3, no DST).
LOG = [
    # WhatsApp, Monday 09h: 3 in week 1 (answered 300 s, 600 s, one abandoned), 1 in week 2.
    contact(1, "whatsapp", "2026-01-05T09:05:00Z", False, 300),
    contact(2, "whatsapp", "2026-01-05T09:30:00Z", False, 600),
    contact(3, "whatsapp", "2026-01-05T09:59:59Z", True),
    contact(4, "whatsapp", "2026-01-12T09:40:00Z", False, 300),
    # WhatsApp, Tuesday 14h, week 1 only: 2 answered, 200 s each.
    contact(5, "whatsapp", "2026-01-06T14:00:00Z", False, 200),
    contact(6, "whatsapp", "2026-01-06T14:20:00Z", False, 200),
    # WhatsApp, Monday 02:00Z of week 2 = Sunday 23:00 in São Paulo.
    contact(7, "whatsapp", "2026-01-12T02:00:00Z", False, 100),
    # WhatsApp, Sunday 23:30Z of week 2 = Sunday 20:30 in São Paulo.
    contact(8, "whatsapp", "2026-01-18T23:30:00Z", False, 500),
    # Not WhatsApp contacts: chat (same channel, messaging), phone, and a plain message.
    contact(9, "chat", "2026-01-07T10:00:00Z", False, 60),
    contact(10, "phone", "2026-01-05T09:10:00Z", False, 900),
    {"event_id": "e11", "customer_id": "c11", "touchpoint": "whatsapp",
     "ts": "2026-01-05T09:15:00Z"},
]  # fmt: skip
COLUMNS = [
    "event_id",
    "customer_id",
    "touchpoint",
    "ts",
    "abandoned",
    "handle_seconds",
    "wait_seconds",
]
# Answered WhatsApp handle times: 300 + 600 + 300 + 200 + 200 + 100 + 500 = 2200 over 7.
OVERALL_AHT = 2200 / 7


@pytest.fixture
def loaded(store: Store, csv_file: Callable[..., Path]) -> Store:
    result = ingest_files(store, [csv_file(LOG, COLUMNS)])
    assert (result.ingested, result.rejected) == (len(LOG), 0), result.quarantine
    return store


def by_slot(result: dict[str, Any]) -> dict[tuple[int, int], dict[str, Any]]:
    return {(r["weekday"], r["hour"]): r for r in result["rows"]}


def test_two_weeks_per_hour_of_week(loaded: Store) -> None:
    two_weeks = {"date_from": "2026-01-05", "date_to": "2026-01-18", "touchpoint": "whatsapp"}
    result = run(loaded, "staffing", **two_weeks, min_answered=2)
    assert result["weeks"] == 2.0 and result["offered"] == 8
    assert (result["from"], result["to"]) == ("2026-01-05T00:00:00", "2026-01-18T23:59:59.999999")
    assert len(result["rows"]) == 168 and all(r["hours"] == 2 for r in result["rows"])
    assert result["overall_aht_seconds"] == pytest.approx(OVERALL_AHT)
    slots = by_slot(result)
    monday9 = slots[(1, 9)]
    # 4 offered over 2 Mondays; AHT (300 + 600 + 300)/3 = 400 s; A = 2·400/3600 = 0.222.
    # 1 agent: Pw = A, SL = 1 − 0.2222·e^(−0.7778·20/400) = 0.786 < 0.8 → 2 agents.
    assert (monday9["offered"], monday9["arrivals"], monday9["aht_source"]) == (4, 2.0, "hour")
    assert monday9["aht_seconds"] == pytest.approx(400)
    assert (monday9["agents"], monday9["scheduled_agents"]) == (2, 2)
    assert monday9["occupancy"] == pytest.approx(2 * 400 / 3600 / 2)
    # Tuesday 14h: 1 per hour, 200 s: A = 0.0556, SL(1) = 1 − 0.0556·e^(−0.944·0.1) = 0.949.
    tuesday14 = slots[(2, 14)]
    assert (tuesday14["arrivals"], tuesday14["aht_seconds"], tuesday14["agents"]) == (1.0, 200, 1)
    assert tuesday14["waiting_probability"] == pytest.approx(200 / 3600)
    # One answered contact each: below --min-answered 2, the overall AHT stands in.
    for slot in ((1, 2), (7, 23)):
        assert slots[slot]["arrivals"] == 0.5
        assert slots[slot]["aht_source"] == "overall"
        assert slots[slot]["aht_seconds"] == pytest.approx(OVERALL_AHT)
        assert slots[slot]["agents"] == 1
    assert result["aht_fallback_hours"] == 2
    empty = slots[(4, 12)]
    assert (empty["offered"], empty["arrivals"], empty["agents"], empty["scheduled_agents"]) == (
        0,
        0.0,
        0,
        0,
    )
    assert empty["service_level"] is None
    # Default --min-answered 10: every hour with contacts falls back to the overall AHT.
    assert run(loaded, "staffing", **two_weeks)["aht_fallback_hours"] == 4


def test_timezone_moves_contacts_to_local_hours(loaded: Store) -> None:
    """Monday 02:00Z is Sunday 23h in São Paulo, Sunday 23:30Z is Sunday 20h there."""
    tz = "America/Sao_Paulo"
    two_weeks = {"date_from": "2026-01-05", "date_to": "2026-01-18", "touchpoint": "whatsapp"}
    result = run(loaded, "staffing", **two_weeks, timezone=tz, min_answered=1)
    slots = by_slot(result)
    assert result["weeks"] == 2.0 and result["timezone"] == tz
    assert result["from"] == "2026-01-05T03:00:00"  # local midnight in UTC
    assert slots[(7, 23)]["offered"] == 1 and slots[(7, 23)]["aht_seconds"] == 100
    assert slots[(7, 20)]["offered"] == 1 and slots[(7, 20)]["aht_seconds"] == 500
    assert slots[(1, 2)]["offered"] == 0
    assert slots[(1, 6)]["offered"] == 4 and slots[(1, 9)]["offered"] == 0  # 09Z = 06 local
    assert slots[(2, 11)]["offered"] == 2
    utc = by_slot(run(loaded, "staffing", **two_weeks, min_answered=1))
    assert utc[(1, 2)]["offered"] == 1 and utc[(7, 23)]["offered"] == 1
    assert utc[(7, 20)]["offered"] == 0


def test_data_span_counts_partial_weeks(loaded: Store) -> None:
    """Without --from/--to the period runs from the hour of the first contact (Mon 09:00Z,
    week 1) to the last (Sun 23:30Z, week 2): 14·24 − 9 = 327 hours, so Monday 00h–08h
    occur once and every other hour of the week twice."""
    result = run(loaded, "staffing", touchpoint="whatsapp", min_answered=1)
    assert result["weeks"] == pytest.approx(327 / 168)
    slots = by_slot(result)
    assert slots[(1, 2)]["hours"] == 1 and slots[(1, 2)]["arrivals"] == 1.0
    assert slots[(1, 9)]["hours"] == 2 and slots[(1, 9)]["arrivals"] == 2.0
    assert slots[(7, 23)]["hours"] == 2 and slots[(7, 23)]["arrivals"] == 0.5


def test_channel_pools_its_touchpoints(loaded: Store) -> None:
    """--channel messaging = WhatsApp + chat (Wednesday 10h); phone is another channel."""
    two_weeks = {"date_from": "2026-01-05", "date_to": "2026-01-18"}
    result = run(loaded, "staffing", **two_weeks, channel="messaging", min_answered=1)
    assert result["offered"] == 9 and result["channel"] == ["messaging"]
    assert result["touchpoint"] is None
    assert by_slot(result)[(3, 10)]["arrivals"] == 0.5
    phone = run(loaded, "staffing", touchpoint="phone", min_answered=1)
    assert phone["offered"] == 1 and phone["weeks"] == pytest.approx(1 / 168)


def test_no_contacts(store: Store) -> None:
    empty = run(store, "staffing", touchpoint="whatsapp")
    assert (empty["rows"], empty["weeks"], empty["offered"]) == ([], 0.0, 0)
    window = run(store, "staffing", date_from="2026-01-05", date_to="2026-01-11", touchpoint="chat")
    assert window["weeks"] == 1.0 and len(window["rows"]) == 168
    assert all(r["agents"] == 0 and r["arrivals"] == 0 for r in window["rows"])
    with pytest.raises(UsageError, match="--touchpoint/--channel"):
        run(store, "staffing")


def test_hours_of_week_across_daylight_saving() -> None:
    """São Paulo's last DST end, 2019-02-17 00:00 −02 → 23:00 −03 on Saturday the 16th:
    Saturday 23h happens twice that night, and every other hour of that day once."""
    from datetime import datetime

    counts = hours_of_week(
        datetime(2019, 2, 16, 2), datetime(2019, 2, 17, 2, 59), "America/Sao_Paulo"
    )
    assert sum(counts.values()) == 25
    assert counts[(6, 23)] == 2 and counts[(6, 0)] == 1 and counts[(6, 22)] == 1


# -- CLI -------------------------------------------------------------------------------------
EXPLICIT = ["staffing", "--arrivals", "100", "--interval-minutes", "30", "--aht-seconds", "180",
            "--answer-within", "20", "--target-service-level", "0.8"]  # fmt: skip


def test_cli_explicit_json_and_table(monkeypatch: pytest.MonkeyPatch) -> None:
    result = cli([*EXPLICIT, "--json"], monkeypatch)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body == json.loads(json.dumps(required_agents(100, 30, 180, 20, 0.8)))
    assert set(body) >= SPEC_KEYS and body["agents"] == 14
    shown = cli([*EXPLICIT, "--shrinkage", "0.3", "--lang", "pt-BR"], monkeypatch)
    assert shown.exit_code == 0, shown.output
    assert "agentes escalados" in shown.stdout and "20" in shown.stdout
    # Shares as percentages, waits as durations, erlangs with a decimal comma.
    assert table_cells(shown.stdout) == [
        ["tráfego (erlangs)", "10,000"],
        ["agentes", "14"],
        ["agentes escalados", "20"],
        ["nível de serviço", "88,8%"],
        ["probabilidade de espera", "17,4%"],
        ["ocupação", "71,4%"],
        ["TME", "7,8 s"],
    ]
    assert "Dimensionamento por Erlang C: 100 contatos a cada 30 min, TMA 3 min" in shown.stdout
    assert "meta: 80,0% atendidos em até 20 s; absenteísmo 30,0%" in shown.stdout


def test_cli_numbers_read_the_same_in_each_language(monkeypatch: pytest.MonkeyPatch) -> None:
    """5 erlangs: '5,000' to a Brazilian, '5.000' to an English reader (never 5.000 in
    pt-BR, which reads five thousand); service level as `kpis` shows it."""
    args = ["staffing", "--arrivals", "100", "--aht-seconds", "180"]
    body = json.loads(cli([*args, "--json"], monkeypatch).stdout)
    assert body["traffic_erlangs"] == 5.0 and 0 < body["service_level"] < 1  # a share
    cells = {}
    for lang in ("en", "pt-BR"):
        res = cli([*args, "--lang", lang], monkeypatch)
        assert res.exit_code == 0, res.output
        cells[lang] = dict(table_cells(res.stdout))
    assert cells["pt-BR"]["tráfego (erlangs)"] == "5,000"
    assert cells["en"]["traffic (erlangs)"] == "5.000"
    assert cells["pt-BR"]["nível de serviço"] == "88,0%"
    assert cells["en"]["service level"] == "88.0%"
    for lang, label in (("en", "service level"), ("pt-BR", "nível de serviço")):
        assert cells[lang][label] == fmt.value("service_level", body["service_level"], lang)
    assert cells["en"]["ASA"] == "10 sec" and cells["pt-BR"]["TME"] == "10 s"


def test_cli_explicit_csv_is_one_row(monkeypatch: pytest.MonkeyPatch) -> None:
    res = cli([*EXPLICIT, "--format", "csv"], monkeypatch)
    assert res.exit_code == 0, res.output
    (row,) = csv.DictReader(io.StringIO(res.stdout))
    assert (row["agents"], row["scheduled_agents"]) == ("14", "14")
    assert float(row["service_level"]) == pytest.approx(0.8883500191794669, abs=1e-15)


MEASURED = ["staffing", "--touchpoint", "whatsapp", "--from", "2026-01-05", "--to", "2026-01-18",
            "--timezone", "America/Sao_Paulo", "--shrinkage", "0.3"]  # fmt: skip


@pytest.fixture
def cli_db(tmp_path: Path, csv_file: Callable[..., Path]) -> str:
    db = str(tmp_path / "cli.duckdb")
    with open_store(db) as s:
        ingest_files(s, [csv_file(LOG, COLUMNS)])
    return db


def test_cli_measured(cli_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_store(cli_db, read_only=True) as s:
        expected = run(s, "staffing", date_from="2026-01-05", date_to="2026-01-18",
                       touchpoint="whatsapp", timezone="America/Sao_Paulo", shrinkage=0.3)  # fmt: skip
    args = [*MEASURED, "--db", cli_db]
    result = cli([*args, "--json"], monkeypatch)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(json.dumps(expected))
    table = cli([*args, "--lang", "pt-BR"], monkeypatch)
    assert table.exit_code == 0, table.output
    assert "seg" in table.stdout and "dom" in table.stdout and "agentes-hora" in table.stdout
    # Monday 06h local, 2 per hour at the overall AHT 2200/7 s (3 answered < 10): A = 0.1746,
    # SL(1) = 1 − 0.1746·e^(−0.8254·20/314.3) = 0.834 → 1 agent, ceil(1/0.7) = 2 scheduled.
    monday = by_slot(expected)[(1, 6)]
    assert (monday["aht_source"], monday["agents"], monday["scheduled_agents"]) == ("overall", 1, 2)
    cells = table_cells(table.stdout)
    assert cells[0] == ["hora", "seg", "ter", "qua", "qui", "sex", "sáb", "dom"]
    assert cells[1 + 6][:2] == ["06:00", "2"]
    assert cells[-1][0] == "agentes-hora"
    assert "usam o TMA geral 5 min 14 s" in table.stdout
    assert_fits(table.stdout)
    en = cli(args, monkeypatch)
    assert table_cells(en.stdout)[0] == ["hour", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert "(America/Sao_Paulo, 2 weeks measured)" in en.stdout
    assert_fits(en.stdout)


def test_cli_week_splits_on_a_narrow_terminal(cli_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight columns that do not fit 40 columns are dealt into several tables, each with
    the hours; no number is cut."""
    res = cli([*MEASURED, "--db", cli_db, "--lang", "pt-BR"], monkeypatch, width=40)
    assert res.exit_code == 0, res.output
    assert_fits(res.stdout, 40)
    headers = [row for row in table_cells(res.stdout) if row[0] == "hora"]
    assert len(headers) > 1
    assert [day for row in headers for day in row[1:]] == [
        "seg", "ter", "qua", "qui", "sex", "sáb", "dom"
    ]  # fmt: skip


def test_cli_measured_csv_is_the_week(cli_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    res = cli([*MEASURED, "--db", cli_db, "--format", "csv"], monkeypatch)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == 168
    monday = next(r for r in rows if (r["weekday"], r["hour"]) == ("1", "6"))
    assert (monday["scheduled_agents"], monday["aht_source"]) == ("2", "overall")
    assert float(monday["aht_seconds"]) == pytest.approx(OVERALL_AHT, abs=1e-9)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arrivals", "100"], "--arrivals and --aht-seconds go together"),
        (["--aht-seconds", "100"], "--arrivals and --aht-seconds go together"),
        ([], "pass --arrivals and --aht-seconds, or --touchpoint/--channel"),
        (["--arrivals", "10", "--aht-seconds", "60", "--touchpoint", "phone"], "do not combine"),
        (["--touchpoint", "phone", "--interval-minutes", "30"], "measured staffing is per hour"),
        (["--arrivals", "10", "--aht-seconds", "60", "--shrinkage", "1"], "--shrinkage 1: use"),
        (["--touchpoint", "phone", "--target-service-level", "80"], "--target-service-level 80"),
        (["--touchpoint", "phone", "--timezone", "Mars/Base"], "unknown time zone"),
    ],
)
def test_cli_bad_input(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "empty.duckdb")
    open_store(db).close()
    result = cli(["staffing", *args, "--db", db], monkeypatch)
    assert isinstance(result.exception, UsageError), result.output
    assert message in str(result.exception)


def test_cli_exit_code_and_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from touchpoints.cli import main; main()", "staffing",
         "--arrivals", "5", "--aht-seconds", "60", "--target-service-level", "1.5"],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "error: --target-service-level 1.5: use a share between 0 and 1 (exclusive), like 0.8"
    )
