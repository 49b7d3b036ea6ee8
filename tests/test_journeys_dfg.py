"""Journey DFG and path variants (SPEC §3, §5): hand-computed answers on both engines, the
CLI, and agreement with PM4Py (the process-mining reference) on a random log."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from conftest import ingested, run
from touchpoints.core import format as fmt
from touchpoints.core.errors import UsageError
from touchpoints.ingest import ingest_files
from touchpoints.store.base import Store


def ev(
    event_id: str, customer: str, touchpoint: str, ts: str, action: str | None = None, **more: Any
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "customer_id": customer,
        "touchpoint": touchpoint,
        "ts": ts,
        "action": action,
        **more,
    }


# c1: website -> phone -> store (purchase), a survey answer (not a step), email 4 days
#     later (a new cycle: the purchase closed the first), ads 31 days + 1 s after that
#     (a new cycle: silence > 30d).
# c2: chat and whatsapp at the same instant (ingestion order decides: chat first), then
#     website two days later; segment "fleet"; never buys.
# c3: website -> phone -> store (purchase) within the hour.
LOG = [
    ev("a1", "c1", "website", "2026-01-01T10:00:00Z"),
    ev("a2", "c1", "phone", "2026-01-01T10:00:01.5Z"),
    ev("a3", "c1", "store", "2026-01-01T10:00:04Z", "purchase", value=100),
    ev("a4", "c1", "nps_survey", "2026-01-02T10:00:00Z", "feedback", nps=9),
    ev("a5", "c1", "email", "2026-01-05T10:00:04Z"),
    ev("a6", "c1", "ads", "2026-02-05T10:00:05Z"),
    ev("b2", "c2", "chat", "2026-01-01T09:00:00Z", segment="fleet"),
    ev("b1", "c2", "whatsapp", "2026-01-01T09:00:00Z", segment="fleet"),
    ev("b3", "c2", "website", "2026-01-03T09:00:00Z", segment="fleet"),
    ev("d1", "c3", "website", "2026-01-10T00:00:00Z"),
    ev("d2", "c3", "phone", "2026-01-10T00:00:30Z"),
    ev("d3", "c3", "store", "2026-01-10T01:00:00Z", "purchase", value=50),
]


def edge(a: str, b: str, n: int, mean: float, median: float) -> dict[str, Any]:
    return {"from": a, "to": b, "count": n, "mean_seconds": mean, "median_seconds": median}


def variant(path: str, n: int, conversions: int) -> dict[str, Any]:
    return {"path": path.split(), "count": n, "conversions": conversions}


@pytest.fixture
def log(shared_store: Callable[..., Store]) -> Store:
    """LOG, loaded once per engine: the tests that use it only read it."""
    return shared_store("log", ingested(LOG))


@pytest.fixture
def own_log(store: Store, csv_file: Callable[..., Path]) -> Store:
    """LOG in a store of the test's own, for the command-line tests that close it."""
    ingest_files(store, [csv_file(LOG)])
    return store


def test_dfg_per_customer(log: Store) -> None:
    assert run(log, "journeys.dfg") == {
        "edges": [
            edge("phone", "store", 2, (2.5 + 3570) / 2, (2.5 + 3570) / 2),
            edge("website", "phone", 2, 15.75, 15.75),
            edge("chat", "whatsapp", 1, 0.0, 0.0),
            edge("email", "ads", 1, 31 * 86400 + 1.0, 31 * 86400 + 1.0),
            edge("store", "email", 1, 4 * 86400.0, 4 * 86400.0),
            edge("whatsapp", "website", 1, 2 * 86400.0, 2 * 86400.0),
        ],
        "starts": {"website": 2, "chat": 1},
        "ends": {"ads": 1, "store": 1, "website": 1},
    }


