"""The live service monitor: what the queue looks like now, and in the last hour.

Events (SPEC §2) are written when a contact *ends*: the row of an answered or abandoned
contact carries its wait, so finished contacts are known, but a customer still in the queue
has no row yet. "Waiting now" therefore needs a row written when the contact *enters* the
queue. Touchpoints' convention: a connector (or the API client) sends an event with
`action = 'queued'` and no `abandoned` value when a contact joins the queue, and the usual
service-contact row (`abandoned` true/false) when it ends. A contact is **waiting** while
its `queued` row (within the window) has no service contact of the same customer at the same
touchpoint that began at or after it. Stores fed only by end-of-contact rows show 0 waiting
and still get every other number here.

Everything else is SPEC §4 over the window `[now - window, now]` (by `ts`, the moment the
contact began), computed by `kpis()` so the live numbers and the reports agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field

from touchpoints.analytics.kpis import KpisOptions, kpis
from touchpoints.analytics.registry import Analysis, Options, ResultModel, register
from touchpoints.analytics.scope import Scope
from touchpoints.analytics.sql import scoped_events
from touchpoints.core.errors import UsageError
from touchpoints.core.time import parse_when

if TYPE_CHECKING:
    from touchpoints.store.base import Store

QUEUED = "queued"
LIVE_KEYS = (
    "offered",
    "answered",
    "abandoned",
    "abandonment_rate",
    "tme_seconds",
    "tma_seconds",
    "service_level",
)
# target key -> True when a value *above* the target breaks it (waits, abandons).
ALERT_RULES = {"tme_seconds": True, "abandonment_rate": True, "service_level": False}


def _naive_utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC).replace(tzinfo=None)
    return now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now


def alerts_for(
    touchpoint: str, values: dict[str, Any], target: dict[str, float]
) -> list[dict[str, Any]]:
    """Every catalog target a touchpoint's live numbers break (nothing to measure: no alert)."""
    out = []
    for metric, above_is_bad in ALERT_RULES.items():
        goal = target.get(metric)
        value = values.get(metric)
        if goal is None or value is None:
            continue
        if (value > goal) if above_is_bad else (value < goal):
            out.append(
                {
                    "touchpoint": touchpoint,
                    "metric": metric,
                    "value": value,
                    "target": goal,
                    "direction": "above" if above_is_bad else "below",
                }
            )
    return out


class LiveOptions(Options):
    window: int = Field(60, description="Minutes of the window, up to now (1 to 1440).")
    answer_within: float | None = Field(
        None,
        description="Service level threshold T in seconds (SPEC §4); default: each "
        "touchpoint's answer_within target, else 20.",
    )
    at: str | None = Field(
        None,
        description="The moment to look from instead of now (ISO time; naive = UTC): "
        "replays the queue as it stood then.",
    )


