"""Funnels, invisible gaps and Sankey flows (touchpoints.analytics.flows), on every engine.

Expectations are computed by hand on one small log (LOG below, arithmetic in comments);
a hypothesis property checks the funnel against a plain-Python greedy matcher and the
Sankey's conservation of flow on random logs.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import ingested, run, write_csv
from touchpoints.core import format as fmt
from touchpoints.core.errors import UsageError
from touchpoints.ingest import ingest_files
from touchpoints.store import open_store
from touchpoints.store.base import Store

H = 3600
D = 86400


def ev(customer: str, touchpoint: str, ts: str, action: str | None = None) -> dict[str, Any]:
    """One event on day/time `ts` ("d1 10:00" = 2026-03-01 10:00 UTC)."""
    day, clock = ts.split()
    when = datetime(2026, 3, int(day[1:]), *map(int, clock.split(":")))
    segment = "b2b" if customer in ("c1", "c4") else "retail"
    return {
        "customer_id": customer,
        "touchpoint": touchpoint,
        "ts": when.isoformat() + "Z",
        "action": action,
        "segment": segment,
    }


# Phases (SPEC §3: during = a purchase or the hour before it; after = 90 days after one).
# Cycles end at a purchase; "p" marks a purchase.
LOG = [
    # c1: website (before) → phone (during, 30 m before the sale) → store p | email (after)
    ev("c1", "website", "d1 10:00"),
    ev("c1", "phone", "d2 09:30"),
    ev("c1", "store", "d2 10:00", "purchase"),
    ev("c1", "email", "d5 10:00"),
    # c2: website → chat, both before, no sale
    ev("c2", "website", "d1 12:00"),
    ev("c2", "chat", "d3 12:00"),
    # c3: walks in and buys (during, never before) | sms the same evening (after)
    ev("c3", "store", "d1 09:00", "purchase"),
    ev("c3", "sms", "d1 21:00"),
    # c4: ads (before) → whatsapp (during: 40 m before the sale) → store p
    ev("c4", "ads", "d1 08:00"),
    ev("c4", "whatsapp", "d3 08:00"),
    ev("c4", "store", "d3 08:40", "purchase"),
    # c5: phone BEFORE website: out of order for a website → phone funnel
    ev("c5", "phone", "d1 10:00"),
    ev("c5", "website", "d1 11:00"),
    ev("c5", "email", "d1 12:00"),
    ev("c5", "store", "d1 13:00"),
    # c6: other events between the funnel's steps; website twice (greedy: the first)
    ev("c6", "website", "d1 10:00"),
    ev("c6", "email", "d1 11:00"),
    ev("c6", "website", "d1 12:00"),
    ev("c6", "phone", "d2 10:00"),
    ev("c6", "sms", "d2 11:00"),
    ev("c6", "store", "d2 12:00"),
]


@pytest.fixture
def loaded(shared_store: Callable[..., Store]) -> Store:
    """LOG, loaded once per engine: the tests that use it only read it."""
    return shared_store("log", ingested(LOG))


@pytest.fixture
def own_loaded(store: Store, csv_file: Callable[..., Path]) -> Store:
    """LOG in a store of the test's own, for the command-line tests that close it."""
    ingest_files(store, [csv_file(LOG)])
    return store


def _counts(result: dict[str, Any]) -> list[int]:
    return [s["count"] for s in result["stages"]]


# -- funnel ------------------------------------------------------------------------------
def test_phase_funnel(loaded: Store) -> None:
    result = run(loaded, "journeys.funnel")
    assert result["funnel"] == "phases" and result["case"] == "customer"
    assert result["total"] == 6  # every customer has steps
    # before: c1 c2 c4 c5 c6 (c3 starts in during and never enters the funnel)
    # during after before: c1 (d1 10:00 → d2 09:30 = 23.5 h = 84600 s),
    #                      c4 (d1 08:00 → d3 08:00 = 172800 s); median (84600 + 172800) / 2
    # after after during: c1 (d2 09:30 → d5 10:00 = 3 d 30 m = 261000 s); c3's after does
    # not count: c3 never reached before.
    assert result["stages"] == [
        {
            "stage": "before",
            "count": 5,
            "share": 1.0,
            "dropped": None,
            "drop_rate": None,
            "median_seconds": None,
        },
        {
            "stage": "during",
            "count": 2,
            "share": 0.4,
            "dropped": 3,
            "drop_rate": 0.6,
            "median_seconds": 128700.0,
        },
        {
            "stage": "after",
            "count": 1,
            "share": 0.2,
            "dropped": 1,
            "drop_rate": 0.5,
            "median_seconds": 261000.0,
        },
    ]


