"""`touchpoints whatif`: what fixing (or removing) a touchpoint is worth, through the exact
order-1 Markov chain. Every expectation below is the chain solved on paper.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_tables import assert_fits, cli, table_cells
from conftest import run
from touchpoints.analytics.whatif import reweight
from touchpoints.core.errors import UsageError
from touchpoints.ingest import ingest_records
from touchpoints.store import open_store
from touchpoints.store.base import Store

Step = tuple[str, dict[str, Any]]


def journeys(paths: list[tuple[list[Step], bool]], value: float = 100.0) -> list[dict[str, Any]]:
    """One customer per path, one step a day; a converting path ends in a purchase at the
    store worth `value`."""
    start = datetime(2026, 1, 1, 9)
    rows: list[dict[str, Any]] = []
    for i, (steps, converts) in enumerate(paths):
        full = steps + ([("store", {"action": "purchase", "value": value})] if converts else [])
        for j, (touchpoint, extra) in enumerate(full):
            rows.append(
                {
                    "event_id": f"p{i}s{j}",
                    "customer_id": f"c{i}",
                    "touchpoint": touchpoint,
                    "ts": (start + timedelta(days=j)).isoformat() + "Z",
                    **extra,
                }
            )
    return rows


def load(store: Store, paths: list[tuple[list[Step], bool]]) -> None:
    result = ingest_records(store, journeys(paths), "test")
    assert [item["status"] for item in result.items] == ["stored"] * len(result.items), result.items


ANSWERED = {"abandoned": False, "wait_seconds": 10}
ABANDONED = {"abandoned": True, "wait_seconds": 90}

# start→ads 4; ads→phone~answered 2, ads→phone~abandoned 2; phone~answered→store 1,
# →null 1; phone~abandoned→null 2; store→conversion 1.
# P(conv) = 0.5·0.5·1 + 0.5·0 = 0.25; observed abandonment 2/4 = 0.5.
ABANDON_PATHS: list[tuple[list[Step], bool]] = [
    ([("ads", {}), ("phone", ANSWERED)], True),
    ([("ads", {}), ("phone", ABANDONED)], False),
    ([("ads", {}), ("phone", ANSWERED)], False),
    ([("ads", {}), ("phone", ABANDONED)], False),
]

# start→website 5; website→phone~satisfied 2 (h=1), →phone~unsatisfied 2 (h=1/2),
# →phone unrated 1 (h=0). P = 0.4 + 0.2 = 0.6, 3 conversions, observed CSAT 2/4 = 50.
CSAT_PATHS: list[tuple[list[Step], bool]] = [
    ([("website", {}), ("phone", {"csat": 5})], True),
    ([("website", {}), ("phone", {"csat": 4})], True),
    ([("website", {}), ("phone", {"csat": 2})], False),
    ([("website", {}), ("phone", {"csat": 1})], True),
    ([("website", {}), ("phone", {})], False),
]

# The textbook example: ads>website>store (1 conversion), ads (null), website>store (null).
# P = 2/3·1/2·1/2 + 1/3·1/2 = 1/3; without ads 1/6; without website 0.
REMOVE_PATHS: list[tuple[list[Step], bool]] = [
    ([("ads", {}), ("website", {})], True),
    ([("ads", {})], False),
    ([("website", {}), ("store", {})], False),
]


@pytest.mark.parametrize(
    ("target", "probability", "conversions"),
    [(0.05, 0.475, 1.9), (0.0, 0.5, 2.0), (1.0, 0.0, 0.0), (0.75, 0.125, 0.5)],
)
def test_abandonment_target_solves_the_chain_exactly(
    store: Store, target: float, probability: float, conversions: float
) -> None:
    # t < o: each abandoned transition keeps t/o, e.g. t = 0.05: ads→abandoned 0.05,
    # ads→answered 0.95, P' = 0.95·0.5 = 0.475; t > o: answered keeps (1-t)/(1-o).
    load(store, ABANDON_PATHS)
    r = run(store, "whatif", touchpoint="phone", abandonment=target)
    assert r["touchpoint"] == "phone"
    assert r["scenario"] == {"abandonment": target}
    assert r["observed"] == {"abandonment": 0.5, "contacts": 4, "abandoned": 2}
    assert r["conversion_probability"] == {"now": 0.25, "scenario": pytest.approx(probability)}
    assert r["conversions"]["now"] == 1
    assert r["conversions"]["scenario"] == pytest.approx(conversions)
    assert r["conversions"]["change"] == pytest.approx(conversions - 1)
    assert r["value"] == {
        "now": 100.0,
        "scenario": pytest.approx(100 * conversions),
        "change": pytest.approx(100 * conversions - 100),
    }
    assert r["method"].startswith("Order-1 absorbing Markov chain with phone split")


def test_target_equal_to_observed_changes_nothing(store: Store) -> None:
    load(store, ABANDON_PATHS + CSAT_PATHS)
    for kwargs in ({"abandonment": 0.5}, {"csat": 50.0}):
        r = run(store, "whatif", touchpoint="phone", **kwargs)
        assert r["conversions"]["change"] == 0
        assert r["value"]["change"] == 0
        assert r["conversion_probability"]["now"] == r["conversion_probability"]["scenario"]


def test_csat_target_moves_rated_contacts_only(store: Store) -> None:
    # CSAT 75 → unsatisfied share 0.25 = o/2: website→unsatisfied 0.2, →satisfied 0.6,
    # unrated stays 0.2. P' = 0.6 + 0.2·0.5 = 0.7, conversions 3·0.7/0.6 = 3.5.
    load(store, CSAT_PATHS)
    r = run(store, "whatif", touchpoint="phone", csat=75)
    assert r["observed"] == {"csat": 50.0, "answers": 4, "unsatisfied": 2}
    assert r["conversion_probability"]["now"] == pytest.approx(0.6)
    assert r["conversion_probability"]["scenario"] == pytest.approx(0.7)
    assert r["conversions"] == {
        "now": 3,
        "scenario": pytest.approx(3.5),
        "change": pytest.approx(0.5),
    }
    assert r["value"]["change"] == pytest.approx(50.0)


def test_remove_is_the_removal_effect(store: Store) -> None:
    load(store, REMOVE_PATHS)
    ads = run(store, "whatif", touchpoint="ads", remove=True)
    assert ads["scenario"] == {"remove": True}
    assert ads["observed"] == {"steps": 2}
    assert ads["conversion_probability"] == {
        "now": pytest.approx(1 / 3, abs=1e-6),
        "scenario": pytest.approx(1 / 6, abs=1e-6),
    }
    assert ads["conversions"] == {"now": 1, "scenario": 0.5, "change": -0.5}
    web = run(store, "whatif", touchpoint="website", remove=True)
    assert web["conversions"] == {"now": 1, "scenario": 0.0, "change": -1.0}
    assert web["value"] == {"now": 100.0, "scenario": 0.0, "change": -100.0}


BAD_INPUT: list[tuple[dict[str, Any], str]] = [
    ({}, "whatif needs a scenario: --abandonment RATE (0-1), --csat SCORE (0-100) or --remove"),
    (
        {"abandonment": 0.1, "remove": True},
        "whatif takes one scenario at a time: --abandonment, --csat or --remove, not "
        "--abandonment and --remove",
    ),
    (
        {"abandonment": 1.5},
        "--abandonment 1.5: use a share between 0 and 1 (0.05 = 5 % abandoned)",
    ),
    (
        {"abandonment": -0.1},
        "--abandonment -0.1: use a share between 0 and 1 (0.05 = 5 % abandoned)",
    ),
    (
        {"abandonment": math.nan},
        "--abandonment nan: use a share between 0 and 1 (0.05 = 5 % abandoned)",
    ),
    (
        {"csat": 101},
        "--csat 101: use a CSAT score between 0 and 100 (85 = 85 % of answers are 4 or 5)",
    ),
    (
        {"csat": -1},
        "--csat -1: use a CSAT score between 0 and 100 (85 = 85 % of answers are 4 or 5)",
    ),
    (
        {"touchpoint": "nope", "remove": True},
        "--touchpoint 'nope': not a touchpoint of the catalog",
    ),
    (
        {"touchpoint": "warehouse", "remove": True},
        "--touchpoint 'warehouse': not a touchpoint of the catalog",
    ),
    ({"touchpoint": "sms", "remove": True}, "no journey steps at 'sms' in the selected events"),
    ({"touchpoint": "sms", "csat": 90}, "no journey steps at 'sms' in the selected events"),
    (
        {"touchpoint": "ads", "abandonment": 0.1},
        "no service contacts (rows with 'abandoned' set) at 'ads' in the selected events: "
        "nothing to change",
    ),
    (
        {"touchpoint": "store", "csat": 90},
        "no CSAT answers at 'store' in the selected events: nothing to change",
    ),
    (
        {"touchpoint": "chat", "abandonment": 0.1},
        "no abandoned contacts at 'chat' in the selected events: the chain cannot tell "
        "where they would lead",
    ),
]


def test_bad_input_is_a_usage_error(store: Store) -> None:
    load(store, ABANDON_PATHS + [([("chat", ANSWERED)], True)])
    for kwargs, message in BAD_INPUT:
        with pytest.raises(UsageError) as err:
            run(store, "whatif", **{"touchpoint": "phone", **kwargs})
        assert str(err.value) == message


def test_reweight_keeps_rows_stochastic_and_hits_the_target() -> None:
    counts = np.array([[0, 3, 1, 2], [0, 1, 4, 5], [2, 2, 0, 6]], dtype=float)
    P = counts / counts.sum(axis=1, keepdims=True)
    bad, good = 2, 3
    into = counts[:, bad] + counts[:, good]
    observed = counts[:, bad].sum() / into.sum()
    for target in (0.0, 0.1, observed, 0.6, 1.0):
        Q = reweight(P, bad, good, observed, target)
        assert np.allclose(Q.sum(axis=1), 1.0)
        assert (Q >= 0).all()
        # Count-weighted share into the bad column, rows weighted by their visits.
        visits = counts.sum(axis=1)
        share = (visits * Q[:, bad]).sum() / (visits * (Q[:, bad] + Q[:, good])).sum()
        assert share == pytest.approx(target)


def test_a_loop_closed_by_the_scenario_never_converts(store: Store) -> None:
    # Every answered phone contact is followed by an abandoned one. Abandonment 0 sends
    # phone~answered back to itself for ever: that loop never converts, only the path
    # through ads does. start→ads 1/2 (→conversion), start→phone~answered 1/2.
    load(store, [([("phone", ANSWERED), ("phone", ABANDONED)], False), ([("ads", {})], True)])
    r = run(store, "whatif", touchpoint="phone", abandonment=0.0)
    assert r["conversion_probability"] == {"now": 0.5, "scenario": 0.5}
    assert r["conversions"]["change"] == 0


# Journeys over ads/website/phone where an abandoned phone contact never buys afterwards:
# lowering abandonment can only add conversions.
step = st.sampled_from(["ads", "website", "phone+", "phone-"])
path = st.tuples(st.lists(step, min_size=1, max_size=4), st.booleans())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(path, min_size=2, max_size=8),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_lower_abandonment_never_lowers_conversions(
    raw: list[tuple[list[str], bool]], a: float, b: float
) -> None:
    paths: list[tuple[list[Step], bool]] = []
    for names, converts in raw:
        steps: list[Step] = []
        for name in names:
            if name == "phone-":
                steps.append(("phone", ABANDONED))
                converts = False
                break
            steps.append(("phone", ANSWERED) if name == "phone+" else (name, {}))
        paths.append((steps, converts))
    kinds = {tuple(s[1].get("abandoned") for s in p if s[0] == "phone") for p, _ in paths}
    flat = {x for k in kinds for x in k}
    if flat != {True, False}:  # both sub-states must exist to move mass between them
        return
    store = open_store(":memory:")
    try:
        load(store, paths)
        low, high = sorted((a, b))
        at_low = run(store, "whatif", touchpoint="phone", abandonment=low)["conversions"][
            "scenario"
        ]
        at_high = run(store, "whatif", touchpoint="phone", abandonment=high)["conversions"][
            "scenario"
        ]
        assert at_low >= at_high - 1e-9
    finally:
        store.close()


def test_cli_prints_the_function_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "cli.duckdb")
    with open_store(db) as s:
        load(s, ABANDON_PATHS)
        expected = run(s, "whatif", touchpoint="phone", abandonment=0.05)
    args = ["whatif", "--touchpoint", "phone", "--abandonment", "0.05", "--db", db]
    res = cli([*args, "--json"], monkeypatch)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == expected
    res = cli([*args, "--lang", "pt-BR"], monkeypatch)
    assert res.exit_code == 0, res.output
    assert (
        "E se o abandono em Central de atendimento fosse 5,0% (hoje 50,0% de 4 contatos)?"
        in res.stdout
    )
    # now → scenario (change): conversions 1 → 1.9, revenue 100 → 190, P 0.25 → 0.475.
    assert table_cells(res.stdout) == [
        ["", "atual", "cenário", "variação"],
        ["conversões", "1,0", "1,9", "+0,9"],
        ["receita", "R$ 100,00", "R$ 190,00", "+R$ 90,00"],
        ["P(conversão)", "25,00%", "47,50%", "+22,50 p.p."],
    ]
    assert "Cadeia de Markov absorvente de ordem 1 com Central de atendimento" in res.stdout
    assert_fits(res.stdout)
    res = cli(args, monkeypatch)
    assert res.exit_code == 0, res.output
    assert (
        "What if Phone call centre abandonment were 5.0% (now 50.0% of 4 contacts)?" in res.stdout
    )
    assert table_cells(res.stdout) == [
        ["", "now", "scenario", "change"],
        ["conversions", "1.0", "1.9", "+0.9"],
        ["revenue", "R$100.00", "R$190.00", "+R$90.00"],
        ["P(conversion)", "25.00%", "47.50%", "+22.50 pp"],
    ]
    assert_fits(res.stdout)
    res = cli(["whatif", "--touchpoint", "phone", "--db", db], monkeypatch)
    assert isinstance(res.exception, UsageError)


def test_cli_removal_in_both_languages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "remove.duckdb")
    with open_store(db) as s:
        load(s, REMOVE_PATHS)
    args = ["whatif", "--touchpoint", "ads", "--remove", "--db", db]
    pt = cli([*args, "--lang", "pt-BR"], monkeypatch)
    assert pt.exit_code == 0, pt.output
    assert "E se Anúncios online saísse de todas as jornadas (2 passos)?" in pt.stdout
    assert ["conversões", "1,0", "0,5", "-0,5"] in table_cells(pt.stdout)
    en = cli(args, monkeypatch)
    assert "What if Online ads were removed from every journey (2 steps)?" in en.stdout
    assert ["revenue", "R$100.00", "R$50.00", "-R$50.00"] in table_cells(en.stdout)


def test_cli_csv_is_the_answer_in_one_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "csv.duckdb")
    with open_store(db) as s:
        load(s, ABANDON_PATHS)
    args = ["whatif", "--touchpoint", "phone", "--abandonment", "0.05", "--format", "csv"]
    res = cli([*args, "--db", db], monkeypatch)
    assert res.exit_code == 0, res.output
    (row,) = csv.DictReader(io.StringIO(res.stdout))
    assert row["touchpoint"] == "phone" and float(row["scenario.abandonment"]) == 0.05
    assert float(row["conversions.now"]) == 1
    assert float(row["conversions.scenario"]) == pytest.approx(1.9, abs=1e-12)
    assert float(row["value.change"]) == pytest.approx(90.0, abs=1e-9)
    assert float(row["conversion_probability.scenario"]) == pytest.approx(0.475, abs=1e-12)
