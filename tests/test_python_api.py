"""The Python API (SPEC §8) on the demo store: every analysis of the registry answers, from
`ws.<method>(**options)`, exactly the CLI's `--json` and the HTTP body for the same
options, and reads as a table (pandas, Arrow, Jupyter HTML). Also: introspectable
signatures, and a DuckDB workspace that never keeps the file locked between calls.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import touchpoints as tp
from touchpoints.analytics.registry import Analysis, analyses, get, option_flag
from touchpoints.analytics.results import Result
from touchpoints.cli import app as cli
from touchpoints.core.errors import UsageError
from touchpoints.core.settings import Settings
from touchpoints.server import auth
from touchpoints.server.app import create_app

# Options for each analysis, named as in Python; chosen to leave the defaults where they
# exercise something (lists, booleans, aliases, a positional argument).
OPTIONS: dict[str, dict[str, Any]] = {
    "kpis": {"by": "touchpoint", "answer_within": 60},
    "heatmap": {"timezone": "America/Sao_Paulo", "short_abandon": 5},
    "events": {"metric": "abandoned", "touchpoint": ["phone", "whatsapp"], "limit": 7, "offset": 2},
    "journeys.dfg": {"case": "cycle", "top": 5},
    "journeys.variants": {"top": 3, "date_from": "2025-03-01", "date_to": "2025-09-30"},
    "journeys.funnel": {"steps": ["website", "store"], "case": "cycle"},
    "journeys.gaps": {"channel": ["messaging", "store"]},
    "journeys.sankey": {"depth": 3},
    "strength": {"by_phase": False},
    "journeys.moments": {},
    "retention": {"max_offset": 3},
    "attribution": {"model": "markov", "order": 2, "details": True},
    "whatif": {"touchpoint": "phone", "abandonment": 0.02},
    "insights": {"lang": "pt-BR", "min_answers": 5},
    "staffing": {"touchpoint": ["phone"], "target_service_level": 0.8},
    "feedback.comments": {"limit": 20, "segment": ["fleet"]},
    "feedback.first-heard": {},
    "live": {"window": 30},
    "customer.journey": {"customer_id": "C000112", "gap": "10d"},
    "customer.events": {"customer_id": "C000112", "timezone": "America/Sao_Paulo"},
    "agents": {"touchpoint": ["whatsapp", "phone"], "min_answers": 5, "answer_within": 30},
    "summary": {"segments": 2, "channel": ["messaging"]},
    "attendant.kpis": {"date_from": "2025-01-01", "touchpoint": ["whatsapp"]},
    "attendant.missed": {"limit": 5},
    "forecast": {"touchpoint": ["whatsapp"], "horizon": "2d", "timezone": "America/Sao_Paulo"},
    "changes.list": {},
    "effect": {
        "change": 1,
        "metric": "abandonment_rate",
        "window": "90d",
        "timezone": "America/Sao_Paulo",
    },
}
# Answers that depend on the clock, not on the data: left out of the comparison.
CLOCK = {"live": ("now",)}
# Attribution sums DOUBLE revenue in the engine, whose parallel summation order varies from
# run to run: the last bit of `value` and `total_value` may differ between two runs.
FLOAT_SUMS = {"attribution"}


def method(ws: tp.Workspace, analysis: Analysis) -> Any:
    """`ws.journeys.dfg`, `ws.feedback.first_heard`, `ws.kpis`: as a user writes it."""
    target: Any = ws
    for word in analysis.words:
        target = getattr(target, word.replace("-", "_"))
    return target


def cli_args(analysis: Analysis, options: dict[str, Any]) -> list[str]:
    args = list(analysis.words)
    for name, value in options.items():
        if name in analysis.arguments:
            args.append(str(value))
            continue
        flag = option_flag(name)
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag.removeprefix("--"))
        elif isinstance(value, list):
            for item in value:
                args += [flag, str(item)]
        else:
            args += [flag, str(value)]
    return args


def url(analysis: Analysis, options: dict[str, Any]) -> str:
    path = analysis.http_path
    query: list[tuple[str, str]] = []
    for name, value in options.items():
        if name in analysis.arguments:
            path = path.replace("{" + name + "}", quote(str(value)))
            continue
        key = option_flag(name).removeprefix("--").replace("-", "_")
        values = value if isinstance(value, list) else [value]
        query += [(key, str(v).lower() if isinstance(v, bool) else str(v)) for v in values]
    return path + ("?" + urlencode(query) if query else "")


def comparable(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """The answer without its clock keys."""
    return {k: v for k, v in data.items() if k not in CLOCK.get(name, ())}


def expected(name: str, data: dict[str, Any]) -> Any:
    """What another interface must answer: the same, floats of engine-side sums to 12
    significant digits."""
    data = comparable(name, data)
    return _approx(data) if name in FLOAT_SUMS else data


def _approx(value: Any) -> Any:
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-12)
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_approx(v) for v in value]
    return value


@pytest.fixture(scope="module")
def answers(demo_300: str) -> dict[str, dict[str, Any]]:
    """Each analysis's answer through Python and through the CLI (before a server holds
    the file): name -> {"python": Result, "cli": dict}."""
    out: dict[str, dict[str, Any]] = {}
    ws = tp.open(demo_300, read_only=True)
    for analysis in analyses():
        options = OPTIONS[analysis.name]
        result = method(ws, analysis)(**options)
        run = CliRunner().invoke(cli, [*cli_args(analysis, options), "--json", "--db", demo_300])
        assert run.exit_code == 0, (analysis.name, run.output, run.exception)
        out[analysis.name] = {"python": result, "cli": json.loads(run.stdout)}
    return out


def test_every_analysis_has_options_here() -> None:
    """A new analysis joins this file (and so the guarantees below) by getting options."""
    assert set(OPTIONS) == {a.name for a in analyses()}


def test_python_equals_the_cli_json(answers: dict[str, dict[str, Any]]) -> None:
    for name, got in answers.items():
        assert isinstance(got["python"], Result)
        assert comparable(name, got["cli"]) == expected(name, got["python"].to_dict()), name
        assert json.loads(got["python"].to_json()) == got["python"].to_dict(), name


def test_python_equals_the_api_body(demo_300: str, answers: dict[str, dict[str, Any]]) -> None:
    with TestClient(create_app(Settings(db=demo_300), demo_300)) as client:
        key = auth.create_key(client.app.state.service.store, ["read"])[1]  # type: ignore[attr-defined]
        headers = {"Authorization": f"Bearer {key}"}
        for analysis in analyses():
            r = client.get(url(analysis, OPTIONS[analysis.name]), headers=headers)
            assert r.status_code == 200, (analysis.name, r.text)
            python = answers[analysis.name]["python"].to_dict()
            assert comparable(analysis.name, r.json()) == expected(analysis.name, python)


def expected_rows(data: dict[str, Any], analysis: Analysis) -> int:
    """How many items the main table holds, counted from the JSON itself: one row for a
    result without a table, one per inner item for a dotted table or an exploded list."""
    table, explode = analysis.table, analysis.explode
    outer, _, inner = table.partition(".")
    if inner:
        return sum(len(item[inner]) for item in data[outer])
    if not table or table not in data:
        return 1
    if explode:
        return sum(max(len(item[explode]), 1) for item in data[table])
    return len(data[table])


def test_main_table_as_pandas_arrow_and_html(answers: dict[str, dict[str, Any]]) -> None:
    for name, got in answers.items():
        result: Result = got["python"]
        n = expected_rows(result.to_dict(), result.analysis)
        frame, arrow = result.to_pandas(), result.to_arrow()
        assert (len(frame), arrow.num_rows) == (n, n), name
        assert list(frame.columns) == arrow.column_names
        page = result._repr_html_()
        assert page.startswith("<div>") and "<table>" in page and page.endswith("</div>"), name
        assert page.count("<tr>") == min(n, 50) + 1, name  # the header, then the rows
    assert answers["events"]["python"].to_pandas()["event_id"].is_unique
    steps = answers["customer.journey"]["python"].to_pandas()
    assert list(steps.columns) == ["cycle", "converts", "event_id", "ts", "touchpoint", "phase"]


def test_signatures_list_the_options() -> None:
    ws_type = tp.Workspace
    kpis = inspect.signature(ws_type.kpis)
    assert {"answer_within", "short_abandon", "by", "date_from", "touchpoint"} <= set(
        kpis.parameters
    )
    assert kpis.parameters["by"].kind is inspect.Parameter.KEYWORD_ONLY
    journey = inspect.signature(_group_method("customer", "journey"))
    first = list(journey.parameters.values())[1]
    assert (first.name, first.kind) == ("customer_id", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    assert first.default is inspect.Parameter.empty
    events = inspect.signature(_group_method(None, "events"))
    assert {"metric", "limit", "offset", "answer_within"} <= set(events.parameters)
    for analysis in analyses():
        doc = inspect.getdoc(_group_method(*_split(analysis)))
        assert doc and f"touchpoints {' '.join(analysis.words)}" in doc, analysis.name


def _split(analysis: Analysis) -> tuple[str | None, str]:
    *group, name = analysis.words
    return (group[0] if group else None), name


def _group_method(group: str | None, name: str) -> Any:
    """A method from the class, without opening any store."""
    owner: Any = tp.Workspace
    if group is not None:
        owner = getattr(tp.Workspace, group).fget(None).__class__  # the group's class
    return getattr(owner, name.replace("-", "_"))


def test_options_are_checked_like_the_cli(demo_300: str) -> None:
    ws = tp.open(demo_300, read_only=True)
    with pytest.raises(UsageError, match="kpis takes no option 'bye'"):
        ws.kpis(bye="touchpoint")
    with pytest.raises(UsageError, match="--metric 'abandons': use one of offered"):
        ws.events(metric="abandons")
    with pytest.raises(UsageError, match="no customer 'nobody' in this store"):
        ws.customer.journey("nobody")
    assert (
        ws.run("journeys.dfg", case="cycle", top=5).to_dict()
        == ws.journeys.dfg(case="cycle", top=5).to_dict()
    )
    assert ws.kpis(touchpoint="phone").to_dict() == ws.kpis(touchpoint=["phone"]).to_dict()
    assert ws.kpis(**{"from": "2025-06-01"}).to_dict() == ws.kpis(date_from="2025-06-01").to_dict()


WRITE = """
import sys
from touchpoints.ingest import ingest_records
from touchpoints.store import open_store
store = open_store(sys.argv[1])
ingest_records(store, [{"event_id": "late", "customer_id": "zz", "touchpoint": "phone",
                       "ts": "2026-01-01T10:00:00", "abandoned": False, "wait_seconds": 3}], "late")