def test_step_funnel_in_order_with_events_between(loaded: Store) -> None:
    result = run(loaded, "journeys.funnel", steps=["website", "phone", "store"])
    assert result["funnel"] == "steps"
    # website: c1 c2 c5 c6. phone after website: c1 (84600 s), c6 (first website d1 10:00 →
    # phone d2 10:00 = 86400 s; the email and second website between do not matter);
    # c5's phone came before its website, so it does not count. Median (84600 + 86400) / 2.
    # store after phone: c1 (30 m = 1800 s), c6 (sms between; 2 h = 7200 s): median 4500.
    assert _counts(result) == [4, 2, 2]
    assert [s["median_seconds"] for s in result["stages"]] == [None, 85500.0, 4500.0]
    assert [s["dropped"] for s in result["stages"]] == [None, 2, 0]
    assert [s["drop_rate"] for s in result["stages"]] == [None, 0.5, 0.0]
    assert [s["share"] for s in result["stages"]] == [1.0, 0.5, 0.5]


def test_step_funnel_purchase_and_repeated_steps(loaded: Store) -> None:
    # "purchase" = bought at any touchpoint: only c1 visits the website and then buys
    # (d1 10:00 → d2 10:00 = 86400 s).
    result = run(loaded, "journeys.funnel", steps=["website", "purchase"])
    assert _counts(result) == [4, 1]
    assert result["stages"][1]["median_seconds"] == 86400.0
    # The same touchpoint twice needs two visits: only c6 has a second website (2 h later).
    twice = run(loaded, "journeys.funnel", steps=["website", "website"])
    assert _counts(twice) == [4, 1]
    assert twice["stages"][1]["median_seconds"] == 2 * H


def test_step_funnel_per_cycle(store: Store, csv_file: Callable[..., Path]) -> None:
    rows = [
        # c1 visits the website, is silent 40 days (> --gap 30d), then calls and buys:
        # the funnel holds per customer, not within one cycle.
        ev("c1", "website", "d1 10:00"),
        ev("c2", "website", "d1 10:00"),
        ev("c2", "phone", "d2 10:00"),
    ]
    late = {**ev("c1", "phone", "d1 10:00"), "ts": "2026-04-10T10:00:00Z"}
    ingest_files(store, [csv_file([*rows, late])])
    assert _counts(run(store, "journeys.funnel", steps=["website", "phone"])) == [2, 2]
    per_cycle = run(store, "journeys.funnel", steps=["website", "phone"], case="cycle")
    assert per_cycle["total"] == 3  # cycles c1#1, c1#2, c2#1
    assert _counts(per_cycle) == [2, 1]
    # A 50-day gap option joins c1's visits into one cycle again.
    longer = run(store, "journeys.funnel", gap="50d", steps=["website", "phone"], case="cycle")
    assert _counts(longer) == [2, 2]


def test_funnel_filters(loaded: Store) -> None:
    # Segment b2b = c1 and c4: both go before → during (84600, 172800), c1 reaches after.
    result = run(loaded, "journeys.funnel", segment="b2b")
    assert result["total"] == 2
    assert _counts(result) == [2, 2, 1]
    assert result["stages"][1]["median_seconds"] == 128700.0
    # Steps are selected before matching: without the store, nobody reaches stage 3.
    only = run(
        loaded, "journeys.funnel", touchpoint="website,phone", steps=["website", "phone", "store"]
    )
    assert _counts(only) == [4, 2, 0]
    # --from/--to cut steps: on day 1 only, c6's phone (day 2) is out.
    day1 = run(
        loaded,
        "journeys.funnel",
        date_from="2026-03-01",
        date_to="2026-03-01",
        steps=["website", "email"],
    )
    # website then email on day 1: c5 (11:00 → 12:00), c6 (10:00 → 11:00)
    assert _counts(day1) == [4, 2]
    assert day1["stages"][1]["median_seconds"] == 1 * H


