"""`touchpoints insights`: what is strong and what is weak at each moment of the purchase,
ranked by what it is worth.

Per observed phase (before/during/after) and topic, the strongest and the weakest touchpoint:

- engagement: `share_of_cycles` from `touchpoint_strength` (the phase's cycles that reach it);
- attribution: the Markov removal effect of the touchpoint *in that phase* (one order-1
  chain whose states are `touchpoint|phase`, solved exactly in `attribution.fit_markov`);
- satisfaction: CSAT and NPS from `touchpoint_strength`, compared with the rest of the
  phase (every other touchpoint's answers pooled). Only a touchpoint with at least
  `min_answers` answers whose 95 % interval does not overlap the rest's interval is a
  finding: a difference within noise says nothing;
- service: TME (ASA), abandonment and service level vs the catalog `target` of the
  touchpoint, from SPEC §4's KPI sums (kpis.py) grouped by touchpoint and phase in one pass;
  every missed target is a weakness, the widest margin over a target a strength;
- promises broken and data not re-used, from `moments` (per touchpoint where the promise
  was made or the data asked again; the finding is placed in the phase where most of them
  happened at that touchpoint).

Impact (the ranking): conversions at stake = removal effect of the touchpoint in that phase
x converting cycles x gap, the gap a share in [0, 1] per topic (see RULE).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from touchpoints.analytics.kpis import (
    DEFAULT_ANSWER_WITHIN,
    aggregates,
    answer_targets,
    derive,
    threshold,
)
from touchpoints.analytics.moments import moments
from touchpoints.analytics.registry import (
    JOURNEY_SCOPE,
    Analysis,
    NoOptions,
    Options,
    ResultModel,
    register,
)
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.sql import scoped_events
from touchpoints.analytics.strength import StrengthOptions, touchpoint_strength
from touchpoints.core import format
from touchpoints.core import messages as msg
from touchpoints.core.errors import UsageError
from touchpoints.core.events import PHASES
from touchpoints.core.grammar import Noun, noun

if TYPE_CHECKING:
    from touchpoints.core.catalog import Catalog
    from touchpoints.store.base import Store

RULE = (
    "impact = conversions at stake = Markov removal effect of the touchpoint in that phase "
    "(order-1 chain over touchpoint|phase states) x converting cycles x gap, where gap is: "
    "engagement |share of cycles - phase mean|; attribution 1 (both compare touchpoints "
    "met in at least min_answers cycles of the phase); CSAT |CSAT - rest of phase| / "
    "100 and NPS |NPS - rest| / 200 (only when the 95 % intervals do not overlap and there are "
    "at least min_answers answers); TME |TME - target| / max(TME, target); abandonment and "
    "service level |value - target|; promises: broken share of promises made (weakness) or "
    "kept rate - mean kept rate (strength); data: 1 - reuse rate (weakness) or reuse rate - "
    "mean reuse rate (strength). Service needs min_answers contacts; "
    "promises and data need min_answers rows and are placed in the phase where most promises "
    "were made (data answers given) at the touchpoint."
)
Z95 = 1.96
# finding(touchpoint, phase, topic, gap, numbers, metric=None) -> Finding, bound to one
# Markov fit: it stamps the removal effect and conversions at stake on every finding.
MakeFinding = Callable[..., "Finding"]
# Service targets that insights compares, and whether a higher value is better.
SERVICE_TARGETS = {"tme_seconds": False, "abandonment_rate": False, "service_level": True}


def fmt(value: float, lang: str, digits: int = 1) -> str:
    """A number for a sentence (core.format: pt-BR writes 1.234,5, en 1,234.5). Kept under
    this name for the CLI's insight and what-if renderers, which still import it."""
    return format.number(value, lang, digits)


