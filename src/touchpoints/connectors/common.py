"""What every connector shares: the translation result, event ids, times and HMAC checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Longer ids are hashed: an event_id is an idempotency key, not a place to keep a payload.
MAX_ID_LENGTH = 200


@dataclass
class Unmapped:
    """A piece of a payload no event could be made of, kept raw for quarantine."""

    raw: Any
    reason: str
    row: int = 1


@dataclass
class Translation:
    """Canonical events (SPEC §2 dicts, only non-null columns) and what was left unmapped.

    A payload is fully accounted for when every part of it is either in `events`, in
    `unmapped`, or deliberately folded into connector state (Chatwoot messages, Twilio
    progress callbacks) — never silently dropped.
    """

    events: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    # Ids known to be one person (a Chatwoot contact's phone and e-mail): the identity map
    # links them before the events are stored (ingest.identities).
    aliases: list[list[str]] = field(default_factory=list)

    def skip(self, raw: Any, reason: str, row: int = 1) -> None:
        self.unmapped.append(Unmapped(raw, reason, row))

    def extend(self, other: Translation) -> None:
        self.events.extend(other.events)
        self.unmapped.extend(other.unmapped)
        self.aliases.extend(other.aliases)


def event_id(kind: str, *parts: object) -> str:
    """A deterministic event id from the provider's own ids, so a provider's retry of the
    same notification is stored once (`whatsapp:wamid.X:read`, `twilio:CA..:contact`)."""
    text = ":".join([kind, *(str(p) for p in parts)])
    if len(text) <= MAX_ID_LENGTH:
        return text
    return f"{kind}:sha256:{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with `Z`, whole seconds unless the source had fractions."""
    moment = moment.astimezone(UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def from_epoch(value: Any) -> datetime | None:
    """Unix seconds (int, float or numeric string) -> aware UTC datetime; None if not one.

    Bounded to years 2000-2100: a provider timestamp outside them is a broken payload, and
    bounding keeps absurd numbers from overflowing `datetime`.
    """
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(seconds) or not 946_684_800 <= seconds < 4_102_444_800:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def from_iso(value: Any) -> datetime | None:
    """An ISO-8601 string (`Z`, offset or naive = UTC) or `2020-03-03 13:05:57 UTC`."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace(" UTC", "+00:00")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment if 2000 <= moment.year < 2100 else None


def from_any_time(value: Any) -> datetime | None:
    """Chatwoot sends epochs in some places and ISO strings in others."""
    return (
        from_epoch(value)
        if isinstance(value, int | float)
        else (from_iso(value) or from_epoch(value))
    )


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """Elapsed seconds, never negative (clock skew between two provider servers)."""
    if start is None or end is None:
        return None
    return max(0.0, round((end - start).total_seconds(), 3))


def hmac_hex(secret: str, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret.encode("utf-8"), message, digest).hexdigest()


def same(expected: str, given: str | None) -> bool:
    """Constant-time comparison; a missing value never matches."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8", "replace"))


def raw_text(body: bytes) -> str:
    """A body as quarantine text: UTF-8 where it is, escapes where it is not."""
    return body.decode("utf-8", errors="backslashreplace")


def compact(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str, sort_keys=True)


def text_or_none(value: Any) -> str | None:
    """Provider ids arrive as strings or numbers; anything else is not an id."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str) and str(value).strip():
        return str(value).strip()
    return None