def test_funnel_usage_errors(loaded: Store) -> None:
    with pytest.raises(UsageError, match="webiste"):
        run(loaded, "journeys.funnel", steps=["website", "webiste"])
    with pytest.raises(UsageError, match="--case"):
        run(loaded, "journeys.funnel", case="journey")
    with pytest.raises(UsageError, match="needs --steps"):
        run(loaded, "journeys.funnel", case="cycle")


def test_empty_scope(store: Store) -> None:
    result = run(store, "journeys.funnel")
    assert result["total"] == 0
    assert _counts(result) == [0, 0, 0]
    assert [s["share"] for s in result["stages"]] == [None, None, None]
    assert run(store, "journeys.sankey") == {"depth": 5, "cycles": 0, "nodes": [], "links": []}
    assert run(store, "journeys.gaps")["overall"] == {
        "count": 0,
        "median_seconds": None,
        "p90_seconds": None,
        "mean_seconds": None,
    }


# -- gaps --------------------------------------------------------------------------------
def test_gaps_overall_phase_and_pairs(loaded: Store) -> None:
    result = run(loaded, "journeys.gaps")
    # Gaps (owned by the later step, phase of that step):
    # c1#1: website→phone 84600 (during), phone→store 1800 (during); c1#2 email alone.
    # c2: website→chat 172800 (before). c3: two one-step cycles, no gap.
    # c4: ads→whatsapp 172800 (during), whatsapp→store 2400 (during).
    # c5: phone→website, website→email, email→store: 3600 each (before).
    # c6: website→email 3600, email→website 3600, website→phone 79200, phone→sms 3600,
    #     sms→store 3600 (all before).
    # before (9): [3600 x7, 79200, 172800] median 3600; p90 at 0.9*8 = 7.2:
    #   79200 + 0.2 * (172800 - 79200) = 97920; mean (7*3600 + 79200 + 172800) / 9 = 30800.
    # during (4): [1800, 2400, 84600, 172800] median (2400 + 84600) / 2 = 43500; p90 at
    #   0.9*3 = 2.7: 84600 + 0.7 * 88200 = 146340; mean 261600 / 4 = 65400.
    # all (13): [1800, 2400, 3600 x7, 79200, 84600, 172800, 172800] median 3600; p90 at
    #   0.9*12 = 10.8: 84600 + 0.8 * 88200 = 155160; mean 538800 / 13.
    assert result["overall"] == {
        "count": 13,
        "median_seconds": 3600.0,
        "p90_seconds": 155160.0,
        "mean_seconds": pytest.approx(538800 / 13, rel=1e-12),
    }
    assert result["phases"] == [
        {
            "phase": "before",
            "count": 9,
            "median_seconds": 3600.0,
            "p90_seconds": 97920.0,
            "mean_seconds": 30800.0,
        },
        {
            "phase": "during",
            "count": 4,
            "median_seconds": 43500.0,
            "p90_seconds": 146340.0,
            "mean_seconds": 65400.0,
        },
        {
            "phase": "after",
            "count": 0,
            "median_seconds": None,
            "p90_seconds": None,
            "mean_seconds": None,
        },
    ]
    pairs = {(p["from"], p["to"]): p for p in result["pairs"]}
    assert sum(p["count"] for p in result["pairs"]) == 13
    # website→phone: c1 84600, c6 79200: median 81900, p90 79200 + 0.9 * 5400 = 84060.
    assert pairs[("website", "phone")] == {
        "from": "website",
        "to": "phone",
        "count": 2,
        "median_seconds": 81900.0,
        "p90_seconds": 84060.0,
        "mean_seconds": 81900.0,
    }
    assert pairs[("website", "email")]["count"] == 2  # c5 and c6, 1 h each
    assert pairs[("website", "email")]["p90_seconds"] == 3600.0
    # Most frequent first, ties by from then to.
    assert [(p["from"], p["to"]) for p in result["pairs"][:2]] == [
        ("website", "email"),
        ("website", "phone"),
    ]