@dataclass
class Finding:
    phase: str
    touchpoint: str
    topic: str
    direction: str
    stake: float  # conversions at stake: removal effect x converting cycles
    gap: float
    numbers: dict[str, Any]
    metric: str

    @property
    def impact(self) -> float:
        return self.stake * self.gap

    def as_dict(self, names: dict[str, dict[str, Noun]]) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "touchpoint": self.touchpoint,
            "topic": self.topic,
            "direction": self.direction,
            "impact": self.impact,
            "numbers": {**self.numbers, "gap": self.gap},
            "text": {lang: sentence(self, lang, names) for lang in ("en", "pt-BR")},
        }


# -- sentences -----------------------------------------------------------------------------
# The words are the catalog's `insights.*` (core/messages/insights.yaml): one sentence per
# `<metric>_<direction>`, the phase words `phase_<phase>` and the `stake` ending.


def sentence(f: Finding, lang: str, names: dict[str, dict[str, Noun]]) -> str:
    """One sentence in `lang` with the finding's numbers, formatted for that language; the
    touchpoint's name agrees in gender and number (`core.grammar`)."""
    n = f.numbers
    name = noun(names.get(f.touchpoint, {}).get(lang, f.touchpoint), lang)
    words: dict[str, Any] = {"name": name, "phase": msg.t(lang, f"insights.phase_{f.phase}")}
    if f.topic == "engagement":
        words |= {
            "share": format.percent(n["share_of_cycles"], lang),
            "reach": format.integer(n["reach"], lang),
        }
    elif f.topic == "attribution":
        words["re"] = format.percent(n["removal_effect"], lang)
    elif f.metric in ("csat", "nps"):
        words |= {
            "value": fmt(n[f.metric], lang),
            "margin": fmt(n["margin"], lang),
            "n": format.integer(n["answers"], lang),
            "rest": fmt(n["rest"], lang),
            "rest_margin": fmt(n["rest_margin"], lang),
        }
    elif f.metric == "tme_seconds":
        off = abs(n["tme_seconds"] - n["target"]) / n["target"] if n["target"] else 0.0
        words |= {
            "value": format.duration(n["tme_seconds"], lang),
            "target": format.duration(n["target"], lang),
            "off": format.percent(off, lang, 0),
            "n": format.integer(n["answered"], lang),
        }
    elif f.metric == "abandonment_rate":
        words |= {
            "value": format.percent(n["abandonment_rate"], lang),
            "target": format.percent(n["target"], lang),
            "count": format.integer(n["abandoned"], lang),
            "n": format.integer(n["offered"], lang),
        }
    elif f.metric == "service_level":
        words |= {
            "value": format.percent(n["service_level"], lang),
            "target": format.percent(n["target"], lang, 0),
            "within": format.duration(n["answer_within"], lang),
            "n": format.integer(n["offered"], lang),
        }
    elif f.topic == "promises":
        share = n["broken_rate"] if f.direction == "weakness" else n["promise_kept_rate"]
        count = n["broken"] if f.direction == "weakness" else n["kept"]
        total = n["made"] if f.direction == "weakness" else n["kept"] + n["broken"]
        words |= {
            "value": format.percent(share, lang),
            "count": format.integer(count, lang),
            "n": format.integer(total, lang),
        }
    elif f.topic == "data":
        share = 1 - n["data_reuse_rate"] if f.direction == "weakness" else n["data_reuse_rate"]
        words |= {
            "value": format.percent(share, lang),
            "count": format.integer(n["customers_repeating"], lang),
        }
    body = msg.t(lang, f"insights.{f.metric}_{f.direction}", **words)
    if n.get("planned_phases"):
        phases = [msg.t(lang, f"insights.phase_{p}") for p in n["planned_phases"].split(", ")]
        planned = phases[0]
        for more in phases[1:]:
            planned = msg.t(lang, "insights.either", first=planned, second=more)
        body += msg.t(lang, "insights.unplanned", planned=planned, name=name)
    # Conversions at stake are an estimate: whole conversions in words, full precision in JSON.
    return body + msg.t(lang, "insights.stake", impact=format.integer(round(f.impact), lang))


