"""Journey analytics items 7-9: touchpoint strength per observed phase, moments of truth
(promises, data re-use, emotion curve) and repeat-purchase cohorts.

Every expectation is computed by hand from a small log, in the comments beside it, and
checked on each engine of the `store` fixture (DuckDB and PostgreSQL).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlglot
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot.errors import ErrorLevel
from typer.testing import CliRunner

from conftest import run
from touchpoints.analytics.moments import data_reuse_sql, emotion_sql, promises_sql
from touchpoints.analytics.retention import retention_sql
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.strength import strength_sql
from touchpoints.core import format as fmt
from touchpoints.ingest import ingest_files
from touchpoints.store import open_store
from touchpoints.store.base import Store


def ev(eid: str, cust: str, touchpoint: str, ts: str, **extra: Any) -> dict[str, Any]:
    return {"event_id": eid, "customer_id": cust, "touchpoint": touchpoint, "ts": ts, **extra}


COLUMNS = [
    "event_id",
    "customer_id",
    "touchpoint",
    "ts",
    "action",
    "csat",
    "nps",
    "promise",
    "emotion",
    "data_reused",
    "segment",
    "ref_event_id",
]

# Cycles (SPEC §3) and derived phases:
#   c1#1: ads(b) website(b) phone(d, 30 min before the purchase) store-purchase(d)  converts
#   c1#2: email(a)                                                                  no
#   c2#1: ads(b) ads(b) website(b)                                                  no
#   c3#1: sms(b) website(b, 2 h before) store-purchase(d)                           converts
# Cycles with a step in before = {c1#1, c2#1, c3#1} = 3, during = {c1#1, c3#1} = 2,
# after = {c1#2} = 1; all cycles = 4.
STRENGTH_LOG = [
    ev("e1", "c1", "ads", "2026-01-01T10:00:00Z"),
    ev("e2", "c1", "website", "2026-01-05T10:00:00Z"),
    ev("e3", "c1", "phone", "2026-01-10T09:30:00Z", csat=5),
    ev("e4", "c1", "store", "2026-01-10T10:00:00Z", action="purchase"),
    # rates e3 (phone, during): csat 4 and nps 10 go to phone/during, not to nps_survey
    ev("f1", "c1", "nps_survey", "2026-01-11T10:00:00Z", action="feedback", csat=4, nps=10,
       ref_event_id="e3"),
    ev("e5", "c1", "email", "2026-01-20T10:00:00Z"),
    ev("g1", "c2", "ads", "2026-01-02T10:00:00Z"),
    ev("g2", "c2", "ads", "2026-01-03T10:00:00Z"),
    ev("g3", "c2", "website", "2026-01-04T10:00:00Z"),
    # rates g3 (website, before): a detractor
    ev("f2", "c2", "nps_survey", "2026-01-05T10:00:00Z", action="feedback", nps=3,
       ref_event_id="g3"),
    ev("h0", "c3", "sms", "2026-01-06T08:00:00Z"),
    ev("h1", "c3", "website", "2026-01-06T10:00:00Z", nps=9),
    ev("h2", "c3", "store", "2026-01-06T12:00:00Z", action="purchase"),
    # no reference: rates the touchpoint where it was given (nps_survey, after the purchase)
    ev("f3", "c3", "nps_survey", "2026-01-07T10:00:00Z", action="feedback", nps=8),
]  # fmt: skip


def _rows(result: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(r["touchpoint"], r["phase"]): r for r in result["rows"]}


def test_strength_by_phase(store: Store, csv_file: Callable[..., Path]) -> None:
    ingest_files(store, [csv_file(STRENGTH_LOG, COLUMNS)])
    result = run(store, "strength")
    rows = _rows(result)
    assert set(rows) == {
        ("ads", "before"),
        ("website", "before"),
        ("sms", "before"),
        ("phone", "during"),
        ("store", "during"),
        ("email", "after"),
        ("nps_survey", "after"),
    }
    # Ordered by phase, then reach: website (3) > ads (2) > sms (1).
    assert [(r["touchpoint"], r["phase"]) for r in result["rows"]][:3] == [
        ("website", "before"),
        ("ads", "before"),
        ("sms", "before"),
    ]
    ads = rows[("ads", "before")]
    # e1, g1, g2 by c1, c2; cycles c1#1, c2#1 of 3 before-cycles; c1#1 converts.
    assert (ads["events"], ads["reach"], ads["cycles"]) == (3, 2, 2)
    assert ads["events_per_customer"] == 1.5  # 3 / 2
    assert ads["share_of_cycles"] == pytest.approx(2 / 3, abs=1e-6)
    assert ads["conversion_rate"] == 0.5  # 1 of 2
    # steps 1 (of 4), 1 (of 3), 2 (of 3): median step 1; positions .25, .333, .667 -> .333
    assert ads["median_step"] == 1
    assert ads["median_position"] == pytest.approx(1 / 3, abs=1e-6)
    assert ads["csat"] is None and ads["nps"] is None and ads["nps_answers"] == 0
    assert ads["name"] == {"en": "Online ads", "pt-BR": "Anúncios online"}
    assert (ads["kind"], ads["channel"], ads["planned_phases"]) == (
        "interactive",
        "ads",
        ["before"],
    )
    assert ads["unplanned"] is False

    web = rows[("website", "before")]
    # e2 (2/4 = .5), g3 (3/3 = 1), h1 (2/3): steps 2, 3, 2 -> 2; positions -> .667
    assert (web["reach"], web["cycles"], web["share_of_cycles"]) == (3, 3, 1.0)
    assert web["conversion_rate"] == pytest.approx(2 / 3, abs=1e-6)  # c1#1, c3#1 of 3
    assert web["median_step"] == 2
    assert web["median_position"] == pytest.approx(2 / 3, abs=1e-6)
    # NPS from h1 itself (9, promoter) and f2 -> g3 (3, detractor): p = d = .5, n = 2
    # nps = 100 (.5 - .5) = 0; margin = 196 sqrt((.5 + .5 - 0) / 2) = 138.5929
    assert (web["nps"], web["nps_answers"]) == (0, 2)
    assert web["nps_margin"] == pytest.approx(138.5929, abs=1e-3)

    sms = rows[("sms", "before")]
    # sms is planned for after only: flagged
    assert sms["unplanned"] is True and sms["planned_phases"] == ["after"]
    assert sms["share_of_cycles"] == pytest.approx(1 / 3, abs=1e-6)
    assert sms["conversion_rate"] == 1.0
    assert sms["median_position"] == pytest.approx(1 / 3, abs=1e-6)

    phone = rows[("phone", "during")]
    # e3 step 3 of 4; csat 5 (on e3) and 4 (f1 -> e3): 2 of 2 good -> 100; nps 10 -> 100 +-0
    assert (phone["share_of_cycles"], phone["conversion_rate"]) == (0.5, 1.0)
    assert (phone["median_step"], phone["median_position"]) == (3, 0.75)
    assert (phone["csat"], phone["csat_answers"]) == (100.0, 2)
    assert (phone["nps"], phone["nps_margin"], phone["nps_answers"]) == (100.0, 0.0, 1)

    shop = rows[("store", "during")]
    # e4 step 4/4, h2 step 3/3: median step 3.5, position 1; both cycles of 2 convert
    assert (shop["reach"], shop["share_of_cycles"], shop["conversion_rate"]) == (2, 1.0, 1.0)
    assert (shop["median_step"], shop["median_position"]) == (3.5, 1.0)
    assert shop["unplanned"] is False

    email = rows[("email", "after")]
    assert (email["share_of_cycles"], email["conversion_rate"], email["median_step"]) == (
        1.0,
        0.0,
        1,
    )
    survey = rows[("nps_survey", "after")]
    # ratings only (f3 has no reference): no steps, so no reach and no rates; nps 8 passive
    assert (survey["events"], survey["reach"], survey["cycles"]) == (0, 0, 0)
    assert survey["share_of_cycles"] == 0.0 and survey["conversion_rate"] is None
    assert survey["median_step"] is None and survey["events_per_customer"] is None
    assert (survey["nps"], survey["nps_answers"]) == (0.0, 1)


def test_strength_totals_and_filters(store: Store, csv_file: Callable[..., Path]) -> None:
    ingest_files(store, [csv_file(STRENGTH_LOG, COLUMNS)])
    totals = _rows(run(store, "strength", by_phase=False))
    # 4 cycles in all: ads in 2 -> .5; website in 3 -> .75
    assert totals[("ads", None)]["share_of_cycles"] == 0.5
    assert totals[("website", None)]["share_of_cycles"] == 0.75
    assert totals[("website", None)]["unplanned"] is None
    # store: steps 4 and 3 -> 3.5; events 2 by 2 customers
    assert totals[("store", None)]["median_step"] == 3.5

    # --phase during: only during steps, and only ratings about during interactions (f1)
    during = _rows(run(store, "strength", phase="during"))
    assert set(during) == {("phone", "during"), ("store", "during")}
    assert during[("phone", "during")]["csat_answers"] == 2
    assert during[("store", "during")]["share_of_cycles"] == 1.0

    # --touchpoint website: the feedback f2 follows its rated event g3 (website) through
    only_web = _rows(run(store, "strength", touchpoint="website"))
    assert set(only_web) == {("website", "before")}
    assert only_web[("website", "before")]["nps_answers"] == 2
    # its share denominator counts only the cycles with a selected before-step: all 3
    assert only_web[("website", "before")]["share_of_cycles"] == 1.0

    # --to 2026-01-05: steps e1, e2, g1, g2, g3 only; f2 rates g3 (in range) -> kept
    early = _rows(run(store, "strength", date_to="2026-01-05"))
    assert set(early) == {("ads", "before"), ("website", "before")}
    assert early[("website", "before")]["nps_answers"] == 1


# m1: phone made, whatsapp made, store kept (closes phone), delivery broken (closes whatsapp)
# m2: store kept (no open promise: unmatched), phone made, phone kept (closes it), phone made
#     (left open)
# m3: chat made, chat broken (closes it; 30 min before the purchase: during), store purchase
#     (during), sms 8 days later (after, cycle m3#2)
MOMENTS_LOG = [
    ev("a1", "m1", "phone", "2026-02-01T10:00:00Z", promise="made", emotion=-1),
    ev("a2", "m1", "whatsapp", "2026-02-02T10:00:00Z", promise="made", emotion=0,
       data_reused="false"),
    ev("a3", "m1", "store", "2026-02-05T10:00:00Z", promise="kept", emotion=2,
       data_reused="true"),
    ev("a4", "m1", "delivery", "2026-02-06T10:00:00Z", promise="broken", emotion=-2),
    ev("b1", "m2", "store", "2026-02-01T10:00:00Z", promise="kept", emotion=1,
       data_reused="false"),
    ev("b2", "m2", "phone", "2026-02-02T10:00:00Z", promise="made"),
    ev("b3", "m2", "phone", "2026-02-03T10:00:00Z", promise="kept", emotion=1,
       data_reused="true"),
    ev("b4", "m2", "phone", "2026-02-04T10:00:00Z", promise="made"),
    ev("c1", "m3", "chat", "2026-02-01T10:00:00Z", promise="made", emotion=-2,
       data_reused="false"),
    ev("c2", "m3", "chat", "2026-02-02T10:00:00Z", promise="broken", data_reused="false"),
    ev("c3", "m3", "store", "2026-02-02T10:30:00Z", action="purchase", emotion=2),
    ev("c4", "m3", "sms", "2026-02-10T10:00:00Z", emotion=1),
]  # fmt: skip


def test_moments_promises_data_and_emotion(store: Store, csv_file: Callable[..., Path]) -> None:
    ingest_files(store, [csv_file(MOMENTS_LOG, COLUMNS)])
    result = run(store, "journeys.moments")
    rows = {r["touchpoint"]: r for r in result["touchpoints"]}
    phone = rows["phone"]
    # made a1, b2, b4; a1 kept at store (a3), b2 kept at phone (b3), b4 open
    assert (phone["made"], phone["kept"], phone["broken"], phone["open"]) == (3, 2, 0, 1)
    assert phone["kept_rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert (phone["broken_rate"], phone["promise_kept_rate"]) == (0.0, 1.0)
    # recorded at phone: b3 kept
    assert (phone["recorded_kept"], phone["recorded_broken"], phone["recorded_kept_rate"]) == (
        1,
        0,
        1.0,
    )
    whatsapp = rows["whatsapp"]
    # a2 is the 2nd promise of m1, closed by the 2nd outcome a4 (broken, at delivery)
    assert (whatsapp["made"], whatsapp["kept"], whatsapp["broken"]) == (1, 0, 1)
    assert (whatsapp["kept_rate"], whatsapp["broken_rate"]) == (0.0, 1.0)
    assert whatsapp["recorded_kept_rate"] is None
    chat = rows["chat"]
    assert (chat["made"], chat["broken"], chat["recorded_broken"]) == (1, 1, 1)
    shop = rows["store"]
    # no promise made at the store; a3 and b1 kept there, b1 without an open promise
    assert (shop["made"], shop["kept_rate"]) == (0, None)
    assert (shop["recorded_kept"], shop["recorded_unmatched"]) == (2, 1)
    assert rows["delivery"]["recorded_broken"] == 1
    totals = result["totals"]
    # made 5, kept 2 (a1, b2), broken 2 (a2, c1), open 1 (b4)
    assert (totals["made"], totals["kept"], totals["broken"], totals["open"]) == (5, 2, 2, 1)
    assert (totals["kept_rate"], totals["promise_kept_rate"]) == (0.4, 0.5)
    assert (totals["recorded_kept"], totals["recorded_broken"], totals["recorded_unmatched"]) == (
        3,
        2,
        1,
    )
    assert "first-in-first-out" in result["rule"]

    # data_reused: whatsapp F; store T (m1), F (m2); phone T; chat F, F (both m3)
    assert (rows["store"]["data_answers"], rows["store"]["data_reuse_rate"]) == (2, 0.5)
    assert rows["store"]["customers_repeating"] == 1  # m2
    assert (rows["chat"]["data_reuse_rate"], rows["chat"]["customers_repeating"]) == (0.0, 1)
    assert (rows["phone"]["data_reuse_rate"], rows["phone"]["customers_repeating"]) == (1.0, 0)
    assert rows["delivery"]["data_reuse_rate"] is None
    # 2 true of 6 answers; m1 (a2), m2 (b1), m3 (c1, c2) repeated something
    assert totals["data_reuse_rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert (totals["data_answers"], totals["customers_repeating"]) == (6, 3)

    # Emotion by phase. before: a1..a4, b1..b4, c1 = -1+0+2-2+1+1-2 = -1 over 7 answers
    # (b2, b4 silent), 9 steps; during: c2 (silent), c3 = 2; after: c4 = 1.
    assert result["emotion"]["by_phase"] == [
        {"phase": "before", "emotion": pytest.approx(-1 / 7), "answers": 7, "steps": 9},
        {"phase": "during", "emotion": 2.0, "answers": 1, "steps": 2},
        {"phase": "after", "emotion": 1.0, "answers": 1, "steps": 1},
    ]
    # By step (cycles m1#1, m2#1, m3#1, m3#2): step 1 = a1 -1, b1 1, c1 -2, c4 1 -> -1/4;
    # step 2 = a2 0 (b2, c2 silent); step 3 = a3 2, b3 1, c3 2 -> 5/3; step 4 = a4 -2 (b4 silent)
    assert result["emotion"]["by_step"] == [
        {"step": 1, "emotion": -0.25, "answers": 4, "steps": 4},
        {"step": 2, "emotion": 0.0, "answers": 1, "steps": 3},
        {"step": 3, "emotion": pytest.approx(5 / 3), "answers": 3, "steps": 3},
        {"step": 4, "emotion": -2.0, "answers": 1, "steps": 2},
    ]


def test_moments_filters_select_promises_where_made(
    store: Store, csv_file: Callable[..., Path]
) -> None:
    ingest_files(store, [csv_file(MOMENTS_LOG, COLUMNS)])
    # Matching runs on the whole history: a1 is still kept by a3 at the (filtered-out) store.
    result = run(store, "journeys.moments", touchpoint="phone")
    assert [r["touchpoint"] for r in result["touchpoints"]] == ["phone"]
    assert (result["totals"]["made"], result["totals"]["kept"]) == (3, 2)
    assert result["totals"]["recorded_kept"] == 1  # b3
    # --phase during: c2's broken outcome only (its promise c1 was made before)
    during = run(store, "journeys.moments", phase="during")
    assert during["totals"]["made"] == 0 and during["totals"]["recorded_broken"] == 1
    assert [e["answers"] for e in during["emotion"]["by_phase"]] == [0, 1, 0]


# p1 first buys 2025-01 and again in 02 (+1) and 04 (+3); p2 buys twice in 01 (not a
# return) and in 03 (+2); p3 first buys 02, again 03 (+1); p4 buys 2025-03-01 01:00Z, which
# is still February in São Paulo (UTC-3); p5 never buys, its last event (05-10) ends the data.
RETENTION_LOG = [
    ev("r1", "p1", "store", "2025-01-10T12:00:00Z", action="purchase"),
    ev("r2", "p1", "store", "2025-02-15T12:00:00Z", action="purchase"),
    ev("r3", "p1", "website", "2025-04-01T12:00:00Z", action="purchase"),
    ev("r4", "p2", "store", "2025-01-20T12:00:00Z", action="purchase"),
    ev("r5", "p2", "store", "2025-01-25T12:00:00Z", action="purchase"),
    ev("r6", "p2", "store", "2025-03-05T12:00:00Z", action="purchase"),
    ev("r7", "p3", "store", "2025-02-03T12:00:00Z", action="purchase"),
    ev("r8", "p3", "store", "2025-03-10T12:00:00Z", action="purchase"),
    ev("r9", "p4", "store", "2025-03-01T01:00:00Z", action="purchase"),
    ev("r10", "p5", "website", "2025-05-10T12:00:00Z"),
]


def _cells(cohort: dict[str, Any]) -> list[tuple[int, int, float, bool]]:
    return [(c["offset"], c["customers"], c["share"], c["complete"]) for c in cohort["cells"]]


def test_retention_cohorts(store: Store, csv_file: Callable[..., Path]) -> None:
    ingest_files(store, [csv_file(RETENTION_LOG, COLUMNS)])
    result = run(store, "retention")
    assert result["period"] == "month"
    cohorts = {c["cohort"]: c for c in result["cohorts"]}
    assert list(cohorts) == ["2025-01", "2025-02", "2025-03"]
    # Data ends in May (05-10): offsets up to May, May not over (incomplete).
    jan = cohorts["2025-01"]  # p1, p2
    assert jan["customers"] == 2
    assert _cells(jan) == [
        (1, 1, 0.5, True),  # Feb: p1
        (2, 1, 0.5, True),  # Mar: p2
        (3, 1, 0.5, True),  # Apr: p1
        (4, 0, 0.0, False),  # May
    ]
    assert cohorts["2025-02"]["customers"] == 1  # p3
    assert _cells(cohorts["2025-02"]) == [(1, 1, 1.0, True), (2, 0, 0.0, True), (3, 0, 0.0, False)]
    assert cohorts["2025-03"]["customers"] == 1  # p4 in UTC
    assert _cells(cohorts["2025-03"]) == [(1, 0, 0.0, True), (2, 0, 0.0, False)]

    # In São Paulo p4 first buys in February: cohort 2025-02 = p3, p4; Mar: p3 -> 1/2
    local = {
        c["cohort"]: c for c in run(store, "retention", timezone="America/Sao_Paulo")["cohorts"]
    }
    assert list(local) == ["2025-01", "2025-02"]
    assert local["2025-02"]["customers"] == 2
    assert _cells(local["2025-02"])[0] == (1, 1, 0.5, True)

    # --from selects cohorts by first purchase (p1, p2 are not new in February); --to ends
    # the data in March, which --to covers whole: complete.
    window = run(store, "retention", date_from="2025-02-01", date_to="2025-03-31")
    assert [(c["cohort"], c["customers"], _cells(c)) for c in window["cohorts"]] == [
        ("2025-02", 1, [(1, 1, 1.0, True)]),
        ("2025-03", 1, []),
    ]
    # --touchpoint website: only p1's 04-01 purchase counts: cohort 2025-04, May incomplete
    web = run(store, "retention", touchpoint="website", max_offset=5)
    assert [(c["cohort"], c["customers"], _cells(c)) for c in web["cohorts"]] == [
        ("2025-04", 1, [(1, 0, 0.0, False)])
    ]


def test_sql_transpiles_to_postgres_and_spark() -> None:
    """The Spark store runs the same SQL through sqlglot; nothing may be unsupported."""
    scope = Scope.build(date_from="2025-01-01", date_to="2025-12-31", phase="before")
    local = Scope.build(date_from="2025-01-01", timezone="America/Sao_Paulo")
    queries = [
        strength_sql(scope, True),
        strength_sql(scope, False),
        promises_sql(scope),
        data_reuse_sql(scope),
        emotion_sql(scope),
        retention_sql(local, "month"),
        retention_sql(scope, "week"),
    ]
    for sql in queries:
        for dialect in ("postgres", "spark"):
            out = sqlglot.transpile(
                sql, read="duckdb", write=dialect, unsupported_level=ErrorLevel.RAISE
            )
            assert len(out) == 1


def cli_app() -> typer.Typer:
    # Imported late (see test_kpis): importing touchpoints.cli at collection would add
    # `tp.cli` to the package namespace before test_api checks it.
    from touchpoints.cli import app

    return app


@pytest.fixture
def cli_db(tmp_path: Path, csv_file: Callable[..., Path]) -> str:
    """A DuckDB file holding the three logs, closed so the CLI can open it read-only."""
    db = str(tmp_path / "cli.duckdb")
    with open_store(db) as s:
        ingest_files(s, [csv_file(STRENGTH_LOG + MOMENTS_LOG + RETENTION_LOG, COLUMNS)])
    return db


def test_cli_json_equals_python(cli_db: str) -> None:
    with open_store(cli_db, read_only=True) as s:
        expected = {
            "strength": run(s, "strength"),
            "totals": run(s, "strength", by_phase=False),
            "moments": run(s, "journeys.moments"),
            "retention": run(s, "retention", timezone="America/Sao_Paulo"),
        }
    app, runner = cli_app(), CliRunner()

    def cli_json(*args: str) -> Any:
        result = runner.invoke(app, [*args, "--db", cli_db, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    assert cli_json("strength") == expected["strength"]
    assert cli_json("touchpoints", "--by-phase") == expected["strength"]
    assert cli_json("strength", "--no-by-phase") == expected["totals"]
    assert cli_json("journeys", "moments") == expected["moments"]
    assert cli_json("retention", "--timezone", "America/Sao_Paulo") == expected["retention"]

    for args, word in (
        (["strength", "--lang", "pt-BR"], "Força dos pontos de contato"),
        (["touchpoints", "--no-by-phase"], "Touchpoint strength"),
        (["touchpoints", "--lang", "pt-BR"], "Força dos pontos de contato por fase observada"),
        (["journeys", "moments", "--lang", "pt-BR"], "Promessas"),
        (["retention", "--lang", "pt-BR"], "Recompra por coorte"),
        (["retention", "--max-offset", "2"], "+2"),
    ):
        shown = runner.invoke(app, [*args, "--db", cli_db])
        assert shown.exit_code == 0, shown.output
        assert word in shown.stdout
    bad = runner.invoke(app, ["retention", "--period", "year", "--db", cli_db])
    assert bad.exit_code != 0


def _table(cli_db: str, *args: str) -> str:
    shown = CliRunner().invoke(cli_app(), [*args, "--db", cli_db])
    assert shown.exit_code == 0, shown.output
    return shown.stdout


def _row(table: str, first: str) -> str:
    return next(line for line in table.splitlines() if line.startswith(f"│ {first} "))


def test_moments_table_labels_each_promise_rate_by_its_key(cli_db: str) -> None:
    """kept_rate (kept / made) and promise_kept_rate (kept / (kept + broken)) are two
    columns with two names; totals: 2 of 5 made were kept (40%), 2 of 4 closed (50%)."""
    en = _table(cli_db, "journeys", "moments")
    header = next(line for line in en.splitlines() if "kept of made" in line)
    assert "promises kept" in header and "broken of made" in header
    assert "40.0%" in _row(en, "all") and "50.0%" in _row(en, "all")
    assert "promises kept = kept / (kept + broken), as in kpis" in en
    pt = _table(cli_db, "journeys", "moments", "--lang", "pt-BR")
    header = next(line for line in pt.splitlines() if "cumpridas das feitas" in line)
    assert "taxa de cumprimento de promessas" in header
    assert "40,0%" in _row(pt, "todos") and "50,0%" in _row(pt, "todos")
    # Mean emotion before the purchase: -1/7, two decimals in the reader's style.
    assert "-0,14" in _row(pt, "antes") and "-0.14" in _row(en, "before")


def test_retention_table_in_both_languages(cli_db: str) -> None:
    # Cohort 2025-01 (p1, p2): 1 of 2 back in each of the next three months; --to ends the
    # data in mid-May, so May is not over.
    en = _table(cli_db, "retention", "--to", "2025-05-20")
    assert "50.0%" in _row(en, "2025-01") and "0.0%*" in _row(en, "2025-01")
    assert "* period not over in the data" in en
    pt = _table(cli_db, "retention", "--lang", "pt-BR", "--period", "week", "--to", "2025-05-20")
    assert "Recompra por coorte (semana)" in pt
    assert "06/01/2025" in pt  # the week of 2025-01-10 starts on Monday 6 January
    assert "* período ainda não terminou nos dados" in pt
    # CSV: one row per cohort and period after it, at full precision (no Python reprs).
    csv = _table(cli_db, "retention", "--to", "2025-05-20", "--format", "csv").splitlines()
    assert csv[0] == "cohort,customers,cells.offset,cells.customers,cells.share,cells.complete"
    assert csv[1:5] == [
        "2025-01,2,1,1,0.5,True",
        "2025-01,2,2,1,0.5,True",
        "2025-01,2,3,1,0.5,True",
        "2025-01,2,4,0,0.0,False",
    ]


def test_a_100_column_terminal_never_cuts_a_number(cli_db: str) -> None:
    """The strength table is wider than 100 columns: it is split, and every number it
    shows sits whole in one cell."""
    with open_store(cli_db, read_only=True) as s:
        rows = run(s, "strength")["rows"]
    for lang in ("en", "pt-BR"):
        done = subprocess.run(
            [sys.executable, "-c", "from touchpoints.cli import main; main()",
             "strength", "--db", cli_db, "--lang", lang],
            capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"}, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        shown = done.stdout
        assert max(len(line) for line in shown.splitlines()) <= 100
        assert shown.count("┏") > 1, "a table this wide is split, not squeezed"
        for r in rows:
            cells = [fmt.value(k, r[k], lang) for k in STRENGTH_SHOWN]
            if r["nps"] is not None:
                cells.append(
                    f"{fmt.value('nps', r['nps'], lang)} ±{fmt.value('nps_margin', r['nps_margin'], lang)}"
                )
            for cell in cells:
                assert re.search(rf"│ +{re.escape(cell)} │", shown), (lang, r["touchpoint"], cell)


STRENGTH_SHOWN = (
    "reach",
    "share_of_cycles",
    "events_per_customer",
    "conversion_rate",
    "median_step",
    "median_position",
    "csat",
    "csat_answers",
    "nps_answers",
)


def test_empty_store_gives_empty_results(store: Store) -> None:
    """Nothing to measure: no rows, zero counts and null rates, never an error."""
    assert run(store, "strength") == {"rows": []}
    result = run(store, "journeys.moments")
    assert result["touchpoints"] == []
    assert (result["totals"]["made"], result["totals"]["kept_rate"]) == (0, None)
    assert result["totals"]["data_reuse_rate"] is None
    assert [e["emotion"] for e in result["emotion"]["by_phase"]] == [None, None, None]
    assert result["emotion"]["by_step"] == []
    assert run(store, "retention") == {"period": "month", "cohorts": []}


@pytest.mark.parametrize("lang", ["en", "pt-BR"])
def test_tables_of_nothing_say_so(store: Store, lang: str) -> None:
    """An empty store: every journey table is one sentence in the reader's language."""
    from rich.console import Console

    from touchpoints.analytics.registry import get
    from touchpoints.cli.tables import View, render

    said = {
        "en": ("no journey steps match these filters", "no purchases match these filters"),
        "pt-BR": (
            "nenhum passo de jornada atende a estes filtros",
            "nenhuma compra atende a estes filtros",
        ),
    }[lang]
    for name in ("journeys.dfg", "journeys.variants", "journeys.funnel", "journeys.gaps",
                 "journeys.sankey", "journeys.moments", "strength", "retention"):  # fmt: skip
        analysis = get(name)
        scope, options = analysis.parse({})
        data = analysis.run(store, scope, options)
        console = Console(width=100, record=True)
        for part in render(name, analysis.table, data, View(lang, {}, options, scope)):
            console.print(part)
        assert console.export_text().strip() == said[name == "retention"], name


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 30), st.integers(1, 30)).map(lambda p: (min(p), max(p))),
        min_size=1,
        max_size=60,
    )
)
def test_property_medians_from_counted_steps_are_duckdbs_to_the_last_bit(
    steps: list[tuple[int, int]],
) -> None:
    """The medians Python takes from (step, steps) counts equal DuckDB's `median` over
    every step: the values the query used to hold in memory."""
    import duckdb

    from touchpoints.analytics.strength import median_of_counts

    counts = Counter(steps)
    con = duckdb.connect()
    con.execute("CREATE TABLE s (step BIGINT, steps BIGINT)")
    con.executemany("INSERT INTO s VALUES (?, ?)", steps)
    step, position = con.execute(
        "SELECT median(step), median(CAST(step AS DOUBLE) / steps) FROM s"
    ).fetchone()
    assert median_of_counts([(float(a), n) for (a, _), n in counts.items()]) == step
    assert median_of_counts([(a / b, n) for (a, b), n in counts.items()]) == position


def test_the_median_of_no_counts_is_null() -> None:
    from touchpoints.analytics.strength import median_of_counts

    assert median_of_counts([]) is None
    assert median_of_counts([(2.0, 1), (1.0, 1)]) == 1.5
    assert median_of_counts([(3.0, 2), (1.0, 1)]) == 3.0
