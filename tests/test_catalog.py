"""The touchpoint catalog (SPEC §1): the shipped default, validation messages, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

import touchpoints as tp
from touchpoints.core.catalog import TARGET_KEYS

TOUCHPOINTS_BIN = str(Path(sys.executable).with_name("touchpoints"))
DEFAULT_FILE = str(resources.files("touchpoints").joinpath("data/catalog.yaml"))

# The examples of the seed documents that SPEC §1 lists (store parking included).
SEED_EXAMPLES = (
    "ads",
    "website",
    "email",
    "direct_mail",
    "phone",
    "sms",
    "pos_display",
    "signage",
    "store",
    "parking",
    "delivery",
    "contract",
    "whatsapp",
    "chat",
    "social",
)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPOINTS_")}
    return subprocess.run(
        [TOUCHPOINTS_BIN, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60
    )


# -- the default catalog ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def default() -> tp.Catalog:
    return tp.default_catalog()


@pytest.mark.parametrize("tp_id", SEED_EXAMPLES)
def test_default_catalog_has_seed_example(default: tp.Catalog, tp_id: str) -> None:
    entry = default.get(tp_id)
    assert entry is not None, f"{tp_id} missing from the default catalog"
    assert entry.is_touchpoint, f"{tp_id} must be a touchpoint (visibility both)"
    assert isinstance(entry.name, dict)
    assert set(entry.name) == {"en", "pt-BR"}
    assert all(entry.name[lang].strip() for lang in ("en", "pt-BR"))
    assert entry.kind in ("static", "interactive", "human")
    assert entry.phase, f"{tp_id} has no planned phase"
    assert set(entry.phase) <= {"before", "during", "after"}
    assert entry.channel


def test_default_catalog_names_differ_by_language(default: tp.Catalog) -> None:
    # pt-BR names really are Portuguese, not a copy of the English ones.
    assert default.get("store").label("pt-BR") == "Loja física"
    assert default.get("store").label("en") == "Physical store"
    assert default.get("parking").label("pt-BR") != default.get("parking").label("en")


def test_default_catalog_has_all_three_kinds(default: tp.Catalog) -> None:
    kinds = {t.kind for t in default.touchpoints if t.is_touchpoint}
    assert kinds == {"static", "interactive", "human"}


def test_default_catalog_kinds_follow_spec_definitions(default: tp.Catalog) -> None:
    # SPEC §1: static = flyers, billboards, signage; interactive = e-mail, online ads,
    # social, website; human = attendants, sales reps, agents.
    expected = {
        "signage": "static",
        "direct_mail": "static",
        "pos_display": "static",
        "ads": "interactive",
        "website": "interactive",
        "email": "interactive",
        "social": "interactive",
        "phone": "human",
        "store": "human",
    }
    assert {k: default.get(k).kind for k in expected} == expected


def test_default_catalog_has_blueprint_lanes_that_are_not_touchpoints(default: tp.Catalog) -> None:
    assert default.get("warehouse").visibility == "company"
    assert default.get("compare_options").visibility == "customer"
    assert not default.get("warehouse").is_touchpoint
    assert not default.get("compare_options").is_touchpoint


def test_default_catalog_ids_unique_and_targets_valid(default: tp.Catalog) -> None:
    assert len(default.ids) == len(set(default.ids))
    for t in default.touchpoints:
        assert set(t.target) <= set(TARGET_KEYS)
    assert default.get("phone").target["service_level"] == 0.8
    assert default.get("phone").target["tme_seconds"] == 60


def test_default_catalog_yaml_round_trip(default: tp.Catalog) -> None:
    again = tp.parse_catalog(default.to_yaml(), "round trip")
    assert again == default


def test_load_catalog_of_default_file_equals_default(default: tp.Catalog) -> None:
    assert tp.load_catalog(DEFAULT_FILE) == default


# -- validation ------------------------------------------------------------------------------
GOOD = "  - {id: web, name: Web, channel: website, kind: interactive}\n"


def entry(extra: str) -> str:
    return "touchpoints:\n" + GOOD + "  - {id: x, name: X, channel: c, kind: human" + extra + "}\n"


INVALID = [
    pytest.param(
        "touchpoints:\n" + GOOD + "  - {id: x, name: X, channel: c, kind: robot}\n",
        "cat.yaml: touchpoints[1] (id 'x'): field 'kind': "
        "Input should be 'static', 'interactive' or 'human'",
        id="bad-kind",
    ),
    pytest.param(
        "touchpoints:\n" + GOOD + "  - {id: x, name: X, kind: human}\n",
        "cat.yaml: touchpoints[1] (id 'x'): field 'channel': required field is missing",
        id="missing-channel",
    ),
    pytest.param(
        "touchpoints:\n" + GOOD + "  - {id: web, name: Web 2, channel: website, kind: static}\n",
        "cat.yaml: touchpoints[1] (id 'web'): field 'id': duplicate of touchpoints[0]",
        id="duplicate-id",
    ),
    pytest.param(
        entry(", colour: red"),
        "cat.yaml: touchpoints[1] (id 'x'): field 'colour': unknown field",
        id="unknown-field",
    ),
    pytest.param(
        entry(", target: {speed: 3}"),
        "cat.yaml: touchpoints[1] (id 'x'): field 'target': unknown target 'speed'; known: "
        + ", ".join(TARGET_KEYS),
        id="bad-target-key",
    ),
    pytest.param(
        entry(", target: {service_level: 80}"),
        "cat.yaml: touchpoints[1] (id 'x'): field 'target': "
        "target 'service_level' must be between 0 and 1 (a share)",
        id="service-level-above-1",
    ),
    pytest.param(
        entry(", target: {csat: 101}"),
        "cat.yaml: touchpoints[1] (id 'x'): field 'target': target 'csat' must be between 0 and 100",
        id="csat-above-100",
    ),
    pytest.param(
        entry(", target: {nps: 150}"),
        "cat.yaml: touchpoints[1] (id 'x'): field 'target': target 'nps' must be between -100 and 100",
        id="nps-above-100",
    ),
    pytest.param(
        entry(", target: {ces: 9}"),
        "cat.yaml: touchpoints[1] (id 'x'): field 'target': target 'ces' must be between 1 and 7",
        id="ces-above-7",
    ),
    pytest.param(
        entry(", target: {tme_seconds: -5}"),
        "cat.yaml: touchpoints[1] (id 'x'): field 'target': target 'tme_seconds' must be >= 0",
        id="negative-seconds",
    ),
    pytest.param(
        entry(", target: {csat: .nan}"),
        "cat.yaml: touchpoints[1] (id 'x'): field 'target': target 'csat' must be a finite number",
        id="nan-target",
    ),
    pytest.param(
        entry(", target: {csat: high}"),
        "cat.yaml: touchpoints[1] (id 'x'): field 'target.csat': "
        "Input should be a valid number, unable to parse string as a number",
        id="non-numeric-target",
    ),
    pytest.param(
        entry(", visibility: everyone"),
        "cat.yaml: touchpoints[1] (id 'x'): field 'visibility': "
        "Input should be 'both', 'company' or 'customer'",
        id="bad-visibility",
    ),
    pytest.param(
        entry(", phase: [before, later]"),
        "cat.yaml: touchpoints[1] (id 'x'): field 'phase.1': "
        "Input should be 'before', 'during' or 'after'",
        id="bad-phase",
    ),
    pytest.param(
        entry(", phase: [after, after]"),
        "cat.yaml: touchpoints[1] (id 'x'): field 'phase': phase 'after' is listed twice",
        id="repeated-phase",
    ),
    pytest.param(
        "touchpoints:\n  - {id: Web Site, name: W, channel: website, kind: static}\n",
        "cat.yaml: touchpoints[0] (id 'Web Site'): field 'id': "
        "must be a slug: lowercase letters, digits, '_' or '-'",
        id="id-not-slug",
    ),
    pytest.param(
        "touchpoints:\n  - {id: w, name: {fr: Site}, channel: website, kind: static}\n",
        "cat.yaml: touchpoints[0] (id 'w'): field 'name': unknown language 'fr'; use en and pt-BR",
        id="unknown-language",
    ),
    pytest.param(
        "touchpoints:\n  - {id: w, name: {en: Site, pt-BR: ''}, channel: website, kind: static}\n",
        "cat.yaml: touchpoints[0] (id 'w'): field 'name': pt-BR name must be non-empty text",
        id="empty-translation",
    ),
    pytest.param(
        "touchpoints:\n  - {id: w, name: null, channel: website, kind: static}\n",
        "cat.yaml: touchpoints[0] (id 'w'): field 'name': must be text or a map {en: ..., pt-BR: ...}",
        id="null-name",
    ),
    pytest.param(
        "touchpoints:\n  - id: x\n    name: [unclosed\n  kind: human\n",
        "cat.yaml: not valid YAML at line 4, column 7: expected ',' or ']', but got ':'",
        id="invalid-yaml",
    ),
    pytest.param(
        "touchpoints:\n  - id: x\n   name: y\n",
        "cat.yaml: not valid YAML at line 3, column 4: expected <block end>, but found "
        "'<block mapping start>'",
        id="invalid-yaml-indentation",
    ),
    pytest.param(
        "touchpoints: []\n",
        "cat.yaml: 'touchpoints' must be a non-empty list",
        id="empty-list",
    ),
    pytest.param(
        "",
        "cat.yaml: expected a mapping with a 'touchpoints' list at the top",
        id="empty-file",
    ),
    pytest.param(
        "- {id: w, name: W, channel: website, kind: static}\n",
        "cat.yaml: expected a mapping with a 'touchpoints' list at the top",
        id="bare-list",
    ),
    pytest.param(
        "touchpoints:\n  - {id: w, name: W, channel: backstage, kind: human, visibility: company}\n"
        "  - {id: c, name: C, channel: customer, kind: human, visibility: customer}\n",
        "cat.yaml: no entry has visibility 'both', so no event could be recorded",
        id="no-both-entry",
    ),
    pytest.param(
        "touchpoints:\n" + GOOD + "version: 2\n",
        "cat.yaml: field 'version': unknown field",
        id="unknown-top-level-key",
    ),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid_catalog_names_entry_and_field(text: str, message: str) -> None:
    with pytest.raises(tp.CatalogError) as info:
        tp.parse_catalog(text, "cat.yaml")
    assert str(info.value) == message


def test_every_problem_of_an_entry_is_reported() -> None:
    text = "touchpoints:\n  - {id: x, name: X, kind: robot}\n"
    with pytest.raises(tp.CatalogError) as info:
        tp.parse_catalog(text, "cat.yaml")
    assert str(info.value).splitlines() == [
        "cat.yaml: touchpoints[0] (id 'x'): field 'channel': required field is missing",
        "cat.yaml: touchpoints[0] (id 'x'): field 'kind': "
        "Input should be 'static', 'interactive' or 'human'",
    ]


def test_valid_targets_at_their_bounds_are_accepted() -> None:
    text = (
        "touchpoints:\n  - {id: x, name: X, channel: c, kind: human, target: "
        "{nps: -20, csat: 100, ces: 1, service_level: 1, abandonment_rate: 0, tme_seconds: 0}}\n"
    )
    t = tp.parse_catalog(text).get("x")
    assert t.target == {
        "nps": -20,
        "csat": 100,
        "ces": 1,
        "service_level": 1,
        "abandonment_rate": 0,
        "tme_seconds": 0,
    }


def test_minimal_entry_gets_defaults_and_plain_name() -> None:
    cat = tp.parse_catalog(
        "touchpoints:\n  - {id: kiosk, name: Kiosk, channel: store, kind: static}\n"
    )
    t = cat.get("kiosk")
    assert (t.visibility, t.phase, t.owner, t.target) == ("both", [], None, {})
    assert t.label("pt-BR") == "Kiosk"
    assert cat.get("nope") is None


def test_label_falls_back_to_the_other_language() -> None:
    cat = tp.parse_catalog(
        "touchpoints:\n  - {id: loja, name: {pt-BR: Loja}, channel: store, kind: human}\n"
    )
    assert cat.get("loja").label("en") == "Loja"
    assert cat.get("loja").label("pt-BR") == "Loja"


def test_load_catalog_missing_file(tmp_path: Path) -> None:
    with pytest.raises(tp.CatalogError, match="cannot read catalog"):
        tp.load_catalog(tmp_path / "nope.yaml")


def test_load_catalog_reports_its_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("touchpoints:\n  - {id: x, name: X, kind: human}\n", encoding="utf-8")
    with pytest.raises(tp.CatalogError) as info:
        tp.load_catalog(path)
    assert (
        str(info.value)
        == f"{path}: touchpoints[0] (id 'x'): field 'channel': required field is missing"
    )


# -- CLI ---------------------------------------------------------------------------------------
CUSTOM = """touchpoints:
  - id: kiosk
    name: {en: Self-service kiosk, pt-BR: Totem de autoatendimento}
    channel: store
    kind: interactive
    phase: [during]
    target: {csat: 90}
  - id: back_office
    name: Back office
    channel: backstage
    kind: human
    visibility: company
