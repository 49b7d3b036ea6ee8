"""Reading the product's YAML files (the catalog, the attendant's configuration): one way
to say what is wrong, naming the entry of the file's main list and the field, so that a
person fixing the file by hand finds the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read(path: str | Path, what: str, error: type[Exception]) -> tuple[str, str]:
    """The file's text and its name for messages, or `error` saying it cannot read `what`."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8"), str(p)
    except OSError as exc:
        raise error(f"{p}: cannot read {what}: {exc.strerror or exc}") from None


def load(text: str, source: str, error: type[Exception]) -> Any:
    """The parsed YAML, or `error` saying where the syntax breaks (line and column)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error(f"{source}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None


def describe(errors: list[dict[str, Any]], raw: Any, source: str, entries_key: str) -> str:
    """pydantic's errors as one line each: `source: touchpoints[3] (id 'x'): field 'y': why`."""
    lines = []
    entries = raw.get(entries_key) if isinstance(raw, dict) else None
    for err in errors:
        loc = list(err["loc"])
        where = source
        if len(loc) >= 2 and loc[0] == entries_key and isinstance(loc[1], int):
            idx = loc[1]
            entry = entries[idx] if isinstance(entries, list) and idx < len(entries) else None
            ident = entry.get("id") if isinstance(entry, dict) else None
            where += f": {entries_key}[{idx}]" + (f" (id {ident!r})" if ident else "")
            loc = loc[2:]
        field = ".".join(str(p) for p in loc if not str(p).startswith(("str", "dict["))) or "entry"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field"
        lines.append(f"{where}: field {field!r}: {msg}")
    return "\n".join(dict.fromkeys(lines))
