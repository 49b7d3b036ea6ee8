"""Offline sentiment of free-text comments in pt-BR and en: a lexicon with rules.

No model and no download: each language has a word list scored −3…+3
(`data/sentiment/{en,pt-BR}.txt`, phrases of up to three words included), and a few
rules that matter in customer comments:

- negation ("não", "nunca", "not", "never", "didn't"...) flips and softens the next
  sentiment words (× −0.75) until punctuation or a contrast word; "sem problemas" is good;
- intensifiers ("muito", "super", "very", "really"...) × 1.5, post-positive "demais" /
  "at all" too, diminishers ("um pouco", "slightly") × 0.5, superlatives "-íssimo" × 1.5;
- after a contrast word ("mas", "porém", "but", "however") the clause weighs 1.5, before
  it 0.5 — the customer's conclusion comes last;
- a few emoji (🙂 😍 👍 ☺ / 😡 😞 👎 ☹).

Matching ignores case and accents ("pessimo" = "péssimo"); plural and feminine forms fall
back to the listed form ("ótimas" → "ótimo"). The sum s is squashed to s/√(s²+15), so one
strong word gives about ±0.6 and the score stays in [−1, 1].

The score is computed when read (`touchpoints feedback comments`), not stored: `emotion` keeps what the
customer said they felt, and a better lexicon later re-scores every stored comment.
"""

from __future__ import annotations

import math
import re
import unicodedata
from functools import cache, lru_cache
from pathlib import Path

from touchpoints.core.errors import UsageError

LANGS = ("pt-BR", "en")
LEXICON_DIR = Path(__file__).parent.parent / "data" / "sentiment"
NEGATION_FACTOR = -0.75
INTENSIFY = 1.5
DIMINISH = 0.5
NEGATION_SCOPE = 3  # words after a negator that it still reaches
ALPHA = 15.0
NEUTRAL_BAND = 0.05  # |score| below this is "neutral" in summaries

NEGATORS = {
    "pt-BR": {"nao", "nunca", "jamais", "nem", "nenhum", "nenhuma", "sem", "tampouco", "n"},
    "en": {
        "not", "no", "never", "nor", "without", "none", "neither", "cannot", "hardly",
        "barely", "dont", "didnt", "doesnt", "isnt", "wasnt", "arent", "werent", "cant",
        "couldnt", "wont", "wouldnt", "shouldnt", "havent", "hasnt", "hadnt", "aint",
    },
}  # fmt: skip
INTENSIFIERS = {
    "pt-BR": {
        "muito", "muita", "super", "extremamente", "bastante", "tao", "totalmente",
        "completamente", "realmente", "mega", "bem", "absurdamente", "incrivelmente",
        "mais", "demasiado", "altamente",
    },
    "en": {
        "very", "really", "extremely", "so", "super", "totally", "absolutely",
        "incredibly", "too", "highly", "truly", "completely", "utterly", "most",
        "particularly", "especially", "quite",
    },
}  # fmt: skip
# Intensify the sentiment word before them: "bom demais", "caro pra caramba".
POST_INTENSIFIERS = {"pt-BR": {"demais", "caramba"}, "en": {"indeed"}}
DIMINISHERS = {
    "pt-BR": {"pouco", "meio", "razoavelmente", "levemente", "relativamente"},
    "en": {"slightly", "somewhat", "bit", "fairly", "rather", "kinda", "little"},
}
CONTRASTS = {
    "pt-BR": {"mas", "porem", "entretanto", "contudo", "todavia", "embora"},
    "en": {"but", "however", "although", "though", "yet"},
}
STOPWORDS = {
    "pt-BR": {
        "de", "que", "nao", "o", "os", "as", "um", "uma", "e", "foi", "com", "para", "pra",
        "muito", "me", "meu", "minha", "eu", "na", "do", "da", "em", "mas", "por", "se",
        "mais", "atendimento", "ele", "ela", "isso", "esse", "essa", "tudo", "nada", "sem",
        "ja", "ainda", "quando", "bem", "voces", "loja", "entrega", "pedido", "produto",
        "nunca", "ao", "aos", "pelo", "pela", "estava", "esta", "sao", "tem", "fui",
    },
    "en": {
        "the", "and", "is", "was", "it", "i", "to", "of", "my", "not", "very", "with",
        "for", "this", "that", "but", "you", "they", "have", "had", "be", "are", "were",
        "me", "we", "our", "your", "service", "order", "store", "delivery", "product",
        "never", "at", "on", "in", "an", "so", "too", "did", "didnt", "dont", "its",
        "would", "will", "really", "from", "after", "just", "what", "again",
    },
}  # fmt: skip
EMOJI = {
    "🙂": 1.5, "😊": 2.0, "😀": 2.0, "😃": 2.0, "😄": 2.0, "😁": 2.0, "😍": 3.0, "🥰": 3.0,
    "👍": 2.0, "👏": 2.0, "❤": 3.0, "☺": 2.0, "🤩": 3.0, "😉": 1.0,
    "🙁": -1.5, "☹": -2.0, "😞": -2.0, "😢": -2.0, "😭": -2.5, "😠": -3.0, "😡": -3.0,
    "🤬": -3.0, "👎": -2.0, "😤": -2.0, "😒": -1.5, "😩": -2.0, "💩": -3.0,
}  # fmt: skip
_TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?|[.!?;]+|,|[\U0001F300-\U0001FAFF\u2600-\u27BF]")
_BREAKS = {".", "!", "?", ";", ",", "..."}