def test_dfg_per_cycle(log: Store) -> None:
    assert run(log, "journeys.dfg", case="cycle") == {
        "edges": [
            edge("phone", "store", 2, 1786.25, 1786.25),
            edge("website", "phone", 2, 15.75, 15.75),
            edge("chat", "whatsapp", 1, 0.0, 0.0),
            edge("whatsapp", "website", 1, 2 * 86400.0, 2 * 86400.0),
        ],
        "starts": {"website": 2, "ads": 1, "chat": 1, "email": 1},
        "ends": {"store": 2, "ads": 1, "email": 1, "website": 1},
    }
    # A longer --gap keeps email and ads in one cycle.
    longer = run(log, "journeys.dfg", case="cycle", gap="40d")
    assert edge("email", "ads", 1, 31 * 86400 + 1.0, 31 * 86400 + 1.0) in longer["edges"]
    assert longer["starts"] == {"website": 2, "chat": 1, "email": 1}


def test_variants_per_customer_and_per_cycle(log: Store) -> None:
    assert run(log, "journeys.variants") == {
        "variants": [
            variant("chat whatsapp website", 1, 0),
            variant("website phone store", 1, 1),
            variant("website phone store email ads", 1, 1),
        ]
    }
    assert run(log, "journeys.variants", case="cycle") == {
        "variants": [
            variant("website phone store", 2, 2),
            variant("ads", 1, 0),
            variant("chat whatsapp website", 1, 0),
            variant("email", 1, 0),
        ]
    }
    assert run(log, "journeys.variants", case="cycle", top=2) == {
        "variants": [variant("website phone store", 2, 2), variant("ads", 1, 0)]
    }
    assert run(log, "journeys.variants", case="cycle", gap="40d")["variants"][1] == (
        variant("chat whatsapp website", 1, 0)
    )


def test_filters_select_steps_before_cases_are_built(log: Store) -> None:
    only = {"touchpoint": "website,phone,store"}
    assert run(log, "journeys.variants", **only) == {
        "variants": [variant("website phone store", 2, 2), variant("website", 1, 0)]
    }
    assert [
        (e["from"], e["to"], e["count"]) for e in run(log, "journeys.dfg", **only)["edges"]
    ] == [
        ("phone", "store", 2),
        ("website", "phone", 2),
    ]
    # Phase is derived on the whole history: c1's and c3's first steps are `during` (the
    # hour before a purchase), c1's email and ads `after`, c2 is all `before`.
    assert run(log, "journeys.variants", phase="before") == {
        "variants": [variant("chat whatsapp website", 1, 0)]
    }
    # A customer case keeps email -> ads; as cycles they are two cases. Conversions count
    # the case's whole history: c1 bought, its email/ads cycles did not.
    after = {"phase": "after"}
    assert run(log, "journeys.variants", **after) == {"variants": [variant("email ads", 1, 1)]}
    assert run(log, "journeys.variants", **after, case="cycle") == {
        "variants": [variant("ads", 1, 0), variant("email", 1, 0)]
    }
    assert run(log, "journeys.dfg", **after, case="cycle")["edges"] == []
    assert run(log, "journeys.dfg", segment="fleet")["starts"] == {"chat": 1}
    assert run(log, "journeys.variants", date_from="2026-01-02") == {
        "variants": [
            variant("email ads", 1, 1),
            variant("website", 1, 0),
            variant("website phone store", 1, 1),
        ]
    }
    # A channel of the catalog without events selects nothing (an unknown one is an error:
    # tests/test_filter_values.py).
    assert run(log, "journeys.variants", channel="delivery") == {"variants": []}
    assert run(log, "journeys.dfg", channel="delivery") == {
        "edges": [],
        "starts": {},
        "ends": {},
    }


def test_dfg_top_keeps_the_most_frequent_edges(log: Store) -> None:
    full = run(log, "journeys.dfg")
    cut = run(log, "journeys.dfg", top=3)
    assert cut["edges"] == full["edges"][:3]
    assert (cut["starts"], cut["ends"]) == (full["starts"], full["ends"])


def test_ties_in_time_follow_ingestion_order(
    make_store: Callable[[], Store], csv_file: Callable[..., Path]
) -> None:
    """The same instant in two files: whichever file was ingested first comes first."""
    first = [ev("t1", "c9", "sms", "2026-03-01T12:00:00Z")]
    second = [ev("t2", "c9", "email", "2026-03-01T12:00:00Z")]
    answers = []
    for files in ((first, second), (second, first)):
        s = make_store()
        for rows in files:
            ingest_files(s, [csv_file(rows)])
        answers.append(
            (run(s, "journeys.variants")["variants"][0]["path"], run(s, "journeys.dfg")["edges"][0])
        )
    assert answers == [
        (["sms", "email"], edge("sms", "email", 1, 0.0, 0.0)),
        (["email", "sms"], edge("email", "sms", 1, 0.0, 0.0)),
    ]


