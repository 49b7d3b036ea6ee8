"""One glossary, one name per concept: docs/glossary.md names every key of the column
labels (core/messages/metric.yaml) with exactly its English and Portuguese labels, so a
label changed in one place and not the other fails here; every SPEC §4 metric has its
label; and every column an analysis's main table can show (terminal, CSV, Jupyter) has one
too, so no header ever reads `metric.<key>`."""

from __future__ import annotations

import re
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from touchpoints.analytics import registry
from touchpoints.analytics.kpis import KPI_KEYS
from touchpoints.core import messages

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"
HEADER = ("key", "en", "pt-BR", "meaning")

# SPEC §4, "Metric definitions": the keys of its table, `revenue` (defined with
# `conversions`) and the retention paragraph's `retention` and `churn`.
SPEC4 = (
    "events",
    "customers",
    "offered",
    "answered",
    "abandoned",
    "abandonment_rate",
    "tme_seconds",
    "tma_seconds",
    "service_level",
    "fcr",
    "csat",
    "nps",
    "nps_margin",
    "ces",
    "conversions",
    "revenue",
    "promise_kept_rate",
    "data_reuse_rate",
    "emotion",
    "retention",
    "churn",
)


def labels() -> dict[str, dict[str, str]]:
    """metric.yaml as YAML reads it: key -> {en, pt-BR}."""
    text = resources.files(messages).joinpath("metric.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def cells(line: str) -> list[str]:
    """The cells of one Markdown table row (`\\|` is a pipe inside a cell)."""
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def glossary_rows() -> list[tuple[str, str, str, str]]:
    """(key, en, pt-BR, meaning) of every row of the glossary's key tables, in order."""
    rows: list[tuple[str, str, str, str]] = []
    in_table = False
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        row = cells(line)
        if tuple(row) == HEADER:
            in_table = True
        elif in_table and not set("".join(row)) <= set("-: "):
            assert len(row) == 4, line
            key = row[0]
            assert key.startswith("`") and key.endswith("`"), line
            rows.append((key.strip("`"), row[1], row[2], row[3]))
    return rows


def test_every_label_is_a_glossary_row_with_exactly_its_labels() -> None:
    rows = glossary_rows()
    keys = [r[0] for r in rows]
    assert len(keys) == len(set(keys)), [k for k in keys if keys.count(k) > 1]
    yaml_labels = labels()
    assert set(yaml_labels) - set(keys) == set(), "keys of metric.yaml missing in the glossary"
    assert set(keys) - set(yaml_labels) == set(), "glossary rows with no key in metric.yaml"
    for key, en, pt, meaning in rows:
        assert (en, pt) == (yaml_labels[key]["en"], yaml_labels[key]["pt-BR"]), key
        assert meaning, key


def test_the_glossary_reads_the_labels_the_program_shows() -> None:
    """The rows agree with the catalog as the program loads it, not just as YAML reads it."""
    for key, en, pt, _ in glossary_rows():
        assert messages.t("en", "metric." + key) == en
        assert messages.t("pt-BR", "metric." + key) == pt


def test_the_glossary_parser_sees_every_table() -> None:
    text = GLOSSARY.read_text(encoding="utf-8")
    headers = sum(1 for line in text.splitlines() if tuple(cells(line)) == HEADER)
    assert headers >= 10
    assert len(glossary_rows()) == len(labels())


def test_every_spec_metric_has_its_label() -> None:
    assert set(SPEC4) <= set(labels())
    assert set(SPEC4) <= set(KPI_KEYS)


def _spec_file() -> Path | None:
    for candidate in (ROOT / "SPEC.md", ROOT.parent / "shared" / "SPEC.md"):
        if candidate.is_file():
            return candidate
    return None


@pytest.mark.skipif(_spec_file() is None, reason="SPEC.md is not beside this checkout")
def test_spec4_as_written_is_the_list_above() -> None:
    """When SPEC.md is at hand, its §4 table is exactly SPEC4 less the keys defined in
    its prose (`revenue` in the `conversions` row, `retention` and `churn` below)."""
    spec = _spec_file()
    assert spec is not None
    text = spec.read_text(encoding="utf-8")
    section = text.split("## 4.", 1)[1].split("\n## ", 1)[0]
    keys = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)
    assert set(keys) == set(SPEC4) - {"revenue", "retention", "churn"}
    assert "`revenue`" in section and "retention" in section and "churn" in section


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The models inside a type: `list[Step]` -> [Step], `Totals | None` -> [Totals]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _nested(annotation: Any) -> bool:
    """An object (a model or a dict: it flattens into `a.b` columns) or a list of objects
    (a table of its own), possibly optional."""
    for arg in (*typing.get_args(annotation), annotation):
        origin = typing.get_origin(arg) or arg
        if isinstance(origin, type) and (issubclass(origin, BaseModel) or origin is dict):
            return True
        if origin is list and _models(arg):
            return True
    return False


def _columns(model: type[BaseModel]) -> set[str]:
    """The columns of a row of `model` that are headed by their own key."""
    return {
        field.alias or name
        for name, field in model.model_fields.items()
        if not _nested(field.annotation)
    }


def test_every_column_of_a_main_table_has_a_label() -> None:
    """Tables, CSV headers and Jupyter head each column with its key's label; a result
    model's row fields are those columns (rows typed as plain dicts are not checked)."""
    known = labels()
    missing: dict[str, list[str]] = {}
    for analysis in registry.analyses():
        model: type[BaseModel] | None = analysis.result
        for part in [p for p in analysis.table.split(".") if p]:
            field = model.model_fields.get(part) if model else None
            inner = _models(field.annotation) if field else []
            model = inner[0] if inner else None
        if model is None:
            continue
        unlabelled = sorted(c for c in _columns(model) if c not in known)
        if unlabelled:
            missing[analysis.name] = unlabelled
    assert missing == {}