def live_snapshot(
    store: Store, scope: Scope, options: LiveOptions, now: datetime | None = None
) -> dict[str, Any]:
    """The queue now and over the last minutes: waiting contacts and the longest wait,
    answered and abandoned, TME, service level, agents, and alerts against the catalog's
    targets (the Live page, also `touchpoints live`).

    The window ends at `now` (a caller's clock), else at the `at` option, else now.
    """
    window_minutes = options.window
    if not 1 <= int(window_minutes) <= 24 * 60:
        raise UsageError(f"--window {window_minutes!r}: use 1 to 1440 minutes")
    stop = _naive_utc(now if now is not None else parse_when(options.at, "--at"))
    start = stop - timedelta(minutes=int(window_minutes))
    scope = scope.replace(date_from=start, date_to=stop)
    params = {**scope.params(), "queued": QUEUED}
    events = scoped_events(scope, with_catalog=bool(scope.channels))
    total = kpis(store, scope, KpisOptions(answer_within=options.answer_within))["rows"][0]
    per_tp = {
        r["group"]: r
        for r in kpis(
            store, scope, KpisOptions(by="touchpoint", answer_within=options.answer_within)
        )["rows"]
    }
    waiting_rows = store.query(
        f"""
      SELECT q.touchpoint AS touchpoint, count(*) AS waiting, min(q.ts) AS since
      FROM ({events}) q
      WHERE q.action = $queued AND q.abandoned IS NULL AND NOT EXISTS (
        SELECT 1 FROM events c
        WHERE c.customer_id = q.customer_id AND c.touchpoint = q.touchpoint
          AND c.abandoned IS NOT NULL AND c.ts >= q.ts)
      GROUP BY q.touchpoint""",
        params,
    )
    agent_rows = store.query(
        f"""
      SELECT touchpoint, count(DISTINCT agent) AS agents FROM ({events}) s
      WHERE abandoned IS NOT NULL AND agent IS NOT NULL GROUP BY touchpoint""",
        params,
    )
    all_agents = store.query(
        f"""
      SELECT count(DISTINCT agent) AS agents FROM ({events}) s
      WHERE abandoned IS NOT NULL AND agent IS NOT NULL""",
        params,
    )[0]["agents"]
    series_rows = store.query(
        f"""
      SELECT date_trunc('minute', ts) AS minute,
        sum(CASE WHEN abandoned = FALSE THEN 1 ELSE 0 END) AS answered,
        sum(CASE WHEN abandoned THEN 1 ELSE 0 END) AS abandoned,
        avg(CASE WHEN abandoned = FALSE THEN wait_seconds END) AS tme_seconds
      FROM ({events}) s WHERE abandoned IS NOT NULL
      GROUP BY date_trunc('minute', ts) ORDER BY 1""",
        params,
    )
    last = store.query("SELECT max(seq) AS seq FROM events")[0]["seq"]

    waiting = {r["touchpoint"]: (int(r["waiting"]), r["since"]) for r in waiting_rows}
    agents = {r["touchpoint"]: int(r["agents"]) for r in agent_rows}
    catalog = store.catalog()
    rows: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    for tp_id in sorted(set(per_tp) | set(waiting)):
        entry = catalog.get(tp_id)
        target = dict(entry.target) if entry else {}
        values = {k: per_tp.get(tp_id, {}).get(k) for k in LIVE_KEYS}
        for key in ("offered", "answered", "abandoned"):
            values[key] = values[key] or 0
        if not values["offered"] and tp_id not in waiting:
            continue  # only service touchpoints belong on a queue monitor
        n_wait, since = waiting.get(tp_id, (0, None))
        row = {
            "touchpoint": tp_id,
            "name": {"en": entry.label("en"), "pt-BR": entry.label("pt-BR")}
            if entry
            else {"en": tp_id, "pt-BR": tp_id},
            **values,
            "waiting": n_wait,
            "longest_wait_seconds": _seconds(stop, since),
            "agents": agents.get(tp_id, 0),
            "target": target,
        }
        row["alerts"] = alerts_for(tp_id, values, target)
        alerts.extend(row["alerts"])
        rows.append(row)
    rows.sort(key=lambda r: (-r["waiting"], -r["offered"], r["touchpoint"]))
    longest = [r["longest_wait_seconds"] for r in rows if r["longest_wait_seconds"] is not None]
    return {
        "now": stop.isoformat() + "Z",
        "window_minutes": int(window_minutes),
        "waiting": sum(r["waiting"] for r in rows),
        "longest_wait_seconds": max(longest) if longest else None,
        **{k: total[k] for k in LIVE_KEYS},
        "agents": int(all_agents or 0),
        "touchpoints": rows,
        "alerts": alerts,
        "series": [
            {
                "minute": r["minute"].isoformat() + "Z",
                "answered": int(r["answered"] or 0),
                "abandoned": int(r["abandoned"] or 0),
                "tme_seconds": None if r["tme_seconds"] is None else float(r["tme_seconds"]),
            }
            for r in series_rows
        ],
        "last_seq": None if last is None else int(last),
    }


def _seconds(now: datetime, since: datetime | None) -> float | None:
    if since is None:
        return None
    return max((now - since).total_seconds(), 0.0)


class LiveResult(ResultModel):
    model_config = ConfigDict(extra="allow")

    now: str
    window_minutes: int
    waiting: int
    longest_wait_seconds: float | None
    touchpoints: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    series: list[dict[str, Any]]
    last_seq: int | None


register(
    Analysis(
        name="live",
        summary="The queue now: waiting contacts, longest wait, last hour's service, alerts.",
        run=live_snapshot,
        options=LiveOptions,
        result=LiveResult,
        scope=("touchpoint", "channel"),
        table="touchpoints",
    )
)