def test_bad_options_are_usage_errors(log: Store) -> None:
    with pytest.raises(UsageError, match="--case"):
        run(log, "journeys.dfg", case="session")
    with pytest.raises(UsageError, match="--top"):
        run(log, "journeys.variants", top=0)


# -- CLI -----------------------------------------------------------------------------------
def cli_app() -> typer.Typer:
    # Imported late (see test_kpis): importing touchpoints.cli at collection would add
    # `tp.cli` to the package namespace before test_api checks it.
    from touchpoints.cli import app

    return app


def test_cli_json_equals_python_and_tables_render(own_log: Store) -> None:
    log = own_log
    cases = [
        (["dfg"], run(log, "journeys.dfg")),
        (
            ["dfg", "--case", "cycle", "--gap", "40d"],
            run(log, "journeys.dfg", case="cycle", gap="40d"),
        ),
        (
            ["dfg", "--top", "2", "--touchpoint", "website", "--touchpoint", "phone"],
            run(log, "journeys.dfg", touchpoint=["website", "phone"], top=2),
        ),
        (
            ["variants", "--case", "cycle", "--top", "1"],
            run(log, "journeys.variants", case="cycle", top=1),
        ),
        (
            ["variants", "--segment", "fleet", "--from", "2026-01-01", "--to", "2026-01-02"],
            run(
                log,
                "journeys.variants",
                segment="fleet",
                date_to="2026-01-02",
                date_from="2026-01-01",
            ),
        ),
        (
            ["variants", "--phase", "after", "--kind", "interactive"],
            run(log, "journeys.variants", phase="after", kind="interactive"),
        ),
    ]
    target = log.target
    log.close()  # DuckDB: let the CLI open the file (read-only) on its own
    runner = CliRunner()
    app = cli_app()
    for args, want in cases:
        result = runner.invoke(app, ["journeys", *args, "--json", "--db", target])
        assert result.exit_code == 0, (args, result.output)
        assert json.loads(result.stdout) == want, args
    # One duration style (core.format.duration) in the reader's language: store -> email
    # 4 days, email -> ads 31 days and 1 s, phone -> store a mean of 1786.25 s.
    table = runner.invoke(app, ["journeys", "dfg", "--db", target, "--lang", "pt-BR"])
    assert table.exit_code == 0, table.output
    assert "Central de atendimento" in table.stdout
    assert "4 dias" in table.stdout and "31 dias" in table.stdout
    assert "29 min 46 s" in table.stdout
    assert "quantidade" in table.stdout and "tempo mediano" in table.stdout
    table = runner.invoke(app, ["journeys", "dfg", "--db", target])
    assert table.exit_code == 0, table.output
    assert "4 days" in table.stdout and "31 days" in table.stdout
    assert "29 min 46 sec" in table.stdout and "median time" in table.stdout
    # Variants: the case count under its JSON key's label, conversions said to be cases.
    table = runner.invoke(app, ["journeys", "variants", "--db", target, "--case", "cycle"])
    assert table.exit_code == 0, table.output
    assert "→" in table.stdout and "100.0%" in table.stdout
    header = next(line for line in table.stdout.splitlines() if "path" in line)
    assert "count" in header and "conversions" in header and "cases" not in header
    assert "conversions: how many of those cases converted" in table.stdout
    table = runner.invoke(
        app, ["journeys", "variants", "--db", target, "--case", "cycle", "--lang", "pt-BR"]
    )
    assert table.exit_code == 0, table.output
    assert "100,0%" in table.stdout and "quantidade" in table.stdout
    assert "conversões: quantos desses casos converteram" in table.stdout
    bad = runner.invoke(app, ["journeys", "dfg", "--db", target, "--case", "visit"])
    assert bad.exit_code != 0


