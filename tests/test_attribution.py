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
from collections.abc import Callable
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_tables import assert_fits, cli, table_cells
from conftest import run
from touchpoints.analytics import attribution as attribution_module
from touchpoints.analytics import cycles as cycles_module
from touchpoints.analytics.attribution import MODELS, fit_markov, transitions_sql
from touchpoints.analytics.markov import sparse_effects
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.shapley import shapley_by_sets, shapley_from_sets
from touchpoints.core.errors import UsageError
from touchpoints.ingest import ingest_records
from touchpoints.store import open_store
from touchpoints.store.base import Store
from touchpoints.store.derived import answer_stamp

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
def log(shared_store: Callable[..., Store]) -> Store:
    """LOG, loaded once per engine: the tests that use it only read it."""
    return shared_store("log", lambda store, _folder: load(store, LOG))


def test_first_and_last(log: Store) -> None:
    first = run(log, "attribution", model="first")
    assert_close(credit(first), {"ads": 1, "store": 1, "email": 1})
    assert_close(credit(first, "value"), {"ads": 100, "store": 50, "email": 30})
    assert first["total_conversions"] == 3 and abs(first["total_value"] - 180) < EPS
    last = run(log, "attribution", model="last")
    assert_close(credit(last), {"store": 3})
    assert_close(credit(last, "value"), {"store": 180})
    assert last["rows"][0]["share"] == 1.0


def test_linear_counts_repeats(log: Store) -> None:
    # u1: 4 touches, 1/4 each, website twice → 1/2; u2: store 1; u3: 1/2 + 1/2.
    result = run(log, "attribution", model="linear")
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
    result = run(log, "attribution", model="position")
    assert_close(credit(result), {"ads": 0.4, "website": 0.2, "store": 1.9, "email": 0.5})
    assert_close(credit(result, "value"), {"ads": 40, "website": 20, "store": 105, "email": 15})


def test_time_decay_known_times(log: Store) -> None:
    # Half-life 1 day. u1: ads 3 d, website 2 d and 1 d, store 0 before the purchase →
    # weights 1/8, 1/4, 1/2, 1 (sum 15/8). u3: email 2 h before → 2^(-1/12) vs store 1.
    result = run(log, "attribution", model="time-decay", half_life="1d")
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
    result = run(log, "attribution", model="linear", by="phase")
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
    assert_close(
        credit(run(log, "attribution", model="linear", segment="b2b")),
        {"ads": 0.25, "website": 0.5, "store": 1.25},
    )
    # Only ads and website steps: u1's filtered path is ads, website, website (its cycle
    # still converts, with its revenue); u2 and u3 have no step in scope.
    some = {"touchpoint": "ads,website"}
    result = run(log, "attribution", model="linear", **some)
    assert_close(credit(result), {"ads": 1 / 3, "website": 2 / 3})
    assert_close(credit(result, "value"), {"ads": 100 / 3, "website": 200 / 3})
    assert result["total_conversions"] == 1
    # The filtered-out purchase step still brings its revenue, in every model and order.
    for model, order in (("markov", 1), ("markov", 2), ("shapley", 1), ("time-decay", 1)):
        filtered = run(log, "attribution", model=model, order=order, **some)
        assert filtered["total_conversions"] == 1 and filtered["total_value"] == 100.0
        assert abs(sum(r["value"] for r in filtered["rows"]) - 100.0) < 1e-9, model
    # From day 2 on: u1's website, website, store.
    later = run(log, "attribution", model="first", date_from="2026-03-02")
    assert_close(credit(later), {"website": 1})


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
    result = run(store, "attribution", model="markov", details=True)
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
    assert_close(credit(run(store, "attribution", model="markov", order=order), "share"), want)