"""


def test_cli_validate_default_file_exits_0() -> None:
    proc = run_cli("catalog", "validate", DEFAULT_FILE)
    assert proc.returncode == 0, proc.stderr
    n_both = sum(1 for t in tp.default_catalog().touchpoints if t.is_touchpoint)
    n_lanes = len(tp.default_catalog().touchpoints) - n_both
    assert f"valid — {n_both} touchpoints, {n_lanes} blueprint lanes" in proc.stdout


def test_cli_validate_bad_file_exits_2_with_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "touchpoints:\n  - {id: x, name: X, channel: c, kind: robot}\n", encoding="utf-8"
    )
    proc = run_cli("catalog", "validate", "bad.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    flat = " ".join(proc.stderr.split())
    assert flat.startswith("error: bad.yaml: touchpoints[0] (id 'x'): field 'kind'")
    assert "Input should be 'static', 'interactive' or 'human'" in flat


def test_cli_show_file_json(tmp_path: Path) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text(CUSTOM, encoding="utf-8")
    proc = run_cli("catalog", "show", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert [t["id"] for t in shown["touchpoints"]] == ["kiosk", "back_office"]
    assert shown["touchpoints"][0]["name"]["pt-BR"] == "Totem de autoatendimento"
    assert shown["touchpoints"][0]["target"] == {"csat": 90.0}
    assert shown["touchpoints"][1]["visibility"] == "company"


def test_cli_show_file_table_in_portuguese(tmp_path: Path) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text(CUSTOM, encoding="utf-8")
    proc = run_cli("catalog", "show", str(path), "--lang", "pt-BR")
    assert proc.returncode == 0, proc.stderr
    assert "Totem de autoatendimento" in proc.stdout
    assert "Self-service kiosk" not in proc.stdout


def test_cli_show_json_lists_the_stored_catalog(tmp_path: Path) -> None:
    db = str(tmp_path / "t.duckdb")
    # A fresh store shows the package default.
    proc = run_cli("catalog", "show", "--json", "--db", db)
    assert proc.returncode == 0, proc.stderr
    assert [t["id"] for t in json.loads(proc.stdout)["touchpoints"]] == tp.default_catalog().ids

    custom = tmp_path / "custom.yaml"
    custom.write_text(CUSTOM, encoding="utf-8")
    events = tmp_path / "events.csv"
    events.write_text(
        "customer_id,touchpoint,ts\nc1,kiosk,2026-01-01T10:00:00Z\n", encoding="utf-8"
    )
    proc = run_cli("ingest", str(events), "--catalog", str(custom), "--db", db, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ingested"] == 1

    proc = run_cli("catalog", "show", "--json", "--db", db)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)["touchpoints"]
    assert [t["id"] for t in shown] == ["kiosk", "back_office"]
    assert shown[0]["name"] == {"en": "Self-service kiosk", "pt-BR": "Totem de autoatendimento"}


def test_cli_catalog_load_then_show(tmp_path: Path) -> None:
    db = str(tmp_path / "t.duckdb")
    custom = tmp_path / "custom.yaml"
    custom.write_text(CUSTOM, encoding="utf-8")
    proc = run_cli("catalog", "load", str(custom), "--db", db)
    assert proc.returncode == 0, proc.stderr
    with tp.open(db) as store:
        assert store.catalog().ids == ["kiosk", "back_office"]
        assert store.query("SELECT id, name_pt, visibility FROM touchpoints ORDER BY id") == [
            {"id": "back_office", "name_pt": "Back office", "visibility": "company"},
            {"id": "kiosk", "name_pt": "Totem de autoatendimento", "visibility": "both"},
        ]


CATALOG_TABLES = {
    "en": {
        "titles": ("Touchpoints", "Targets", "Blueprint lanes"),
        "headers": ("id", "name", "kind", "channel", "phase", "owner"),
        # phone: ASA 60 s, service level 0.8 within 60 s, abandonment 0.05, CSAT 85 %
        "phone": ("phone", "1 min", "80.0%", "1 min", "5.0%", "85.0%"),
        "words": ("Phone call centre", "before, during, after", "company only", "customer only"),
    },
    "pt-BR": {
        "titles": ("Pontos de contato", "Metas", "Raias do blueprint"),
        "headers": ("id", "nome", "tipo", "canal", "fase", "responsável"),
        "phone": ("phone", "1 min", "80,0%", "1 min", "5,0%", "85,0%"),
        "words": (
            "Central de atendimento",
            "antes, durante, depois",
            "só a empresa",
            "só o cliente",
        ),
    },
}


@pytest.mark.parametrize("lang", sorted(CATALOG_TABLES))
def test_cli_show_default_catalog_tables(lang: str) -> None:
    """Touchpoints, their targets as numbers (formatted like the metrics), then the
    blueprint lanes; headers in the reader's language; 100 columns are enough."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPOINTS_")}
    proc = subprocess.run(
        [TOUCHPOINTS_BIN, "catalog", "show", DEFAULT_FILE, "--lang", lang],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "100"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    want = CATALOG_TABLES[lang]
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    starts = [next(i for i, line in enumerate(lines) if line.startswith(t)) for t in want["titles"]]
    assert starts == sorted(starts)
    header = next(line for line in lines if line.startswith("┃"))
    assert [c.strip() for c in header.strip("┃").split("┃")] == list(want["headers"])
    phone = next(line for line in lines[starts[1] :] if line.startswith("│ phone "))
    assert tuple(c.strip() for c in phone.strip("│").split("│")) == want["phone"]
    cells = {cell for row in table_rows(lines) for cell in row}
    for words in want["words"]:
        assert words in cells, words


def table_rows(lines: list[str]) -> list[list[str]]:
    """Rows of Rich tables, a wrapped cell joined back into one text."""
    rows: list[list[str]] = []
    for line in lines:
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.strip("│").split("│")]
        if cells[0] or not rows:
            rows.append(cells)
        else:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
    return rows