def test_cli_csv_is_the_main_table_at_full_precision(own_log: Store) -> None:
    log = own_log
    target = log.target
    log.close()
    result = CliRunner().invoke(
        cli_app(), ["journeys", "dfg", "--db", target, "--format", "csv", "--lang", "pt-BR"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "from,to,count,mean_seconds,median_seconds"
    assert "phone,store,2,1786.25,1786.25" in lines
    assert len(lines) == 1 + 6  # the header and every edge


def _cli(*args: str, columns: int) -> str:
    """`touchpoints ...` in a subprocess, as a terminal of `columns` columns runs it (the
    console takes its width from COLUMNS when the CLI starts)."""
    env = {**os.environ, "COLUMNS": str(columns)}
    done = subprocess.run(
        [sys.executable, "-c", "from touchpoints.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_100_column_terminal_never_cuts_a_number(own_log: Store) -> None:
    """Every number of the JSON appears whole on one line of the table, in both languages."""
    log = own_log
    target = log.target
    log.close()
    data = json.loads(_cli("journeys", "dfg", "--db", target, "--json", columns=100))
    for lang in ("en", "pt-BR"):
        shown = _cli("journeys", "dfg", "--db", target, "--lang", lang, columns=100)
        lines = shown.splitlines()
        assert max(len(line) for line in lines) <= 100
        for e in data["edges"]:
            cells = [
                fmt.integer(e["count"], lang),
                fmt.duration(e["mean_seconds"], lang),
                fmt.duration(e["median_seconds"], lang),
            ]
            assert any(all(c in line for c in cells) for line in lines), (lang, e, shown)
        for tp in set(data["starts"]) | set(data["ends"]):
            n_start, n_end = data["starts"].get(tp, 0), data["ends"].get(tp, 0)
            start, end = fmt.integer(n_start, lang), fmt.integer(n_end, lang)
            assert any(f" {start} " in line and f" {end} " in line for line in lines), (lang, tp)
        assert "…" not in shown


def test_variants_table_says_what_it_left_out() -> None:
    from rich.console import Console

    from touchpoints.analytics.journeys import PathOptions
    from touchpoints.cli.tables import View, render
    from touchpoints.cli.tables.journeys import VARIANT_ROWS

    many = {"variants": [variant(f"website p{i}", 1, 0) for i in range(VARIANT_ROWS + 1234)]}

    def text(lang: str, options: PathOptions) -> str:
        console = Console(width=120, record=True)
        for part in render("journeys.variants", "variants", many, View(lang, {}, options)):
            console.print(part)
        return console.export_text()

    shown = text("en", PathOptions())
    assert f"p{VARIANT_ROWS - 1}" in shown and f"p{VARIANT_ROWS} " not in shown
    assert "1,234 more variants: use --top N" in shown
    assert "mais 1.234 variantes: use --top N" in text("pt-BR", PathOptions())
    # With --top the table shows what was asked for, and says nothing is missing.
    asked = text("en", PathOptions(top=VARIANT_ROWS + 1234))
    assert f"p{VARIANT_ROWS + 1233}" in asked and "more variants" not in asked


def test_one_duration_style() -> None:
    """Transitions span seconds to months: the two largest units, in the reader's words."""
    seconds = (None, 2.5, 45, 125, 7200, 90061, 3 * 86400 + 4 * 3600)
    assert [fmt.duration(s, "en") for s in seconds] == [
        "—",
        "2.5 sec",
        "45 sec",
        "2 min 5 sec",
        "2 hr",
        "1 day 1 hr",
        "3 days 4 hr",
    ]
    assert [fmt.duration(s, "pt-BR") for s in seconds] == [
        "—",
        "2,5 s",
        "45 s",
        "2 min 5 s",
        "2 h",
        "1 dia 1 h",
        "3 dias 4 h",
    ]


# -- agreement with PM4Py ------------------------------------------------------------------
TOUCHPOINTS = ["ads", "website", "email", "phone", "sms", "store", "whatsapp", "chat"]
GAP = timedelta(days=30)


def random_log(cases: int, seed: int) -> list[dict[str, Any]]:
    """`cases` customers, 1-9 steps each at distinct random instants (microseconds), some
    purchases, feedback rows between steps, rows shuffled so file order means nothing."""
    rnd = random.Random(seed)
    rows: list[dict[str, Any]] = []
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    for c in range(cases):
        offsets = rnd.sample(range(120 * 86400 * 1000), rnd.randint(1, 9))
        for i, ms in enumerate(sorted(offsets)):
            ts = origin + timedelta(milliseconds=ms, microseconds=rnd.randrange(1000))
            action = "purchase" if rnd.random() < 0.12 else None
            rows.append(
                ev(f"e{c}_{i}", f"c{c:04d}", rnd.choice(TOUCHPOINTS), ts.isoformat(), action)
            )
            if rnd.random() < 0.1:
                later = ts + timedelta(seconds=rnd.randrange(1, 3600))
                rows.append(
                    ev(
                        f"f{c}_{i}",
                        f"c{c:04d}",
                        "nps_survey",
                        later.isoformat(),
                        "feedback",
                        nps=rnd.randrange(11),
                    )
                )
    rnd.shuffle(rows)
    return rows


def pm4py_frame(rows: list[dict[str, Any]], case: str) -> tuple[Any, dict[str, int]]:
    """The steps as a pandas frame for PM4Py, with the case id cut in plain Python (an
    independent reading of SPEC §3), and each case's conversion flag."""
    import pandas as pd

    steps = sorted(
        (r for r in rows if r["action"] != "feedback"),
        key=lambda r: (r["customer_id"], datetime.fromisoformat(r["ts"])),
    )
    records = []
    converts: dict[str, int] = defaultdict(int)
    cycle, prev = 0, None
    for r in steps:
        ts = datetime.fromisoformat(r["ts"])
        if prev is None or prev["customer_id"] != r["customer_id"]:
            cycle = 1
        elif prev["action"] == "purchase" or ts - datetime.fromisoformat(prev["ts"]) > GAP:
            cycle += 1
        case_id = r["customer_id"] if case == "customer" else f"{r['customer_id']}#{cycle}"
        converts[case_id] |= r["action"] == "purchase"
        records.append({"case": case_id, "activity": r["touchpoint"], "ts": ts})
        prev = r
    df = pd.DataFrame(records)
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    return df, converts


@pytest.mark.parametrize("case", ["customer", "cycle"])
def test_agrees_with_pm4py(store: Store, csv_file: Callable[..., Path], case: str) -> None:
    pm4py = pytest.importorskip("pm4py")
    rows = random_log(300, seed=20260101)
    ingest_files(
        store,
        [csv_file(rows, columns=["event_id", "customer_id", "touchpoint", "ts", "action", "nps"])],
    )
    df, converts = pm4py_frame(rows, case)
    keys = {"case_id_key": "case", "activity_key": "activity", "timestamp_key": "ts"}
    freq, start, end = pm4py.discover_dfg(df, **keys)
    perf, _, _ = pm4py.discover_performance_dfg(df, **keys)
    pm_variants = pm4py.get_variants(df, **keys)

    ours = run(store, "journeys.dfg", case=case)
    assert len(freq) > 30, "a log this small would prove little"
    assert {(e["from"], e["to"]): e["count"] for e in ours["edges"]} == dict(freq)
    assert ours["starts"] == dict(start)
    assert ours["ends"] == dict(end)
    for e in ours["edges"]:
        theirs = perf[(e["from"], e["to"])]
        assert e["mean_seconds"] == pytest.approx(float(theirs["mean"]), abs=1e-6)
        assert e["median_seconds"] == pytest.approx(float(theirs["median"]), abs=1e-6)

    ours_v = run(store, "journeys.variants", case=case)["variants"]
    assert {tuple(v["path"]): v["count"] for v in ours_v} == dict(pm_variants)
    paths = df.groupby("case", sort=False)["activity"].agg(tuple)
    expected_conv = Counter(p for c, p in paths.items() if converts[c])
    assert {tuple(v["path"]): v["conversions"] for v in ours_v if v["conversions"]} == dict(
        expected_conv
    )
    counts = [(-v["count"], v["path"]) for v in ours_v]
    assert counts == sorted(counts)