def test_markov_by_phase(store: Store) -> None:
    # States are touchpoint|phase: a = ads|before > website|during > email|during (converts),
    # b = ads|before (null), c = website|before > email|before (null). P(conv) = 2/3 · 1/2;
    # each state of a's path is necessary (RE 1), c's states never lead to a conversion.
    load(store, TINY)
    result = run(store, "attribution", model="markov", by="phase")
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
    result = run(store, "attribution", model="markov", order="auto")
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
    result = run(store, "attribution", model="shapley")
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


def dense(
    n: int, masks: list[int], cycles: list[float], conv: list[float], value: list[float]
) -> tuple[list[float], list[float]]:
    got = shapley_from_sets(n, np.array(masks), np.array(cycles), np.array(conv), np.array(value))
    return list(got[0]), list(got[1])


def by_sets(
    n: int, masks: list[int], cycles: list[float], conv: list[float], value: list[float]
) -> tuple[list[float], list[float]]:
    got = shapley_by_sets(masks, cycles, conv, value)
    zero = (0.0, 0.0)
    return [got.get(j, zero)[0] for j in range(n)], [got.get(j, zero)[1] for j in range(n)]


@pytest.mark.parametrize("shapley", [dense, by_sets])
def test_shapley_matches_permutation_definition(shapley: Any) -> None:
    rng = random.Random(3)
    players = ["a", "b", "c", "d"]
    sets = [frozenset(s) for k in (1, 2, 3, 4) for s in itertools.combinations(players, k)]
    cycles = {s: rng.randint(1, 9) for s in sets}
    conv = {s: rng.randint(0, cycles[s]) for s in sets}
    rate = {s: conv[s] / cycles[s] for s in sets}
    masks = [sum(1 << players.index(p) for p in s) for s in sets]
    got, got_value = shapley(
        4,
        masks,
        [float(cycles[s]) for s in sets],
        [float(conv[s]) for s in sets],
        [2.0 * conv[s] for s in sets],
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


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 10).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.tuples(st.integers(1, (1 << n) - 1), st.integers(1, 40), st.integers(0, 40)),
                min_size=1,
                max_size=60,
                unique_by=lambda x: x[0],
            ),
        )
    )
)
def test_shapley_per_set_agrees_with_the_dense_transforms(
    game: tuple[int, list[tuple[int, int, int]]],
) -> None:
    """The per-set algorithm (its cost independent of the number of players) gives the
    dense transforms' numbers, which the permutation definition above holds."""
    n, sets = game
    masks = [m for m, _, _ in sets]
    cycles = [float(c) for _, c, _ in sets]
    conv = [float(min(k, c)) for _, c, k in sets]
    value = [3.5 * k for k in conv]
    want = dense(n, masks, cycles, conv, value)
    got = by_sets(n, masks, cycles, conv, value)
    assert np.allclose(got[0], want[0], rtol=1e-12, atol=1e-12)
    assert np.allclose(got[1], want[1], rtol=1e-12, atol=1e-12)


def tour(customer: str, touchpoints: list[str], start_day: int) -> list[dict[str, Any]]:
    return [ev(customer, t, 24 * (start_day + k)) for k, t in enumerate(touchpoints)]


def test_shapley_by_phase_with_more_than_20_labels(store: Store) -> None:
    # Every catalog touchpoint (17) a day apart before a purchase, and again after it: 17
    # players by touchpoint, but 17 (before) + 1 (during) + 17 (after) = 35 by
    # touchpoint|phase. Exact Shapley used to refuse more than 20 players; the work is per
    # channel set, so only the converting cycle's 18 labels count. Its set is the only one
    # with conversions: each of its labels gets 1/18 (and 10/18 of the revenue).
    touchpoints = [t.id for t in store.catalog().touchpoints if t.is_touchpoint]
    buy = [ev("x", "store", 24 * 20, 10.0)]
    load(store, tour("x", touchpoints, 0) + buy + tour("x", touchpoints, 21))
    assert len(touchpoints) == 17
    result = run(store, "attribution", model="shapley")
    assert len(result["rows"]) == 17 and result["total_conversions"] == 1
    by_phase = run(store, "attribution", model="shapley", by="phase")
    want = {(t, "before"): 1 / 18 for t in touchpoints} | {("store", "during"): 1 / 18}
    assert_close(credit(by_phase), want)
    assert_close(credit(by_phase, "value"), {k: 10 * v for k, v in want.items()})
    assert by_phase["total_conversions"] == 1 and by_phase["channel_sets"] == 2


