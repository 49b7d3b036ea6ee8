"""KPIs (SPEC §4, §5 `kpis`) on small hand-computed fixtures, on every engine.

Every expected number carries its arithmetic in a comment. JSON carries full precision, so
numbers are compared exactly up to float arithmetic (`pytest.approx`'s relative 1e-6);
`None` means the JSON `null`. Analyses run through the registry, as every interface runs
them (`run(store, "kpis", by=..., touchpoint=...)`).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from conftest import run, write_csv
from touchpoints.analytics.kpis import KPI_KEYS
from touchpoints.core.errors import UsageError
from touchpoints.ingest import ingest_files
from touchpoints.store.base import Store

COUNTS = ("events", "customers", "offered", "answered", "abandoned", "conversions")


# -- helpers -----------------------------------------------------------------------------
def kpis(store: Store, **options: Any) -> dict[str, Any]:
    """`touchpoints kpis --json` with these options (named like the Options fields)."""
    return run(store, "kpis", **options)


def ev(event_id: str, customer: str, touchpoint: str, ts: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "customer_id": customer,
        "touchpoint": touchpoint,
        "ts": ts,
        **extra,
    }


def load(store: Store, csv_file: Callable[..., Path], rows: list[dict[str, Any]]) -> None:
    result = ingest_files(store, [csv_file(rows)])
    assert (result.ingested, result.duplicates, result.rejected) == (len(rows), 0, 0), (
        result.quarantine
    )


def expect(events: int, customers: int, **kw: Any) -> dict[str, Any]:
    """A full expected row: counts default to 0, revenue to 0.0, everything else to null."""
    row: dict[str, Any] = dict.fromkeys(KPI_KEYS)
    row.update(
        events=events,
        customers=customers,
        offered=0,
        answered=0,
        abandoned=0,
        conversions=0,
        revenue=0.0,
    )
    unknown = set(kw) - set(KPI_KEYS)
    assert not unknown, unknown
    row.update(kw)
    return row


def assert_row(actual: dict[str, Any], expected: dict[str, Any], full: bool = True) -> None:
    """Compare key by key: counts exactly (and as ints), numbers at full precision, null as null."""
    if full:
        assert set(actual) == {"group", *KPI_KEYS}
    for key, want in expected.items():
        got = actual[key]
        if want is None:
            assert got is None, f"{key}: expected null, got {got!r}"
        elif key in COUNTS:
            assert type(got) is int and got == want, f"{key}: expected {want}, got {got!r}"
        else:
            assert got is not None, f"{key}: expected {want}, got null"
            assert got == pytest.approx(want), f"{key}: expected {want}, got {got!r}"


def groups(result: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    rows = result["rows"]
    by_group = {r["group"]: r for r in rows}
    assert len(by_group) == len(rows), "a group appears twice"
    return by_group


def only(result: dict[str, Any]) -> dict[str, Any]:
    rows = result["rows"]
    assert len(rows) == 1 and rows[0]["group"] == "all", rows
    return rows[0]


def _t(minute: int) -> str:
    """Distinct times on Tuesday 2026-01-06 (UTC), 10 minutes apart."""
    return f"2026-01-06T{8 + minute // 60:02d}:{minute % 60:02d}:00Z"


# -- the service / feedback fixture (20 events, 4 customers, one day) -----------------------
# phone (channel phone, kind human): five service contacts
# chat (messaging, human): one answered contact, one non-contact with data_reused/emotion
# whatsapp (messaging, human): promises and emotion, no contacts
# nps_survey (email, interactive): five feedback answers; email (email, interactive): one
# store (store, human): two purchases; website (website, interactive): one purchase, no value
# pos_display (store, static): one bare row
SERVICE = [
    ev(
        "p1",
        "c1",
        "phone",
        _t(0),
        abandoned="false",
        wait_seconds=10,
        handle_seconds=100,
        resolved="true",
        csat=5,
        agent="ann",
        segment="gold",
    ),
    ev(
        "p2",
        "c2",
        "phone",
        _t(10),
        abandoned="false",
        wait_seconds=30,
        handle_seconds=200,
        resolved="false",
        csat=3,
        agent="ann",
        segment="gold",
    ),
    ev("p3", "c3", "phone", _t(20), abandoned="true", wait_seconds=40, segment="silver"),
    ev("p4", "c1", "phone", _t(30), abandoned="true", wait_seconds=2, segment="gold"),
    ev(
        "p5",
        "c4",
        "phone",
        _t(40),
        abandoned="false",
        wait_seconds=20,
        handle_seconds=300,
        resolved="true",
        csat=4,
        agent="bob",
        segment="silver",
    ),
    ev(
        "h1",
        "c2",
        "chat",
        _t(50),
        abandoned="false",
        wait_seconds=5,
        handle_seconds=60,
        agent="bot",
        data_reused="false",
        emotion=-2,
    ),
    ev("h2", "c3", "chat", _t(60), data_reused="true", emotion=1, promise="made"),
    ev("w1", "c1", "whatsapp", _t(70), promise="kept", emotion=2, data_reused="true"),
    ev("w2", "c4", "whatsapp", _t(80), promise="broken"),
    ev("w3", "c4", "whatsapp", _t(90), promise="kept"),
    ev("n1", "c1", "nps_survey", _t(100), action="feedback", nps=10, ces=2),
    ev("n2", "c2", "nps_survey", _t(110), action="feedback", nps=9, ces=5),
    ev("n3", "c3", "nps_survey", _t(120), action="feedback", nps=7, ces=3),
    ev("n4", "c4", "nps_survey", _t(130), action="feedback", nps=3),
    ev("n5", "c1", "nps_survey", _t(140), action="feedback", nps=0, csat=5),
    ev("e1", "c2", "email", _t(150), nps=10),
    ev("s1", "c1", "store", _t(160), action="purchase", value=100.5),
    ev("s2", "c2", "store", _t(170), action="purchase", value=50),
    ev("s3", "c3", "website", _t(180), action="purchase"),
    ev("x1", "c2", "pos_display", _t(190)),
]

# 6 NPS answers, p = 1/2 promoters, d = 1/3 detractors: 196 * sqrt((p + d - (p - d)^2) / n)
# = 196 * sqrt((0.833333 - 0.027778) / 6) = 196 * 0.366414 = 71.8172...
MARGIN_ALL = 196 * math.sqrt((1 / 2 + 1 / 3 - (1 / 2 - 1 / 3) ** 2) / 6)

# Every key over the whole fixture (no grouping).
ALL = expect(
    20,
    4,  # 20 rows; customers c1, c2, c3, c4
    offered=6,  # p1-p5 + h1 (abandoned not null)
    answered=4,  # p1, p2, p5, h1
    abandoned=2,  # p3, p4
    abandonment_rate=2 / 6,  # 0.333333
    tme_seconds=16.25,  # (10 + 30 + 20 + 5) / 4
    tma_seconds=165.0,  # (100 + 200 + 300 + 60) / 4
    service_level=0.5,  # wait <= 20 among answered: p1 (10), p5 (20), h1 (5) = 3 / 6 offered
    fcr=2 / 3,  # resolved: p1 T, p2 F, p5 T
    csat=75.0,  # answers 5, 3, 4, 5 -> 3 of 4 are 4-5 -> 100 * 0.75
    # 6 answers (10, 9, 7, 3, 0, 10): 3 promoters, 2 detractors -> 100*(3/6 - 2/6) = 16.6667
    nps=100 / 6,
    nps_margin=MARGIN_ALL,
    ces=10 / 3,  # (2 + 5 + 3) / 3 = 3.3333
    conversions=3,  # s1, s2, s3
    revenue=150.5,  # 100.5 + 50 (s3 has no value)
    promise_kept_rate=2 / 3,  # kept w1, w3; broken w2; "made" (h2) does not count
    data_reuse_rate=2 / 3,  # h1 false, h2 true, w1 true
    emotion=1 / 3,  # (-2 + 1 + 2) / 3
)
PHONE = expect(
    5,
    4,  # p1-p5; c1, c2, c3, c4 (c1 twice)
    offered=5,
    answered=3,
    abandoned=2,
    abandonment_rate=0.4,  # 2 / 5
    tme_seconds=20.0,  # (10 + 30 + 20) / 3
    tma_seconds=200.0,  # (100 + 200 + 300) / 3
    service_level=0.4,  # p1 (10), p5 (20 <= 20) -> 2 / 5 offered
    fcr=2 / 3,  # T, F, T
    csat=200 / 3,  # 5, 3, 4 -> 2 of 3 -> 66.6667
)
CHAT = expect(
    2,
    2,  # h1 (c2), h2 (c3)
    offered=1,
    answered=1,
    abandoned=0,  # only h1 is a contact
    abandonment_rate=0.0,  # 0 / 1 (a real zero, not null)
    tme_seconds=5.0,
    tma_seconds=60.0,
    service_level=1.0,  # 1 / 1
    data_reuse_rate=0.5,  # false, true
    emotion=-0.5,  # (-2 + 1) / 2
)
WHATSAPP = expect(
    3,
    2,  # w1 (c1), w2 + w3 (c4); no contacts: every service rate null
    promise_kept_rate=2 / 3,  # kept, broken, kept
    data_reuse_rate=1.0,  # one answer, true
    emotion=2.0,
)
NPS_SURVEY = expect(
    5,
    4,  # n1-n5; c1 twice
    csat=100.0,  # one answer (5)
    nps=0.0,  # 10, 9 promoters; 3, 0 detractors; 7 passive -> 100*(2/5 - 2/5)
    nps_margin=78.4,  # p = d = 0.4: (0.8 - 0) / 5 = 0.16; sqrt = 0.4; 100 * 1.96 * 0.4
    ces=10 / 3,  # (2 + 5 + 3) / 3
)
EMAIL = expect(1, 1, nps=100.0, nps_margin=0.0)  # one promoter: p=1 d=0 -> variance 1 - 1 = 0
STORE = expect(2, 2, conversions=2, revenue=150.5)  # 100.5 + 50
WEBSITE = expect(1, 1, conversions=1, revenue=0.0)  # a purchase without value adds nothing
POS_DISPLAY = expect(1, 1)  # a bare row: counts only, every mean and rate null


def loader(rows: list[dict[str, Any]]) -> Callable[[Store, Path], None]:
    """Loads `rows` into a shared store (see `shared_store`)."""
    return lambda store, folder: load(store, lambda r: write_csv(folder / "events.csv", r), rows)


def _load_service(store: Store, folder: Path) -> None:
    loader(SERVICE)(store, folder)
    store.set_catalog(without_answer_targets(store.catalog()))


@pytest.fixture
def service(shared_store: Callable[..., Store]) -> Store:
    """The hand-computed service fixture, judged against one threshold T = 20 s: the
    default catalog without its touchpoints' own `answer_within` targets (test_answer_*
    and test_drilldown cover those). Loaded once per engine: the tests only read it."""
    return shared_store("service", _load_service)


def without_answer_targets(catalog: Any) -> Any:
    from touchpoints.core.catalog import Catalog

    entries = [
        tp.model_copy(
            update={"target": {k: v for k, v in tp.target.items() if k != "answer_within"}}
        )
        for tp in catalog.touchpoints
    ]
    return Catalog(touchpoints=entries)


def test_no_grouping_every_key(service: Store) -> None:
    assert_row(only(kpis(service)), ALL)


def test_by_touchpoint_every_key(service: Store) -> None:
    rows = groups(kpis(service, by="touchpoint"))
    expected = {
        "phone": PHONE,
        "chat": CHAT,
        "whatsapp": WHATSAPP,
        "nps_survey": NPS_SURVEY,
        "email": EMAIL,
        "store": STORE,
        "website": WEBSITE,
        "pos_display": POS_DISPLAY,
    }
    assert set(rows) == set(expected)
    for name, want in expected.items():
        assert_row(rows[name], want)


def test_by_channel(service: Store) -> None:
    rows = groups(kpis(service, by="channel"))
    assert set(rows) == {"phone", "messaging", "email", "store", "website"}
    assert_row(rows["phone"], PHONE)
    assert_row(
        rows["messaging"],
        expect(
            5,
            4,  # chat (c2, c3) + whatsapp (c1, c4)
            offered=1,
            answered=1,
            abandonment_rate=0.0,
            tme_seconds=5.0,
            tma_seconds=60.0,
            service_level=1.0,
            promise_kept_rate=2 / 3,  # kept, broken, kept
            data_reuse_rate=2 / 3,  # false, true, true
            emotion=1 / 3,  # (-2 + 1 + 2) / 3
        ),
    )
    assert_row(
        rows["email"],
        expect(
            6,
            4,  # nps_survey (5 rows, 4 customers) + email (c2, already counted)
            csat=100.0,
            ces=10 / 3,
            nps=100 / 6,  # 3 promoters, 2 detractors of 6
            nps_margin=MARGIN_ALL,  # as ALL
        ),
    )
    # store + pos_display rows; customers c1, c2; 100.5 + 50
    assert_row(rows["store"], expect(3, 2, conversions=2, revenue=150.5))
    assert_row(rows["website"], WEBSITE)


def test_by_kind(service: Store) -> None:
    rows = groups(kpis(service, by="kind"))
    assert set(rows) == {"human", "interactive", "static"}
    assert_row(
        rows["human"],
        expect(
            12,
            4,  # phone 5 + chat 2 + whatsapp 3 + store 2
            offered=6,
            answered=4,
            abandoned=2,
            abandonment_rate=2 / 6,
            tme_seconds=16.25,
            tma_seconds=165.0,
            service_level=0.5,
            fcr=2 / 3,
            csat=200 / 3,  # phone only: 5, 3, 4
            promise_kept_rate=2 / 3,
            data_reuse_rate=2 / 3,
            emotion=1 / 3,
            conversions=2,
            revenue=150.5,
        ),
    )
    assert_row(
        rows["interactive"],
        expect(
            7,
            4,  # nps_survey 5 + email 1 + website 1
            csat=100.0,
            nps=100 / 6,
            nps_margin=MARGIN_ALL,
            ces=10 / 3,
            conversions=1,
            revenue=0.0,
        ),
    )
    assert_row(rows["static"], POS_DISPLAY)


def test_by_agent(service: Store) -> None:
    rows = groups(kpis(service, by="agent"))
    assert set(rows) == {"ann", "bob", "bot", None}
    assert_row(
        rows["ann"],
        expect(
            2,
            2,
            offered=2,
            answered=2,
            abandonment_rate=0.0,
            tme_seconds=20.0,  # (10 + 30) / 2
            tma_seconds=150.0,  # (100 + 200) / 2
            service_level=0.5,  # 10 <= 20, 30 > 20
            fcr=0.5,
            csat=50.0,  # resolved T/F; csat 5 and 3
        ),
    )
    assert_row(
        rows["bob"],
        expect(
            1,
            1,
            offered=1,
            answered=1,
            abandonment_rate=0.0,
            tme_seconds=20.0,
            tma_seconds=300.0,
            service_level=1.0,  # wait 20 <= T=20: the threshold is inclusive
            fcr=1.0,
            csat=100.0,
        ),
    )
    assert_row(
        rows["bot"],
        expect(
            1,
            1,
            offered=1,
            answered=1,
            abandonment_rate=0.0,
            tme_seconds=5.0,
            tma_seconds=60.0,
            service_level=1.0,
            data_reuse_rate=0.0,
            emotion=-2.0,
        ),
    )
    assert rows[None]["events"] == 16  # 20 - 4 rows with an agent
    assert rows[None]["abandoned"] == 2  # p3, p4 have no agent


def test_by_segment(service: Store) -> None:
    rows = groups(kpis(service, by="segment"))
    assert set(rows) == {"gold", "silver", None}
    assert_row(
        rows["gold"],
        expect(
            3,
            2,  # p1 (c1), p2 (c2), p4 (c1)
            offered=3,
            answered=2,
            abandoned=1,
            abandonment_rate=1 / 3,
            tme_seconds=20.0,
            tma_seconds=150.0,  # (10 + 30) / 2, (100 + 200) / 2
            service_level=1 / 3,  # p1 only, of 3 offered
            fcr=0.5,
            csat=50.0,
        ),
    )
    assert_row(
        rows["silver"],
        expect(
            2,
            2,  # p3 (c3), p5 (c4)
            offered=2,
            answered=1,
            abandoned=1,
            abandonment_rate=0.5,
            tme_seconds=20.0,
            tma_seconds=300.0,
            service_level=0.5,
            fcr=1.0,
            csat=100.0,
        ),
    )
    assert rows[None]["events"] == 15  # 20 - 5 phone rows


ANSWER_WITHIN = [
    (20, 2),  # p1 (10), p5 (20)
    (30, 3),  # + p2 (30)
    (9, 0),  # none: 0 / 5 is 0.0, not null
    (0, 0),
    (1000, 3),  # abandons still count against: 3 / 5, never 1.0
]


def test_answer_within(service: Store) -> None:
    for answer_within, within in ANSWER_WITHIN:
        row = only(kpis(service, touchpoint="phone", answer_within=answer_within))
        assert row["service_level"] == pytest.approx(within / 5), answer_within
        assert (row["offered"], row["answered"]) == (5, 3), answer_within  # T changes nothing else
        assert row["tme_seconds"] == pytest.approx(20.0)


SHORT_ABANDON = [  # (S, offered, abandoned) over the phone rows
    (0, 5, 2),  # default: nothing is short
    (2, 5, 2),  # p4 waited 2: not < 2
    (5, 4, 1),  # p4 (2 s) leaves offered and abandoned
    (40, 4, 1),  # p3 waited 40: not < 40
    (41, 3, 0),  # p3 and p4 both leave
]


def test_short_abandon(service: Store) -> None:
    for short_abandon, offered, abandoned in SHORT_ABANDON:
        row = only(kpis(service, touchpoint="phone", short_abandon=short_abandon))
        assert_row(
            row,
            {
                "offered": offered,
                "answered": 3,  # answered contacts are never dropped
                "abandoned": abandoned,
                "abandonment_rate": abandoned / offered,
                "service_level": 2 / offered,  # p1 and p5 within 20 s, over what is still offered
                "tme_seconds": 20.0,  # answered rows only, unchanged
                "events": 5,  # the rows themselves stay
            },
            full=False,
        )
    # Together with T: S = 5 and T = 30 -> (p1, p2, p5) / 4 offered.
    row = only(kpis(service, touchpoint="phone", short_abandon=5, answer_within=30))
    assert row["service_level"] == pytest.approx(0.75)


def test_filters(service: Store) -> None:
    # A filter gives the same numbers as the group of the same name.
    assert_row(only(kpis(service, touchpoint="phone")), PHONE)
    assert_row(only(kpis(service, touchpoint="nps_survey")), NPS_SURVEY)
    by_channel = groups(kpis(service, by="channel"))["messaging"]
    assert only(kpis(service, channel="messaging")) == {
        **by_channel,
        "group": "all",
    }
    by_segment = groups(kpis(service, by="segment"))["gold"]
    assert only(kpis(service, segment="gold")) == {
        **by_segment,
        "group": "all",
    }
    # Several values, as a list or comma-separated.
    # phone 5 + chat 2
    assert only(kpis(service, touchpoint=["phone", "chat"]))["events"] == 7
    assert only(kpis(service, touchpoint="phone,chat"))["events"] == 7
    assert only(kpis(service, kind="static"))["events"] == 1  # pos_display
    assert only(kpis(service, agent="ann"))["events"] == 2  # p1, p2
    # Filters combine with AND: gold rows at the phone answered by ann.
    row = only(kpis(service, segment="gold", agent="ann", touchpoint="phone"))
    assert (row["events"], row["answered"]) == (2, 2)
    # Filters and grouping together: messaging channel by touchpoint.
    rows = groups(kpis(service, by="touchpoint", channel="messaging"))
    assert set(rows) == {"chat", "whatsapp"}
    assert_row(rows["chat"], CHAT)


def test_nothing_to_average_is_null_never_zero(service: Store) -> None:
    # A filter that matches no row still answers one "all" row: counts 0, every mean null.
    # (An unknown segment is an error, tests/test_filter_values.py: a period without events.)
    row = only(kpis(service, date_from="2099-01-01"))
    assert_row(row, expect(0, 0))
    # Grouped, no rows means no groups.
    assert kpis(service, by="touchpoint", date_from="2099-01-01") == {"rows": []}


def test_empty_store(store: Store) -> None:
    assert_row(only(kpis(store)), expect(0, 0))
    for by in ("touchpoint", "phase", "day", "month"):
        assert kpis(store, by=by) == {"rows": []}


def test_sum_of_events_over_groupings(service: Store) -> None:
    for by in (
        "touchpoint",
        "channel",
        "kind",
        "phase",
        "agent",
        "segment",
        "day",
        "week",
        "month",
    ):
        rows = kpis(service, by=by)["rows"]
        assert sum(r["events"] for r in rows) == 20, by
        assert sum(r["conversions"] for r in rows) == 3, by
        assert sum(r["offered"] for r in rows) == 6, by


# -- phases (SPEC §3) ----------------------------------------------------------------------
# Customer A buys at the store on 2026-03-01 10:00; customer B on 2026-03-10 10:00.
PHASED = [
    ev("a0", "A", "website", "2026-03-01T08:59:59Z"),  # 1h00m01s before the purchase -> before
    ev("a1", "A", "website", "2026-03-01T08:00:00Z"),  # 2 h before -> before
    # 59m59s before -> during
    ev("a2", "A", "phone", "2026-03-01T09:00:01Z", abandoned="false", wait_seconds=4),
    # the purchase -> during
    ev("a3", "A", "store", "2026-03-01T10:00:00Z", action="purchase", value=300),
    ev("a4", "A", "chat", "2026-03-01T10:00:00Z"),  # same ts as the purchase (tie) -> during
    ev("a5", "A", "sms", "2026-03-15T10:00:00Z"),  # 14 days after -> after
    ev("a6", "A", "social", "2026-05-30T09:00:00Z"),  # 89d23h after -> after
    ev("a7", "A", "email", "2026-05-30T11:00:00Z"),  # 90d1h after -> before
    # 19 days after -> would be after; its own phase wins
    ev("a8", "A", "website", "2026-03-20T10:00:00Z", phase="before"),
    ev("b1", "B", "store", "2026-03-10T10:00:00Z", action="purchase", value=100),  # -> during
    # 30 min before b1 -> would be during; its own phase (after) wins
    ev(
        "b2", "B", "phone", "2026-03-10T09:30:00Z", phase="after", abandoned="true", wait_seconds=50
    ),
]


@pytest.fixture
def phased(shared_store: Callable[..., Store]) -> Store:
    return shared_store("phased", loader(PHASED))


def test_by_phase_derived(phased: Store) -> None:
    result = kpis(phased, by="phase")
    assert [r["group"] for r in result["rows"]] == ["before", "during", "after"]
    rows = groups(result)
    assert_row(rows["before"], expect(4, 1), full=True)  # a0, a1, a7, a8 (all A)
    assert_row(
        rows["during"],
        expect(
            4,
            2,  # a2, a3, a4 (A) and b1 (B)
            offered=1,
            answered=1,
            abandonment_rate=0.0,
            tme_seconds=4.0,
            service_level=1.0,  # a2
            conversions=2,
            revenue=400.0,  # 300 + 100
        ),
    )
    assert_row(
        rows["after"],
        expect(
            3,
            2,  # a5, a6 (A) and b2 (B, its own phase)
            offered=1,
            abandoned=1,
            abandonment_rate=1.0,  # b2
            service_level=0.0,  # 0 answered / 1 offered
        ),
    )


def test_phase_windows_options(phased: Store) -> None:
    rows = groups(kpis(phased, by="phase", during="3h", after="10d"))
    # during 3h: a0 (1h00m01s) and a1 (2h) join a2, a3, a4, b1
    assert rows["during"]["events"] == 6
    # after 10d: a5 (14 d) and a6 (~90 d) fall back to before, with a7 and a8
    assert rows["before"]["events"] == 4
    assert rows["after"]["events"] == 1  # b2 only (own phase)
    # Plain seconds work too: 1 s before is no window at all, only the purchase and its tie.
    rows = groups(kpis(phased, by="phase", during=1, after=0))
    assert rows["during"]["events"] == 3  # a3, a4 (same ts), b1
    assert rows["after"]["events"] == 1  # b2 (own phase)
    assert rows["before"]["events"] == 7  # 11 - 3 - 1


def test_phase_filter(phased: Store) -> None:
    assert only(kpis(phased, phase="after"))["events"] == 3  # a5, a6, b2
    assert only(kpis(phased, phase="before,during"))["events"] == 8  # 4 + 4
    row = only(kpis(phased, phase="during"))
    assert (row["conversions"], row["revenue"]) == (2, 400.0)
    # With --during 3h, during holds 6 rows.
    row = only(kpis(phased, phase="during", during="3h"))
    assert row["events"] == 6


def test_phase_is_derived_before_filtering(phased: Store) -> None:
    # The phone rows alone: a2 is during because of a store purchase the filter leaves out.
    rows = groups(kpis(phased, by="phase", touchpoint="phone"))
    assert {g: r["events"] for g, r in rows.items()} == {"during": 1, "after": 1}  # a2; b2
    # From 2026-03-02 on: a3 (the purchase) is filtered out, yet a5 and a6 stay "after".
    rows = groups(kpis(phased, by="phase", date_from="2026-03-02"))
    assert {g: r["events"] for g, r in rows.items()} == {
        "after": 3,  # a5, a6, b2
        "before": 2,  # a7, a8
        "during": 1,  # b1
    }


# -- periods, time zones, --from/--to, retention --------------------------------------------
PERIODIC = [
    # Fri; in São Paulo (UTC-3) Thu 2026-01-01 22:00
    ev("t1", "c1", "website", "2026-01-02T01:00:00Z"),
    ev("t6", "c3", "website", "2026-01-05T01:00:00Z"),  # Mon; in São Paulo Sun 2026-01-04 22:00
    ev("t2", "c1", "store", "2026-01-10T12:00:00Z", action="purchase", value=10),  # Sat
    # Sun; in São Paulo Sat 2026-01-31 23:00
    ev("t3", "c2", "store", "2026-02-01T02:00:00Z", action="purchase", value=20),
    ev("t4", "c1", "store", "2026-02-15T12:00:00Z", action="purchase", value=30),  # Sun
    ev("t5", "c2", "email", "2026-03-05T12:00:00Z"),  # Thu
]


@pytest.fixture
def periodic(shared_store: Callable[..., Store]) -> Store:
    return shared_store("periodic", loader(PERIODIC))


def _events(result: dict[str, Any]) -> list[tuple[str, int]]:
    return [(r["group"], r["events"]) for r in result["rows"]]


def test_by_day_in_utc_and_in_a_time_zone(periodic: Store) -> None:
    assert _events(kpis(periodic, by="day")) == [
        ("2026-01-02", 1),
        ("2026-01-05", 1),
        ("2026-01-10", 1),
        ("2026-02-01", 1),
        ("2026-02-15", 1),
        ("2026-03-05", 1),
    ]
    assert _events(kpis(periodic, by="day", timezone="America/Sao_Paulo")) == [
        ("2026-01-01", 1),  # t1: 2026-01-02T01:00Z is 22:00 the day before
        ("2026-01-04", 1),  # t6
        ("2026-01-10", 1),
        ("2026-01-31", 1),  # t3
        ("2026-02-15", 1),
        ("2026-03-05", 1),
    ]


def test_by_week_starts_monday(periodic: Store) -> None:
    assert _events(kpis(periodic, by="week")) == [
        ("2025-12-29", 1),  # t1 Fri 01-02 -> Mon 12-29
        ("2026-01-05", 2),  # t6 Mon 01-05 itself, t2 Sat 01-10
        ("2026-01-26", 1),  # t3 Sun 02-01 -> Mon 01-26 (Sunday ends the week)
        ("2026-02-09", 1),  # t4 Sun 02-15
        ("2026-03-02", 1),  # t5 Thu 03-05
    ]
    assert _events(kpis(periodic, by="week", timezone="America/Sao_Paulo")) == [
        ("2025-12-29", 2),  # t1 (Thu 01-01) and t6 (Sun 01-04 local)
        ("2026-01-05", 1),
        ("2026-01-26", 1),
        ("2026-02-09", 1),
        ("2026-03-02", 1),
    ]


def test_by_month(periodic: Store) -> None:
    rows = kpis(periodic, by="month")["rows"]
    assert [(r["group"], r["events"], r["conversions"], r["revenue"]) for r in rows] == [
        ("2026-01", 3, 1, 10.0),  # t1, t6, t2
        ("2026-02", 2, 2, 50.0),  # t3, t4: 20 + 30
        ("2026-03", 1, 0, 0.0),  # t5
    ]
    rows = kpis(periodic, by="month", timezone="America/Sao_Paulo")["rows"]
    assert [(r["group"], r["events"], r["conversions"], r["revenue"]) for r in rows] == [
        ("2026-01", 4, 2, 30.0),  # t3 is Jan 31 23:00 local: 10 + 20
        ("2026-02", 1, 1, 30.0),
        ("2026-03", 1, 0, 0.0),
    ]


def test_retention_by_month(store: Store, csv_file: Callable[..., Path]) -> None:
    periodic = store  # its own store: the test adds an event
    load(periodic, csv_file, PERIODIC)
    rows = groups(kpis(periodic, by="month"))
    # January buyers {c1}; c1 buys again in February -> 1 / 1. Data reach March: February is complete.
    assert (rows["2026-01"]["retention"], rows["2026-01"]["churn"]) == (1.0, 0.0)
    # February buyers {c2, c1}; March is not complete (last event 03-05) -> null, not 0.
    assert (rows["2026-02"]["retention"], rows["2026-02"]["churn"]) == (None, None)
    # March: no buyers at all -> null.
    assert rows["2026-03"]["retention"] is None
    # In São Paulo t3 is a January purchase: Jan buyers {c1, c2}, of whom only c1 buys in Feb -> 1/2.
    rows = groups(kpis(periodic, by="month", timezone="America/Sao_Paulo"))
    assert (rows["2026-01"]["retention"], rows["2026-01"]["churn"]) == (0.5, 0.5)
    # One event in April completes March: February's buyers {c1, c2} bought nothing in March -> 0 / 2.
    load(periodic, csv_file, [ev("t7", "c9", "website", "2026-04-01T12:00:00Z")])
    rows = groups(kpis(periodic, by="month"))
    assert (rows["2026-02"]["retention"], rows["2026-02"]["churn"]) == (0.0, 1.0)
    assert rows["2026-01"]["retention"] == 1.0
    assert rows["2026-04"]["retention"] is None  # no buyers
    # Retention is about periods: no period grouping, no retention.
    assert only(kpis(periodic))["retention"] is None
    assert all(r["retention"] is None for r in kpis(periodic, by="touchpoint")["rows"])


def test_retention_by_week(periodic: Store) -> None:
    rows = groups(kpis(periodic, by="week"))
    # week 01-05 buyers {c1}; week 01-12 no purchases (and complete) -> 0 / 1
    assert (rows["2026-01-05"]["retention"], rows["2026-01-05"]["churn"]) == (0.0, 1.0)
    assert rows["2025-12-29"]["retention"] is None  # no buyers
    # week 03-02: no buyers, and week 03-09 not complete anyway
    assert rows["2026-03-02"]["retention"] is None


def test_retention_ignores_the_date_filter(periodic: Store) -> None:
    # Only January is shown, but its retention needs February's purchases.
    rows = kpis(periodic, by="month", date_from="2026-01-01", date_to="2026-01-31")["rows"]
    assert [(r["group"], r["events"], r["retention"]) for r in rows] == [("2026-01", 3, 1.0)]


FROM_TO = [
    # t6 and t2: a bare --to date covers all of 01-10 (t2 at 12:00)
    ("2026-01-05", "2026-01-10", 2),
    ("2026-01-05", "2026-01-10T11:59:59", 1),  # t6 only
    ("2026-01-05", "2026-01-10T12:00:00Z", 2),  # bounds are inclusive
    ("2026-01-02T01:00:01", None, 5),  # t1 is one second too early
    ("2026-01-02T01:00:00", None, 6),
    (None, "2026-01-01", 0),  # before the first event
    ("2026-01-02T00:00:00-03:00", "2026-01-02", 0),  # 03:00Z on: t1 (01:00Z) is out
    ("2026-03-05", None, 1),  # t5
    ("20260105", "20260110", 2),  # basic ISO dates are dates too: --to covers the day
]


def test_from_to(periodic: Store) -> None:
    for date_from, date_to, events in FROM_TO:
        row = only(kpis(periodic, date_from=date_from, date_to=date_to))
        assert row["events"] == events, (date_from, date_to)


def test_from_to_in_a_time_zone(periodic: Store) -> None:
    sp = "America/Sao_Paulo"
    # 2026-01-01 in São Paulo is [2026-01-01T03:00Z, 2026-01-02T03:00Z): t1 (01-02T01:00Z) is in it.
    local_day = {"date_from": "2026-01-01", "date_to": "2026-01-01", "timezone": sp}
    assert only(kpis(periodic, **local_day))["events"] == 1
    assert _events(kpis(periodic, by="day", **local_day)) == [("2026-01-01", 1)]
    # The same dates in UTC hold nothing.
    assert only(kpis(periodic, date_from="2026-01-01", date_to="2026-01-01"))["events"] == 0
    # Naive timestamps are local too: 22:00 in São Paulo is t1's 01:00Z.
    assert only(kpis(periodic, date_from="2026-01-01T22:00", timezone=sp))["events"] == 6
    assert only(kpis(periodic, date_from="2026-01-01T22:00:01", timezone=sp))["events"] == 5
    # An explicit offset wins over the zone.
    row = only(kpis(periodic, date_from="2026-01-02T01:00:01Z", timezone=sp))
    assert row["events"] == 5
    with pytest.raises(UsageError, match="^--timezone "):
        kpis(periodic, date_from="2026-01-01", timezone="Nowhere/Atlantis")


def test_cli_from_to_follow_the_timezone(store: Store, csv_file: Callable[..., Path]) -> None:
    """`--timezone` cuts the days of --from/--to too, not only the groups: asking for one
    São Paulo day must not show parts of the day before (one scope, one time zone)."""
    periodic = store  # its own store: the command line opens it, so this test closes it
    load(periodic, csv_file, PERIODIC)
    target = periodic.target
    periodic.close()
    args = [
        "--by",
        "day",
        "--timezone",
        "America/Sao_Paulo",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-01",
    ]
    result = CliRunner().invoke(cli_app(), ["kpis", "--json", "--db", target, *args])
    assert result.exit_code == 0, result.output
    assert _events(json.loads(result.stdout)) == [("2026-01-01", 1)]  # t1, 2026-01-01 22:00 local


def test_from_to_with_a_grouping(periodic: Store) -> None:
    result = kpis(periodic, by="day", date_from="2026-01-05", date_to="2026-02-01")
    assert _events(result) == [("2026-01-05", 1), ("2026-01-10", 1), ("2026-02-01", 1)]


def test_python_values_read_like_the_cli_options(periodic: Store) -> None:
    """From Python, dates may be `date`/`datetime` objects and windows plain seconds, as
    `--from 2026-01-05` and `--during 3600` read on the command line."""
    as_text = kpis(periodic, date_from="2026-01-05", date_to="2026-01-10")
    assert kpis(periodic, date_from=date(2026, 1, 5), date_to=date(2026, 1, 10)) == as_text
    assert only(as_text)["events"] == 2  # t6, t2
    noon = datetime(2026, 1, 10, 12, 0)  # naive: read in the scope's zone, like the CLI
    assert only(kpis(periodic, date_to=noon))["events"] == 3  # t1, t6, t2
    assert kpis(periodic, by="phase", during=3600, after=0.5) == kpis(
        periodic, by="phase", during="1h", after="0.5"
    )


BAD_OPTIONS: list[tuple[Callable[[Store], Any], str]] = [
    (lambda s: kpis(s, by="nonsense"), "--by"),
    (lambda s: kpis(s, answer_within=-1), "--answer-within"),
    (lambda s: kpis(s, short_abandon=-0.5), "--short-abandon"),
    (lambda s: kpis(s, answer_within=float("nan")), "--answer-within"),
    (lambda s: kpis(s, by="day", timezone="Nowhere/Atlantis"), "--timezone"),
    (lambda s: kpis(s, timezone="Nowhere/Atlantis"), "--timezone"),
    (lambda s: kpis(s, date_from="2026-13-01"), "--from"),
    (lambda s: kpis(s, date_to="yesterday"), "--to"),
    (
        lambda s: kpis(s, date_from="2026-02-01", date_to="2026-01-01"),
        "--from",
    ),
    (lambda s: kpis(s, phase="later"), "--phase"),
    (lambda s: kpis(s, during="soon"), "--during"),
]


def test_bad_options_raise_usage_errors(periodic: Store) -> None:
    for call, option in BAD_OPTIONS:
        with pytest.raises(UsageError, match=f"^{option} "):
            call(periodic)


# -- CLI --------------------------------------------------------------------------------------
CLI_CASES = [
    ([], {}),
    (["--by", "touchpoint"], {"by": "touchpoint"}),
    (
        ["--by", "phase", "--during", "3h", "--after", "10d"],
        {"by": "phase", "during": "3h", "after": "10d"},
    ),
    (
        ["--by", "week", "--timezone", "America/Sao_Paulo"],
        {"by": "week", "timezone": "America/Sao_Paulo"},
    ),
    (["--by", "month"], {"by": "month"}),
    (
        ["--by", "agent", "--answer-within", "30", "--short-abandon", "5"],
        {"by": "agent", "answer_within": 30, "short_abandon": 5},
    ),
    (
        [
            "--by",
            "day",
            "--from",
            "2026-01-06",
            "--to",
            "2026-03-05",
            "--touchpoint",
            "phone",
            "--touchpoint",
            "store",
        ],
        {
            "by": "day",
            "date_from": "2026-01-06",
            "date_to": "2026-03-05",
            "touchpoint": ["phone", "store"],
        },
    ),
    (
        ["--by", "channel", "--phase", "before", "--segment", "gold,silver"],
        {"by": "channel", "phase": "before", "segment": "gold,silver"},
    ),
]


def test_cli_json_equals_python(store: Store, csv_file: Callable[..., Path]) -> None:
    load(store, csv_file, SERVICE + PHASED + PERIODIC)
    expected = [kpis(store, **options) for _, options in CLI_CASES]
    assert all(e["rows"] for e in expected), "a case that shows nothing proves nothing"
    target = store.target
    store.close()  # DuckDB: let the CLI open the file (read-only) on its own
    runner = CliRunner()
    app = cli_app()
    for (args, _), want in zip(CLI_CASES, expected, strict=True):
        result = runner.invoke(app, ["kpis", "--json", "--db", target, *args])
        assert result.exit_code == 0, (args, result.output)
        assert json.loads(result.stdout) == want, args


def cli_app() -> typer.Typer:
    # Imported late: importing touchpoints.cli at collection would add `tp.cli` to the
    # package namespace before test_api checks it.
    from touchpoints.cli import app

    return app


def _start_cli(*args: str) -> subprocess.Popen[str]:
    """`main()` in a subprocess (the real exit code), stderr not a terminal, no COLUMNS."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TOUCHPOINTS_DEBUG")
    }
    return subprocess.Popen(
        [sys.executable, "-c", "from touchpoints.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


BAD_CLI = [
    (["--by", "nonsense"], "--by"),
    (["--from", "2026-13-01"], "--from"),
    (["--to", "2026-02-30"], "--to"),
    (["--timezone", "Nowhere/Atlantis"], "--timezone"),
    (["--answer-within", "-5"], "--answer-within"),
    (["--phase", "later"], "--phase"),
]


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    from conftest import write_csv
    from touchpoints.store import open_store

    path = tmp_path_factory.mktemp("cli") / "kpis.duckdb"
    with open_store(str(path)) as s:
        ingest_files(s, [write_csv(path.parent / "service.csv", SERVICE)])
    return str(path)


@pytest.fixture(scope="module")
def bad_cli_runs(cli_db: str) -> dict[str, subprocess.CompletedProcess[str]]:
    """Each bad option run once through `main()`, all at once."""
    started = {option: _start_cli("kpis", "--db", cli_db, *args) for args, option in BAD_CLI}
    return {option: _finish(proc) for option, proc in started.items()}


@pytest.mark.parametrize("option", [o for _, o in BAD_CLI])
def test_cli_bad_option_exits_2_naming_the_option(
    bad_cli_runs: dict[str, subprocess.CompletedProcess[str]], option: str
) -> None:
    run = bad_cli_runs[option]
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    assert "Traceback" not in run.stderr and "unexpected" not in run.stderr
    assert run.stderr.startswith("error: ")
    assert option in run.stderr


@pytest.mark.parametrize("option", [o for _, o in BAD_CLI])
def test_cli_bad_option_message_is_one_line(
    bad_cli_runs: dict[str, subprocess.CompletedProcess[str]], option: str
) -> None:
    """The message is one line even when stderr is not a terminal (logs, scripts, CI)."""
    run = bad_cli_runs[option]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, f"wrapped over {len(lines)} lines: {run.stderr!r}"
    assert lines[0].startswith(f"error: {option} ")


def test_cli_good_run_exits_0(cli_db: str) -> None:
    run = _finish(_start_cli("kpis", "--json", "--db", cli_db, "--by", "kind"))
    assert run.returncode == 0, run.stderr
    kinds = {r["group"]: r["events"] for r in json.loads(run.stdout)["rows"]}
    assert kinds == {"human": 12, "interactive": 7, "static": 1}
