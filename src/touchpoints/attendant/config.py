"""The attendant's configuration (SPEC §7): intents, answers, opening hours, holidays.

One YAML file says everything the bot knows; it is validated here with pydantic and every
problem is reported with its entry and field, the way the catalog's are
(`attendant.yaml: intents[3] (id 'prices'): field 'answer': ...`).
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from touchpoints.core import yamlfile
from touchpoints.core.catalog import Slug
from touchpoints.core.errors import TouchpointsError

LANGS = ("en", "pt-BR")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PERIOD = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
# Replies the bot itself says (not an intent's answer); each may be overridden in the file.
SYSTEM_REPLIES = (
    "clarify",
    "rephrase",
    "handoff",
    "queued",
    "optout",
    "unsupported",
    "csat",
    "csat_thanks",
)


class AttendantConfigError(TouchpointsError):
    """The attendant file is unreadable or an entry breaks a rule (names the entry and field)."""


def _lang_map(value: Any, what: str) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"must be a map {{pt-BR: ..., en: ...}} of {what}")
    unknown = sorted(str(k) for k in value if k not in LANGS)
    if unknown:
        raise ValueError(f"unknown language {unknown[0]!r}; use en and pt-BR")
    if not value:
        raise ValueError("needs at least one of en, pt-BR")
    return value


class Intent(BaseModel):
    """Something a customer asks, shown by examples, answered (or handed to a person)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    title: dict[str, str] = Field(
        default_factory=dict, description="Short label for a choice button (≤ 20 characters)."
    )
    examples: dict[str, list[str]]
    answer: dict[str, str] = Field(default_factory=dict)
    handoff: bool = False

    @field_validator("examples", mode="before")
    @classmethod
    def _examples(cls, v: Any) -> Any:
        _lang_map(v, "example lists")
        for lang, items in v.items():
            if not isinstance(items, list) or not items:
                raise ValueError(f"{lang} examples must be a non-empty list of texts")
            for i, text in enumerate(items):
                if not isinstance(text, str) or not text.strip():
                    raise ValueError(f"{lang} example {i + 1} must be non-empty text")
        return v

    @field_validator("answer", "title", mode="before")
    @classmethod
    def _texts(cls, v: Any) -> Any:
        if v == {}:
            return v
        _lang_map(v, "texts")
        for lang, text in v.items():
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{lang} text must be non-empty")
        return v

    @field_validator("title")
    @classmethod
    def _short(cls, v: dict[str, str]) -> dict[str, str]:
        for lang, text in v.items():
            if len(text) > 20:
                raise ValueError(
                    f"{lang} title is {len(text)} characters; a WhatsApp button holds 20"
                )
        return v

    @model_validator(mode="after")
    def _answered(self) -> Intent:
        if not self.handoff and not self.answer:
            raise ValueError("an intent without handoff: true needs an answer")
        return self

    def label(self, lang: str) -> str:
        """Button label: the title in `lang`, else the other language's, else the id."""
        return self.title.get(lang) or next(iter(self.title.values()), self.id.replace("_", " "))

    def text(self, lang: str) -> str:
        return self.answer.get(lang) or next(iter(self.answer.values()), "")


