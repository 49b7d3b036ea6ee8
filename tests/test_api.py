"""The public Python API is explicit (`__all__`), like HTTPX: this guards it."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import touchpoints as tp
from touchpoints.core.events import COLUMNS

ROOT = Path(__file__).resolve().parents[1]


def test_public_api_is_exactly_all() -> None:
    # Submodules appear as attributes once imported; they are not API.
    public = {n for n in dir(tp) if not n.startswith("_") and not inspect.ismodule(getattr(tp, n))}
    assert public == set(tp.__all__) - {"__version__"}


def test_open_is_the_store_factory(tmp_path: Path) -> None:
    with tp.open(str(tmp_path / "a.duckdb")) as store:
        assert isinstance(store, tp.Store)
        assert store.engine == "duckdb"
        assert store.count() == 0


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
