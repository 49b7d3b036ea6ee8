"""The public Python API is explicit (`__all__`), like HTTPX: this guards it."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import touchpoints as tp
from conftest import run
from touchpoints.core.events import COLUMNS

ROOT = Path(__file__).resolve().parents[1]


def test_public_api_is_exactly_all() -> None:
    # Submodules appear as attributes once imported; they are not API.
    public = {n for n in dir(tp) if not n.startswith("_") and not inspect.ismodule(getattr(tp, n))}
    assert public == set(tp.__all__) - {"__version__"}


def test_open_gives_a_workspace_of_analyses(tmp_path: Path) -> None:
    """SPEC §8: `tp.open(target)` is a workspace whose methods are the analyses, named like
    the commands, each returning a Result whose `to_dict()` is the `--json` object."""
    target = str(tmp_path / "a.duckdb")
    with tp.open(target) as ws:
        assert isinstance(ws, tp.Workspace)
        assert ws.target == target
        with ws.store() as store:
            assert isinstance(store, tp.Store)
            assert store.engine == "duckdb"
            assert store.count() == 0
            expected = run(store, "kpis")
        result = ws.kpis()
        assert isinstance(result, tp.Result)
        assert result.to_dict() == expected
        assert expected["rows"][0]["group"] == "all"
        assert ws.kpis(by="touchpoint").to_dict() == {"rows": []}
        assert callable(ws.journeys.dfg) and callable(ws.attribution)


def test_workspace_methods_take_the_options_by_name(tmp_path: Path) -> None:
    """Keyword arguments are the analysis's option names; an unknown one is a UsageError
    naming it, as the CLI would."""
    with tp.open(str(tmp_path / "a.duckdb")) as ws:
        params = inspect.signature(ws.kpis).parameters
        assert {"by", "answer_within", "short_abandon", "date_from", "timezone"} <= set(params)
        with pytest.raises(tp.UsageError, match="takes no option 'colour'"):
            ws.kpis(colour="red")


def test_docs_list_every_event_column_in_order() -> None:
    """docs/events.md is the users' copy of the schema: it must not drift from the code."""
    text = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    documented = re.findall(
        r"^\| `([a-z_]+)` \| (text|timestamp|number|bool|int) \|", text, flags=re.M
    )
    names = [name for name, _ in documented]
    assert names == [c.name for c in COLUMNS]
    kinds = {
        "text": "text",
        "timestamp": "timestamp",
        "double": "number",
        "int": "int",
        "bool": "bool",
    }
    assert [k for _, k in documented] == [kinds[c.type] for c in COLUMNS]