def fold(text: str) -> str:
    """Lower case without accents: 'Péssimo' -> 'pessimo'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _tokens(text: str) -> list[str]:
    words = []
    for tok in _TOKEN.findall(fold(text)):
        # "didn't" -> "didnt", "don’t" -> "dont": one negator token.
        words.append(tok.replace("'", "").replace("’", ""))
    return words


@cache
def lexicon(lang: str) -> dict[tuple[str, ...], float]:
    """The word list of `lang`, keyed by folded word tuples."""
    if lang not in LANGS:
        raise UsageError(f"sentiment language {lang!r}: use en or pt-BR")
    text = (LEXICON_DIR / f"{lang}.txt").read_text(encoding="utf-8")
    entries: dict[tuple[str, ...], float] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        term, _, score = line.rpartition("\t")
        entries[tuple(_tokens(term))] = float(score)
    return entries


def detect_language(text: str) -> str:
    """pt-BR or en by counting each language's common words; letters only Portuguese
    uses (ã, ç, õ, ê...) count for pt-BR; a tie goes to pt-BR, the product's home."""
    words = _tokens(text)
    pt = sum(w in STOPWORDS["pt-BR"] for w in words)
    en = sum(w in STOPWORDS["en"] for w in words)
    pt += sum(c in "ãõçêâôáéíóú" for c in text.lower()) > 0
    return "en" if en > pt else "pt-BR"


def _lookup(words: list[str], i: int, lang: str) -> tuple[float, int] | None:
    """(score, words used) of the longest lexicon term starting at words[i]."""
    own, other = lexicon(lang), lexicon("en" if lang == "pt-BR" else "pt-BR")
    for size in (3, 2, 1):
        term = tuple(words[i : i + size])
        if len(term) < size:
            continue
        if term in own:
            return own[term], size
    word = words[i]
    for form in _variants(word, lang):
        if (form,) in own:
            boost = INTENSIFY if word.endswith(("issimo", "issima", "issimos", "issimas")) else 1.0
            return own[(form,)] * boost, 1
    if (word,) in other and len(word) > 3:
        return other[(word,)], 1  # code-switching: "atendimento top", "muito slow"
    return None


