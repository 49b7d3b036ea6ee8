"""The team's scorecards (`touchpoints agents`): each agent's service and feedback numbers
with 95 % margins, against the rest of the team on the same touchpoints and hours, the
coaching findings that are significant, and what each agent's and touchpoint's low
ratings talk about.

Whose contact is it? A contact row names its `agent`; a survey answer (`action =
feedback`) names none but rates a contact through `ref_event_id`, so it is credited to the
agent and touchpoint of the contact it rates, at that contact's hour. The bot (`agent =
"bot"`) is one member of the team like any other.

The team is compared like for like: for an agent at a touchpoint, the rest of the team
counts only at that touchpoint and in the hours of the week (in the scope's time zone) the
agent served there, so a night-shift agent is not measured against the quiet mornings. A
difference is a finding only when the two 95 % intervals do not overlap and the agent has
at least `--min-answers` (30) answers for that metric; comment themes then say what the
agent's low ratings mention.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field

from touchpoints.analytics.kpis import (
    ServiceOptions,
    counted,
    service_rules,
    whole_hours,
    whole_hours_over,
)
from touchpoints.analytics.registry import Analysis, ResultModel, register
from touchpoints.analytics.sentiment import INTENSIFIERS, POST_INTENSIFIERS, STOPWORDS, fold
from touchpoints.analytics.sql import hour, iso_weekday, local_ts
from touchpoints.core import format
from touchpoints.core import messages as msg
from touchpoints.core.grammar import Noun, noun
from touchpoints.store import derived

if TYPE_CHECKING:
    from touchpoints.analytics.scope import Scope
    from touchpoints.store.base import Store

Z = 1.96
DEFAULT_MIN_ANSWERS = 30
# Metrics a finding may be about: key -> (answers count, higher is better).
JUDGED = {
    "csat": ("csat_answers", True),
    "nps": ("nps_answers", True),
    "fcr": ("fcr_answers", True),
    "tma_seconds": ("answered", False),
}
THEMES_SHOWN = 5
_WORD = re.compile(r"\w+")
NEGATORS = {"nao", "not", "never", "nunca", "sem", "didnt", "dont", "wasnt"}


class AgentsOptions(ServiceOptions):
    min_answers: int = Field(
        DEFAULT_MIN_ANSWERS,
        ge=1,
        description="Answers an agent needs on a metric before a difference is a finding.",
    )


_COLUMNS = (
    "e.event_id, e.seq, e.ts, e.action, e.wait_seconds, e.handle_seconds, e.abandoned, "
    "e.resolved, e.nps, e.csat, e.promise, e.data_reused, e.segment, e.comment, e.value, "
    "e.ref_event_id"
)
# A low rating with a comment: what comment themes are made of.
LOW_RATED = "e.comment IS NOT NULL AND (e.csat <= 3 OR e.nps <= 6)"


def rated(rows: str = "TRUE") -> str:
    """Survey answers (rows naming no agent, `ref_event_id` set) credited to the agent,
    touchpoint and time of the contact they rate; `rows` narrows the answers (alias `e`).
    The contacts are first narrowed to those some answer rates, so the engine matches a
    few hundred thousand ids, not every contact's."""
    return f"""SELECT {_COLUMNS}, r.agent AS agent, r.touchpoint AS touchpoint, r.ts AS served_ts
      FROM (SELECT * FROM events e
            WHERE e.agent IS NULL AND e.ref_event_id IS NOT NULL AND {rows}) e
      JOIN (SELECT event_id, agent, touchpoint, ts FROM events
            WHERE agent IS NOT NULL AND event_id IN (
              SELECT ref_event_id FROM events WHERE agent IS NULL AND ref_event_id IS NOT NULL
            )) r ON r.event_id = e.ref_event_id"""


