"""Feedback surveys: signed, expiring, single-use links and the events an answer becomes.

A link is `public_url + "/s/" + token`. The token is `payload.signature`, both base64url:
the payload is compact JSON `{"e": rated event_id, "t": random token id, "x": expiry
(Unix seconds)}`, the signature HMAC-SHA256 over it with `secret_key`. Nothing secret is
in the payload (an event id) and nothing about it can be changed without the key. Creating
a link records the token id in `survey_tokens`; answering marks it used.

An answer is stored through ordinary ingestion as **one `feedback` event** — at the rated
event's touchpoint, for its customer, `ref_event_id` = the rated event, with nps/csat/ces/
comment — whose `event_id` is `survey:<token id>`, so a second submit of the same link is
a duplicate whatever the timing. "How did you first hear about us?" has no column in the
canonical event, so it becomes a **second `feedback` event** at the touchpoint the customer
chose, with no scores, `phase` before and `event_id` `survey:<token id>:first-heard`.
`action` stays `feedback` so journeys, funnels and attribution never count it as a step;
`touchpoints feedback first-heard` reads those rows back. See docs/surveys.md.

This module holds the logic (no HTTP); `server/surveys.py` serves the pages, and stores
an answer through the server's ingestion like any other event.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from touchpoints.core import format
from touchpoints.core import messages as msg
from touchpoints.core.errors import TouchpointsError, UsageError

if TYPE_CHECKING:
    from pydantic import SecretStr

    from touchpoints.core.catalog import Catalog
    from touchpoints.core.settings import Settings
    from touchpoints.store.base import Store

SIGNING_CONTEXT = b"touchpoints-survey-v1."
EVENT_PREFIX = "survey:"
FIRST_HEARD_SUFFIX = ":first-heard"
FIRST_HEARD_ACTION = "feedback"
COMMENT_MAX = 2000
RANGES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


class NoSecretKey(UsageError):
    """The server or CLI has no `secret_key`: links can be neither made nor checked."""


class UnknownEvent(UsageError):
    """The event to rate is not in the store."""


class SurveyLinkError(TouchpointsError):
    """A token that cannot be answered. `kind`: forged (bad shape or signature), unknown
    (signed but never issued here, or erased), expired, used."""

    status = {"forged": 404, "unknown": 404, "expired": 410, "used": 410}

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)

    @property
    def http_status(self) -> int:
        return self.status[self.kind]


@dataclass(frozen=True)
class Claims:
    """What a valid token says."""

    event_id: str
    token_id: str
    expires_at: datetime  # naive UTC

    @property
    def feedback_event_id(self) -> str:
        return EVENT_PREFIX + self.token_id

    @property
    def first_heard_event_id(self) -> str:
        return EVENT_PREFIX + self.token_id + FIRST_HEARD_SUFFIX


# -- tokens ---------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _secret_bytes(secret: SecretStr | str | None) -> bytes:
    value = secret if isinstance(secret, str) or secret is None else secret.get_secret_value()
    if not value:
        raise NoSecretKey(
            "survey links need a secret key: set TOUCHPOINTS_SECRET_KEY (e.g. to the output "
            "of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return value.encode("utf-8")


def _signature(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, SIGNING_CONTEXT + payload.encode("ascii"), hashlib.sha256).digest())


def sign(secret: SecretStr | str | None, event_id: str, token_id: str, expires_at: datetime) -> str:
    key = _secret_bytes(secret)
    body = {"e": event_id, "t": token_id, "x": int(expires_at.replace(tzinfo=UTC).timestamp())}
    payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    return f"{payload}.{_signature(key, payload)}"


def verify(secret: SecretStr | str | None, token: str, now: datetime | None = None) -> Claims:
    """The token's claims, or SurveyLinkError(forged|expired). Used/unknown are store
    questions (`token_state`)."""
    key = _secret_bytes(secret)
    payload, dot, signature = token.partition(".")
    if not dot or not payload or not signature or len(token) > 2048:
        raise SurveyLinkError("forged", "malformed survey token")
    try:
        payload.encode("ascii")
        signature.encode("ascii")
    except UnicodeEncodeError:
        raise SurveyLinkError("forged", "malformed survey token") from None
    if not hmac.compare_digest(_signature(key, payload), signature):
        raise SurveyLinkError("forged", "survey token signature does not match")
    try:
        body = json.loads(_unb64(payload))
        claims = Claims(str(body["e"]), str(body["t"]), datetime.fromtimestamp(int(body["x"]), UTC))
    except (ValueError, KeyError, TypeError, OverflowError, OSError, binascii.Error):
        raise SurveyLinkError("forged", "malformed survey token") from None
    claims = Claims(claims.event_id, claims.token_id, claims.expires_at.replace(tzinfo=None))
    if (now or _now()) >= claims.expires_at:
        raise SurveyLinkError("expired", "this survey link has expired")
    return claims


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# -- store side -----------------------------------------------------------------------------
def rated_event(store: Store, event_id: str) -> dict[str, Any] | None:
    rows = store.query(
        "SELECT event_id, customer_id, touchpoint, ts, action FROM events "
        "WHERE event_id = $event_id",
        {"event_id": event_id},
    )
    return rows[0] if rows else None


def create_link(
    store: Store,
    settings: Settings,
    event_id: str,
    ttl_days: int | None = None,
    now: datetime | None = None,
) -> dict[str, str]:
    """A new single-use link rating `event_id`: `{"url", "token", "expires_at"}`."""
    store.refuse_operational("survey links")
    _secret_bytes(settings.secret_key)  # before touching the store: fail fast and clearly
    days = settings.survey_ttl_days if ttl_days is None else ttl_days
    if days <= 0:
        raise UsageError(f"--ttl-days {days}: use a positive number of days")
    event = rated_event(store, event_id)
    if event is None:
        raise UnknownEvent(f"no event with event_id {event_id!r} in the store")
    if event["action"] == "feedback":
        raise UsageError(
            f"event {event_id!r} is itself a feedback answer; link the interaction it rates"
        )
    issued = now or _now()
    expires_at = (issued + timedelta(days=days)).replace(microsecond=0)
    token_id = secrets.token_urlsafe(12)
    token = sign(settings.secret_key, event_id, token_id, expires_at)
    store.execute(
        "INSERT INTO survey_tokens VALUES ($token_id, $event_id, NULL)",
        {"token_id": token_id, "event_id": event_id},
    )
    return {
        "url": settings.public_url.rstrip("/") + "/s/" + token,
        "token": token,
        "expires_at": expires_at.isoformat() + "Z",
    }


def token_state(store: Store, claims: Claims) -> str:
    """`open`, `used`, or `unknown` (never issued by this store, or erased since)."""
    store.refuse_operational("survey links")
    rows = store.query(
        "SELECT used_at FROM survey_tokens WHERE token_id = $token_id AND event_id = $event_id",
        {"token_id": claims.token_id, "event_id": claims.event_id},
    )
    if not rows:
        return "unknown"
    return "open" if rows[0]["used_at"] is None else "used"


def check_open(store: Store, claims: Claims) -> dict[str, Any]:
    """The rated event of an answerable token, or SurveyLinkError(unknown|used)."""
    state = token_state(store, claims)
    if state == "used":
        raise SurveyLinkError("used", "this survey was already answered")
    event = rated_event(store, claims.event_id) if state == "open" else None
    if event is None:
        raise SurveyLinkError("unknown", "this survey link is not valid")
    return event


def mark_used(store: Store, claims: Claims, at: datetime | None = None) -> None:
    store.refuse_operational("survey links")
    store.execute(
        "UPDATE survey_tokens SET used_at = $at WHERE token_id = $token_id AND used_at IS NULL",
        {"at": at or _now(), "token_id": claims.token_id},
    )


# -- answers --------------------------------------------------------------------------------
@dataclass
class Answers:
    nps: int | None = None
    csat: int | None = None
    ces: int | None = None
    first_heard: str | None = None
    comment: str | None = None


def parse_answers(
    form: Mapping[str, str], catalog: Catalog, lang: str
) -> tuple[Answers, dict[str, str]]:
    """Validated answers and, per field, the message to show (empty when all is well).

    Every question is optional, but an empty form is refused: it would store a feedback
    row that says nothing and burn the single-use link.
    """

    def words(field: str) -> str:
        return msg.t(lang, f"survey.error_{field}", max=format.integer(COMMENT_MAX, lang))

    answers = Answers()
    errors: dict[str, str] = {}
    for name, (low, high) in RANGES.items():
        raw = (form.get(name) or "").strip()
        if not raw:
            continue
        # ASCII digits only: "²".isdigit() is true, but int("²") fails.
        if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
            errors[name] = words(name)
            continue
        setattr(answers, name, int(raw))
    heard = (form.get("first_heard") or "").strip()
    if heard:
        if heard not in {t.id for t in catalog.touchpoints if t.is_touchpoint}:
            errors["first_heard"] = words("first_heard")
        else:
            answers.first_heard = heard
    comment = (form.get("comment") or "").replace("\r\n", "\n").strip()
    if len(comment) > COMMENT_MAX or "\x00" in comment:
        errors["comment"] = words("comment")
    elif comment:
        answers.comment = comment
    if not errors and all(
        getattr(answers, f) is None for f in ("nps", "csat", "ces", "first_heard", "comment")
    ):
        errors["form"] = words("empty")
    return answers, errors


def feedback_records(
    claims: Claims, event: Mapping[str, Any], answers: Answers, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The events one answer becomes (see the module docstring)."""
    ts = (now or _now()).isoformat(timespec="seconds") + "Z"
    records: list[dict[str, Any]] = []
    if any(v is not None for v in (answers.nps, answers.csat, answers.ces, answers.comment)):
        records.append(
            {
                "event_id": claims.feedback_event_id,
                "customer_id": event["customer_id"],
                "touchpoint": event["touchpoint"],
                "ts": ts,
                "action": "feedback",
                "ref_event_id": claims.event_id,
                "nps": answers.nps,
                "csat": answers.csat,
                "ces": answers.ces,
                "comment": answers.comment,
            }
        )
    if answers.first_heard:
        records.append(
            {
                "event_id": claims.first_heard_event_id,
                "customer_id": event["customer_id"],
                "touchpoint": answers.first_heard,
                "ts": ts,
                "action": FIRST_HEARD_ACTION,
                "phase": "before",
                "ref_event_id": claims.event_id,
            }
        )
    return records