store.close()
"""


def test_a_duckdb_workspace_never_holds_the_file_between_calls(tmp_path: Path) -> None:
    db = str(tmp_path / "shared.duckdb")
    ws = tp.open(db)  # creates the store
    assert ws.kpis().to_dict()["rows"][0]["events"] == 0
    # Another process writes while the workspace is open...
    done = subprocess.run([sys.executable, "-c", WRITE, db], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # ...and the workspace's next call sees it.
    assert ws.events().to_dict()["total"] == 1
    assert ws.customer.journey("zz").to_dict()["cycles"][0]["steps"][0]["event_id"] == "late"
    ws.close()


def test_read_only_workspace_reads_and_refuses_writes(demo_300: str, tmp_path: Path) -> None:
    ws = tp.open(demo_300, read_only=True)
    assert ws.kpis().to_dict()["rows"][0]["events"] > 0
    # Two read-only workspaces (two notebooks) read the same file side by side.
    other = tp.open(demo_300, read_only=True)
    assert other.events(limit=1).to_dict()["total"] == ws.kpis().to_dict()["rows"][0]["events"]
    with pytest.raises(UsageError, match="read-only"):
        ws.ingest(tmp_path / "nothing.csv")
    with pytest.raises(tp.TouchpointsError):
        tp.open(str(tmp_path / "missing.duckdb"), read_only=True)


def test_every_analysis_needs_no_store_to_be_described() -> None:
    """help() works without data: the docstring is the analysis's own description."""
    assert get("events").description.startswith("The events under the filters, newest first")
    assert "touchpoints customer journey" in _group_method("customer", "journey").__doc__