def _variants(word: str, lang: str) -> list[str]:
    """Inflected forms back to the listed one: plurals, feminine, '-íssimo'."""
    forms: list[str] = []
    if lang == "pt-BR":
        base = word
        for suffix, repl in (("issimos", "o"), ("issimas", "o"), ("issimo", "o"), ("issima", "o")):
            if base.endswith(suffix) and len(base) > len(suffix) + 2:
                forms.append(base[: -len(suffix)] + repl)
        if base.endswith("s"):
            base = base[:-1]
            forms.append(base)
        if base.endswith("a"):
            forms.append(base[:-1] + "o")
        if base.endswith("e"):  # "ruins" -> "ruin" is not listed, but "ruim" is
            forms.append(base)
        if word.endswith("ns"):
            forms.append(word[:-2] + "m")
    else:
        if word.endswith("ies"):
            forms.append(word[:-3] + "y")
        if word.endswith("es"):
            forms.append(word[:-2])
        if word.endswith("s"):
            forms.append(word[:-1])
    return forms


def score(text: str | None, lang: str | None = None) -> float:
    """Sentiment of `text` in [−1, 1]; 0.0 for empty text or no sentiment words.

    `lang` is pt-BR or en (aliases pt, pt-br, en-US...), detected when None.
    """
    if not text or not text.strip():
        return 0.0
    language = _language(lang) if lang else detect_language(text)
    words = _tokens(text)
    clauses: list[float] = [0.0]
    negation_left = 0
    modifier = 1.0
    last_index: int | None = None  # position in clauses[-1] of the last scored word
    last_value = 0.0
    i = 0
    while i < len(words):
        w = words[i]
        if w in _BREAKS:
            negation_left, modifier, last_index = 0, 1.0, None
            i += 1
            continue
        if w in EMOJI:
            clauses[-1] += EMOJI[w]
            i += 1
            continue
        if w in CONTRASTS[language]:
            clauses.append(0.0)
            negation_left, modifier, last_index = 0, 1.0, None
            i += 1
            continue
        found = _lookup(words, i, language)
        if found is not None:
            value, used = found
            value *= modifier
            if negation_left:
                value *= NEGATION_FACTOR
            clauses[-1] += value
            last_index, last_value = len(clauses) - 1, value
            modifier = 1.0
            i += used
            negation_left = max(negation_left - used, 0)
            continue
        if w in NEGATORS[language]:
            negation_left = NEGATION_SCOPE
        elif w in INTENSIFIERS[language]:
            modifier *= INTENSIFY
        elif w in DIMINISHERS[language]:
            modifier *= DIMINISH
        elif w in POST_INTENSIFIERS[language] and last_index is not None:
            clauses[last_index] += last_value * (INTENSIFY - 1)
            last_index = None
        elif negation_left:
            negation_left -= 1
        i += 1
    total = _weigh(clauses)
    return max(-1.0, min(1.0, total / math.sqrt(total * total + ALPHA)))


def _weigh(clauses: list[float]) -> float:
    """Clauses before the last contrast weigh 0.5, the last one 1.5."""
    if len(clauses) == 1:
        return clauses[0]
    return 0.5 * sum(clauses[:-1]) + 1.5 * clauses[-1]


def _language(lang: str) -> str:
    code = lang.strip().lower()
    if code.startswith("pt"):
        return "pt-BR"
    if code.startswith("en"):
        return "en"
    raise UsageError(f"sentiment language {lang!r}: use en or pt-BR")


def label(value: float) -> str:
    """positive / negative / neutral, with a small band around zero."""
    if value > NEUTRAL_BAND:
        return "positive"
    if value < -NEUTRAL_BAND:
        return "negative"
    return "neutral"


READ_TEXTS = 65_536


@lru_cache(maxsize=READ_TEXTS)
def read(text: str) -> tuple[str, float]:
    """(language, sentiment) of a customer's comment, as the Feedback pages show it.

    Kept per text, for up to READ_TEXTS texts (a few MB): a server's warmer recomputes
    the comments answer after every ingestion, so the same comments come back round after
    round, and templated survey answers repeat the same words many times. Scoring is
    pure, so a kept reading is the reading."""
    lang = detect_language(text)
    return lang, score(text, lang)
