"""Articles, contractions and agreement for names placed inside generated sentences.

A Portuguese sentence about a touchpoint changes with its name's gender and number: "**O**
WhatsApp descumpre…", "**A** loja física é **a** que…", "**As** placas e outdoors **são**…",
"**na** central", "removê-**la**". The catalog says each entry's gender and number (`gender`,
`plural`; masculine singular when not given) and a `Noun` carries them into a message: the
message writes the form it needs as a format spec of the placeholder, so the sentence
reads whole in the message file:

    {name:The} {name:é/são} {name:o/a/os/as} que mais gera vendas — sem {name:ele/ela/eles/elas}…

Specs: none (the name), `the`/`The` (with its article), `at`/`At` (em + article: no, na,
nos, nas), `of` (de: do, da…), `to` (a: ao, à…), `on` (por: pelo, pela…), and `x/y` (by
number: singular/plural) or `w/x/y/z` (masculine, feminine, masculine plural, feminine
plural). English has no gendered article in these sentences: the article specs give the
name itself and a choice by number picks the singular or plural word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Gender = Literal["m", "f"]

# (masculine singular, feminine singular, masculine plural, feminine plural)
_FORMS = {
    "the": ("o", "a", "os", "as"),
    "at": ("no", "na", "nos", "nas"),
    "of": ("do", "da", "dos", "das"),
    "to": ("ao", "à", "aos", "às"),
    "on": ("pelo", "pela", "pelos", "pelas"),
}


@dataclass(frozen=True)
class Noun:
    """A name with what agreement needs; formats as itself or by a spec (see above)."""

    text: str
    lang: str = "pt-BR"
    gender: Gender = "m"
    plural: bool = False

    def __str__(self) -> str:
        return self.text

    def _pick(self, forms: tuple[str, ...] | list[str]) -> str:
        if len(forms) == 2:
            return forms[1] if self.plural else forms[0]
        if len(forms) == 4:
            if self.lang != "pt-BR":
                return forms[2] if self.plural else forms[0]
            return forms[(2 if self.plural else 0) + (1 if self.gender == "f" else 0)]
        raise ValueError(f"a choice needs 2 (singular/plural) or 4 forms, not {len(forms)}")

    def __format__(self, spec: str) -> str:
        if not spec:
            return self.text
        if "/" in spec:
            return self._pick(spec.split("/"))
        base = spec.lower()
        if base not in _FORMS:
            raise ValueError(f"unknown form {spec!r} of a name; use the, at, of, to or on")
        if self.lang != "pt-BR":
            return self.text
        word = self._pick(_FORMS[base])
        if spec[0].isupper():
            word = word[:1].upper() + word[1:]
        return f"{word} {self.text}"


def noun(value: object, lang: str) -> Noun:
    """`value` as a Noun: itself, or a bare name (masculine singular) when not one."""
    return value if isinstance(value, Noun) else Noun(str(value), lang)
