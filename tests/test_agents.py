"""The team's scorecards (`touchpoints agents`) on every engine of the `store` fixture:
numbers hand-computed on a small team, survey answers credited to the agent of the contact
they rate, the team compared on the same touchpoints and hours, findings only when the
intervals lie apart with enough answers, and comment themes in pt-BR and en."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import run
from touchpoints.analytics.agents import _share, phrases
from touchpoints.cli import app as cli
from touchpoints.ingest import ingest_records
from touchpoints.store import open_store
from touchpoints.store.base import Store

MONDAY_10 = datetime(2026, 3, 2, 10)  # a Monday, 10:00 UTC


def contact(i: int, agent: str, at: datetime, handle: float, csat: int | None = None,
            touchpoint: str = "whatsapp", **more: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "event_id": f"{agent}-{i}",
        "customer_id": f"c{i}",
        "touchpoint": touchpoint,
        "ts": at.isoformat(),
        "agent": agent,
        "abandoned": False,
        "wait_seconds": 10,
        "handle_seconds": handle,
        "csat": csat,
        **more,
    }


def team_rows() -> list[dict[str, Any]]:
    """Ana and Bia at WhatsApp on Monday mornings; Bia also on Monday nights (not Ana's
    hours); the bot at WhatsApp at Ana's hours; and NPS answers rating Ana's contacts."""
    rows = []
    for week in range(4):
        at = MONDAY_10 + timedelta(weeks=week)
        for k in range(10):
            t = at + timedelta(minutes=5 * k)
            rows.append(contact(100 * week + k, "ana", t, 600, csat=2 if k < 6 else 5))
            rows.append(contact(100 * week + k, "bia", t, 300, csat=5 if k < 9 else 3))
            rows.append(contact(100 * week + k, "bia-night", t + timedelta(hours=12), 900, csat=1))
        rows.append(contact(100 * week, "bot", at, 60, csat=4, resolved=True))
    for row in rows:
        if row["agent"] == "bia-night":
            row["agent"] = "bia"
            row["event_id"] = row["event_id"].replace("bia-night", "bian")
    for i, row in enumerate([r for r in rows if r["agent"] == "ana"][:5]):
        rows.append({"event_id": f"s{i}", "customer_id": row["customer_id"],
                     "touchpoint": "nps_survey", "ts": row["ts"][:11] + "18:00:00",
                     "action": "feedback", "nps": 3, "ref_event_id": row["event_id"],
                     "comment": ["Demorou demais e não resolveu", "demora absurda, não resolveu nada",
                                 "muito demorado", "Took too long, not resolved", "ok"][i]})  # fmt: skip
    return rows


def _load_team(store: Store, _folder: object) -> None:
    assert ingest_records(store, team_rows(), "team").rejected == 0


@pytest.fixture
def team(shared_store: Callable[..., Store]) -> dict[str, Any]:
    """The team's answer, from a store loaded once per engine (the tests only read it)."""
    return run(shared_store("team", _load_team), "agents")