def credited(scope: Scope, rows: str = "TRUE", answers: str | None = None) -> str:
    """Every row credited to an agent (a survey answer to the agent of the contact it
    rates), with the touchpoint and time of the service, passing the scope's filters;
    `rows`, a predicate over the row's own columns (alias `e`), narrows both kinds before
    a survey answer looks up what it rates. `answers`: a relation of `rated()` rows the
    caller already has (a CTE), narrowed here by `rows`."""
    theirs = f"SELECT * FROM {answers} e WHERE {rows}" if answers else rated(rows)
    # Rows that name their agent need no join; only survey answers look up what they rate.
    return f"""SELECT * FROM (
      SELECT x.*, t.channel AS channel, t.kind AS kind FROM (
        SELECT {_COLUMNS}, e.agent AS agent, e.touchpoint AS touchpoint, e.ts AS served_ts
        FROM events e WHERE e.agent IS NOT NULL AND {rows}
        UNION ALL
        {theirs}
      ) x LEFT JOIN touchpoints t ON t.id = x.touchpoint
    ) s WHERE {scope.where()}"""


def by_utc_hour(store: Store, scope: Scope) -> bool:
    """Whether the credited rows may be summed per UTC hour of service first and those
    hours placed in the scope's hours of the week and weeks after: exactly when every UTC
    hour lies in one local hour, i.e. the zone's offsets are whole hours over the years
    the events span (São Paulo's are since 1914, not before). Then the zone's rules run
    on a few thousand distinct hours instead of on every credited row; otherwise every
    row is placed itself."""
    return whole_hours_over(store, scope.timezone, "events", "ts")


def kept_sums(store: Store, scope: Scope, options: AgentsOptions, utc_hours: bool) -> str | None:
    """The kept table (`store.derived`) that answers this question exactly, else None:
    `agent_hours` when no period or segment narrows it (its rows are the hourly sums
    the analysis needs, over every customer), else `agent_facts` when the period starts
    and ends on whole hours (a row's own hour then says whether it is in the period);
    and either only when they are kept, counted with this `--short-abandon` (0) and
    summed per UTC hour that lies in one local hour (`utc_hours`)."""
    if not (
        utc_hours
        and not options.short_abandon
        and store.engine in ("duckdb", "postgres")
        and whole_hours(scope)
        and derived.keeps_agents(store)
    ):
        return None
    if scope.date_from is None and scope.date_to is None and not scope.segments:
        return "agent_hours"
    return "agent_facts"