# -- the analyses behind the findings ------------------------------------------------------
def service_rows(
    store: Store, scope: Scope, answer_within: float | None
) -> dict[tuple[str, str], dict[str, Any]]:
    """SPEC §4 KPIs per (touchpoint, phase), from kpis.py's sums in one engine pass, plus
    `promises_made` and `data_answers` there (to place moments findings in their phase).
    The service level's T is `answer_within` when given, else each touchpoint's own
    `answer_within` target, else 20 s (as `kpis`)."""
    t_sql, t_params = threshold(
        answer_within, answer_targets(store) if answer_within is None else {}
    )
    sql = f"""SELECT touchpoint, phase, {aggregates(t_sql)},
        sum(CASE WHEN promise = 'made' THEN 1 ELSE 0 END) AS promises_made
      FROM ({scoped_events(scope, with_phase=True, with_catalog=False)}) s
      WHERE abandoned IS NOT NULL OR promise = 'made' OR data_reused IS NOT NULL
      GROUP BY touchpoint, phase"""
    return {
        (r["touchpoint"], r["phase"]): {
            **derive(r),
            "promises_made": int(r["promises_made"] or 0),
            "data_answers": int(r["reused_n"] or 0),
        }
        for r in store.query(sql, {**scope.params(), **t_params, "kpi_short_abandon": 0.0})
    }


def _interval_apart(a: float, ma: float, b: float, mb: float) -> bool:
    return abs(a - b) > ma + mb


def _csat_margin(p: float, n: int) -> float:
    return 100 * Z95 * math.sqrt(max(p * (1 - p), 0.0) / n) if n else 0.0


def _nps_counts(nps: float, margin: float, n: int) -> tuple[float, float]:
    """Promoters and detractors behind a strength row's NPS and margin (SPEC §4 inverted):
    p - d = NPS/100 and p + d = (margin/196)² n + (p - d)²."""
    diff = nps / 100
    total = (margin / (100 * Z95)) ** 2 * n + diff**2
    return (total + diff) / 2 * n, (total - diff) / 2 * n


def _pick(cands: list[tuple[float, Finding]]) -> list[Finding]:
    """The strongest (highest score) and weakest (lowest) candidate; none when all tie."""
    if len(cands) < 2:
        return []
    cands.sort(key=lambda c: (c[0], c[1].touchpoint))
    (lo, weak), (hi, strong) = cands[0], cands[-1]
    if hi == lo:
        return []
    weak.direction, strong.direction = "weakness", "strength"
    return [strong, weak]


class InsightsOptions(Options):
    lang: str = Field("en", description="Language of the sentences: en or pt-BR.")
    answer_within: float | None = Field(
        None,
        description="Service level threshold T in seconds; default: each touchpoint's "
        "answer_within target, else 20.",
    )
    min_answers: int = Field(
        30, description="Answers (or cycles) a comparison needs before it is a finding."
    )
    top: int = Field(10, ge=1, description="Findings shown, most conversions at stake first.")
    all: bool = Field(False, description="Show every finding (not only the --top ones).")


