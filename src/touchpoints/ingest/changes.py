"""The change log (SPEC §5 `changes add`): what the team changed, when, at which touchpoint.

A change ("the WhatsApp bot now answers FAQs", "two more agents in the store on
Saturdays") is a date, a title and, usually, the touchpoint it touched. `effect` measures
a change against touchpoints with no change logged in its window, so the log is also what
keeps a changed touchpoint out of the controls.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from touchpoints.core.errors import UsageError

if TYPE_CHECKING:
    from touchpoints.store.base import Store

MAX_TITLE = 200


def parse_day(text: str | date, option: str = "--date") -> date:
    """A calendar date as users type it (2026-07-27)."""
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise UsageError(f"{option} {text!r}: use a date like 2026-07-27") from None


def change_row(row: dict[str, Any]) -> dict[str, Any]:
    """A stored change as SPEC §5 prints it."""
    day = row["change_date"]
    if isinstance(day, datetime):
        day = day.date()
    return {
        "id": int(row["id"]),
        "date": day.isoformat() if isinstance(day, date) else str(day)[:10],
        "title": row["title"],
        "touchpoint": row["touchpoint"],
    }


def add_change(
    store: Store, day: str | date, title: str, touchpoint: str | None = None
) -> dict[str, Any]:
    """Log one change; its id is the next whole number. The touchpoint, when given, must
    be in the catalog (a typo would silently leave the change out of every effect)."""
    when = parse_day(day)
    text = (title or "").strip()
    if not text:
        raise UsageError("--title: say what changed, e.g. 'WhatsApp bot answers FAQs'")
    if len(text) > MAX_TITLE:
        raise UsageError(f"--title: at most {MAX_TITLE} characters (got {len(text)})")
    tp = (touchpoint or "").strip() or None
    if tp is not None:
        known = [t.id for t in store.catalog().touchpoints]
        if tp not in known:
            raise UsageError(f"--touchpoint {tp!r}: not in the catalog ({', '.join(known)})")
    with store.transaction():
        rows = store.query("SELECT coalesce(max(id), 0) AS last FROM changes")
        new_id = int(rows[0]["last"]) + 1
        store.execute(
            "INSERT INTO changes (id, change_date, title, touchpoint, created_at) "
            "VALUES ($id, $change_date, $title, $touchpoint, $created_at)",
            {
                "id": new_id,
                "change_date": when,
                "title": text,
                "touchpoint": tp,
                "created_at": datetime.now(UTC).replace(tzinfo=None),
            },
        )
    return {"id": new_id, "date": when.isoformat(), "title": text, "touchpoint": tp}
