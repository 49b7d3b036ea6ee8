"""The README's five-minute tour runs as written against a demo made as `make demo` makes it
(`demo-data` ending today, then `ingest`): every `touchpoints` command of the tour's code
blocks exits 0 without a traceback, and its dated examples — dates counted back from
today with the README's own `ago` — land inside the demo's year and find events.

The commands after the tour (your own files, keys, servers, PostgreSQL) need things a
demo does not have and are not run here.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from touchpoints.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
AGO = re.compile(r'"\$\(ago (\d+)\)([^"]*)"')


def tour() -> str:
    start = README.index("## A five-minute tour")
    return README[start : README.index("### Bring your own events", start)]


def bash_lines(text: str) -> list[str]:
    """The lines of the ```bash blocks, continuations joined, comments dropped."""
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"\s{2,}#.*$", "", line).strip()
            if line:
                lines.append(line)
    return lines


def ago_definition() -> str:
    (line,) = [x for x in bash_lines(tour()) if x.startswith("ago()")]
    return line


COMMANDS = [x for x in bash_lines(tour()) if x.startswith("touchpoints ")]


def expand(command: str, today: date) -> list[str]:
    """The command's arguments as the shell passes them: `"$(ago N)T16:00"` is the date N
    days back (then the rest), a `> file` redirection dropped (the output is checked)."""
    text = AGO.sub(lambda m: (today - timedelta(days=int(m[1]))).isoformat() + m[2], command)
    text = re.sub(r"\s>\s*\S+$", "", text)
    return shlex.split(text)[1:]


def logged_changes() -> list[Any]:
    listed = CliRunner().invoke(app, ["changes", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    return json.loads(listed.stdout)["rows"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """`make demo`'s store for 3,000 customers (it makes 20,000): the year up to today,
    enough contacts per day for `effect`'s 7 days on each side of a change."""
    folder = tmp_path_factory.mktemp("readme_demo")
    events, db = folder / "events.parquet", str(folder / "touchpoints.duckdb")
    for args in (
        ["demo-data", "--customers", "3000", "--seed", "7", "--out", str(events)],
        ["ingest", str(events), "--db", db],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    return db


def test_the_tour_has_the_commands_this_test_runs() -> None:
    assert len(COMMANDS) > 40
    dated = [c for c in COMMANDS if "$(ago" in c]
    assert len(dated) >= 5, dated
    # No date written out in the tour's commands but the attendant's Christmas (a holiday
    # answer, whatever the year of the demo).
    fixed = [c for c in COMMANDS if re.search(r"\b20\d\d-\d\d-\d\d", c)]
    assert fixed == [c for c in COMMANDS if "--at 2026-12-25" in c]


def test_ago_as_written_prints_the_date_n_days_back() -> None:
    """The README's shell function, run by bash as a reader would run it."""
    out = subprocess.run(
        ["bash", "-c", ago_definition() + "\nago 0; ago 31"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    today = date.today()
    # (Around midnight the two clocks may read different days.)
    assert out in (
        [today.isoformat(), (today - timedelta(days=31)).isoformat()],
        [(today + timedelta(days=1)).isoformat(), (today - timedelta(days=30)).isoformat()],
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_tour_command_runs_on_a_fresh_demo(
    demo: str, command: str, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("TOUCHPOINTS_DB", demo)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tests").symlink_to(ROOT / "tests")  # the attendant's eval cases
    args = expand(command, date.today())
    if args[:2] == ["effect", "--change"] and not logged_changes():
        # Run alone: the change the tour logs just before it (`changes add`) first.
        add = next(c for c in COMMANDS if c.startswith("touchpoints changes add"))
        logged = CliRunner().invoke(app, expand(add, date.today()))
        assert logged.exit_code == 0, logged.output
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (command, result.output)
    assert "Traceback" not in result.output
    if "$(ago" in command and args[0] in ("kpis", "events"):
        # A dated example finds events inside the demo's year.
        found = CliRunner().invoke(app, [*args, "--json"])
        assert found.exit_code == 0, found.output
        total = re.search(r'"(?:events|total)": (\d+)', found.stdout)
        assert total and int(total[1]) > 0, (command, found.stdout[:300])