def insights(store: Store, scope: Scope, options: InsightsOptions) -> dict[str, Any]:
    """Recommendations: per phase, the strongest and weakest touchpoints on engagement,
    attribution, CSAT/NPS, service against the catalog's targets, promises and data re-use,
    ranked by the conversions at stake, each in one sentence (see the module docstring).

    Every finding carries its sentence in both languages; `lang` is only validated, so the
    HTTP API (`?lang=`) and the CLI reject the same values.
    """
    from touchpoints.analytics.attribution import PHASE_SEP, fit_markov

    lang, answer_within, min_answers = options.lang, options.answer_within, options.min_answers

    if lang not in ("en", "pt-BR"):
        raise UsageError(f"--lang {lang!r}: use en or pt-BR")
    if answer_within is not None and (not math.isfinite(float(answer_within)) or answer_within < 0):
        raise UsageError(f"--answer-within {answer_within:g}: use a number of seconds >= 0")
    if min_answers < 1:
        raise UsageError(f"--min-answers {min_answers!r}: use a whole number >= 1")
    catalog = store.catalog()
    strength = touchpoint_strength(store, scope, StrengthOptions(by_phase=True))["rows"]
    model = fit_markov(store, scope, order=1, label_sql=f"touchpoint || '{PHASE_SEP}' || phase")
    effects = model.removal_effects()
    conversions = int(model.conversions)
    service = service_rows(store, scope, answer_within)
    mom = moments(store, scope, NoOptions())["touchpoints"]

    def finding(
        tp: str,
        phase: str,
        topic: str,
        gap: float,
        numbers: dict[str, Any],
        metric: str | None = None,
    ) -> Finding:
        re = max(effects.get(f"{tp}{PHASE_SEP}{phase}", 0.0), 0.0)
        numbers = {
            **numbers,
            "removal_effect": re,
            "conversions_at_stake": re * conversions,
        }
        return Finding(phase, tp, topic, "", re * conversions, gap, numbers, metric or topic)

    found: list[Finding] = []
    busiest: dict[str, tuple[int, str]] = {}
    for phase in PHASES:
        rows = [r for r in strength if r["phase"] == phase]
        for r in rows:
            if r["events"] > busiest.get(r["touchpoint"], (-1, ""))[0]:
                busiest[r["touchpoint"]] = (r["events"], phase)
        # A touchpoint seen in a handful of cycles of a phase is an anecdote, not a finding.
        seen = [r for r in rows if r["cycles"] >= min_answers]
        found += _engagement(seen, phase, finding)
        found += _attribution(seen, phase, effects, PHASE_SEP, finding)
        found += _ratings(rows, phase, min_answers, finding)
        found += _service(service, catalog, phase, min_answers, answer_within, finding)
    found += _moments(mom, service, busiest, catalog, min_answers, finding)

    found.sort(
        key=lambda f: (
            -f.impact,
            f.direction != "weakness",
            PHASES.index(f.phase),
            f.topic,
            f.touchpoint,
        )
    )
    found = planned_only(found, catalog)
    names = {t.id: {lang: t.noun(lang) for lang in msg.LANGS} for t in catalog.touchpoints}
    shown = found if options.all else found[: options.top]
    return {
        "rule": RULE,
        "conversions": conversions,
        "total": len(found),
        "findings": [f.as_dict(names) for f in shown],
    }


def planned_only(found: list[Finding], catalog: Catalog) -> list[Finding]:
    """A touchpoint is judged weak only in the phases the catalog plans it for (signage is
    not weak *after* the purchase: it was never meant to work there). A strength outside
    those phases stays, as a finding of its own: it names the planned phases, since the
    plan may be wrong. A touchpoint the catalog plans no phase for is judged everywhere."""
    kept = []
    for f in found:
        entry = catalog.get(f.touchpoint)
        plan = tuple(entry.phase) if entry is not None else ()
        if not plan or f.phase in plan:
            kept.append(f)
        elif f.direction == "strength":
            f.numbers = {**f.numbers, "planned_phases": ", ".join(plan)}
            kept.append(f)
    return kept


def _engagement(rows: list[dict[str, Any]], phase: str, finding: MakeFinding) -> list[Finding]:
    shares = [r["share_of_cycles"] or 0.0 for r in rows]
    mean = sum(shares) / len(shares) if shares else 0.0
    cands = [
        (
            s,
            finding(
                r["touchpoint"],
                phase,
                "engagement",
                abs(s - mean),
                {"share_of_cycles": s, "reach": r["reach"], "cycles": r["cycles"]},
            ),
        )
        for r, s in zip(rows, shares, strict=True)
    ]
    return _pick(cands)


def _attribution(
    rows: list[dict[str, Any]],
    phase: str,
    effects: dict[str, float],
    sep: str,
    finding: MakeFinding,
) -> list[Finding]:
    cands = []
    for r in rows:
        re = effects.get(f"{r['touchpoint']}{sep}{phase}")
        if re is not None:
            cands.append((re, finding(r["touchpoint"], phase, "attribution", 1.0, {})))
    return _pick(cands)