def _statement(scope: Scope, within: str, utc_hours: bool, kept: str | None = None) -> str:
    """The whole analysis in one statement, survey answers matched to what they rate
    once: per agent and touchpoint (`grain` 'pair') and per agent ('agent') the agent's
    sums and the rest of the team's at the same touchpoints and hours of the week
    (`team_*`), and per agent and week ('week'), first summed per agent, touchpoint and
    hour of service (a UTC hour when `utc_hours`, else the local one) and each distinct
    hour placed in the week once; and the low-rated comments, one row per agent,
    touchpoint and comment ('comment') with how many rows say it (`n`) and the first of
    them in newest-first order.
    `kept`: the hourly sums are read from this table (`kept_sums`) and the comments from
    `agent_comments` instead of the events."""
    served = "s.served_ts" if utc_hours else local_ts(scope, "s.served_ts")
    local = local_ts(scope, "served_hour") if utc_hours else "served_hour"
    sums = ", ".join(f"sum({k}) AS {k}" for k in SUMS)
    blank_sums = ", ".join(f"NULL AS {k}" for k in SUMS)
    blank_team = ", ".join(f"NULL AS team_{k}" for k in SUMS)
    # The trend shows no margins: the weeks need no sums of squares.
    week_sums = ", ".join(f"sum({k}) AS {k}" if k in WEEK_SUMS else f"NULL AS {k}" for k in SUMS)
    # The rest of the team: everyone at the agent's touchpoint and hours, less the agent,
    # summed exactly in the engine (decimal sums), whatever order the rows come in.
    own_sums = ", ".join(f"coalesce(sum(c.{k}), 0) AS {k}" for k in SUMS)
    team_sums = ", ".join(
        f"coalesce(sum(e.{k}), 0) - coalesce(sum(c.{k}), 0) AS team_{k}" for k in SUMS
    )
    both = ", ".join([*SUMS, *(f"team_{k}" for k in SUMS)])
    both_sums = ", ".join(f"sum({k}) AS {k}" for k in [*SUMS, *(f"team_{k}" for k in SUMS)])
    if kept:
        catalog = "LEFT JOIN touchpoints t ON t.id = f.touchpoint"
        # agent_hours holds one row per hour of service, touchpoint and agent already.
        own = "f.hour AS ts, " if kept == "agent_facts" else ""
        cols = sums if kept == "agent_facts" else ", ".join(SUMS)
        group = " GROUP BY s.agent, s.touchpoint, s.served_hour" if kept == "agent_facts" else ""
        # Read twice (the distinct hours, then placed in the week) rather than materialized:
        # at 10M events scanning the kept table again costs less than copying its rows.
        hourly = f"""hourly AS NOT MATERIALIZED (
      SELECT s.agent, s.touchpoint, s.served_hour, {cols}
      FROM (SELECT f.*, {own}t.channel AS channel, t.kind AS kind
            FROM {kept} f {catalog}) s
      WHERE {scope.where("s")}{group}
    )"""
        said = f"""(SELECT * FROM (
          SELECT f.*, t.channel AS channel, t.kind AS kind FROM agent_comments f {catalog}
        ) x WHERE {scope.where("x")})"""
        answers = ""
    else:
        raw = derived.agent_sums(counted(within)["offered"])
        hourly = f"""hourly AS (
      SELECT s.agent, s.touchpoint, date_trunc('hour', {served}) AS served_hour,
        {", ".join(f"{raw[k]} AS {k}" for k in SUMS)}
      FROM ({credited(scope, answers="answers")}) s
      GROUP BY s.agent, s.touchpoint, date_trunc('hour', {served})
    )"""
        said = f"({credited(scope, LOW_RATED, answers='answers')})"
        answers = f"answers AS ({rated()}),\n    "
    return f"""WITH {answers}{hourly},
    hours AS (
      SELECT served_hour, CAST({iso_weekday(local)} * 100 + {hour(local)} AS INTEGER) AS how,
        CAST(date_trunc('week', {local}) AS DATE) AS week
      FROM (SELECT DISTINCT served_hour FROM hourly) d
    ),
    placed AS {"NOT MATERIALIZED " if kept else ""}(
      SELECT h.*, x.how, x.week FROM hourly h JOIN hours x ON x.served_hour = h.served_hour
    ),
    low AS (
      SELECT agent, touchpoint, comment, ts, event_id,
        row_number() OVER (PARTITION BY agent, touchpoint, comment ORDER BY ts DESC, event_id) AS k,
        count(*) OVER (PARTITION BY agent, touchpoint, comment) AS n
      FROM {said} s
    ),
    cells AS (SELECT agent, touchpoint, how, {sums} FROM placed GROUP BY agent, touchpoint, how),
    everyone AS (SELECT touchpoint, how, {sums} FROM cells GROUP BY touchpoint, how),
    pairs AS (
      SELECT c.agent, c.touchpoint, {own_sums}, {team_sums}
      FROM cells c JOIN everyone e
        ON e.touchpoint IS NOT DISTINCT FROM c.touchpoint AND e.how = c.how
      GROUP BY c.agent, c.touchpoint
    )
    SELECT 'pair' AS grain, agent, touchpoint, CAST(NULL AS DATE) AS week, {both},
      CAST(NULL AS VARCHAR) AS comment, CAST(NULL AS BIGINT) AS n,
      CAST(NULL AS TIMESTAMP) AS first_ts, CAST(NULL AS VARCHAR) AS first_id
    FROM pairs
    UNION ALL
    SELECT 'agent' AS grain, agent, CAST(NULL AS VARCHAR) AS touchpoint,
      CAST(NULL AS DATE) AS week, {both_sums}, NULL AS comment, NULL AS n,
      NULL AS first_ts, NULL AS first_id
    FROM pairs GROUP BY agent
    UNION ALL
    SELECT 'week' AS grain, agent, CAST(NULL AS VARCHAR) AS touchpoint, week, {week_sums},
      {blank_team}, NULL AS comment, NULL AS n, NULL AS first_ts, NULL AS first_id
    FROM placed GROUP BY agent, week
    UNION ALL
    SELECT 'comment' AS grain, agent, touchpoint, NULL AS week, {blank_sums}, {blank_team},
      comment, n, ts AS first_ts, event_id AS first_id
    FROM low WHERE k = 1"""


