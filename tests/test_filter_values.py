"""Filter values are checked (issue: a typo is never a row of zeros): every --touchpoint,
--channel, --kind, --segment, --agent and --phase value names something in the catalog or
the store, else a UsageError names the closest valid ones — exit 2 on the command line,
HTTP 400 over the API, the same for every analysis (the check wraps each registered run)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import ingested, run
from touchpoints.analytics.registry import analyses
from touchpoints.analytics.scope import closest
from touchpoints.core.errors import UsageError
from touchpoints.ingest import ingest_files
from touchpoints.store import open_store
from touchpoints.store.base import Store

ROWS = [
    {"customer_id": "c1", "touchpoint": "whatsapp", "ts": "2026-01-01T10:00:00Z",
     "agent": "ana", "segment": "fleet"},
    {"customer_id": "c2", "touchpoint": "phone", "ts": "2026-01-02T10:00:00Z",
     "agent": "bruno", "segment": "retail"},
]  # fmt: skip

CASES = [
    ({"touchpoint": "whatsap"}, "--touchpoint 'whatsap': no such touchpoint; did you mean whatsapp?"),
    ({"touchpoint": "WhatsApp"}, "--touchpoint 'WhatsApp': no such touchpoint; did you mean whatsapp?"),
    ({"channel": "mesaging"}, "--channel 'mesaging': no such channel; did you mean messaging?"),
    ({"kind": "humn"}, "--kind 'humn': no such kind; did you mean human?"),
    ({"segment": "flet"}, "--segment 'flet': no such segment; did you mean fleet?"),
    ({"agent": "Ana"}, "--agent 'Ana': no such agent; did you mean ana?"),
    ({"agent": "zzz"}, "--agent 'zzz': no such agent; valid: ana, bruno"),
    ({"phase": "befor"}, "--phase 'befor': no such phase; did you mean before?"),
]  # fmt: skip


@pytest.fixture
def loaded(shared_store: Callable[..., Store]) -> Store:
    """ROWS, loaded once per engine: the tests that use it only read it."""
    return shared_store("rows", ingested(ROWS))


@pytest.mark.parametrize(("option", "message"), CASES)
def test_unknown_filter_value_names_the_closest(
    loaded: Store, option: dict[str, str], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        run(loaded, "kpis", **option)
    assert str(caught.value) == message


def test_valid_values_still_filter(loaded: Store) -> None:
    rows = run(loaded, "kpis", touchpoint="whatsapp", agent="ana", segment="fleet", kind="human")
    assert [r["events"] for r in rows["rows"]] == [1]


def test_a_blueprint_lane_of_the_catalog_is_a_known_value(loaded: Store) -> None:
    # `warehouse` is in the catalog as a lane where no event is recorded: filtering on it is
    # no typo (the dashboard warms every catalog entry's page), and it counts nothing.
    assert run(loaded, "kpis", touchpoint=["warehouse"])["rows"][0]["events"] == 0


def test_every_analysis_with_a_touchpoint_filter_checks_it(loaded: Store) -> None:
    checked = [a for a in analyses() if "touchpoint" in a.scope]
    assert len(checked) > 10
    for analysis in checked:
        with pytest.raises(UsageError, match="did you mean whatsapp"):
            analysis.run(loaded, analysis.parse({"touchpoint": "whatsap"})[0], analysis.options())


def test_closest_prefers_the_same_text_in_another_case() -> None:
    assert closest("PHONE", ["phone", "phones", "whatsapp"]) == ["phone", "phones"]
    assert closest("xyz", ["phone"]) == []


def test_cli_exits_2_and_http_answers_400(tmp_path: Path, csv_file: Callable[..., Path]) -> None:
    db = str(tmp_path / "s.duckdb")
    with open_store(db) as store:
        ingest_files(store, csv_file(ROWS))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPOINTS_")}
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("touchpoints")), "kpis", "--touchpoint", "whatsap",
         "--db", db],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "did you mean whatsapp?" in proc.stderr + proc.stdout
    # `python -m touchpoints` is the same command line.
    module = subprocess.run(
        [sys.executable, "-m", "touchpoints", "kpis", "--touchpoint", "whatsap", "--db", db],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert (module.returncode, module.stderr) == (proc.returncode, proc.stderr)

    from touchpoints.core.settings import Settings
    from touchpoints.server import auth
    from touchpoints.server.app import create_app

    with TestClient(create_app(Settings(db=db), db), raise_server_exceptions=False) as client:
        key = auth.create_key(client.app.state.service.store, ["read"])[1]  # type: ignore[attr-defined]
        headers = {"Authorization": f"Bearer {key}"}
        bad = client.get("/v1/kpis", params={"touchpoint": "whatsap"}, headers=headers)
        assert bad.status_code == 400
        assert bad.json()["detail"] == (
            "--touchpoint 'whatsap': no such touchpoint; did you mean whatsapp?"
        )
        variants = client.get(
            "/v1/journeys/variants", params={"channel": "mesaging"}, headers=headers
        )
        assert variants.status_code == 400
        good = client.get("/v1/kpis", params={"touchpoint": "whatsapp"}, headers=headers)
        assert good.status_code == 200