def test_gaps_filters_select_the_later_step(loaded: Store) -> None:
    during = run(loaded, "journeys.gaps", phase="during")
    assert [p["count"] for p in during["phases"]] == [0, 4, 0]
    assert during["overall"]["median_seconds"] == 43500.0
    # Gaps before a store visit, measured from the previous step of the whole cycle
    # (which the filter hides): c1 phone 1800, c4 whatsapp 2400, c5 email 3600,
    # c6 sms 3600; c3's store opens its cycle. Median (2400 + 3600) / 2.
    store_gaps = run(loaded, "journeys.gaps", touchpoint="store")
    assert store_gaps["overall"]["count"] == 4
    assert store_gaps["overall"]["median_seconds"] == 3000.0
    assert {(p["from"], p["to"]) for p in store_gaps["pairs"]} == {
        ("phone", "store"),
        ("whatsapp", "store"),
        ("email", "store"),
        ("sms", "store"),
    }
    # A shorter --gap cuts c2's and c4's 2-day silences into separate cycles.
    short = run(loaded, "journeys.gaps", gap="1d")
    assert short["overall"]["count"] == 11
    assert run(loaded, "journeys.gaps", date_from="2099-01-01")["overall"]["count"] == 0


# -- sankey ------------------------------------------------------------------------------
def _links(result: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(li["source"], li["target"]): li["value"] for li in result["links"]}


def _check_conservation(result: dict[str, Any]) -> None:
    values = {n["id"]: n["value"] for n in result["nodes"]}
    into: dict[str, int] = defaultdict(int)
    out_of: dict[str, int] = defaultdict(int)
    for li in result["links"]:
        into[li["target"]] += li["value"]
        out_of[li["source"]] += li["value"]
    for node in result["nodes"]:
        if node["step"] is None or node["step"] > 1:
            assert into[node["id"]] == node["value"], node
        else:
            assert into[node["id"]] == 0
        if node["step"] is not None and node["step"] < result["depth"]:
            assert out_of[node["id"]] == node["value"], node
        if node["step"] is not None:
            assert node["id"] == f"{node['step']}:{node['touchpoint']}"
    assert sum(v for k, v in values.items() if k.startswith("1:")) == result["cycles"]


def test_sankey_nodes_links_and_terminals(loaded: Store) -> None:
    result = run(loaded, "journeys.sankey", depth=3)
    # Cycles: c1#1 website phone store(p) | c1#2 email | c2 website chat | c3#1 store(p) |
    # c3#2 sms | c4 ads whatsapp store(p) | c5 phone website email store | c6 website
    # email website phone sms store: 8 cycles.
    assert result["depth"] == 3 and result["cycles"] == 8
    nodes = {n["id"]: n["value"] for n in result["nodes"]}
    assert nodes == {
        "1:website": 3,
        "1:email": 1,
        "1:store": 1,
        "1:sms": 1,
        "1:ads": 1,
        "1:phone": 1,
        "2:phone": 1,
        "2:chat": 1,
        "2:whatsapp": 1,
        "2:website": 1,
        "2:email": 1,
        "3:store": 2,
        "3:email": 1,
        "3:website": 1,
        "end": 3,  # c1#2, c3#2 (one step each), c2 (two)
        "purchase": 3,  # c3#1 at step 1, c1#1 and c4 at step 3
    }
    assert _links(result) == {
        ("1:website", "2:phone"): 1,
        ("1:website", "2:chat"): 1,
        ("1:website", "2:email"): 1,
        ("1:email", "end"): 1,
        ("1:store", "purchase"): 1,
        ("1:sms", "end"): 1,
        ("1:ads", "2:whatsapp"): 1,
        ("1:phone", "2:website"): 1,
        ("2:phone", "3:store"): 1,
        ("2:chat", "end"): 1,
        ("2:whatsapp", "3:store"): 1,
        ("2:website", "3:email"): 1,
        ("2:email", "3:website"): 1,
        ("3:store", "purchase"): 2,
        # 3:email (c5) and 3:website (c6) go on beyond depth 3: no link.
    }
    _check_conservation(result)
    # Nodes by step, value desc, id; terminals last.
    assert [n["id"] for n in result["nodes"]][:2] == ["1:website", "1:ads"]
    assert [n["id"] for n in result["nodes"]][-2:] == ["end", "purchase"]


