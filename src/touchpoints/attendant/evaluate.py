"""`attendant eval` (SPEC §7): the bot's replies over labelled cases, and how often it was
right, wrong or silent.

Each case is read alone, as the first message of a conversation: `intent` is what the bot
recognised confidently (null when it asked back). `accuracy` counts cases whose expected
intent is not null; `wrong_answer_rate` and `fallback_rate` count over every case.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from touchpoints.attendant.bot import Attendant
from touchpoints.attendant.config import AttendantConfig, AttendantConfigError


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    """A YAML list of `{text, intent}`; every bad entry is named with its position."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AttendantConfigError(f"{p}: cannot read cases: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise AttendantConfigError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise AttendantConfigError(f"{p}: expected a non-empty YAML list of {{text, intent}}")
    cases = []
    for i, case in enumerate(raw):
        if not isinstance(case, dict) or "text" not in case:
            raise AttendantConfigError(
                f"{p}: case {i + 1}: field 'text': required field is missing"
            )
        unknown = sorted(set(case) - {"text", "intent"})
        if unknown:
            raise AttendantConfigError(f"{p}: case {i + 1}: field {unknown[0]!r}: unknown field")
        if not isinstance(case["text"], str):
            raise AttendantConfigError(f"{p}: case {i + 1}: field 'text': must be text")
        intent = case.get("intent")
        if intent is not None and not isinstance(intent, str):
            raise AttendantConfigError(
                f"{p}: case {i + 1}: field 'intent': must be an intent id or null"
            )
        cases.append({"text": case["text"], "intent": intent})
    return cases


def evaluate(
    config: AttendantConfig, cases: list[dict[str, Any]], at: datetime | None = None
) -> dict[str, Any]:
    """The eval object: each case's outcome and the three shares."""
    bot = Attendant(config)
    known = {i.id for i in config.intents}
    for i, case in enumerate(cases):
        if case["intent"] is not None and case["intent"] not in known:
            raise AttendantConfigError(
                f"case {i + 1}: field 'intent': {case['intent']!r} is not an intent of the configuration"
            )
    rows = []
    for case in cases:
        reply = bot.respond(case["text"], at=at)
        rows.append(
            {
                "text": case["text"],
                "expected": case["intent"],
                "intent": reply.intent,
                "confidence": reply.confidence,
                "handoff": reply.handoff,
            }
        )
    scored = [r for r in rows if r["expected"] is not None]
    total = len(rows)
    return {
        "cases": rows,
        "accuracy": (
            sum(r["intent"] == r["expected"] for r in scored) / len(scored) if scored else None
        ),
        "wrong_answer_rate": sum(
            r["intent"] is not None and r["intent"] != r["expected"] for r in rows
        )
        / total,
        "fallback_rate": sum(r["intent"] is None for r in rows) / total,
    }