def _ratings(
    rows: list[dict[str, Any]], phase: str, min_answers: int, finding: MakeFinding
) -> list[Finding]:
    """CSAT and NPS extremes that stand apart from the rest of the phase beyond noise."""
    out: list[Finding] = []
    # CSAT: pooled "good" answers of the other touchpoints.
    good = {r["touchpoint"]: (r["csat"] or 0.0) / 100 * r["csat_answers"] for r in rows}
    n_all = sum(r["csat_answers"] for r in rows)
    good_all = sum(good.values())
    # NPS: promoters/detractors recovered from each row's score and margin.
    pd = {
        r["touchpoint"]: _nps_counts(r["nps"], r["nps_margin"], r["nps_answers"])
        for r in rows
        if r["nps_answers"]
    }
    nps_all = sum(r["nps_answers"] for r in rows)
    prom_all = sum(p for p, _ in pd.values())
    det_all = sum(d for _, d in pd.values())
    for metric in ("csat", "nps"):
        above: list[tuple[float, Finding]] = []
        below: list[tuple[float, Finding]] = []
        for r in rows:
            tp = r["touchpoint"]
            n = r[f"{metric}_answers"]
            rest_n = (n_all if metric == "csat" else nps_all) - n
            if n < min_answers or rest_n < min_answers:
                continue
            if metric == "csat":
                value, margin = r["csat"], _csat_margin(r["csat"] / 100, n)
                p_rest = (good_all - good[tp]) / rest_n
                rest, rest_margin = 100 * p_rest, _csat_margin(p_rest, rest_n)
                scale = 100.0
            else:
                value, margin = r["nps"], r["nps_margin"]
                p = (prom_all - pd[tp][0]) / rest_n
                d = (det_all - pd[tp][1]) / rest_n
                rest = 100 * (p - d)
                rest_margin = 100 * Z95 * math.sqrt(max(p + d - (p - d) ** 2, 0.0) / rest_n)
                scale = 200.0
            if not _interval_apart(value, margin, rest, rest_margin):
                continue
            f = finding(
                tp,
                phase,
                "satisfaction",
                abs(value - rest) / scale,
                {
                    metric: value,
                    "margin": margin,
                    "answers": n,
                    "rest": rest,
                    "rest_margin": rest_margin,
                    "rest_answers": rest_n,
                },
                metric,
            )
            (above if value > rest else below).append((value, f))
        if above:
            best = max(above, key=lambda c: (c[0], c[1].touchpoint))[1]
            best.direction = "strength"
            out.append(best)
        if below:
            worst = min(below, key=lambda c: (c[0], c[1].touchpoint))[1]
            worst.direction = "weakness"
            out.append(worst)
    return out