def by(rows: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


def test_scorecards_by_hand(team: dict[str, Any]) -> None:
    ana = by(team["rows"], agent="ana")
    assert (ana["contacts"], ana["answered"], ana["tma_seconds"]) == (40, 40, 600.0)
    assert ana["tma_margin"] == 0.0  # every contact lasted 600 s
    assert ana["csat"] == pytest.approx(100 * 16 / 40) and ana["csat_answers"] == 40
    assert ana["csat_margin"] == pytest.approx(100 * 1.96 * math.sqrt((18 / 44) * (26 / 44) / 44))
    # The survey answers rating Ana's contacts are hers (NPS 3: five detractors).
    assert (ana["nps"], ana["nps_answers"]) == (-100.0, 5)
    bia = by(team["rows"], agent="bia")
    assert (bia["contacts"], bia["tma_seconds"]) == (80, 600.0)
    bot = by(team["rows"], agent="bot")
    assert (bot["contacts"], bot["fcr"], bot["csat"]) == (4, 1.0, 100.0)


def test_the_team_is_the_rest_at_the_same_touchpoint_and_hours(team: dict[str, Any]) -> None:
    ana = by(team["by_touchpoint"], agent="ana", touchpoint="whatsapp")
    # Bia's mornings and the bot at 10:00 — not Bia's nights (22:00).
    assert ana["team_contacts"] == 40 + 4
    assert ana["team_tma_seconds"] == pytest.approx((40 * 300 + 4 * 60) / 44)
    assert ana["team_csat"] == pytest.approx(100 * (36 + 4) / 44)
    bia = by(team["by_touchpoint"], agent="bia", touchpoint="whatsapp")
    # Bia served mornings and nights: her team is Ana and the bot in the mornings only.
    assert bia["team_contacts"] == 44 and bia["team_tma_seconds"] == pytest.approx(
        (40 * 600 + 4 * 60) / 44
    )


def test_findings_only_when_intervals_lie_apart_with_enough_answers(team: dict[str, Any]) -> None:
    found = {(f["agent"], f["metric"], f["direction"]) for f in team["findings"]}
    assert ("ana", "csat", "weakness") in found  # 40 % ± 14 against 90.9 % ± 8
    assert ("ana", "tma_seconds", "weakness") in found
    assert not any(f[1] == "nps" for f in found)  # 5 answers: fewer than 30
    assert all(f["answers"] >= 30 for f in team["findings"])
    weak = by(team["findings"], agent="ana", metric="csat")
    assert abs(weak["value"] - weak["team"]) > weak["margin"] + weak["team_margin"]
    assert team["findings"][0]["direction"] == "weakness"  # what to coach comes first
    assert weak["mentions"] == ["demorou", "não resolveu"]
    # CSAT reads as % satisfied; its margin in points: Agresti–Coull, (16 + 2) / (40 + 4)
    # = 0.409, 1.96 × √(0.409 × 0.591 / 44) = 14.5 points.
    assert weak["text"]["pt-BR"].startswith("CSAT de ana no WhatsApp: 40,0% ±14,5 p.p.")
    assert weak["text"]["pt-BR"].endswith("as notas baixas citam “demorou” e “não resolveu”")
    assert "ana's CSAT at WhatsApp is 40.0% ±14.5" in weak["text"]["en"]


def test_min_answers_and_scope(store: Store) -> None:
    ingest_records(store, team_rows(), "team")
    assert run(store, "agents", min_answers=1000)["findings"] == []
    only_ana = run(store, "agents", agent=["ana"])
    assert [r["agent"] for r in only_ana["rows"]] == ["ana"]
    later = run(store, "agents", date_from="2026-03-20")
    assert by(later["rows"], agent="ana")["contacts"] == 10


def test_themes_per_agent_and_touchpoint(team: dict[str, Any]) -> None:
    ana = by(team["themes"], agent="ana", touchpoint="whatsapp")
    assert ana["comments"] == 5  # the five NPS 3 answers; the CSAT 2 contacts carry no comment
    themes = {t["theme"]: t for t in ana["themes"]}
    assert themes["demorou"]["count"] == 3 and themes["não resolveu"]["count"] == 2
    assert themes["não resolveu"]["example"] == "Demorou demais e não resolveu"
    whole = by(team["themes"], agent=None, touchpoint="whatsapp")
    assert whole["comments"] == 5


def test_phrases_fold_stem_and_keep_negations() -> None:
    assert phrases("Demorou DEMAIS e não resolveu") == {
        "demor": "demorou",
        "nao resol": "não resolveu",
    }
    assert phrases("Not resolved, took too long") == {
        "not resol": "not resolved",
        "took": "took",  # "too" is no theme, so "took" and "long" stand apart
        "long": "long",
    }


def test_share_margin_is_never_zero() -> None:
    value, margin = _share(30, 30, 100.0)
    assert value == 100.0 and margin is not None and margin > 5


def test_cli_table_and_json(tmp_path: Any) -> None:
    db = str(tmp_path / "team.duckdb")
    with open_store(db) as store:
        ingest_records(store, team_rows(), "team")
        expected = run(store, "agents")
    runner = CliRunner()
    got = runner.invoke(cli, ["agents", "--db", db, "--json"])
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout) == expected
    text = runner.invoke(cli, ["agents", "--db", db, "--lang", "pt-BR"]).stdout
    flat = " ".join(text.split())
    assert "A equipe: cada agente contra o resto da equipe" in flat
    assert "CSAT de ana no WhatsApp: 40,0% ±14,5 p.p." in flat