def test_sankey_filters_renumber_steps(loaded: Store) -> None:
    # Only website and store steps: c1#1 [website, store(p)], c2 [website], c3#1 [store(p)],
    # c4 [store(p)], c5 [website, store], c6 [website, website, store]; c1#2 and c3#2
    # have no such step. Terminals follow the whole cycle's conversion.
    result = run(loaded, "journeys.sankey", touchpoint="website,store", depth=2)
    assert result["cycles"] == 6
    assert _links(result) == {
        ("1:website", "2:store"): 2,
        ("1:website", "end"): 1,
        ("1:website", "2:website"): 1,
        ("1:store", "purchase"): 2,
        ("2:store", "purchase"): 1,  # c1
        ("2:store", "end"): 1,  # c5
    }
    _check_conservation(result)
    one = run(loaded, "journeys.sankey", depth=1)
    assert _links(one) == {("1:email", "end"): 1, ("1:sms", "end"): 1, ("1:store", "purchase"): 1}
    with pytest.raises(UsageError, match="--depth"):
        run(loaded, "journeys.sankey", depth=0)


# -- CLI ---------------------------------------------------------------------------------
def cli_app() -> typer.Typer:
    # Imported late (see test_kpis): importing touchpoints.cli at collection would add
    # `tp.cli` to the package namespace before test_api checks it.
    from touchpoints.cli import app

    return app


