"""The touchpoint catalog (SPEC §1): what the company counts as a touchpoint, and its goals.

Loaded from YAML `{touchpoints: [...]}`, validated with pydantic, and stored with the events
so later commands need not repeat `--catalog`.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from touchpoints.core import yamlfile
from touchpoints.core.errors import CatalogError
from touchpoints.core.grammar import Gender, Noun

Kind = Literal["static", "interactive", "human"]
Visibility = Literal["both", "company", "customer"]
PhaseName = Literal["before", "during", "after"]
LANGS = ("en", "pt-BR")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


def _slug(value: str) -> str:
    if not SLUG.match(value):
        raise ValueError("must be a slug: lowercase letters, digits, '_' or '-'")
    return value


# An id that is safe in URLs, file names and YAML keys; the catalog, the attendant's
# intents and the alert recipients all name things this way.
Slug = Annotated[str, AfterValidator(_slug)]
# Each goal's valid range, on the scale the metric is reported in (SPEC §4): seconds are
# >= 0, rates are shares 0..1, csat is 100 x a share, nps runs -100..100, ces is a 1..7 mean.
TARGET_RANGES: dict[str, tuple[float, float | None]] = {
    "tme_seconds": (0, None),
    "tma_seconds": (0, None),
    "answer_within": (0, None),
    "service_level": (0, 1),
    "abandonment_rate": (0, 1),
    "csat": (0, 100),
    "nps": (-100, 100),
    "ces": (1, 7),
    "fcr": (0, 1),
    "promise_kept_rate": (0, 1),
    "data_reuse_rate": (0, 1),
}
TARGET_KEYS = tuple(TARGET_RANGES)


class Touchpoint(BaseModel):
    """One catalog entry; only `visibility: both` entries may receive events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    name: str | dict[str, str]
    channel: Slug
    kind: Kind
    visibility: Visibility = "both"
    phase: list[PhaseName] = Field(default_factory=list)
    owner: str | None = None
    target: dict[str, float] = Field(default_factory=dict)
    # How the pt-BR name agrees in a sentence ("a loja", "as redes sociais"): its
    # grammatical gender and number; masculine singular when not given.
    gender: Gender = "m"
    plural: bool = False

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: Any) -> Any:
        if isinstance(v, dict):
            unknown = sorted(str(k) for k in v if k not in LANGS)
            if unknown:
                raise ValueError(f"unknown language {unknown[0]!r}; use en and pt-BR")
            if not v:
                raise ValueError("needs at least one of en, pt-BR")
            for lang, text in v.items():
                if not isinstance(text, str) or not text.strip():
                    raise ValueError(f"{lang} name must be non-empty text")
            return v
        if not isinstance(v, str):
            raise ValueError("must be text or a map {en: ..., pt-BR: ...}")
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("phase")
    @classmethod
    def _phase(cls, v: list[str]) -> list[str]:
        repeated = sorted({p for p in v if v.count(p) > 1})
        if repeated:
            raise ValueError(f"phase {repeated[0]!r} is listed twice")
        return v

    @field_validator("target")
    @classmethod
    def _target(cls, v: dict[str, float]) -> dict[str, float]:
        for key, val in v.items():
            if key not in TARGET_RANGES:
                raise ValueError(f"unknown target {key!r}; known: {', '.join(TARGET_KEYS)}")
            low, high = TARGET_RANGES[key]
            if not math.isfinite(val):
                raise ValueError(f"target {key!r} must be a finite number")
            if high is None and val < low:
                raise ValueError(f"target {key!r} must be >= {low:g}")
            if high is not None and not low <= val <= high:
                share = " (a share)" if high == 1 else ""
                raise ValueError(f"target {key!r} must be between {low:g} and {high:g}{share}")
        return v

    def label(self, lang: str = "en") -> str:
        """Display name in `lang`, falling back to the other language, then the id."""
        if isinstance(self.name, str):
            return self.name
        return self.name.get(lang) or next(iter(self.name.values()), self.id)

    def noun(self, lang: str = "en") -> Noun:
        """The name in `lang` for a generated sentence (articles and agreement in pt-BR)."""
        return Noun(self.label(lang), lang, self.gender, self.plural)

    @property
    def is_touchpoint(self) -> bool:
        return self.visibility == "both"


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    touchpoints: list[Touchpoint]

    def get(self, touchpoint_id: str) -> Touchpoint | None:
        return next((t for t in self.touchpoints if t.id == touchpoint_id), None)

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.touchpoints]

    def to_yaml(self) -> str:
        return yaml.safe_dump(
            self.model_dump(exclude_defaults=True), allow_unicode=True, sort_keys=False
        )


def parse_catalog(text: str, source: str = "catalog") -> Catalog:
    """Parse and validate catalog YAML; every problem is reported with its entry and field."""
    raw = yamlfile.load(text, source, CatalogError)
    if not isinstance(raw, dict) or "touchpoints" not in raw:
        raise CatalogError(f"{source}: expected a mapping with a 'touchpoints' list at the top")
    if not isinstance(raw["touchpoints"], list) or not raw["touchpoints"]:
        raise CatalogError(f"{source}: 'touchpoints' must be a non-empty list")
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(yamlfile.describe(exc.errors(), raw, source, "touchpoints")) from None
    seen: dict[str, int] = {}
    for i, tp in enumerate(catalog.touchpoints):
        if tp.id in seen:
            raise CatalogError(
                f"{source}: touchpoints[{i}] (id {tp.id!r}): field 'id': duplicate of touchpoints[{seen[tp.id]}]"
            )
        seen[tp.id] = i
    if not any(tp.is_touchpoint for tp in catalog.touchpoints):
        raise CatalogError(
            f"{source}: no entry has visibility 'both', so no event could be recorded"
        )
    return catalog


def load_catalog(path: str | Path) -> Catalog:
    return parse_catalog(*yamlfile.read(path, "catalog", CatalogError))


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The catalog shipped with the package: a tyre retailer's touchpoints, named in pt-BR and en."""
    text = resources.files("touchpoints").joinpath("data/catalog.yaml").read_text(encoding="utf-8")
    return parse_catalog(text, "default catalog")