SUMS = tuple(derived.AGENT_SUMS)
# What the weekly trend (`TREND_KEYS`) is computed from.
WEEK_SUMS = frozenset(
    {"contacts", "answered", "handle_sum", "handle_n", "resolved", "resolved_n", "csat_good",
     "csat_n", "promoters", "detractors", "nps_n"}
)  # fmt: skip


def _mean(total: float, squares: float, n: float) -> tuple[float | None, float | None]:
    """Mean and its 95 % margin (normal approximation; one value: no margin)."""
    if n <= 0:
        return None, None
    mean = total / n
    if n < 2:
        return mean, None
    variance = max((squares - total * total / n) / (n - 1), 0.0)
    return mean, Z * math.sqrt(variance / n)


def _share(k: float, n: float, scale: float = 1.0) -> tuple[float | None, float | None]:
    """The share and its 95 % margin, Agresti–Coull (two successes and two failures
    added for the margin): 30 of 30 is not "100 % ± 0"."""
    if n <= 0:
        return None, None
    adjusted = (k + 2) / (n + 4)
    return scale * k / n, scale * Z * math.sqrt(adjusted * (1 - adjusted) / (n + 4))


def _nps(p: float, d: float, n: float) -> tuple[float | None, float | None]:
    """NPS and its 95 % margin as SPEC §4 defines it."""
    if n <= 0:
        return None, None
    sp, sd = p / n, d / n
    return 100 * (sp - sd), 100 * Z * math.sqrt(max(sp + sd - (sp - sd) ** 2, 0.0) / n)


def scorecard(s: dict[str, float]) -> dict[str, Any]:
    """The scorecard keys of one sum of cells."""
    tma, tma_m = _mean(s["handle_sum"], s["handle_sq"], s["handle_n"])
    tme, tme_m = _mean(s["wait_sum"], s["wait_sq"], s["wait_n"])
    fcr, fcr_m = _share(s["resolved"], s["resolved_n"])
    csat, csat_m = _share(s["csat_good"], s["csat_n"], 100.0)
    nps, nps_m = _nps(s["promoters"], s["detractors"], s["nps_n"])
    kept = s["kept"] + s["broken"]
    return {
        "contacts": int(s["contacts"]),
        "answered": int(s["answered"]),
        "tma_seconds": tma,
        "tma_margin": tma_m,
        "tme_seconds": tme,
        "tme_margin": tme_m,
        "fcr": fcr,
        "fcr_margin": fcr_m,
        "fcr_answers": int(s["resolved_n"]),
        "csat": csat,
        "csat_margin": csat_m,
        "csat_answers": int(s["csat_n"]),
        "nps": nps,
        "nps_margin": nps_m,
        "nps_answers": int(s["nps_n"]),
        "promise_kept_rate": s["kept"] / kept if kept else None,
        "data_reuse_rate": s["reused"] / s["reused_n"] if s["reused_n"] else None,
    }


def _week(value: Any) -> str | None:
    if value is None:
        return None
    return (value.date() if isinstance(value, datetime) else value).isoformat()


def agents(store: Store, scope: Scope, options: AgentsOptions) -> dict[str, Any]:
    """Per agent: contacts, AHT (TMA), ASA (TME), FCR, CSAT and NPS with 95 % margins,
    promises kept and data re-used, over all their touchpoints and per touchpoint, each
    beside the rest of the team on the same touchpoints and hours of the week; the trend
    by week; the significant differences as coaching findings in words; and the themes of
    the low-rated comments per agent and per touchpoint, with an example each."""
    within, service = service_rules(store, options)
    params = {**scope.params(), **service}
    utc_hours = by_utc_hour(store, scope)
    kept = kept_sums(store, scope, options, utc_hours)
    found = store.query(_statement(scope, within, utc_hours, kept), params)
    rows, by_touchpoint, trend = [], [], []
    for c in found:
        if c["grain"] in ("pair", "agent"):
            own = {k: float(c[k] or 0) for k in SUMS}
            team = {k: float(c[f"team_{k}"] or 0) for k in SUMS}
            pair = _pair(c["agent"], c["touchpoint"], own, team)
            (by_touchpoint if c["grain"] == "pair" else rows).append(pair)
        elif c["grain"] == "week":
            card = scorecard({k: float(c[k] or 0) for k in SUMS})
            trend.append(
                {
                    "agent": c["agent"],
                    "week": _week(c["week"]),
                    **{k: v for k, v in card.items() if k in TREND_KEYS},
                }
            )
    rows.sort(key=lambda r: (-r["contacts"], r["agent"]))
    by_touchpoint.sort(key=lambda r: (r["agent"], r["touchpoint"]))
    trend.sort(key=lambda w: (w["agent"], w["week"] or ""))
    themes = comment_themes([c for c in found if c["grain"] == "comment"])
    names = {
        tp.id: {lang: tp.noun(lang) for lang in msg.LANGS} for tp in store.catalog().touchpoints
    }
    findings = coaching(by_touchpoint, themes, options, names)
    return {
        "rows": rows,
        "by_touchpoint": by_touchpoint,
        "weeks": trend,
        "findings": findings,
        "themes": themes,
    }