def _service(
    service: dict[tuple[str, str], dict[str, Any]],
    catalog: Catalog,
    phase: str,
    min_answers: int,
    answer_within: float | None,
    finding: MakeFinding,
) -> list[Finding]:
    """Every missed service target is a weakness; the widest margin over a target, a strength."""
    misses: list[Finding] = []
    beats: list[Finding] = []
    for (tp, ph), k in sorted(service.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        entry = catalog.get(tp)
        if ph != phase or entry is None:
            continue
        for metric, higher_better in SERVICE_TARGETS.items():
            target = entry.target.get(metric)
            value = k[metric]
            volume = k["answered"] if metric == "tme_seconds" else k["offered"]
            if target is None or value is None or volume < min_answers:
                continue
            if metric == "tme_seconds":
                gap = abs(value - target) / max(value, target) if max(value, target) else 0.0
            else:
                gap = abs(value - target)
            worse = value < target if higher_better else value > target
            if value == target:
                continue
            numbers = {
                metric: value,
                "target": target,
                "offered": k["offered"],
                "answered": k["answered"],
                "abandoned": k["abandoned"],
            }
            if metric == "service_level":
                numbers["answer_within"] = (
                    answer_within
                    if answer_within is not None
                    else entry.target.get("answer_within", DEFAULT_ANSWER_WITHIN)
                )
            f = finding(tp, phase, "service", gap, numbers, metric)
            f.direction = "weakness" if worse else "strength"
            (misses if worse else beats).append(f)
    if beats:
        misses.append(max(beats, key=lambda f: (f.gap, f.touchpoint)))
    return misses


def _moments(
    rows: list[dict[str, Any]],
    service: dict[tuple[str, str], dict[str, Any]],
    busiest: dict[str, tuple[int, str]],
    catalog: Catalog,
    min_answers: int,
    finding: MakeFinding,
) -> list[Finding]:
    """Promises broken/kept and data re-use, each in the phase where most of the
    touchpoint's promises were made (data answers were given), else its busiest phase."""
    out: list[Finding] = []

    def phase_of(tp: str, count: str) -> str | None:
        counts = [(k[count], PHASES.index(ph)) for (t, ph), k in service.items() if t == tp]
        most = max(counts, default=(0, 0))
        if most[0] > 0:
            return PHASES[most[1]]
        if tp in busiest:
            return busiest[tp][1]
        entry = catalog.get(tp)
        return entry.phase[0] if entry and entry.phase else None

    promise_cands: list[tuple[float, Finding]] = []
    data_cands: list[tuple[float, Finding]] = []
    reuse = [r["data_reuse_rate"] for r in rows if r["data_answers"] >= min_answers]
    mean_reuse = sum(reuse) / len(reuse) if reuse else 0.0
    kept = [
        r["promise_kept_rate"]
        for r in rows
        if r["made"] >= min_answers and r["promise_kept_rate"] is not None
    ]
    mean_kept = sum(kept) / len(kept) if kept else 0.0
    for r in rows:
        tp = r["touchpoint"]
        phase = phase_of(tp, "promises_made")
        if phase is not None and r["made"] >= min_answers and r["kept"] + r["broken"] > 0:
            keys = ("made", "kept", "broken", "open", "broken_rate", "promise_kept_rate")
            numbers = {k: r[k] for k in keys}
            f = finding(tp, phase, "promises", r["broken_rate"] or 0.0, numbers)
            promise_cands.append((r["promise_kept_rate"] or 0.0, f))
        phase = phase_of(tp, "data_answers")
        if phase is not None and r["data_answers"] >= min_answers:
            rate = r["data_reuse_rate"] or 0.0
            keys = ("data_answers", "data_reused", "data_reuse_rate", "customers_repeating")
            f = finding(tp, phase, "data", 1 - rate, {k: r[k] for k in keys})
            data_cands.append((rate, f))
    broken = [c for c in promise_cands if c[1].numbers["broken"] > 0]
    if broken:
        worst = max(broken, key=lambda c: (c[1].numbers["broken_rate"], c[1].touchpoint))[1]
        worst.direction = "weakness"
        out.append(worst)
        others = [c for c in promise_cands if c[1] is not worst]
        if others:
            best = max(others, key=lambda c: (c[0], c[1].touchpoint))[1]
            if best.numbers["promise_kept_rate"] > worst.numbers["promise_kept_rate"]:
                best.direction = "strength"
                best.gap = best.numbers["promise_kept_rate"] - mean_kept
                out.append(best)
    picked = _pick(data_cands)
    for f in picked:
        if f.direction == "strength":
            f.gap = max(f.numbers["data_reuse_rate"] - mean_reuse, 0.0)
    return out + picked


class InsightFinding(ResultModel):
    model_config = {"extra": "allow"}

    phase: str
    touchpoint: str
    topic: str
    direction: str
    impact: float
    numbers: dict[str, float | int | str | None]
    text: dict[str, str] = Field(description="The finding in one sentence, en and pt-BR.")


class InsightsResult(ResultModel):
    rule: str
    conversions: int
    total: int = Field(description="Every finding; `findings` holds the --top (or --all).")
    findings: list[InsightFinding]


register(
    Analysis(
        name="insights",
        summary="Recommendations: per phase, the touchpoints to keep and to fix, by conversions at stake.",
        run=insights,
        options=InsightsOptions,
        result=InsightsResult,
        scope=JOURNEY_SCOPE,
        table="findings",
    )
)
