"""`touchpoints insights`: strengths and weaknesses per phase, ranked by conversions at stake.

The fixture is built so every finding can be computed on paper (comments beside it) and
checked on each engine of the `store` fixture (DuckDB and PostgreSQL).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cli_tables import assert_fits, cli
from conftest import run
from touchpoints.analytics.insights import fmt
from touchpoints.core.catalog import default_catalog
from touchpoints.core.errors import UsageError
from touchpoints.ingest import ingest_records
from touchpoints.store import open_store
from touchpoints.store.base import Store

DAY0 = datetime(2026, 2, 2, 10)


def at(day: int) -> str:
    return (DAY0 + timedelta(days=day)).isoformat() + "Z"


def service_log() -> list[dict[str, Any]]:
    """40 customers, each: ads (day 0), phone (day 1, answered after 90 s, CSAT 5, data
    re-used), store (day 2, CSAT 2 for 30 of them and 4 for 10, data re-used by half),
    WhatsApp (day 3, answered after 30 s, CSAT 4, a delivery promise made). Customers 0-29
    buy on the website on day 4 and get a delivery on day 5 that keeps the promise, except
    for customers 0-9 (broken). Every step of days 0-3 is `before`, the purchase `during`,
    the delivery `after` (a new cycle that does not convert).
    """
    rows: list[dict[str, Any]] = []
    for i in range(40):
        c = f"c{i:02d}"

        def add(n: int, touchpoint: str, day: int, c: str = c, **extra: Any) -> None:
            rows.append(
                {"event_id": f"{c}-{n}", "customer_id": c, "touchpoint": touchpoint,
                 "ts": at(day), **extra}
            )  # fmt: skip

        add(0, "ads", 0)
        add(1, "phone", 1, abandoned=False, wait_seconds=90, handle_seconds=300, csat=5,
            data_reused=True)  # fmt: skip
        add(2, "store", 2, csat=2 if i < 30 else 4, data_reused=i % 2 == 0)
        add(3, "whatsapp", 3, abandoned=False, wait_seconds=30, csat=4, promise="made")
        if i < 30:
            add(4, "website", 4, action="purchase", value=200.0)
            add(5, "delivery", 5, promise="broken" if i < 10 else "kept")
    return rows


def load(store: Store, rows: list[dict[str, Any]], answer_targets: bool = False) -> None:
    """`rows` stored under the store's catalog (the default unless a test set its own);
    without `answer_targets` its touchpoints' own `answer_within` targets are removed, so
    every service level is judged within the 20 s the hand computations below use."""
    if not answer_targets:
        catalog = store.catalog()
        store.set_catalog(
            catalog.model_copy(
                update={
                    "touchpoints": [
                        tp.model_copy(
                            update={
                                "target": {
                                    k: v for k, v in tp.target.items() if k != "answer_within"
                                }
                            }
                        )
                        for tp in catalog.touchpoints
                    ]
                }
            )
        )
    result = ingest_records(store, rows, "test")
    assert [item["status"] for item in result.items] == ["stored"] * len(rows), result.items


def test_each_service_level_is_judged_within_its_touchpoints_own_target(store: Store) -> None:
    """With the catalog's targets, WhatsApp's 30 s answers are within its 120 s: the
    service-level weakness it has when judged within 20 s is gone."""
    load(store, service_log(), answer_targets=True)
    found = run(store, "insights", min_answers=10)["findings"]
    keys = {(key(f)[0], key(f)[3], key(f)[4]) for f in found}
    assert ("weakness", "whatsapp", "service_level") not in keys
    assert run(store, "kpis", touchpoint="whatsapp")["rows"][0]["service_level"] == 1.0


def key(f: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """(direction, phase, topic, touchpoint, metric) with the metric read from the numbers."""
    metric = next(
        (m for m in ("tme_seconds", "abandonment_rate", "service_level", "csat", "nps")
         if m in f["numbers"]),
        f["topic"],
    )  # fmt: skip
    return f["direction"], f["phase"], f["topic"], f["touchpoint"], metric


# Every `before` state lies on every path, so each removal effect there is 1 and 30
# conversions are at stake; ties in engagement (all reach 100 % of cycles) and attribution
# (all removal effects 1) produce no finding. Impact = 30 x gap:
EXPECTED = [
    # service level 0 (no answer within 20 s) vs 0.8: gap 0.8 -> 24; ties by touchpoint
    (("weakness", "before", "service", "phone", "service_level"), 24.0),
    (("weakness", "before", "service", "whatsapp", "service_level"), 24.0),
    # store CSAT 25 (10 of 40) vs the rest 100 (80 of 80): gap 0.75 -> 22.5
    (("weakness", "before", "satisfaction", "store", "csat"), 22.5),
    # WhatsApp TME 30 s vs 120 s: gap 90/120 = 0.75 -> 22.5, the widest beat of a target
    (("strength", "before", "service", "whatsapp", "tme_seconds"), 22.5),
    # store: 20 of 40 answers re-used -> gap 0.5 -> 15
    (("weakness", "before", "data", "store", "data"), 15.0),
    # WhatsApp CSAT 100 vs rest (phone 40 + store 10 of 80 = 62.5): gap 0.375 -> 11.25
    # (phone ties at 100 and loses on the name)
    (("strength", "before", "satisfaction", "whatsapp", "csat"), 11.25),
    # phone TME 90 s vs 60 s: gap 30/90 -> 10
    (("weakness", "before", "service", "phone", "tme_seconds"), 10.0),
    # WhatsApp breaks 10 of the 40 promises made there: gap 0.25 -> 7.5
    (("weakness", "before", "promises", "whatsapp", "promises"), 7.5),
    # phone re-uses all its data: 1.0 - mean(0.5, 1.0) = 0.25 -> 7.5
    (("strength", "before", "data", "phone", "data"), 7.5),
]


def test_findings_are_ranked_by_conversions_at_stake(store: Store) -> None:
    load(store, service_log())
    result = run(store, "insights", min_answers=10)
    assert result["conversions"] == 30
    assert result["rule"].startswith("impact = conversions at stake = Markov removal effect")
    got = [(key(f), f["impact"]) for f in result["findings"]]
    assert got == [(k, pytest.approx(v)) for k, v in EXPECTED]
    for f in result["findings"]:
        assert f["numbers"]["removal_effect"] == pytest.approx(1.0)
        assert f["impact"] == pytest.approx(30 * f["numbers"]["gap"], abs=1e-3)
        assert set(f) == {"phase", "touchpoint", "topic", "direction", "impact", "numbers", "text"}
        assert set(f["text"]) == {"en", "pt-BR"}


def test_tme_miss_says_by_how_much_in_both_languages(store: Store) -> None:
    load(store, service_log())
    findings = run(store, "insights", min_answers=10)["findings"]
    tme = next(f for f in findings if key(f)[3:] == ("phone", "tme_seconds"))
    assert tme["numbers"]["tme_seconds"] == 90
    assert tme["numbers"]["target"] == 60
    assert tme["numbers"]["answered"] == 40
    # Waits are written like every duration (core.format): 90 s is "1 min 30 s".
    assert tme["text"]["en"] == (
        "Phone call centre misses its ASA target before the purchase: 1 min 30 sec against "
        "1 min (50% over) in 40 answered contacts; ≈10 conversions at stake."
    )
    assert tme["text"]["pt-BR"] == (
        "A Central de atendimento não cumpre a meta de TME antes da compra: 1 min 30 s contra 1 min "
        "(50% acima) em 40 contatos atendidos; ≈10 vendas em risco."
    )
    csat = next(f for f in findings if key(f)[3:] == ("store", "csat"))
    assert csat["numbers"]["csat"] == 25
    assert csat["numbers"]["rest"] == 100
    # 95 % margin of 25 % over 40 answers: 100·1.96·√(0.25·0.75/40) = 13.42
    assert csat["numbers"]["margin"] == pytest.approx(13.4187, abs=1e-3)
    assert "25,0 ±13,4 (40 respostas) contra 100,0 ±0,0" in csat["text"]["pt-BR"]
    promises = next(f for f in findings if f["topic"] == "promises")
    assert promises["numbers"]["made"] == 40
    assert promises["numbers"]["broken"] == 10
    assert promises["text"]["en"] == (
        "WhatsApp breaks 25.0% of the promises made there (10 of 40; made mostly before the "
        "purchase); ≈8 conversions at stake."
    )


def test_csat_differences_within_noise_are_not_findings(store: Store) -> None:
    # phone: 16 of 20 answers 4-5 (80 ±17.5); store: 15 of 20 (75 ±19.0). The intervals
    # overlap, so neither is called better or worse.
    rows = []
    for i in range(20):
        rows.append({"event_id": f"p{i}", "customer_id": f"c{i}", "touchpoint": "phone",
                     "ts": at(0), "csat": 5 if i < 16 else 2})  # fmt: skip
        rows.append({"event_id": f"s{i}", "customer_id": f"c{i}", "touchpoint": "store",
                     "ts": at(1), "csat": 4 if i < 15 else 1})  # fmt: skip
    load(store, rows)
    result = run(store, "insights", min_answers=10)
    assert [f for f in result["findings"] if f["topic"] == "satisfaction"] == []
    # 40 more unhappy store answers: 15 of 60 (25 ±11.0) is now apart from 80 ±17.5.
    more = [
        {"event_id": f"x{i}", "customer_id": f"d{i}", "touchpoint": "store", "ts": at(2), "csat": 1}
        for i in range(40)
    ]
    load(store, more)
    found = [
        f
        for f in run(store, "insights", min_answers=10)["findings"]
        if f["topic"] == "satisfaction"
    ]
    # Nothing converts, so every impact is 0 and weaknesses come first.
    assert [(f["touchpoint"], f["direction"], f["numbers"]["csat"]) for f in found] == [
        ("store", "weakness", 25.0),
        ("phone", "strength", 80.0),
    ]


def test_too_few_answers_are_not_findings(store: Store) -> None:
    load(store, service_log())
    # min_answers above 40: no touchpoint has enough answers, contacts or cycles.
    assert run(store, "insights", min_answers=41)["findings"] == []


def test_empty_store_and_bad_options(store: Store) -> None:
    assert run(store, "insights") == {
        "rule": run(store, "insights")["rule"],
        "conversions": 0,
        "total": 0,
        "findings": [],
    }
    for kwargs, message in (
        ({"lang": "fr"}, "--lang 'fr': use en or pt-BR"),
        ({"answer_within": -1}, "--answer-within -1: use a number of seconds >= 0"),
        ({"min_answers": 0}, "--min-answers 0: use a whole number >= 1"),
        ({"top": 0}, "--top 0: Input should be greater than or equal to 1"),
    ):
        with pytest.raises(UsageError) as err:
            run(store, "insights", **kwargs)
        assert str(err.value) == message


def test_pt_br_number_format() -> None:
    assert fmt(1234567.891, "pt-BR", 2) == "1.234.567,89"
    assert fmt(1234567.891, "en", 2) == "1,234,567.89"
    assert fmt(0.5, "pt-BR", 0) == "0"


def test_cli_lists_findings_in_either_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "cli.duckdb")
    with open_store(db) as s:
        load(s, service_log())
        expected = run(s, "insights", min_answers=10)
    args = ["insights", "--min-answers", "10", "--db", db]
    res = cli([*args, "--json"], monkeypatch)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == expected
    en = cli(args, monkeypatch)
    assert en.exit_code == 0, en.output
    assert "Insights, ranked by conversions at stake (30 converting cycles)" in en.stdout
    assert "1. ▼ weakness · before · service" in en.stdout
    assert "6. ▲ strength · before · satisfaction" in en.stdout
    assert_fits(en.stdout)
    pt = cli([*args, "--lang", "pt-BR"], monkeypatch)
    assert pt.exit_code == 0, pt.output
    assert "Diagnóstico, ordenado por vendas em risco (30 ciclos com compra)" in pt.stdout
    assert "1. ▼ ponto fraco · antes · atendimento" in pt.stdout
    assert "A Central de atendimento não cumpre a meta de TME antes da compra" in pt.stdout
    assert_fits(pt.stdout)
    csv = cli([*args, "--format", "csv"], monkeypatch)
    header = csv.stdout.splitlines()[0].split(",")
    assert header[:5] == ["phase", "touchpoint", "topic", "direction", "impact"]
    assert len(csv.stdout.splitlines()) == 1 + len(expected["findings"])


def test_cli_says_when_nothing_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "empty.duckdb")
    open_store(db).close()
    pt = cli(["insights", "--db", db, "--lang", "pt-BR"], monkeypatch)
    assert pt.exit_code == 0, pt.output
    assert "(0 ciclos com compra)" in pt.stdout
    assert "nenhum achado: poucos eventos, respostas ou contatos nesta seleção" in pt.stdout


def test_top_ten_by_default_all_or_top_n(store: Store) -> None:
    load(store, service_log())
    every = run(store, "insights", min_answers=10, all=True)
    assert every["total"] == len(every["findings"]) == len(EXPECTED)
    three = run(store, "insights", min_answers=10, top=3)
    assert three["total"] == len(EXPECTED)
    assert three["findings"] == every["findings"][:3]
    assert run(store, "insights", min_answers=10)["findings"] == every["findings"][:10]


def test_weakness_only_in_planned_phases_and_unplanned_strength_said(store: Store) -> None:

    catalog = default_catalog()
    plans = {"phone": ["during"], "whatsapp": ["during"]}
    touchpoints = [
        tp.model_copy(update={"phase": plans[tp.id]}) if tp.id in plans else tp
        for tp in catalog.touchpoints
    ]
    store.set_catalog(catalog.model_copy(update={"touchpoints": touchpoints}))
    load(store, service_log())
    found = run(store, "insights", min_answers=10, all=True)["findings"]
    keys = [key(f) for f in found]
    # Phone and WhatsApp are planned for `during`: their `before` weaknesses are not judged.
    assert not any(k[0] == "weakness" and k[3] in plans for k in keys)
    assert ("weakness", "before", "satisfaction", "store", "csat") in keys
    strong = next(f for f in found if key(f) == ("strength", "before", "service", "whatsapp", "tme_seconds"))  # fmt: skip
    assert strong["numbers"]["planned_phases"] == "during"
    assert strong["text"]["en"].endswith(
        "; the catalog plans it for during the purchase: the plan may be wrong; "
        "≈22 conversions at stake."
    )
    assert "o catálogo o planeja para durante a compra: o plano pode estar errado" in strong["text"]["pt-BR"]  # fmt: skip