TREND_KEYS = ("contacts", "answered", "tma_seconds", "fcr", "csat", "nps")


def _pair(
    agent: str, touchpoint: str | None, own: dict[str, float], team: dict[str, float]
) -> dict[str, Any]:
    theirs = scorecard(team)
    return {
        "agent": agent,
        **({"touchpoint": touchpoint} if touchpoint is not None else {}),
        **scorecard(own),
        **{f"team_{k}": theirs[k] for k in TEAM_KEYS},
    }


TEAM_KEYS = (
    "contacts", "tma_seconds", "tma_margin", "tme_seconds", "tme_margin", "fcr",
    "fcr_margin", "csat", "csat_margin", "nps", "nps_margin", "promise_kept_rate",
    "data_reuse_rate",
)  # fmt: skip


# -- coaching findings ------------------------------------------------------------------
def coaching(
    pairs: list[dict[str, Any]],
    themes: list[dict[str, Any]],
    options: AgentsOptions,
    names: dict[str, dict[str, Noun]],
) -> list[dict[str, Any]]:
    """Each (agent, touchpoint, metric) whose 95 % interval lies apart from the team's
    there, with at least `min_answers` answers: worse ones first (what to coach), then
    strengths, largest gap first."""
    said = {(t["agent"], t["touchpoint"]): t["themes"] for t in themes if t["agent"]}
    out = []
    for p in pairs:
        for key, (answers_key, higher_better) in JUDGED.items():
            value, margin = p[key], p[key.replace("_seconds", "") + "_margin"]
            team, team_margin = (
                p[f"team_{key}"],
                p["team_" + key.replace("_seconds", "") + "_margin"],
            )
            answers = p[answers_key]
            if None in (value, margin, team, team_margin) or answers < options.min_answers:
                continue
            if abs(value - team) <= margin + team_margin:
                continue
            better = (value > team) == higher_better
            finding = {
                "agent": p["agent"],
                "touchpoint": p["touchpoint"],
                "metric": key,
                "direction": "strength" if better else "weakness",
                "value": value,
                "margin": margin,
                "team": team,
                "team_margin": team_margin,
                "answers": answers,
                "mentions": []
                if better
                else [t["theme"] for t in said.get((p["agent"], p["touchpoint"]), [])[:2]],
            }
            finding["text"] = {
                lang: finding_text(finding, lang, names.get(p["touchpoint"], {}).get(lang))
                for lang in msg.LANGS
            }
            out.append(finding)
    out.sort(key=lambda f: (f["direction"] != "weakness", -_apart(f)))
    return out


def _apart(f: dict[str, Any]) -> float:
    """How far apart the intervals are, in their margins; two exact values (no spread:
    every answer the same) are farther apart than any two intervals."""
    spread = f["margin"] + f["team_margin"]
    return abs(f["value"] - f["team"]) / spread if spread else math.inf


