"""What customers wrote and answered: comments with their sentiment, and where surveyed
customers say they first heard of the company.

Comments come from any event's `comment` (survey answers, chat ratings, store tablets);
their sentiment is scored when read, offline, in pt-BR or English (`sentiment.py`), never
stored, so a better lexicon re-scores the whole history. The first-heard answers are the
survey's feedback rows whose event id the survey pages write (`ingest.surveys`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from touchpoints.analytics.registry import (
    EVENT_SCOPE,
    Analysis,
    NoOptions,
    Options,
    ResultModel,
    register,
)
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.sentiment import label, read
from touchpoints.analytics.sql import scoped_events

if TYPE_CHECKING:
    from touchpoints.store.base import Store

# The survey pages' event ids: "survey:<token>:first-heard" (see ingest.surveys).
FIRST_HEARD_PATTERN = "survey:%:first-heard"


class CommentsOptions(Options):
    limit: int | None = Field(
        500, description="Comments listed, newest first (scores count every comment)."
    )


def comments(store: Store, scope: Scope, options: CommentsOptions) -> dict[str, Any]:
    """Feedback comments in scope with their sentiment, newest first, and a summary overall
    and per touchpoint: the touchpoint of the rated interaction (`ref_event_id`), else the
    comment's own, so WhatsApp's page shows the survey answers rating WhatsApp contacts. Scores are computed over
    every comment in scope; `limit` only cuts the list."""
    limit = options.limit
    # A survey answer is about the contact it rates (`ref_event_id`): it belongs to that
    # contact's touchpoint, and the touchpoint, channel and kind filters read that one.
    rated = "coalesce(r.touchpoint, e.touchpoint)"
    where = [f"{rated} IN ({_marks('touchpoint', scope.touchpoints)})"] if scope.touchpoints else []
    for option, values, column in (
        ("channel", scope.channels, "channel"),
        ("kind", scope.kinds, "kind"),
    ):
        if values:
            where.append(
                f"{rated} IN (SELECT id FROM touchpoints WHERE {column} IN ({_marks(option, values)}))"
            )
    others = scope.replace(touchpoints=(), channels=(), kinds=())
    rows = store.query(
        "SELECT e.event_id AS event_id, e.ts AS ts, e.customer_id AS customer_id, "
        f"{rated} AS touchpoint, e.ref_event_id AS ref_event_id, e.nps AS nps, e.csat AS csat, "
        "e.ces AS ces, e.emotion AS emotion, e.comment AS comment "
        f"FROM ({scoped_events(others, with_catalog=False)}) e "
        "LEFT JOIN events r ON r.event_id = e.ref_event_id "
        "WHERE e.comment IS NOT NULL AND trim(e.comment) <> '' "
        + "".join(f" AND {w}" for w in where)
        + " ORDER BY e.ts DESC, e.event_id",
        scope.params(),
    )
    scored = []
    for r in rows:
        lang, value = read(r["comment"])
        ts = r["ts"]
        scored.append(
            {
                **r,
                "ts": ts.isoformat() if hasattr(ts, "isoformat") else ts,
                "lang": lang,
                "sentiment": value,
                "label": label(value),
            }
        )
    groups: dict[str, list[float]] = {}
    for c in scored:
        groups.setdefault(c["touchpoint"], []).append(c["sentiment"])
    return {
        "comments": scored if limit is None else scored[:limit],
        "summary": _summary([c["sentiment"] for c in scored]),
        "by_touchpoint": [
            {"touchpoint": tp, **_summary(values)} for tp, values in sorted(groups.items())
        ],
    }


def _marks(option: str, values: tuple[str, ...]) -> str:
    """The scope's own markers for a list filter (`Scope.params()` binds them)."""
    return ", ".join(f"$scope_{option}_{i}" for i in range(len(values)))


def _summary(values: list[float]) -> dict[str, Any]:
    labels = [label(v) for v in values]
    return {
        "comments": len(values),
        "mean": sum(values) / len(values) if values else None,
        "positive": labels.count("positive"),
        "neutral": labels.count("neutral"),
        "negative": labels.count("negative"),
    }


def first_heard(store: Store, scope: Scope, options: NoOptions) -> dict[str, Any]:
    """Where surveyed customers say they first heard of the company, most named first; a
    customer who answered several surveys counts once, with their latest answer."""
    rows = store.query(
        f"""
        WITH heard AS (
          SELECT customer_id, touchpoint,
                 row_number() OVER (PARTITION BY customer_id ORDER BY ts DESC, seq DESC) AS k
          FROM ({scoped_events(scope)}) e
          WHERE action = 'feedback' AND event_id LIKE $pattern
        )
        SELECT touchpoint, count(*) AS customers FROM heard WHERE k = 1
        GROUP BY touchpoint ORDER BY customers DESC, touchpoint""",
        {**scope.params(), "pattern": FIRST_HEARD_PATTERN},
    )
    total = sum(int(r["customers"]) for r in rows)
    return {
        "answers": total,
        "rows": [
            {
                "touchpoint": r["touchpoint"],
                "customers": int(r["customers"]),
                "share": int(r["customers"]) / total,
            }
            for r in rows
        ],
    }


class Comment(ResultModel):
    event_id: str
    ts: str
    customer_id: str
    touchpoint: str
    ref_event_id: str | None
    nps: int | None
    csat: int | None
    ces: int | None
    emotion: int | None
    comment: str
    lang: str
    sentiment: float = Field(description="-1 (negative) to 1 (positive), scored when read.")
    label: str


class Summary(ResultModel):
    comments: int
    mean: float | None
    positive: int
    neutral: int
    negative: int


class TouchpointSummary(Summary):
    touchpoint: str


class CommentsResult(ResultModel):
    comments: list[Comment]
    summary: Summary
    by_touchpoint: list[TouchpointSummary]


class Heard(ResultModel):
    touchpoint: str
    customers: int
    share: float


class FirstHeardResult(ResultModel):
    answers: int
    rows: list[Heard]


register(
    Analysis(
        name="feedback.comments",
        summary="Customers' comments with their sentiment (pt-BR and English), newest first.",
        run=comments,
        options=CommentsOptions,
        result=CommentsResult,
        scope=EVENT_SCOPE,
        table="comments",
    )
)
register(
    Analysis(
        name="feedback.first-heard",
        summary="Where surveyed customers say they first heard of the company.",
        run=first_heard,
        options=NoOptions,
        result=FirstHeardResult,
        scope=EVENT_SCOPE,
    )
)