class Holidays(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str = "BR"
    subdivision: str | None = None

    @model_validator(mode="after")
    def _known(self) -> Holidays:
        import holidays

        try:
            holidays.country_holidays(self.country, subdiv=self.subdivision, years=2026)
        except NotImplementedError:
            raise ValueError(f"country {self.country!r} is not known to holidays") from None
        except Exception as exc:  # the package names the valid subdivisions
            raise ValueError(str(exc).splitlines()[0]) from None
        return self


class Understanding(BaseModel):
    """When the bot answers. Probabilities shrink as intents are added, so the best
    intent's is judged against an even guess (`min_lift`: probability x number of classes;
    a probability of 0.5 always suffices) as well as in absolute terms; its margin over the
    runner-up is a ratio (below it the bot asks back with both as choices), and the message
    must resemble one of that intent's examples (cosine of the n-gram vectors, the message's
    words the file never uses counted in its norm)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_confidence: float = Field(0.2, ge=0, le=1)
    min_lift: float = Field(3.0, ge=0)
    min_ratio: float = Field(2.0, ge=1)
    min_similarity: float = Field(0.15, ge=0, le=1)
    choices_floor: float = Field(0.1, ge=0, le=1)


class Template(BaseModel):
    """A WhatsApp message template approved by Meta, sent outside the 24-hour window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    language: str = "pt_BR"


class AttendantConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    language: Literal["en", "pt-BR"] = "pt-BR"
    timezone: str = "America/Sao_Paulo"
    hours: dict[str, list[str]] = Field(default_factory=dict)
    holidays: Holidays | None = None
    closed: list[date] = Field(default_factory=list)
    intents: list[Intent]
    out_of_scope: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Messages the bot must not answer (other subjects), as negative examples.",
    )
    generic_out_of_scope: bool = Field(
        True, description="Also learn the package's generic other-subject examples."
    )
    replies: dict[str, dict[str, str]] = Field(default_factory=dict)
    understanding: Understanding = Field(default_factory=Understanding)
    template: Template | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (an IANA name like America/Sao_Paulo)"
            ) from None
        return v

    @field_validator("hours", mode="before")
    @classmethod
    def _hours(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            raise ValueError("must map days (mon..sun) to lists of 'HH:MM-HH:MM'")
        for day, periods in v.items():
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r}; use {', '.join(DAYS)}")
            if periods is None:
                continue
            if not isinstance(periods, list):
                raise ValueError(f"{day}: must be a list of 'HH:MM-HH:MM' (or [] for closed)")
            spans = []
            for p in periods:
                m = PERIOD.match(str(p))
                if not m:
                    raise ValueError(f"{day}: {p!r} is not a period 'HH:MM-HH:MM'")
                start = int(m[1]) * 60 + int(m[2])
                end = int(m[3]) * 60 + int(m[4])
                if end <= start or end > 24 * 60:
                    raise ValueError(f"{day}: {p!r} ends before it starts")
                spans.append((start, end, p))
            spans.sort()
            for a, b in zip(spans, spans[1:], strict=False):
                if b[0] < a[1]:
                    raise ValueError(f"{day}: {a[2]!r} and {b[2]!r} overlap")
        return {day: list(periods or []) for day, periods in v.items()}

    @field_validator("out_of_scope", mode="before")
    @classmethod
    def _oos(cls, v: Any) -> Any:
        if v in (None, {}):
            return {}
        _lang_map(v, "example lists")
        for lang, items in v.items():
            if not isinstance(items, list) or not all(
                isinstance(t, str) and t.strip() for t in items
            ):
                raise ValueError(f"{lang} must be a list of non-empty texts")
        return v

    @field_validator("replies", mode="before")
    @classmethod
    def _replies(cls, v: Any) -> Any:
        if v in (None, {}):
            return {}
        if not isinstance(v, dict):
            raise ValueError(f"must map reply names ({', '.join(SYSTEM_REPLIES)}) to texts")
        for name, texts in v.items():
            if name not in SYSTEM_REPLIES:
                raise ValueError(f"unknown reply {name!r}; known: {', '.join(SYSTEM_REPLIES)}")
            _lang_map(texts, "texts")
        return v

    @property
    def handoff_intents(self) -> list[str]:
        return [i.id for i in self.intents if i.handoff]

    def intent(self, intent_id: str) -> Intent | None:
        return next((i for i in self.intents if i.id == intent_id), None)


def parse_config(text: str, source: str = "attendant") -> AttendantConfig:
    """Parse and validate the YAML; every problem names its entry and field."""
    raw = yamlfile.load(text, source, AttendantConfigError)
    if not isinstance(raw, dict) or not isinstance(raw.get("intents"), list) or not raw["intents"]:
        raise AttendantConfigError(f"{source}: expected a mapping with a non-empty 'intents' list")
    try:
        config = AttendantConfig.model_validate(raw)
    except ValidationError as exc:
        raise AttendantConfigError(
            yamlfile.describe(exc.errors(), raw, source, "intents")
        ) from None
    seen: dict[str, int] = {}
    for i, intent in enumerate(config.intents):
        if intent.id in seen:
            raise AttendantConfigError(
                f"{source}: intents[{i}] (id {intent.id!r}): field 'id': duplicate of intents[{seen[intent.id]}]"
            )
        seen[intent.id] = i
    if len(config.intents) < 2:
        raise AttendantConfigError(f"{source}: field 'intents': at least two intents are needed")
    return config


def load_config(path: str | Path | None = None) -> AttendantConfig:
    """The file at `path`, or the tyre retailer's configuration shipped with the package."""
    if path is None:
        return default_config()
    return parse_config(*yamlfile.read(path, "attendant configuration", AttendantConfigError))


@lru_cache(maxsize=1)
def generic_out_of_scope() -> dict[str, list[str]]:
    """Other subjects every configuration learns not to answer (package data)."""
    path = resources.files("touchpoints").joinpath("data/attendant_out_of_scope.yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def default_config() -> AttendantConfig:
    text = (
        resources.files("touchpoints").joinpath("data/attendant.yaml").read_text(encoding="utf-8")
    )
    return parse_config(text, "default attendant.yaml")