def finding_text(f: dict[str, Any], lang: str, name: Noun | str | None = None) -> str:
    """'Ana's CSAT at WhatsApp is 62.0% ±5.0 pp against 78.0% ±2.0 pp for the team (140 answers);
    the low ratings mention "demora" and "não resolveu".'"""
    key = f["metric"]
    value = format.value(key, f["value"], lang)
    team = format.value(key, f["team"], lang)
    margin = format.value(key, f["margin"], lang)
    team_margin = format.value(key, f["team_margin"], lang)
    if key in ("fcr", "csat"):  # a share's margin in percentage points (FCR is 0-1)
        scale = 100 if key == "fcr" else 1
        pp = " " + msg.t(lang, "common.pp")
        margin = format.number(scale * f["margin"], lang, 1) + pp
        team_margin = format.number(scale * f["team_margin"], lang, 1) + pp
    text = msg.t(
        lang,
        "agents.finding_" + f["direction"],
        agent=f["agent"],
        metric=msg.t(lang, "metric." + key),
        touchpoint=noun(name or f["touchpoint"], lang),
        value=value,
        margin=margin,
        team=team,
        team_margin=team_margin,
        answers=format.integer(f["answers"], lang),
    )
    if f["mentions"]:
        quoted = [f"“{m}”" for m in f["mentions"]]
        joined = (
            msg.t(lang, "agents.two", first=quoted[0], second=quoted[1])
            if len(quoted) == 2
            else quoted[0]
        )
        text += msg.t(lang, "agents.mentions", themes=joined)
    return text


# -- comment themes -----------------------------------------------------------------------
def phrases(comment: str) -> dict[str, str]:
    """The keywords and two-word phrases of a comment without stop words, each under a
    key that ignores case, accents and word endings ('demora', 'demorou' and 'Demorado'
    are one theme) with the words as the customer wrote them; a negation keeps its word
    ('não resolveu', 'not fixed')."""
    written = _WORD.findall(comment.casefold())
    words = [fold(w) for w in written]
    stop = _STOP
    found: dict[str, str] = {}
    for i, w in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else None
        if w in NEGATORS and nxt is not None and nxt not in stop:
            found[f"{w} {_stem(nxt)}"] = f"{written[i]} {written[i + 1]}"
            continue
        if w in stop or len(w) < 4 or w.isdigit() or (i and words[i - 1] in NEGATORS):
            continue
        found[_stem(w)] = written[i]
        if nxt is not None and nxt not in stop and len(nxt) >= 4:
            found[f"{_stem(w)} {_stem(nxt)}"] = f"{written[i]} {written[i + 1]}"
    return found


_STOP = frozenset().union(
    *(g[lang] for g in (STOPWORDS, INTENSIFIERS, POST_INTENSIFIERS) for lang in ("pt-BR", "en"))
)


def _stem(word: str) -> str:
    """A light stem: the first five letters of a longer word."""
    return word[:5] if len(word) >= 6 else word


