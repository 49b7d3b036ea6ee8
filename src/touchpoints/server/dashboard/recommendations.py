"""What to do first: the `insights` findings as a manager acts on them.

The analysis finds, per phase, the strongest and the weakest touchpoint on each topic; a
manager reads one problem once. So findings on the same touchpoint, metric and direction
are merged across phases (WhatsApp's wait before, during and after the purchase is one
problem with three phases), problems are listed apart from strengths, the largest first,
and each names the catalog's owner, the revenue at stake (the conversions at stake times
the period's revenue per conversion) and a suggested action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from touchpoints.core import messages as msg
from touchpoints.core.grammar import Noun, noun
from touchpoints.server.pages import code_word

TOP = 5  # problems shown before "more problems"


@dataclass
class Recommendation:
    touchpoint: str
    metric: str
    direction: str
    text: str  # the sentence of the phase with the largest impact, in the reader's language
    impact: float = 0.0  # conversions at stake, summed over the phases
    phases: list[str] = field(default_factory=list)
    owner: str | None = None
    revenue: float | None = None
    action: str = ""


def owner_label(owner: str | None, lang: str) -> str | None:
    """The catalog's owner (a team) in the reader's words when the catalog's usual teams
    are named in the message catalog (`pages.owner_<slug>`), else as written."""
    return code_word(lang, "owner", owner) or None


METRICS = ("csat", "nps", "tme_seconds", "service_level", "abandonment_rate")


def metric_of(finding: dict[str, Any]) -> str:
    """The metric a finding is about: its topic, or for satisfaction and service findings
    the SPEC §4 metric among its numbers (csat, nps, tme_seconds, ...)."""
    numbers = finding.get("numbers") or {}
    if finding["topic"] in ("satisfaction", "service"):
        return next((m for m in METRICS if m in numbers), finding["topic"])
    return str(finding["topic"])


def merged(
    findings: list[dict[str, Any]],
    owners: dict[str, str | None],
    per_conversion: float | None,
    lang: str,
    nouns: dict[str, Noun] | None = None,
) -> tuple[list[Recommendation], list[Recommendation]]:
    """(problems, strengths), each merged across phases and sorted by impact; `nouns`
    (touchpoint id -> its name for a sentence) lets an action agree with the name."""
    by_key: dict[tuple[str, str, str], Recommendation] = {}
    for f in findings:
        metric = metric_of(f)
        key = (f["touchpoint"], metric, f["direction"])
        rec = by_key.get(key)
        if rec is None:
            text = f["text"][lang] if isinstance(f["text"], dict) else str(f["text"])
            rec = by_key[key] = Recommendation(
                f["touchpoint"],
                metric,
                f["direction"],
                text.rsplit("; ≈", 1)[0].rstrip(".") + ".",  # the stake is a column here
                owner=owner_label(owners.get(f["touchpoint"]), lang),
                action=msg.t(
                    lang,
                    f"pages.action_{metric}_{f['direction']}",
                    name=noun((nouns or {}).get(f["touchpoint"], f["touchpoint"]), lang),
                )
                if f["direction"] == "weakness"
                else "",
            )
        rec.impact += float(f["impact"])
        if f["phase"] not in rec.phases:
            rec.phases.append(f["phase"])
    for rec in by_key.values():
        rec.revenue = None if per_conversion is None else rec.impact * per_conversion
        if rec.action.startswith("pages."):
            rec.action = msg.t(lang, "pages.action_default")
    ranked = sorted(by_key.values(), key=lambda r: (-r.impact, r.touchpoint, r.metric))
    return (
        [r for r in ranked if r.direction == "weakness"],
        [r for r in ranked if r.direction != "weakness"],
    )