def _close(a: Any, b: Any, where: str = "") -> None:
    """Equal, floats to 1e-9 (summing per hour first changes the order of float sums)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (where, a, b)
    else:
        assert a == b, (where, a, b)


def random_team(seed: int, start: datetime) -> list[dict[str, Any]]:
    """Contacts of five agents at two touchpoints at any minute of six weeks from `start`
    (across a change of daylight saving time), some rated by survey answers."""
    import random

    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(600):
        at = start + timedelta(minutes=rng.randrange(6 * 7 * 24 * 60), seconds=rng.random() * 60)
        abandoned = rng.random() < 0.15
        rows.append(contact(
            i, rng.choice(["ana", "bia", "caio", "duda", "bot"]), at,
            rng.choice([60.0, 95.5, 240.0, 600.25]), csat=rng.choice([None, 1, 3, 4, 5]),
            touchpoint=rng.choice(["whatsapp", "phone"]), abandoned=abandoned,
            wait_seconds=rng.choice([3, 12.5, 30, 95]),
            resolved=None if abandoned else rng.choice([None, True, False]),
            promise=rng.choice([None, "kept", "broken"]), data_reused=rng.choice([None, True, False]),
        ))  # fmt: skip
        rows[-1]["event_id"] = f"e{i}"
    for i, rated in enumerate(rng.sample(rows, 120)):
        later = datetime.fromisoformat(rated["ts"]) + timedelta(hours=rng.randrange(1, 48))
        rows.append({"event_id": f"s{i}", "customer_id": rated["customer_id"],
                     "touchpoint": "nps_survey", "ts": later.isoformat(), "action": "feedback",
                     "nps": rng.randrange(11), "csat": rng.choice([None, 2, 5]),
                     "ref_event_id": rated["event_id"], "comment": "demorou, não resolveu"})  # fmt: skip
    return rows


@pytest.mark.parametrize(
    ("zone", "utc_hours"),
    [
        ("America/Sao_Paulo", True),  # daylight saving time until 2019, whole hours
        ("America/New_York", True),
        ("Asia/Kolkata", False),  # +05:30: a UTC hour spans two local hours
        ("Australia/Adelaide", False),
    ],
)
def test_summing_per_utc_hour_first_answers_what_every_row_placed_itself_does(
    store: Store, monkeypatch: pytest.MonkeyPatch, zone: str, utc_hours: bool
) -> None:
    """The scorecards sum the credited rows per UTC hour and place the hours in the zone's
    hours of the week and weeks only where every UTC hour lies in one local hour; the
    answer is the one of placing each row itself, in every zone, for every filter."""
    from touchpoints.analytics import agents as module

    rows = random_team(7, datetime(2018, 10, 15))  # São Paulo's clocks went on 2018-11-04
    assert ingest_records(store, rows, "team").rejected == 0
    assert module.by_utc_hour(store, module_scope(zone)) is utc_hours
    filters: list[dict[str, Any]] = [
        {},
        {"date_from": "2018-11-01", "date_to": "2018-11-20"},
        {"touchpoint": ["phone"], "agent": ["ana", "bot"]},
    ]
    for where in filters:
        fast = run(store, "agents", timezone=zone, min_answers=5, **where)
        with monkeypatch.context() as m:
            m.setattr(module, "by_utc_hour", lambda *_: False)
            each_row = run(store, "agents", timezone=zone, min_answers=5, **where)
        _close(fast, each_row, str(where))
    assert fast["weeks"] and fast["rows"]


def module_scope(zone: str) -> Any:
    from touchpoints.analytics.scope import Scope

    return Scope(timezone=zone)


def test_themes_drop_a_word_no_commoner_than_a_phrase_holding_it() -> None:
    """The themes of random comments against the rule written out pair by pair."""
    import random
    from collections import Counter, defaultdict

    from touchpoints.analytics.agents import THEMES_SHOWN, _themes

    words = ["demorou", "demora", "não", "resolveu", "atendente", "grosseiro", "fila",
             "longa", "never", "fixed", "waited", "hours", "pneu", "errado"]  # fmt: skip
    rng = random.Random(3)
    for _ in range(200):
        comments = [" ".join(rng.choices(words, k=rng.randrange(1, 6))) for _ in range(25)]
        pairs = [(c, phrases(c), 1) for c in comments]
        seen: Counter[str] = Counter()
        surface: dict[str, Counter[str]] = defaultdict(Counter)
        example: dict[str, str] = {}
        for comment, found, _ in pairs:
            for key, written in found.items():
                seen[key] += 1
                surface[key][written] += 1
                example.setdefault(key, comment)
        kept = [
            (key, n)
            for key, n in seen.items()
            if n >= 2
            and not any(
                " " in q and key in q.split() and m >= n for q, m in seen.items() if q != key
            )
        ]
        kept.sort(key=lambda kn: (-kn[1], -len(kn[0]), kn[0]))
        expected = [
            {"theme": surface[k].most_common(1)[0][0], "count": n, "example": example[k]}
            for k, n in kept[:THEMES_SHOWN]
        ]
        assert _themes(pairs) == expected
