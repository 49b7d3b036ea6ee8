"""From what a message asks to what the bot says: an answer, a question back with choices,
or a hand-off to a person (queued, with when, outside opening hours).

Pure: no store, no network. The conversation (conversation.py) supplies how many times
the bot has already missed, and the channels (whatsapp.py, chatwoot.py) send the reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from touchpoints.attendant.config import AttendantConfig
from touchpoints.attendant.hours import Hours
from touchpoints.attendant.understand import Reading, matcher
from touchpoints.core.messages import t

PERSON_CHOICE = "human"
# A second miss in one conversation hands it to a person.
MISSES_BEFORE_HANDOFF = 2


@dataclass
class Reply:
    """What the bot says to one message, and what it decided."""

    text: str
    intent: str | None
    confidence: float
    handoff: bool = False
    queued: bool = False
    reason: str | None = (
        None  # hand-off reason: asked | intent | anger | not_understood | unsupported
    )
    kind: str = "answer"  # answer | clarify | handoff | optout | empty | unsupported
    lang: str = "pt-BR"
    choices: list[tuple[str, str]] = field(default_factory=list)  # (id, button title)
    entities: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """SPEC §7's `attendant reply` object."""
        return {
            "intent": self.intent,
            "confidence": self.confidence,
            "handoff": self.handoff,
            "queued": self.queued,
            "reply": self.text,
        }


class Attendant:
    """One configuration, its trained matcher and its opening hours."""

    def __init__(self, config: AttendantConfig) -> None:
        self.config = config
        self.matcher = matcher(config)
        self.hours = Hours(config)

    def say(self, name: str, lang: str, **values: object) -> str:
        """A system reply in `lang`: the file's own wording when it has one."""
        own = self.config.replies.get(name, {})
        text = own.get(lang) or own.get(self.config.language)
        if text:
            return text.format(**values) if values else text
        return t(lang, f"attendant.{name}", **values)

    def respond(
        self,
        text: str,
        lang: str | None = None,
        at: datetime | None = None,
        misses: int = 0,
        choice: str | None = None,
    ) -> Reply:
        """The reply to one message. `misses`: earlier misses in this conversation;
        `choice`: the id of a button the customer pressed (skips the classifier)."""
        at = at or datetime.now(UTC)
        if choice is not None:
            return self._chosen(choice, lang or self.config.language, at)
        return self.answer(self.matcher.read(text, lang), at, misses)

    def answer(self, reading: Reading, at: datetime, misses: int = 0) -> Reply:
        lang = reading.lang
        common = {
            "intent": reading.intent,
            "confidence": reading.confidence,
            "lang": lang,
            "entities": reading.entities,
        }
        if reading.kind == "empty":
            return Reply(self.say("empty", lang), kind="empty", **common)
        if reading.kind == "optout":
            return Reply(self.say("optout", lang), kind="optout", **common)
        if reading.kind == "handoff":
            return self.handoff(reading.reason or "asked", lang, at, common)
        if reading.kind == "answer" and reading.intent is not None:
            intent = self.config.intent(reading.intent)
            assert intent is not None
            return Reply(intent.text(lang), kind="answer", **common)
        if misses + 1 >= MISSES_BEFORE_HANDOFF:
            return self.handoff("not_understood", lang, at, common)
        choices = [(i, self.config.intent(i).label(lang)) for i in reading.choices]  # type: ignore[union-attr]
        choices.append((PERSON_CHOICE, t(lang, "attendant.person_button")))
        name = "clarify" if len(choices) > 1 else "rephrase"
        return Reply(self.say(name, lang), kind="clarify", choices=choices, **common)

    def handoff(self, reason: str, lang: str, at: datetime, common: dict[str, Any]) -> Reply:
        """To a person now, or queued with when one will answer."""
        if self.hours.is_open(at):
            return Reply(
                self.say("handoff", lang), handoff=True, reason=reason, kind="handoff", **common
            )
        when = self.hours.when(at, lang)
        return Reply(
            self.say("queued", lang, when=when),
            handoff=True,
            queued=True,
            reason=reason,
            kind="handoff",
            **common,
        )

    def unsupported(self, lang: str | None = None) -> Reply:
        """An audio, image, sticker or location: a polite reply offering a person."""
        lang = lang or self.config.language
        return Reply(
            self.say("unsupported", lang),
            intent=None,
            confidence=0.0,
            kind="unsupported",
            lang=lang,
            choices=[(PERSON_CHOICE, t(lang, "attendant.person_button"))],
        )

    def _chosen(self, choice: str, lang: str, at: datetime) -> Reply:
        common: dict[str, Any] = {"intent": choice, "confidence": 1.0, "lang": lang}
        intent = self.config.intent(choice)
        if choice == PERSON_CHOICE or (intent is not None and intent.handoff):
            common["intent"] = intent.id if intent else self.matcher.person
            return self.handoff("asked", lang, at, common)
        if intent is None:
            common.update(intent=None, confidence=0.0)
            return Reply(self.say("rephrase", lang), kind="clarify", **common)
        return Reply(intent.text(lang), kind="answer", **common)


_ATTENDANTS: dict[int, Attendant] = {}


def attendant(config: AttendantConfig) -> Attendant:
    """The attendant of `config`, built (and trained) once per configuration object."""
    found = _ATTENDANTS.get(id(config))
    if found is None or found.config is not config:
        found = _ATTENDANTS[id(config)] = Attendant(config)
    return found
