"""How the 24/7 attendant does (SPEC §7): containment, hand-offs and their reasons, the
bot's first-response time, the people's wait after a hand-off, CSAT bot vs people — and
the messages it did not understand, ready to paste into its file as examples.

Counted over the conversations the bot owned (it answered first), by the time each
started. A conversation is **contained** when it ended without a hand-off, and **handed
off** otherwise: never both, so containment and hand-off rates add up to 1. The bot's
first-response time is its own number; the people's wait (TME) of a handed-off
conversation runs from the hand-off to a person's first reply, never from the customer's
first message (the bot's minutes are not the people's queue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from touchpoints.analytics.registry import Analysis, Options, ResultModel, register
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.sql import seconds_between

if TYPE_CHECKING:
    from touchpoints.store.base import Store

SCOPE = ("date_from", "date_to", "touchpoint", "channel", "kind", "timezone")


class AttendantKpisOptions(Options):
    """Nothing beyond the period and touchpoint."""


def _where(scope: Scope, alias: str = "c") -> str:
    """The scope over conversations: the period by their start, touchpoint, channel and
    kind by the touchpoint the bot answered on (phase, segment and agent do not apply)."""
    return scope.replace(phases=(), segments=(), agents=()).where(alias)


def _has_tables(store: Store) -> bool:
    """A store made before the attendant existed, opened read-only, lacks its tables:
    then there is nothing to count (rather than an error)."""
    return store.has_table("attendant_conversations")


def _source(scope: Scope) -> str:
    return (
        "(SELECT a.conversation_id, a.touchpoint, a.owner, a.started_at, "
        "a.first_response_seconds, a.handoff_at, a.handoff_reason, a.person_reply_at, "
        "a.resolved_at, a.csat, a.started_at AS ts, t.channel AS channel, t.kind AS kind "
        "FROM attendant_conversations a LEFT JOIN touchpoints t ON t.id = a.touchpoint) c "
        f"WHERE {_where(scope)}"
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def attendant_kpis(store: Store, scope: Scope, options: AttendantKpisOptions) -> dict[str, Any]:
    """Conversations the bot owned, how many it contained and handed off (with why), its
    mean first-response time, the people's mean wait from hand-off to first reply, and
    CSAT (100 x share of 4-5) of contained vs handed-off conversations."""
    if not _has_tables(store):
        return attendant_kpis_empty()
    params = scope.params()
    wait = seconds_between("c.handoff_at", "c.person_reply_at")
    row = store.query(
        "SELECT count(*) AS conversations, "
        "count(*) FILTER (WHERE c.handoff_at IS NULL) AS contained, "
        "count(*) FILTER (WHERE c.handoff_at IS NOT NULL) AS handoffs, "
        "count(*) FILTER (WHERE c.handoff_at IS NOT NULL AND c.owner = 'queued') AS queued, "
        "count(*) FILTER (WHERE c.handoff_at IS NULL AND c.resolved_at IS NOT NULL) AS resolved, "
        "avg(c.first_response_seconds) AS first_response_seconds, "
        f"avg(CASE WHEN c.person_reply_at IS NOT NULL THEN {wait} END) AS handoff_wait_seconds, "
        "count(c.csat) FILTER (WHERE c.handoff_at IS NULL) AS csat_bot_n, "
        "count(*) FILTER (WHERE c.handoff_at IS NULL AND c.csat >= 4) AS csat_bot_ok, "
        "count(c.csat) FILTER (WHERE c.handoff_at IS NOT NULL) AS csat_people_n, "
        "count(*) FILTER (WHERE c.handoff_at IS NOT NULL AND c.csat >= 4) AS csat_people_ok "
        f"FROM {_source(scope)}",
        params,
    )[0]
    reasons = store.query(
        "SELECT c.handoff_reason AS reason, count(*) AS count "
        f"FROM {_source(scope)} AND c.handoff_at IS NOT NULL "
        "GROUP BY c.handoff_reason ORDER BY count(*) DESC, c.handoff_reason",
        params,
    )
    total = int(row["conversations"])
    contained, handoffs = int(row["contained"]), int(row["handoffs"])

    def mean(key: str) -> float | None:
        return None if row[key] is None else float(row[key])

    def csat(who: str) -> float | None:
        n = int(row[f"csat_{who}_n"])
        return 100 * int(row[f"csat_{who}_ok"]) / n if n else None

    return {
        "conversations": total,
        "contained": contained,
        "containment_rate": _share(contained, total),
        "handoffs": handoffs,
        "handoff_rate": _share(handoffs, total),
        "queued": int(row["queued"]),
        "resolved": int(row["resolved"]),
        "first_response_seconds": mean("first_response_seconds"),
        "handoff_wait_seconds": mean("handoff_wait_seconds"),
        "csat_bot": csat("bot"),
        "csat_people": csat("people"),
        "reasons": [{"reason": r["reason"], "count": int(r["count"])} for r in reasons],
    }


def attendant_kpis_empty() -> dict[str, Any]:
    return {
        "conversations": 0,
        "contained": 0,
        "containment_rate": None,
        "handoffs": 0,
        "handoff_rate": None,
        "queued": 0,
        "resolved": 0,
        "first_response_seconds": None,
        "handoff_wait_seconds": None,
        "csat_bot": None,
        "csat_people": None,
        "reasons": [],
    }


class Reason(ResultModel):
    reason: str | None
    count: int


class AttendantKpisResult(ResultModel):
    conversations: int = Field(description="Conversations the bot owned (it answered first).")
    contained: int = Field(description="Conversations that ended without a hand-off.")
    containment_rate: float | None = Field(description="contained / conversations.")
    handoffs: int = Field(description="Conversations handed to a person.")
    handoff_rate: float | None = Field(description="handoffs / conversations.")
    queued: int = Field(description="Hand-offs still waiting for opening hours.")
    resolved: int = Field(description="Contained conversations marked resolved.")
    first_response_seconds: float | None = Field(description="The bot's mean first-response time.")
    handoff_wait_seconds: float | None = Field(
        description="People's mean wait from the hand-off to their first reply (their TME)."
    )
    csat_bot: float | None = Field(description="CSAT of contained conversations (100 x 4-5 share).")
    csat_people: float | None = Field(description="CSAT of handed-off conversations.")
    reasons: list[Reason]


class MissedOptions(Options):
    limit: int = Field(50, ge=1, le=10_000, description="Phrases to list, the most frequent first.")


def attendant_missed(store: Store, scope: Scope, options: MissedOptions) -> dict[str, Any]:
    """The messages the bot did not understand (it asked back), the most frequent first,
    each as written: phrases to paste into the attendant file as examples."""
    if not _has_tables(store):
        return {"rows": []}
    rows = store.query(
        "SELECT m.text, count(*) AS count, max(m.received_at) AS last_seen FROM ("
        "SELECT x.text, x.received_at, x.kind AS message_kind, x.received_at AS ts, "
        "a.touchpoint, t.channel AS channel, t.kind AS kind "
        "FROM attendant_messages x "
        "LEFT JOIN attendant_conversations a ON a.conversation_id = x.conversation_id "
        "LEFT JOIN touchpoints t ON t.id = a.touchpoint) m "
        f"WHERE {_where(scope, 'm')} AND m.message_kind = 'clarify' "
        "AND m.text IS NOT NULL AND m.text <> '' "
        "GROUP BY m.text ORDER BY count(*) DESC, max(m.received_at) DESC, m.text",
        {**scope.params()},
    )
    rows = rows[: options.limit]
    return {
        "rows": [
            {
                "text": r["text"],
                "count": int(r["count"]),
                "last_seen": r["last_seen"].isoformat() if r["last_seen"] else None,
            }
            for r in rows
        ]
    }


class Missed(ResultModel):
    text: str
    count: int
    last_seen: str | None


class MissedResult(ResultModel):
    rows: list[Missed]


register(
    Analysis(
        name="attendant.kpis",
        summary="The 24/7 attendant: containment, hand-offs and reasons, first response, CSAT.",
        run=attendant_kpis,
        options=AttendantKpisOptions,
        result=AttendantKpisResult,
        scope=SCOPE,
        table="reasons",
    )
)
register(
    Analysis(
        name="attendant.missed",
        summary="Messages the attendant did not understand, ready to add as examples.",
        run=attendant_missed,
        options=MissedOptions,
        result=MissedResult,
        scope=SCOPE,
    )
)
