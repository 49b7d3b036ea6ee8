"""Attribution models (touchpoints.analytics.attribution), on every engine.

Expectations are computed by hand on small logs (arithmetic in comments); the Markov tiny
example must come out exactly; hypothesis checks that every model distributes exactly the
converting cycles and their revenue; ChannelAttribution (which simulates) is the peer.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import touchpoints as tp
from touchpoints.analytics.attribution import (
    MODELS,
    _sparse_effects,
    attribution,
    fit_markov,
    shapley_from_sets,
    transitions_sql,
)
from touchpoints.analytics.base import Filters, Scope
from touchpoints.cli import app
from touchpoints.commands.attribution import register
from touchpoints.core.errors import UsageError
from touchpoints.ingest import ingest_records
from touchpoints.store.base import Store

register(app)
T0 = datetime(2026, 3, 1)
EPS = 1e-12


def ev(
    customer: str,
    touchpoint: str,
    hours: float,
    value: float | None = None,
    segment: str = "retail",
) -> dict[str, Any]:
    """One event `hours` after 2026-03-01 00:00 UTC; a value marks a purchase."""
    return {
        "customer_id": customer,
        "touchpoint": touchpoint,
        "ts": (T0 + timedelta(hours=hours)).isoformat() + "Z",
        "action": "purchase" if value is not None else None,
        "value": value,
        "segment": segment,
    }


def load(store: Store, records: list[dict[str, Any]]) -> Store:
    result = ingest_records(store, records, "test")
    assert result.rejected == 0
    return store


def credit(result: dict[str, Any], key: str = "conversions") -> dict[Any, float]:
    return {
        (r["touchpoint"], r["phase"]) if "phase" in r else r["touchpoint"]: r[key]
        for r in result["rows"]
    }


def assert_close(got: dict[Any, float], want: dict[Any, float], tol: float = EPS) -> None:
    assert set(got) == set(want), (got, want)
    for k, v in want.items():
        assert abs(got[k] - v) <= tol, (k, got[k], v)


# LOG (days as hours/24): u1 ads → website → website → store (purchase 100, day 4);
# u2 store (purchase 50); u3 email → store 2 h later (purchase 30); u4 ads → email (no sale).
LOG = [
    ev("u1", "ads", 0, segment="b2b"),
    ev("u1", "website", 24, segment="b2b"),
    ev("u1", "website", 48, segment="b2b"),
    ev("u1", "store", 72, 100.0, segment="b2b"),
    ev("u2", "store", 9, 50.0, segment="b2b"),
    ev("u3", "email", 10),
    ev("u3", "store", 12, 30.0),
    ev("u4", "ads", 10),
    ev("u4", "email", 34),
]


@pytest.fixture
def log(store: Store) -> Store:
    return load(store, LOG)


def test_first_and_last(log: Store) -> None:
    first = attribution(log, model="first")
    assert_close(credit(first), {"ads": 1, "store": 1, "email": 1})
    assert_close(credit(first, "value"), {"ads": 100, "store": 50, "email": 30})
    assert first["total_conversions"] == 3 and abs(first["total_value"] - 180) < EPS
    last = attribution(log, model="last")
    assert_close(credit(last), {"store": 3})
    assert_close(credit(last, "value"), {"store": 180})
    assert last["rows"][0]["share"] == 1.0


def test_linear_counts_repeats(log: Store) -> None:
    # u1: 4 touches, 1/4 each, website twice → 1/2; u2: store 1; u3: 1/2 + 1/2.
    result = attribution(log, model="linear")
    assert_close(credit(result), {"ads": 0.25, "website": 0.5, "store": 1.75, "email": 0.5})
    assert_close(
        credit(result, "value"), {"ads": 25, "website": 50, "store": 25 + 50 + 15, "email": 15}
    )
    assert_close(
        credit(result, "share"),
        {"ads": 0.25 / 3, "website": 0.5 / 3, "store": 1.75 / 3, "email": 0.5 / 3},
    )
    assert [r["touchpoint"] for r in result["rows"]] == ["store", "email", "website", "ads"]


def test_position_single_and_two_touch(log: Store) -> None:
    # u1: 40 / 10 / 10 / 40; u2 (one touch) 100 %; u3 (two touches) 50 / 50.
    result = attribution(log, model="position")
    assert_close(credit(result), {"ads": 0.4, "website": 0.2, "store": 1.9, "email": 0.5})
    assert_close(credit(result, "value"), {"ads": 40, "website": 20, "store": 105, "email": 15})


def test_time_decay_known_times(log: Store) -> None:
    # Half-life 1 day. u1: ads 3 d, website 2 d and 1 d, store 0 before the purchase →
    # weights 1/8, 1/4, 1/2, 1 (sum 15/8). u3: email 2 h before → 2^(-1/12) vs store 1.
    result = attribution(log, model="time-decay", half_life="1d")
    w = 2 ** (-1 / 12)
    u1 = {"ads": (1 / 8) / (15 / 8), "website": (3 / 4) / (15 / 8), "store": 1 / (15 / 8)}
    want = {
        "ads": u1["ads"],
        "website": u1["website"],
        "store": u1["store"] + 1 + 1 / (1 + w),
        "email": w / (1 + w),
    }
    assert_close(credit(result), want)
    assert_close(
        credit(result, "value"),
        {
            "ads": 100 * u1["ads"],
            "website": 100 * u1["website"],
            "store": 100 * u1["store"] + 50 + 30 / (1 + w),
            "email": 30 * w / (1 + w),
        },
    )
    assert result["half_life_seconds"] == 86400.0


def test_by_phase(log: Store) -> None:
    # Phases: the purchase and the hour before it are `during`; u3's email (2 h before) and
    # u1's website (24 h before) are `before`.
    result = attribution(log, model="linear", by="phase")
    assert_close(
        credit(result),
        {
            ("ads", "before"): 0.25,
            ("website", "before"): 0.5,
            ("store", "during"): 1.75,
            ("email", "before"): 0.5,
        },
    )
    assert abs(sum(r["share"] for r in result["rows"]) - 1) < EPS


def test_filters_segment_touchpoint_period(log: Store) -> None:
    b2b = Scope(Filters.build(segment="b2b"))
    assert_close(
        credit(attribution(log, b2b, model="linear")), {"ads": 0.25, "website": 0.5, "store": 1.25}
    )
    # Only ads and website steps: u1's filtered path is ads, website, website (its cycle
    # still converts, with its revenue); u2 and u3 have no step in scope.
    some = Scope(Filters.build(touchpoint="ads,website"))
    result = attribution(log, some, model="linear")
    assert_close(credit(result), {"ads": 1 / 3, "website": 2 / 3})
    assert_close(credit(result, "value"), {"ads": 100 / 3, "website": 200 / 3})
    assert result["total_conversions"] == 1
    # The filtered-out purchase step still brings its revenue, in every model and order.
    for model, order in (("markov", 1), ("markov", 2), ("shapley", 1), ("time-decay", 1)):
        filtered = attribution(log, some, model=model, order=order)
        assert filtered["total_conversions"] == 1 and filtered["total_value"] == 100.0
        assert abs(sum(r["value"] for r in filtered["rows"]) - 100.0) < 1e-9, model
    # From day 2 on: u1's website, website, store.
    later = Scope(Filters.build(date_from="2026-03-02"))
    assert_close(credit(attribution(log, later, model="first")), {"website": 1})


# The tiny example: c1>c2>c3 converts, c1 null, c2>c3 null (c1 ads, c2 website, c3 email).
TINY = [
    ev("a", "ads", 0),
    ev("a", "website", 1),
    ev("a", "email", 2, 10.0),
    ev("b", "ads", 0),
    ev("c", "website", 0),
    ev("c", "email", 1),
]


def test_markov_tiny_example_exact(store: Store) -> None:
    # P(conv) = 2/3·1/2·1·1/2 + 1/3·1·1/2 = 1/3; without ads 1/6 → RE 1/2; without website
    # or email 0 → RE 1; shares 0.5/2.5, 1/2.5, 1/2.5.
    load(store, TINY)
    result = attribution(store, model="markov", details=True)
    assert result["order"] == 1
    assert_close(credit(result, "share"), {"ads": 0.2, "website": 0.4, "email": 0.4})
    assert_close(credit(result), {"ads": 0.2, "website": 0.4, "email": 0.4})
    assert_close(credit(result, "value"), {"ads": 2.0, "website": 4.0, "email": 4.0})
    assert_close(result["removal_effects"], {"ads": 0.5, "website": 1.0, "email": 1.0})
    assert abs(result["conversion_probability"] - 1 / 3) < EPS
    matrix = {
        (t["from"], t["to"]): (t["count"], t["probability"]) for t in result["transition_matrix"]
    }
    assert matrix[("(start)", "ads")] == (2, pytest.approx(2 / 3, abs=EPS))
    assert matrix[("email", "(conversion)")] == (1, 0.5)
    assert len(matrix) == 7


@pytest.mark.parametrize(
    ("order", "want"),
    [
        # Order 2: states ads>website, website>email, and the short path "ads": RE as order 1.
        (2, {"ads": 0.2, "website": 0.4, "email": 0.4}),
        # Orders 3 and 4: every path is one state, each needed by the only conversion.
        (3, {"ads": 1 / 3, "website": 1 / 3, "email": 1 / 3}),
        (4, {"ads": 1 / 3, "website": 1 / 3, "email": 1 / 3}),
    ],
)
def test_markov_higher_orders(store: Store, order: int, want: dict[str, float]) -> None:
    load(store, TINY)
    assert_close(credit(attribution(store, model="markov", order=order), "share"), want)


def test_markov_by_phase(store: Store) -> None:
    # States are touchpoint|phase: a = ads|before > website|during > email|during (converts),
    # b = ads|before (null), c = website|before > email|before (null). P(conv) = 2/3 · 1/2;
    # each state of a's path is necessary (RE 1), c's states never lead to a conversion.
    load(store, TINY)
    result = attribution(store, model="markov", by="phase")
    third = 1 / 3
    want = {("ads", "before"): third, ("website", "during"): third, ("email", "during"): third}
    assert_close(credit(result, "share"), want)


def test_fit_markov_public_api(store: Store) -> None:
    load(store, TINY)
    model = fit_markov(store, Scope(), order=2)
    assert model.labels[:3] == ["(start)", "(conversion)", "(null)"]
    assert set(model.labels[3:]) == {"ads", "ads>website", "website>email"}
    assert model.channels == ["ads", "email", "website"]
    assert model.conversions == 1 and model.value == 10.0
    i = model.labels.index("website>email")
    assert model.counts[i, 1] == 1 and model.counts[i, 2] == 1
    P = model.probabilities()
    assert np.allclose(P.sum(axis=1), 1.0)
    assert abs(model.conversion_probability() - Fraction(1, 3)) < EPS
    assert abs(model.conversion_probability(frozenset({"ads"})) - 1 / 6) < EPS
    assert model.removal_effects() == pytest.approx({"ads": 0.5, "website": 1, "email": 1})
    # A label expression: abandoned phone contacts as their own state.
    abandoned = fit_markov(
        store, Scope(), label_sql="CASE WHEN touchpoint = 'ads' THEN 'ads~x' ELSE touchpoint END"
    )
    assert "ads~x" in abandoned.channels


def test_markov_order_auto_reports_scores(store: Store) -> None:
    load(store, TINY * 1)
    result = attribution(store, model="markov", order="auto")
    assert [s["order"] for s in result["order_scores"]] == [1, 2, 3, 4]
    assert result["order"] in (1, 2, 3, 4)


# Shapley by hand: {ads} 1 conv + 1 null → r = 1/2; {email} 1 conv + 3 null → r = 1/4;
# {ads, email} 2 conv → r = 1. In {ads, email}: v = 1/2 + 1/4 + 1 = 7/4, φ_ads = 1/2 + 1/2,
# φ_email = 1/4 + 1/2 → ads gets 2·4/7, email 2·3/7. Totals: ads 15/7, email 13/7.
SHAPLEY_LOG = [
    ev("s1", "ads", 0, 10.0),
    ev("s2", "ads", 0),
    ev("s3", "email", 0, 10.0),
    *[ev(f"s{k}", "email", 0) for k in (4, 5, 6)],
    ev("s7", "ads", 0),
    ev("s7", "email", 1, 10.0),
    ev("s8", "email", 0),
    ev("s8", "ads", 1, 10.0),
]


def test_shapley_by_hand(store: Store) -> None:
    load(store, SHAPLEY_LOG)
    result = attribution(store, model="shapley")
    assert_close(credit(result), {"ads": 15 / 7, "email": 13 / 7})
    assert_close(credit(result, "value"), {"ads": 150 / 7, "email": 130 / 7})
    assert result["total_conversions"] == 4


def brute_shapley(rate: dict[frozenset[str], float], players: frozenset[str]) -> dict[str, float]:
    """Textbook Shapley over permutations of `players`, v(S) = Σ_{T ⊆ S} r(T)."""

    def v(s: frozenset[str]) -> float:
        return sum(r for t, r in rate.items() if t <= s)

    phi = dict.fromkeys(players, 0.0)
    perms = list(itertools.permutations(sorted(players)))
    for perm in perms:
        seen: frozenset[str] = frozenset()
        for p in perm:
            phi[p] += v(seen | {p}) - v(seen)
            seen = seen | {p}
    return {p: x / len(perms) for p, x in phi.items()}


def test_shapley_matches_permutation_definition() -> None:
    rng = random.Random(3)
    players = ["a", "b", "c", "d"]
    sets = [frozenset(s) for k in (1, 2, 3, 4) for s in itertools.combinations(players, k)]
    cycles = {s: rng.randint(1, 9) for s in sets}
    conv = {s: rng.randint(0, cycles[s]) for s in sets}
    rate = {s: conv[s] / cycles[s] for s in sets}
    masks = np.array([sum(1 << players.index(p) for p in s) for s in sets])
    got, got_value = shapley_from_sets(
        4,
        masks,
        np.array([cycles[s] for s in sets], float),
        np.array([conv[s] for s in sets], float),
        np.array([2.0 * conv[s] for s in sets]),
    )
    want = dict.fromkeys(players, 0.0)
    for s in sets:
        if conv[s]:
            phi = brute_shapley(rate, s)
            total = sum(phi.values())
            for p, x in phi.items():
                want[p] += conv[s] * x / total
    assert np.allclose(got, [want[p] for p in players], atol=1e-12)
    assert np.allclose(got_value, [2 * want[p] for p in players], atol=1e-12)


def test_shapley_refuses_more_than_20(store: Store) -> None:
    # Every catalog touchpoint (17) a day apart before a purchase, and again after it: 17
    # players by touchpoint, but 17 (before) + 1 (during) + 17 (after) by touchpoint|phase.
    touchpoints = [t.id for t in store.catalog().touchpoints if t.is_touchpoint]
    before = [ev("x", t, 24 * k) for k, t in enumerate(touchpoints)]
    buy = [ev("x", "store", 24 * 20, 10.0)]
    after = [ev("x", t, 24 * (21 + k)) for k, t in enumerate(touchpoints)]
    load(store, before + buy + after)
    assert len(touchpoints) == 17
    result = attribution(store, model="shapley")
    assert len(result["rows"]) == 17 and result["total_conversions"] == 1
    with pytest.raises(
        UsageError, match="35 touchpoints in scope, exact Shapley supports at most 20"
    ):
        attribution(store, model="shapley", by="phase")


def test_engines_agree_and_bad_options(store: Store) -> None:
    load(store, LOG + [ev("z" + r["customer_id"], r["touchpoint"], 0) for r in TINY])
    for model in MODELS:
        result = attribution(store, model=model)
        assert abs(sum(r["share"] for r in result["rows"]) - 1) < 1e-9
        assert abs(sum(r["conversions"] for r in result["rows"]) - 3) < 1e-9
    with pytest.raises(UsageError, match="--model 'lastt': use one of first, last, linear"):
        attribution(store, model="lastt")
    with pytest.raises(UsageError, match=r"--order '5': use 1, 2, 3, 4 or auto"):
        attribution(store, model="markov", order=5)
    with pytest.raises(UsageError, match="--by 'agent': use phase"):
        attribution(store, model="first", by="agent")


# -- properties (DuckDB: a fresh in-memory store per example) ----------------------------
TOUCHES = ["ads", "website", "email", "phone", "store"]
journey = st.tuples(
    st.lists(st.sampled_from(TOUCHES), min_size=1, max_size=5),
    st.one_of(st.none(), st.integers(1, 500)),
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(journey, min_size=1, max_size=8))
def test_every_model_distributes_conversions_and_revenue(
    journeys: list[tuple[list[str], int | None]],
) -> None:
    records = []
    for i, (path, value) in enumerate(journeys):
        for k, t in enumerate(path):
            last = k == len(path) - 1
            records.append(ev(f"p{i}", t, k, float(value) if last and value else None))
    conversions = sum(1 for _, v in journeys if v)
    revenue = sum(v for _, v in journeys if v)
    with tp.open(":memory:") as store:
        load(store, records)
        for model in MODELS:
            result = attribution(store, model=model, order=1 if model != "markov" else 2)
            assert result["total_conversions"] == conversions
            rows = result["rows"]
            assert abs(sum(r["conversions"] for r in rows) - conversions) < 1e-9, model
            assert abs(sum(r["value"] for r in rows) - revenue) < 1e-6, model
            if conversions:
                assert abs(sum(r["share"] for r in rows) - 1) < 1e-9, model
            # Except in Markov (a null path can lead into a converting state), only
            # touchpoints of converting paths get credit.
            touched = {t for p, v in journeys if v for t in p}
            if model != "markov":
                assert {r["touchpoint"] for r in rows} <= touched, (model, journeys, rows)


# -- the peer ----------------------------------------------------------------------------
def test_markov_agrees_with_channelattribution(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    ca = pytest.importorskip("ChannelAttribution")
    rng = random.Random(7)
    pull = {"ads": 0.05, "website": 0.15, "email": 0.1, "phone": 0.3, "store": 0.45}
    records, paths = [], []
    for i in range(400):
        path = [rng.choice(TOUCHES) for _ in range(rng.randint(1, 5))]
        converts = rng.random() < max(pull[t] for t in path)
        for k, t in enumerate(path):
            done = converts and k == len(path) - 1
            records.append(ev(f"q{i}", t, k, 1.0 if done else None))
        paths.append((" > ".join(path), int(converts)))
    with tp.open(str(tmp_path / "ca.duckdb")) as store:
        load(store, records)
        ours = credit(attribution(store, model="markov"))
    df = pd.DataFrame(paths, columns=["path", "conv"]).groupby("path", as_index=False).sum()
    df["null"] = df["path"].map(pd.Series([p for p, _ in paths]).value_counts()) - df["conv"]
    peer = ca.markov_model(
        df,
        "path",
        "conv",
        var_null="null",
        order=1,
        verbose=0,
        seed=5,
        flg_pro=False,
        nsim_start=2_000_000,
    )
    theirs = dict(zip(peer["channel_name"], peer["total_conversions"], strict=True))
    total = sum(theirs.values())
    for t in TOUCHES:
        assert math.isclose(ours[t], theirs[t], rel_tol=0.03, abs_tol=0.01 * total), (
            t,
            ours,
            theirs,
        )


# -- CLI -------------------------------------------------------------------------------------
@pytest.fixture
def db_file(tmp_path: Path) -> str:
    target = str(tmp_path / "cli.duckdb")
    with tp.open(target) as store:
        load(store, TINY)
    return target


def test_cli_json_is_the_dict(db_file: str) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["attribution", "--model", "markov", "--json", "--db", db_file])
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert set(body) == {"model", "order", "rows", "total_conversions", "total_value"}
    assert set(body["rows"][0]) == {"touchpoint", "conversions", "value", "share"}
    with tp.open(db_file, read_only=True) as store:
        assert body == json.loads(json.dumps(attribution(store, model="markov")))


def test_cli_table_details_and_languages(db_file: str) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app, ["attribution", "--model", "markov", "--details", "--db", db_file, "--lang", "pt-BR"]
    )
    assert res.exit_code == 0, res.output
    assert "Efeitos de remoção" in res.output and "Probabilidades de transição" in res.output
    assert "40.0" in res.output and "20.0" in res.output
    res = runner.invoke(
        app, ["attribution", "--model", "position", "--by", "phase", "--db", db_file]
    )
    assert res.exit_code == 0 and "Attribution (position)" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--model", "lastt"],
            "use one of first, last, linear, position, time-decay, markov, shapley",
        ),
        (["--model", "markov", "--order", "7"], "--order '7': use 1, 2, 3, 4 or auto"),
        (["--model", "time-decay", "--half-life", "soon"], "--half-life 'soon'"),
    ],
)
def test_cli_bad_options(db_file: str, args: list[str], message: str) -> None:
    # In-process the UsageError propagates; `touchpoints.cli.main` turns it into exit 2.
    res = CliRunner().invoke(app, ["attribution", *args, "--db", db_file])
    assert isinstance(res.exception, UsageError)
    assert message in str(res.exception)


def test_sparse_solver_agrees_with_dense(store: Store) -> None:
    # Large chains (order 3-4 over many touchpoints) use sparse fixed-point products; on a
    # small chain with loops (repeats) both must give the same removal effects.
    rng = random.Random(11)
    records = []
    for i in range(60):
        path = [rng.choice(TOUCHES) for _ in range(rng.randint(1, 6))]
        buys = rng.random() < 0.4
        records += [
            ev(f"r{i}", t, k, 5.0 if buys and k == len(path) - 1 else None)
            for k, t in enumerate(path)
        ]
    load(store, records)
    for order in (1, 2):
        rows = store.query(transitions_sql(Scope(), None, order))
        dense = fit_markov(store, Scope(), order=order)
        effects, probability, *_ = _sparse_effects(rows)
        assert abs(probability - dense.conversion_probability()) < 1e-12
        assert_close(effects, dense.removal_effects(), 1e-12)