def test_cli_json_equals_python(own_loaded: Store) -> None:
    loaded = own_loaded
    target = loaded.target
    expected = {
        "funnel": run(
            loaded, "journeys.funnel", segment="retail", steps=["website", "phone", "store"]
        ),
        "gaps": run(loaded, "journeys.gaps", phase="before"),
        "sankey": run(loaded, "journeys.sankey", depth=4),
    }
    loaded.close()  # the CLI opens the DuckDB file read-only, which needs it closed here
    runner, app = CliRunner(), cli_app()
    commands = {
        "funnel": ["funnel", "--steps", "website,phone,store", "--segment", "retail"],
        "gaps": ["gaps", "--phase", "before"],
        "sankey": ["sankey", "--depth", "4"],
    }
    for name, args in commands.items():
        res = runner.invoke(app, ["journeys", *args, "--db", target, "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output) == expected[name]
    for args in (["funnel"], ["gaps", "--lang", "pt-BR"], ["sankey"]):
        res = runner.invoke(app, ["journeys", *args, "--db", target])
        assert res.exit_code == 0, res.output


def test_cli_tables_in_english_and_portuguese(own_loaded: Store) -> None:
    """One duration style (core.format.duration), numbers and words in the reader's
    language, headers named after the JSON keys."""
    loaded = own_loaded
    target = loaded.target
    loaded.close()
    runner, app = CliRunner(), cli_app()

    def table(*args: str) -> str:
        res = runner.invoke(app, ["journeys", *args, "--db", target])
        assert res.exit_code == 0, res.output
        return res.stdout

    # The during median, 128700 s; shares of the first stage 40% and 20%.
    funnel_en = table("funnel")
    assert "1 day 11 hr" in funnel_en and "40.0%" in funnel_en and "60.0%" in funnel_en
    assert "Phase funnel: 6 customers in scope" in funnel_en
    assert "drop rate" in funnel_en and "median time" in funnel_en
    funnel_pt = table("funnel", "--lang", "pt-BR")
    assert "1 dia 11 h" in funnel_pt and "40,0%" in funnel_pt and "60,0%" in funnel_pt
    assert "Funil de fases: 6 clientes no escopo" in funnel_pt and "durante" in funnel_pt
    steps = table("funnel", "--steps", "website,purchase", "--lang", "pt-BR")
    assert "compra" in steps and "Site" in steps
    # Before-phase gaps: median 3600 s, p90 97920 s, mean 30800 s.
    gaps_en = table("gaps")
    assert "1 hr" in gaps_en and "1 day 3 hr" in gaps_en and "8 hr 33 min" in gaps_en
    assert "p90 time" in gaps_en
    gaps_pt = table("gaps", "--lang", "pt-BR")
    assert "1 h" in gaps_pt and "1 dia 3 h" in gaps_pt and "8 h 33 min" in gaps_pt
    assert "todos" in gaps_pt and "tempo p90" in gaps_pt
    sankey_pt = table("sankey", "--depth", "3", "--lang", "pt-BR")
    assert "Primeiros 3 passos de 8 ciclos de jornada" in sankey_pt
    assert "compra" in sankey_pt and "fim (sem compra)" in sankey_pt and "33,3%" in sankey_pt
    assert "R$" not in sankey_pt  # a link's value counts cycles, not money
    csv = table("gaps", "--format", "csv").splitlines()
    assert csv[0] == "from,to,count,median_seconds,p90_seconds,mean_seconds"
    assert "website,phone,2,81900.0,84060.0,81900.0" in csv


def test_one_duration_style() -> None:
    seconds = (None, 2.5, 45, 750, 3 * H + 300, 2 * D + 4 * H + 59, D)
    assert [fmt.duration(s, "en") for s in seconds] == [
        "—",
        "2.5 sec",
        "45 sec",
        "12 min 30 sec",
        "3 hr 5 min",
        "2 days 4 hr",
        "1 day",
    ]
    assert [fmt.duration(s, "pt-BR") for s in seconds] == [
        "—",
        "2,5 s",
        "45 s",
        "12 min 30 s",
        "3 h 5 min",
        "2 dias 4 h",
        "1 dia",
    ]


# -- properties --------------------------------------------------------------------------
TPS = ["website", "phone", "store", "email"]
event_st = st.tuples(
    st.sampled_from(["a", "b", "c", "d"]),
    st.sampled_from(TPS),
    st.integers(0, 60 * 24 * 80),  # minutes: some silences exceed the 30-day gap
    st.booleans(),
)


def _random_log(events: list[tuple[str, str, int, bool]], unit: timedelta) -> list[dict[str, Any]]:
    """Event rows from (customer, touchpoint, time in `unit`s after 2026-01-01, purchase)."""
    start = datetime(2026, 1, 1)
    return [
        {
            "event_id": f"e{i}",  # identical rows are distinct events here, not duplicates
            "customer_id": c,
            "touchpoint": t,
            "ts": (start + unit * n).isoformat() + "Z",
            "action": "purchase" if buy else None,
        }
        for i, (c, t, n, buy) in enumerate(events)
    ]


def _greedy(rows: list[dict[str, Any]], steps: list[str]) -> list[int]:
    """Reference: customers reaching each stage, matching steps in (ts, ingestion) order."""
    seqs: dict[str, list[str]] = defaultdict(list)
    for r in sorted(enumerate(rows), key=lambda ir: (ir[1]["ts"], ir[0])):
        seqs[r[1]["customer_id"]].append(r[1]["touchpoint"])
    reached = [0] * len(steps)
    for seq in seqs.values():
        k = 0
        for t in seq:
            if k < len(steps) and t == steps[k]:
                reached[k] += 1
                k += 1
    return reached


@settings(max_examples=30, deadline=None)
@given(
    st.lists(event_st, min_size=1, max_size=25),
    st.lists(st.sampled_from(TPS), min_size=1, max_size=3),
    st.integers(1, 4),
)
def test_property_funnel_and_sankey(
    events: list[tuple[str, str, int, bool]], steps: list[str], depth: int
) -> None:
    rows = _random_log(events, timedelta(minutes=1))
    with tempfile.TemporaryDirectory() as tmp, open_store(str(Path(tmp) / "p.duckdb")) as store:
        ingest_files(store, [write_csv(Path(tmp) / "e.csv", rows, list(rows[0]))])
        result = run(store, "journeys.funnel", steps=steps)
        counts = _counts(result)
        assert counts == _greedy(rows, steps)
        phases = _counts(run(store, "journeys.funnel"))
        assert all(a >= b for a, b in zip(phases, phases[1:], strict=False))
        flow = run(store, "journeys.sankey", depth=depth)
        _check_conservation(flow)
        g = run(store, "journeys.gaps")
        # Every step but a cycle's first has a gap; the Sankey starts every cycle.
        cycles = [n for lengths in _cycle_lengths(rows).values() for n in lengths]
        assert flow["cycles"] == len(cycles)
        assert g["overall"]["count"] == sum(cycles) - len(cycles)
        assert g["overall"]["count"] == sum(p["count"] for p in g["pairs"])
        assert g["overall"]["count"] == sum(p["count"] for p in g["phases"])


def _cycle_lengths(rows: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Per customer, the lengths of their cycles (SPEC §3, 30-day gap), for the gap count."""
    ordered = sorted(enumerate(rows), key=lambda ir: (ir[1]["customer_id"], ir[1]["ts"], ir[0]))
    lengths: dict[str, list[int]] = defaultdict(list)
    prev: dict[str, tuple[datetime, bool]] = {}
    for _, r in ordered:
        c = r["customer_id"]
        ts = datetime.fromisoformat(r["ts"].rstrip("Z"))
        last = prev.get(c)
        if last is None or last[1] or ts - last[0] > timedelta(days=30):
            lengths[c].append(0)
        lengths[c][-1] += 1
        prev[c] = (ts, r["action"] == "purchase")
    return lengths


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(TPS),
            st.integers(0, 10**12),  # microseconds: gaps with fractions of a second
            st.booleans(),
        ),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from([{}, {"phase": ["before"]}, {"touchpoint": ["store", "phone"]}]),
)
def test_property_gaps_from_sorted_lists_equal_gaps_from_ranks(
    events: list[tuple[str, str, int, bool]], options: dict[str, Any]
) -> None:
    """DuckDB reads the gaps' 90th percentile from sorted lists (`gaps_sql(sorted_lists=
    True)`); every other engine from window ranks. Both give the same counts, medians and
    90th percentiles, bit for bit, on every level, from raw events and from the journey
    facts (and the same means to the last bits of a float sum)."""
    from touchpoints.analytics.flows import gaps_sql
    from touchpoints.analytics.registry import get

    rows = _random_log(events, timedelta(microseconds=1))
    with tempfile.TemporaryDirectory() as tmp, open_store(str(Path(tmp) / "p.duckdb")) as store:
        ingest_files(store, [write_csv(Path(tmp) / "e.csv", rows, list(rows[0]))])
        scope, _ = get("journeys.gaps").parse(options)
        for facts in (False, True):
            answers = [
                sorted(
                    store.query(gaps_sql(scope.replace(facts=facts), lists), scope.params()),
                    key=lambda r: tuple(str(r[k]) for k in ("level", "src", "dst", "phase")),
                )
                for lists in (False, True)
            ]
            # The mean is a float sum, added in whatever order each plan reads the rows
            # (as before, and on every engine): equal to the last bits only. The counts,
            # medians and 90th percentiles are the same numbers.
            means = [[r.pop("mean_seconds") for r in rows] for rows in answers]
            assert answers[0] == answers[1]
            assert [m is None for m in means[1]] == [m is None for m in means[0]]
            numbers = [[m for m in ms if m is not None] for ms in means]
            assert numbers[1] == pytest.approx(numbers[0], rel=1e-12)
