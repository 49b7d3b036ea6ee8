"""The one message catalog: every word a person reads, in English and Brazilian Portuguese.

Keys are namespaced by file: `metric.tme_seconds` lives in `metric.yaml`, `web.overview`
in `web.yaml`, `cli.journeys.edges_title` in `cli/journeys.yaml`. Each entry holds both languages side by side, so a translator sees the
pair and a test can check that none is missing and both take the same `{placeholders}`.
Portuguese readers know service metrics as TMA/TME, English readers as AHT/ASA: the labels
follow the reader, the JSON keys (`tma_seconds`, `tme_seconds`) never change.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable

import yaml

from touchpoints.core.errors import UsageError

LANGS = ("en", "pt-BR")
DEFAULT_LANG = "en"


@lru_cache(maxsize=1)
def catalog() -> dict[str, dict[str, str]]:
    """Every key (`namespace.name`) with its text per language."""
    merged: dict[str, dict[str, str]] = {}

    def load(folder: Traversable, prefix: str) -> None:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.is_dir():
                load(entry, f"{prefix}{entry.name}.")
            elif entry.name.endswith(".yaml"):
                namespace = prefix + entry.name.removesuffix(".yaml")
                data = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
                for name, texts in data.items():
                    merged[f"{namespace}.{name}"] = {
                        lang: str(text) for lang, text in texts.items()
                    }

    load(resources.files(__name__), "")
    return merged


def t(lang: str, key: str, **values: object) -> str:
    """The text of `key` in `lang` (English when that language lacks it), with `values`
    filled in. An unknown key is shown as itself: a missing word must not break a page."""
    texts = catalog().get(key)
    if texts is None:
        return key
    text = texts.get(lang) or texts.get(DEFAULT_LANG) or key
    return text.format(**values) if values else text


def words(lang: str, namespace: str) -> dict[str, str]:
    """Every text of one namespace in `lang`, keyed without the namespace (for templates)."""
    prefix = namespace + "."
    return {
        key.removeprefix(prefix): texts.get(lang) or texts.get(DEFAULT_LANG, key)
        for key, texts in catalog().items()
        if key.startswith(prefix)
    }


def capitalized(text: str) -> str:
    """`text` with its first letter in upper case and the rest untouched: a label that
    opens a heading or a table header ('nível de serviço' -> 'Nível de serviço') keeps
    its abbreviations (str.capitalize would turn 'ASA' into 'Asa')."""
    return text[:1].upper() + text[1:]


def normalize(lang: str | None) -> str | None:
    """`pt`, `pt-br`, `pt_BR` -> `pt-BR`; `en*` -> `en`; anything else None."""
    if not lang:
        return None
    low = lang.strip().lower()
    if low.startswith("pt"):
        return "pt-BR"
    if low.startswith("en"):
        return "en"
    return None


def lang_code(value: str) -> str:
    """A `--lang` value, refused with a clear message when it is neither language."""
    code = normalize(value)
    if code is None or value.strip().lower() not in (
        "en",
        "en-us",
        "en-gb",
        "pt",
        "pt-br",
        "pt_br",
    ):
        raise UsageError(f"--lang {value!r}: use en or pt-BR")
    return code


def from_accept_language(header: str | None, default: str = DEFAULT_LANG) -> str:
    """pt-BR for any Portuguese preference ranked above English, en for English; `default`
    when the header names neither (or is missing)."""
    best: tuple[float, str] = (-1.0, default)
    for part in (header or "").split(","):
        bits = part.strip().split(";")
        quality = 1.0
        for b in bits[1:]:
            if b.strip().startswith("q="):
                try:
                    quality = float(b.strip()[2:])
                except ValueError:
                    quality = 0.0
        lang = normalize(bits[0]) if bits[0].strip().lower()[:2] in ("pt", "en") else None
        if lang and quality > best[0]:
            best = (quality, lang)
    return best[1]