def comment_themes(said: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The commonest keywords and phrases of the low-rated comments (CSAT 1–3 or NPS 0–6)
    per agent and touchpoint, and per touchpoint for the whole team (`agent` null), each
    with how many comments use it and one example comment (the newest). A theme needs two
    comments.

    `said` holds one row per agent, touchpoint and comment text: `n` rows say it, the
    first of them (newest first: time, then event id) at `first_ts`/`first_id`. Reading
    each group's texts in the order of their first rows, each weighing its `n`, counts
    what reading every row in that order would, and picks the same examples."""
    order = sorted(
        sorted(said, key=lambda r: r["first_id"]), key=lambda r: r["first_ts"], reverse=True
    )
    groups: dict[tuple[str | None, str], dict[str, int]] = defaultdict(dict)
    for r in order:  # dicts keep the order texts were first said in, per group
        for group in ((None, r["touchpoint"]), (r["agent"], r["touchpoint"])):
            texts = groups[group]
            texts[r["comment"]] = texts.get(r["comment"], 0) + int(r["n"])
    parsed: dict[str, dict[str, str]] = {}  # each distinct comment is read once
    out = []
    for (agent, touchpoint), texts in sorted(
        groups.items(), key=lambda g: (g[0][0] or "", g[0][1])
    ):
        weighed = []
        for comment, n in texts.items():
            if comment not in parsed:
                parsed[comment] = phrases(comment)
            weighed.append((comment, parsed[comment], n))
        themes = _themes(weighed)
        if themes:
            out.append(
                {
                    "agent": agent,
                    "touchpoint": touchpoint,
                    "comments": sum(texts.values()),
                    "themes": themes,
                }
            )
    return out


def _themes(comments: Iterable[tuple[str, dict[str, str], int]]) -> list[dict[str, Any]]:
    """The top themes of (comment, its `phrases`, how many rows say it), in order."""
    seen: Counter[str] = Counter()
    surface: dict[str, Counter[str]] = defaultdict(Counter)
    example: dict[str, str] = {}
    for comment, found, n in comments:
        for key, words in found.items():
            seen[key] += n
            surface[key][words] += n
            example.setdefault(key, comment)
    # A phrase says more than its words: drop a word no commoner than a phrase holding it
    # (each word's commonest phrase, found in one pass over the phrases).
    holding: dict[str, int] = {}
    for q, m in seen.items():
        if " " in q:
            for word in q.split():
                holding[word] = max(holding.get(word, 0), m)
    kept = [(key, n) for key, n in seen.items() if n >= 2 and holding.get(key, 0) < n]
    kept.sort(key=lambda kn: (-kn[1], -len(kn[0]), kn[0]))
    return [
        {"theme": surface[key].most_common(1)[0][0], "count": n, "example": example[key]}
        for key, n in kept[:THEMES_SHOWN]
    ]


# -- result schema -------------------------------------------------------------------------
class Scorecard(ResultModel):
    agent: str
    contacts: int = Field(description="Service contacts offered to the agent (SPEC §4).")
    answered: int
    tma_seconds: float | None
    tma_margin: float | None = Field(description="95 % margin of the AHT (TMA), seconds.")
    tme_seconds: float | None
    tme_margin: float | None = Field(description="95 % margin of the ASA (TME), seconds.")
    fcr: float | None
    fcr_margin: float | None = Field(description="95 % margin of the FCR share.")
    fcr_answers: int = Field(description="Contacts with `resolved` set.")
    csat: float | None
    csat_margin: float | None = Field(description="95 % margin of the CSAT, points.")
    csat_answers: int
    nps: float | None
    nps_margin: float | None
    nps_answers: int
    promise_kept_rate: float | None
    data_reuse_rate: float | None
    team_contacts: int | float
    team_tma_seconds: float | None
    team_tma_margin: float | None
    team_tme_seconds: float | None
    team_tme_margin: float | None
    team_fcr: float | None
    team_fcr_margin: float | None
    team_csat: float | None
    team_csat_margin: float | None
    team_nps: float | None
    team_nps_margin: float | None
    team_promise_kept_rate: float | None
    team_data_reuse_rate: float | None


class TouchpointScorecard(Scorecard):
    touchpoint: str


class WeekRow(ResultModel):
    agent: str
    week: str = Field(description="Monday of the week, in the scope's time zone.")
    contacts: int
    answered: int
    tma_seconds: float | None
    fcr: float | None
    csat: float | None
    nps: float | None


class Finding(ResultModel):
    agent: str
    touchpoint: str
    metric: str
    direction: str = Field(description="strength or weakness against the team.")
    value: float
    margin: float
    team: float
    team_margin: float
    answers: int
    mentions: list[str] = Field(description="Themes of the agent's low ratings there.")
    text: dict[str, str] = Field(description="The finding in words, per language.")


class Theme(ResultModel):
    theme: str = Field(description="A keyword or two-word phrase (folded, lightly stemmed).")
    count: int = Field(description="Low-rated comments that use it.")
    example: str


class Themes(ResultModel):
    agent: str | None = Field(description="Null: the whole team at the touchpoint.")
    touchpoint: str
    comments: int
    themes: list[Theme]


class AgentsResult(ResultModel):
    rows: list[Scorecard]
    by_touchpoint: list[TouchpointScorecard]
    weeks: list[WeekRow]
    findings: list[Finding]
    themes: list[Themes]


register(
    Analysis(
        name="agents",
        summary="The team's scorecards with 95 % margins against the team, coaching findings and comment themes.",
        run=agents,
        options=AgentsOptions,
        result=AgentsResult,
        scope=("date_from", "date_to", "touchpoint", "channel", "segment", "agent", "timezone"),
    )
)