def test_shapley_limits_the_labels_of_one_cycle(store: Store) -> None:
    # 17 touchpoints days before the purchase, 4 more in its last hour (during) and the
    # purchase: 22 touchpoint|phase labels in one converting cycle.
    touchpoints = [t.id for t in store.catalog().touchpoints if t.is_touchpoint]
    rush = [ev("y", t, 24 * 20 - 0.5) for t in ("ads", "email", "website", "phone")]
    load(store, tour("y", touchpoints, 0) + rush + [ev("y", "store", 24 * 20, 10.0)])
    assert len(run(store, "attribution", model="shapley")["rows"]) == 17
    with pytest.raises(UsageError) as err:
        run(store, "attribution", model="shapley", by="phase")
    assert str(err.value) == (
        "--model shapley: a converting journey cycle holds 22 touchpoint-phase pairs; exact "
        "Shapley supports at most 20 per cycle (1 channel set is over); narrow it with "
        "--touchpoint, --channel, --phase, --from/--to or a shorter --gap"
    )


def test_shapley_paths_agree_on_the_engine(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same log through the dense transforms (one mask word), the per-set algorithm,
    # and per-set with the channel sets split over several mask words (2 bits each).
    load(store, LOG + [ev("z" + r["customer_id"], r["touchpoint"], 0) for r in TINY])
    want = run(store, "attribution", model="shapley", by="phase")
    monkeypatch.setattr(attribution_module, "MAX_DENSE_PLAYERS", 0)
    per_set = run(store, "attribution", model="shapley", by="phase")
    monkeypatch.setattr(attribution_module, "MAX_MASK_BITS", 2)
    words = run(store, "attribution", model="shapley", by="phase")
    for got in (per_set, words):
        assert_close(credit(got), credit(want))
        assert_close(credit(got, "value"), credit(want, "value"), 1e-9)
        assert got["channel_sets"] == want["channel_sets"]


def test_engines_agree_and_bad_options(store: Store) -> None:
    load(store, LOG + [ev("z" + r["customer_id"], r["touchpoint"], 0) for r in TINY])
    for model in MODELS:
        result = run(store, "attribution", model=model)
        assert abs(sum(r["share"] for r in result["rows"]) - 1) < 1e-9
        assert abs(sum(r["conversions"] for r in result["rows"]) - 3) < 1e-9
    with pytest.raises(UsageError, match="--model 'lastt': use one of first, last, linear"):
        run(store, "attribution", model="lastt")
    with pytest.raises(UsageError, match=r"--order '5': use 1, 2, 3, 4 or auto"):
        run(store, "attribution", model="markov", order=5)
    with pytest.raises(UsageError, match="--by 'agent': use phase"):
        run(store, "attribution", model="first", by="agent")


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
    with open_store(":memory:") as store:
        load(store, records)
        for model in MODELS:
            result = run(store, "attribution", model=model, order=1 if model != "markov" else 2)
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
    with open_store(str(tmp_path / "ca.duckdb")) as store:
        load(store, records)
        ours = credit(run(store, "attribution", model="markov"))
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
    with open_store(target) as store:
        load(store, TINY)
    return target


def test_cli_json_is_the_dict(db_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    res = cli(["attribution", "--model", "markov", "--json", "--db", db_file], monkeypatch)
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert set(body) == {"model", "order", "rows", "total_conversions", "total_value"}
    assert set(body["rows"][0]) == {"touchpoint", "conversions", "value", "share"}
    with open_store(db_file, read_only=True) as store:
        assert body == json.loads(json.dumps(run(store, "attribution", model="markov")))


def test_cli_table_details_and_languages(db_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["attribution", "--model", "markov", "--details", "--db", db_file, "--lang", "pt-BR"]
    res = cli(args, monkeypatch)
    assert res.exit_code == 0, res.output
    assert "Efeitos de remoção" in res.output and "Probabilidades de transição" in res.output
    assert "40,0%" in res.output and "20,0%" in res.output
    assert "(conversão)" in res.output and "Anúncios online" in res.output
    res = cli(["attribution", "--model", "position", "--by", "phase", "--db", db_file], monkeypatch)
    assert res.exit_code == 0 and "Attribution: position (40/20/40)" in res.output
    assert_fits(res.output)


def test_cli_revenue_is_money_in_each_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = str(tmp_path / "money.duckdb")
    with open_store(target) as store:
        load(store, [ev("big", "store", 0, 776206.45), ev("small", "ads", 0, 1000.0)])
    cells = {}
    for lang in ("en", "pt-BR"):
        res = cli(["attribution", "--model", "last", "--db", target, "--lang", lang], monkeypatch)
        assert res.exit_code == 0, res.output
        assert_fits(res.output)
        cells[lang] = table_cells(res.output)
    assert cells["pt-BR"] == [
        ["ponto de contato", "conversões", "receita", "participação"],
        ["Anúncios online", "1,00", "R$ 1.000,00", "50,0%"],
        ["Loja física", "1,00", "R$ 776.206,45", "50,0%"],
        ["total", "2", "R$ 777.206,45", "100,0%"],
    ]
    assert cells["en"] == [
        ["touchpoint", "conversions", "revenue", "share"],
        ["Online ads", "1.00", "R$1,000.00", "50.0%"],
        ["Physical store", "1.00", "R$776,206.45", "50.0%"],
        ["total", "2", "R$777,206.45", "100.0%"],
    ]


def test_cli_csv_is_the_full_precision_table(db_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    res = cli(["attribution", "--model", "markov", "--format", "csv", "--db", db_file], monkeypatch)
    assert res.exit_code == 0, res.output
    header, *rows = res.stdout.splitlines()
    assert header == "touchpoint,conversions,value,share"
    got = {r.split(",")[0]: [float(x) for x in r.split(",")[1:]] for r in rows}
    assert got.keys() == {"ads", "website", "email"}
    assert got["website"] == pytest.approx([0.4, 4.0, 0.4], abs=1e-12)


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
def test_cli_bad_options(
    db_file: str, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In-process the UsageError propagates; `touchpoints.cli.main` turns it into exit 2.
    res = cli(["attribution", *args, "--db", db_file], monkeypatch)
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
        rows = store.query(transitions_sql(Scope(), order))
        dense = fit_markov(store, Scope(), order=order)
        effects, probability, *_ = sparse_effects(rows)
        assert abs(probability - dense.conversion_probability()) < 1e-12
        assert_close(effects, dense.removal_effects(), 1e-12)


def test_the_dashboards_models_side_by_side_read_the_stored_paths_once(
    log: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attribution page shows every model: the stored cycles' paths are read once
    for all of them (inside `sharing_paths`), each model's answer unchanged, and nothing
    is kept on the store after it."""
    from touchpoints.server.dashboard.data import all_attribution

    reads: list[int] = []
    read = cycles_module._read_cycle_paths

    def counted(store: Store) -> Any:
        if store is log:  # not another test's server thread still warming its cache
            reads.append(1)
        return read(store)

    monkeypatch.setattr(cycles_module, "_read_cycle_paths", counted)
    log.memo.clear()  # not the paths another test kept for this stamp
    together = all_attribution(log, Scope())
    assert len(reads) == 1
    assert not hasattr(log, "shared_paths") and not hasattr(log, "shared_groups")
    assert together["errors"] == {}
    for model in MODELS:
        alone = run(log, "attribution", model=model)
        mine = [
            {k: v for k, v in r.items() if k != "model"}
            for r in together["rows"]
            if r["model"] == model
        ]
        assert mine == alone["rows"], model
    if answer_stamp(log) is not None:
        assert len(reads) == 1  # alone, each model takes the paths kept for this stamp
    else:
        assert len(reads) > 1  # no stamp (Spark): each model alone reads them itself


def test_the_stored_paths_are_read_once_per_data_stamp_and_never_copied(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside a `sharing_paths` block the stored cycles' paths are kept per data stamp
    (`Store.remembered`): a warmer round's Sankey and every attribution model read them
    once, all take the one immutable object (a copy cost more than the read at 10M
    events), and new data or a transaction reads them again."""
    if store.engine == "spark":
        pytest.skip("no data stamp on Spark: the paths are shared per sharing_paths block")
    reads: list[int] = []
    read = cycles_module._read_cycle_paths

    def counted(s: Store) -> Any:
        if s is store:
            reads.append(1)
        return read(s)

    monkeypatch.setattr(cycles_module, "_read_cycle_paths", counted)
    load(store, LOG)
    first = cycles_module.cycle_paths(store)
    assert cycles_module.cycle_paths(store) is first and len(reads) == 1
    assert all(isinstance(labels, tuple) for labels, *_ in first)
    assert ("ads", "website", "website", "store") in {labels for labels, *_ in first}
    markov = run(store, "attribution", model="markov")
    run(store, "journeys.sankey")
    assert len(reads) == 1
    load(store, [ev("u9", "email", 5), ev("u9", "store", 6, 20.0)])
    again = run(store, "attribution", model="markov")
    assert len(reads) == 2 and again["total_conversions"] == markov["total_conversions"] + 1
    with store.transaction():
        cycles_module.cycle_paths(store)
    assert len(reads) == 3  # what a transaction reads may be rolled back: never kept


@pytest.mark.parametrize("model", ["first", "last", "linear", "position", "time-decay"])
@pytest.mark.parametrize("order", [(0, 1, 2), (1, 2, 0), (2, 0, 1)])
def test_heuristic_sums_are_exact_in_any_order(
    store: Store, model: str, order: tuple[int, ...]
) -> None:
    """Three one-step purchases of 1e16, 1 and 1 at the store: added one by one in
    floating point from the large one, 1e16 + 1 rounds back to 1e16 (twice), so the value
    depends on the order the engine (or its threads) adds the rows in. The credit is
    summed exactly and rounded once: 1e16 + 2 in every order, read from the stored cycles
    or cut from raw events (and two cycles of website then store halve as exactly)."""
    import inspect

    from touchpoints.analytics.registry import get

    values = (1e16, 1.0, 1.0)
    load(store, [ev(f"c{i}", "store", i, values[i]) for i in order])
    load(store, [ev(f"w{i}", "website", 100 + i) for i in range(2)])
    load(store, [ev(f"w{i}", "store", 100.5 + i, 0.1) for i in range(2)])
    analysis = get("attribution")
    scope, options = analysis.parse({"model": model})
    for answer in (
        analysis.run(store, scope, options),
        inspect.unwrap(analysis.run)(store, scope, options),
    ):
        got = credit(answer, "value")
        if model == "first":
            assert got == {"store": 1e16 + 2, "website": 0.2}
        elif model == "last":
            assert got == {"store": 1e16 + 2.2}
        elif model != "time-decay":  # half of 0.1 to each touchpoint, twice: exactly 0.1
            assert got == {"store": 1e16 + 2 + 0.1, "website": 0.1}
        else:  # 1e16 + 2 and a part of 0.2: the next float is 1e16 + 4
            assert got["store"] == 1e16 + 2 and 0 < got["website"] < 0.1
        assert answer["total_value"] == 1e16 + 2.2
        assert answer["total_conversions"] == 5
        if model != "time-decay":
            assert math.fsum(credit(answer).values()) == 5
