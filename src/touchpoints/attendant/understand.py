"""What a customer's message asks: normalisation, rules and a small classifier.

Everything is learnt at start from the attendant file alone (no download, CPU only, well
under a second): character n-gram and word-stem TF-IDF with a logistic regression over the
intents' examples (and, weighted less, each intent's id, titles and answers), plus an
out-of-scope class from the file's `out_of_scope` examples and a generic list. The word
model also reads concepts from a small lexicon of how customers of any service business
say the recurring things (booking, price, address, opening hours, payment, delivery, ...;
data/attendant_lexicon.yaml), so a word no example uses ("encaixar", "cobram") still
meets the examples that say the same thing in other words. The model
has no intercept, so no class is the default of a message the file has no words for.
The bot answers only when three things agree — the best intent's probability, its margin
over the runner-up and the message's likeness to one of that intent's examples (which
counts the words the file never uses against it) — because a wrong answer costs more than
a question back (an FAQ answer that fires on low confidence is the complaint users of
every chatbot make first).

Rules come before the classifier and never depend on it: an explicit ask for a person, an
angry customer (words, capitals, "!!!", Procon, Reclame Aqui) and an opt-out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from touchpoints.attendant.config import AttendantConfig, Intent, generic_out_of_scope

OUT_OF_SCOPE = "_out_of_scope"
MAX_CHARS = 2000

# Common pt-BR (and English) chat spellings -> the word they stand for, after accents are
# stripped. Applied word by word, so "q" inside a word is left alone.
ABBREVIATIONS = {
    "vc": "voce",
    "vcs": "voces",
    "voc": "voce",
    "ce": "voce",
    "q": "que",
    "qm": "quem",
    "pq": "porque",
    "hj": "hoje",
    "pfv": "por favor",
    "pfvr": "por favor",
    "pf": "por favor",
    "plz": "please",
    "pls": "please",
    "tb": "tambem",
    "tbm": "tambem",
    "qdo": "quando",
    "qnd": "quando",
    "qto": "quanto",
    "qnto": "quanto",
    "qt": "quanto",
    "qts": "quantos",
    "qnt": "quanto",
    "qnts": "quantos",
    "qndo": "quando",
    "qro": "quero",
    "qria": "queria",
    "qr": "quer",
    "qlq": "qualquer",
    "oq": "o que",
    "kd": "cade",
    "ta": "esta",
    "tah": "esta",
    "tava": "estava",
    "msm": "mesmo",
    "agr": "agora",
    "dps": "depois",
    "vdd": "verdade",
    "dnv": "de novo",
    "nd": "nada",
    "ctz": "certeza",
    "fds": "fim de semana",
    "cel": "celular",
    "flw": "falou",
    "brigada": "obrigada",
    "wanna": "want to",
    "gonna": "going to",
    "whats": "what is",
    "im": "i am",
    "msg": "mensagem",
    "vlw": "valeu",
    "obg": "obrigado",
    "obgd": "obrigado",
    "obgda": "obrigada",
    "brigado": "obrigado",
    "blz": "beleza",
    "td": "tudo",
    "tds": "todos",
    "cmg": "comigo",
    "ngm": "ninguem",
    "mt": "muito",
    "mto": "muito",
    "n": "nao",
    "nn": "nao",
    "naum": "nao",
    "eh": "e",
    "p": "para",
    "pra": "para",
    "pro": "para o",
    "c": "com",
    "cm": "com",
    "amnh": "amanha",
    "sab": "sabado",
    "dom": "domingo",
    "hrs": "horas",
    "hr": "hora",
    "tel": "telefone",
    "wpp": "whatsapp",
    "zap": "whatsapp",
    "zapzap": "whatsapp",
    "add": "adicionar",
    "u": "you",
    "ur": "your",
    "r": "are",
    "thx": "thanks",
    "tks": "thanks",
    "ty": "thanks",
    "tyre": "tire",
    "tyres": "tires",
    # Greeting interjections, spelt as the plain greeting: with a handful of examples per
    # intent a file cannot list every "opa", "eae" or "hey" its customers type.
    "opa": "oi",
    "eae": "oi",
    "eai": "oi",
    "iae": "oi",
    "salve": "oi",
    "oie": "oi",
    "oii": "oi",
    "hey": "hi",
    "heya": "hi",
    "hiya": "hi",
    "howdy": "hi",
}
# "e aí" opening a message is a greeting; elsewhere "aí" means "there".
GREETING_OPENING = re.compile(r"^e ai\b")

# Words that carry no subject (articles, pronouns, prepositions, auxiliaries). The
# classifier does not see them: with few examples per intent they otherwise decide the
# class — "where are you" went to the other-subjects class because its chit-chat examples
# ("how old are you", "você tem namorada?") are full of "you" and "are". Modal verbs and
# the verbs of wanting are asked of every subject alike ("can you sing a song" went to
# cancelling an appointment on "can"). The rules (a person, anger, opt-out) read the full
# text; a message of function words only is kept whole.
FUNCTION_WORDS = frozenset(
    re.findall(
        r"\w+",
        """
        o a os as um uma uns umas de do da dos das no na nos nas em ao aos e eu voce voces me
        te se lhe ele ela eles elas meu minha meus minhas seu sua seus suas teu tua isso isto
        esse essa este esta com por para que queria gostaria quero preciso
        the a an of to in on at is are am was be been you your yours i me my we our us it its
        this that these those do does did and or for with can could would will should may might
        there any have has been
        """,
    )
)

# A tyre size: 175/70 R14, 175 70 r14, 205/55R16 91V, 175/70-14.
TYRE_SIZE = re.compile(r"\b(\d{3})\s*/\s*(\d{2})\s*(?:z?r|-)?\s*(\d{2})\b", re.IGNORECASE)
# An order number: 5+ digits, or "#1234", or digits right after pedido/order/nº.
ORDER = re.compile(
    r"(?:#\s?(\d{4,})|\b(?:pedido|order|compra|n[oº°]|numero|number)\s*(?:n[oº°.]*\s*|#\s*)?(\d{4,})\b|\b(\d{5,})\b)",
    re.IGNORECASE,
)
URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)

PERSON = re.compile(
    r"\b(atendente|atendimento humano|humano|recepcao|recepcionista|secretaria|pessoa (de verdade|real)"
    r"|(falar|conversar) com|quero (um|uma) (pessoa|atendente|vendedor)|operador"
    r"|me (passa|transfere|encaminha) para (alguem|uma pessoa|um|uma|o|a|os|as)|me liga|gerente|supervisor|responsavel"
    r"|chama (alguem|(o|a|um|uma) (atendente|pessoa|vendedor|vendedora|dono|dona|moca|moco))|ligar para mim|ligacao"
    r"|(talk|speak|chat) (to|with)"
    r"|real person|human being|human agent|live agent|customer service rep|representative|operator|manager)\b"
)
# Said in anger: insults and complaint channels; capitals and "!!!" are checked apart.
ANGER_WORDS = re.compile(
    r"\b(absurdo|palhacada|ridiculo|lixo|vergonha|pessimo|horrivel|raiva|merda|porra|caralho|"
    r"bosta|descaso|enganad[oa]|roubo|ladr[aoe]es?|nunca mais|cancelar tudo|procon|reclame ?aqui|"
    r"processar|advogado|justica|"
    r"ridiculous|terrible|awful|worst|scam|disgusting|furious|outrageous|unacceptable|lawyer|sue you)\b"
)
OPT_OUT = re.compile(
    r"^\s*(parar|pare|sair|stop|cancelar mensagens|unsubscribe|descadastrar)\s*$"
    r"|\b(nao (quero|desejo) (mais )?receber|para de (me )?mandar|pare de (me )?(mandar|enviar)"
    r"|me (tira|tire|remova|remove) (da|dessa|desta) lista|descadastr\w*|unsubscribe|stop (sending|messaging)"
    r"|remove me from)\b"
)

PT_WORDS = set(
    [
        "que",
        "voce",
        "voces",
        "o",
        "os",
        "as",
        "de",
        "do",
        "da",
        "dos",
        "das",
        "meu",
        "minha",
        "qual",
        "quanto",
        "quanta",
        "quando",
        "onde",
        "tem",
        "pneu",
        "pneus",
        "com",
        "para",
        "por",
        "nao",
        "sim",
        "oi",
        "ola",
        "obrigado",
        "obrigada",
        "boa",
        "bom",
        "dia",
        "tarde",
        "noite",
        "e",
        "um",
        "uma",
        "esta",
        "estao",
        "loja",
        "lojas",
        "horas",
        "preco",
        "pedido",
        "custa",
        "quero",
        "queria",
        "gostaria",
        "posso",
        "vcs",
        "ate",
        "hoje",
        "amanha",
        "sabado",
        "domingo",
        "abre",
        "fecha",
        "entrega",
        "montagem",
        "garantia",
        "alinhamento",
        "pagamento",
        "pix",
        "cartao",
        "parcela",
        "como",
        "fazer",
        "valor",
    ]
)
EN_WORDS = set(
    [
        "the",
        "you",
        "your",
        "do",
        "does",
        "what",
        "when",
        "where",
        "how",
        "is",
        "are",
        "my",
        "i",
        "can",
        "have",
        "much",
        "open",
        "close",
        "tire",
        "tires",
        "store",
        "stores",
        "price",
        "prices",
        "order",
        "hi",
        "hello",
        "thanks",
        "thank",
        "please",
        "with",
        "to",
        "for",
        "an",
        "it",
        "of",
        "today",
        "tomorrow",
        "saturday",
        "sunday",
        "delivery",
        "fitting",
        "warranty",
        "alignment",
        "payment",
        "card",
        "pay",
        "hours",
        "cost",
        "costs",
        "need",
        "want",
        "would",
        "like",
        "is",
        "there",
        "get",
    ]
)


# Inflections cut off the words the word model reads, longest first: with five examples per
# intent, "instalam" must meet "instalação", "pago" "pagamento", "delivered" "deliver" and
# "cards" "card" (the character n-grams see shared stems too, but weakly, among many
# other n-grams). Portuguese and English endings in one list, since customers mix them.
SUFFIXES = sorted(
    re.findall(
        r"\w+",
        """
        amentos imentos amento imento acoes icoes acao icao oes aes mente avel ivel
        ancias encias ancia encia zinhos zinhas inhos inhas zinho zinha inho inha
        ations ation ments ment
        ando endo indo aram eram iram avam iam ados idos adas idas ado ido ada ida
        ar er ir am em ou eu iu os as es ing ed ies s a o e
        """,
    ),
    key=len,
    reverse=True,
)
# A probability that is always lift enough over an even guess (see Matcher.decide).
MAJORITY = 0.5
# What is left of a word after its ending is cut is at least this long ("pneus" -> "pneu",
# but "as" and "dia" stay whole).
MIN_STEM = 3
# How much an intent's own words (its id, button titles and answers) count as training
# examples next to a written example: they name the subject ("garantia", "endereço",
# "retirada") but are not said the way a customer says it.
WEAK_WEIGHT = 0.5


def stem(word: str) -> str:
    """The word without its pt-BR or English inflection ("instalam" -> "instal")."""
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
            return word[: -len(suffix)]
    return word


def stemmed_words(text: str) -> list[str]:
    """The word model's terms: stems and pairs of stems (the features' words), and the
    lexicon's concepts, which come marked with CONCEPT and are kept whole and unpaired."""
    plain = [w for w in text.split() if not w.startswith(CONCEPT)]
    words = [stem(w) for w in plain]
    concepts = [w for w in text.split() if w.startswith(CONCEPT)]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)] + concepts


# What marks a concept of the lexicon among the word model's terms (normalised text has
# no such character, so no customer's word can pass for one).
CONCEPT = "@"


@dataclass(frozen=True)
class Lexicon:
    """Words and phrases any service business's customers use for the recurring things
    (src/touchpoints/data/attendant_lexicon.yaml), by concept."""

    words: dict[str, tuple[str, ...]]  # word -> concepts
    prefixes: tuple[tuple[str, str], ...]  # (prefix, concept)
    phrases: tuple[tuple[tuple[str, ...], str], ...]  # (words in a row, concept)

    def concepts(self, normalised: str) -> list[str]:
        """The concepts a normalised message says, each once, in the order of the lexicon's
        first match."""
        words = normalised.split()
        found: dict[str, None] = {}
        for w in words:
            for concept in self.words.get(w, ()):
                found[concept] = None
            for prefix, concept in self.prefixes:
                if w.startswith(prefix):
                    found[concept] = None
        for phrase, concept in self.phrases:
            n = len(phrase)
            if any(tuple(words[i : i + n]) == phrase for i in range(len(words) - n + 1)):
                found[concept] = None
        return list(found)


def parse_lexicon(raw: Any, source: str = "lexicon") -> Lexicon:
    """A {concept: [terms]} mapping -> a Lexicon; terms are normalised like messages."""
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{source}: expected a mapping of concepts to lists of terms")
    words: dict[str, list[str]] = {}
    prefixes: list[tuple[str, str]] = []
    phrases: list[tuple[tuple[str, ...], str]] = []
    for concept, terms in raw.items():
        if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip() for t in terms):
            raise ValueError(f"{source}: {concept}: expected a list of non-empty terms")
        for term in terms:
            prefix = term.endswith("*")
            spelt = normalise(term.rstrip("*")).split()
            if not spelt:
                raise ValueError(f"{source}: {concept}: {term!r} has no letters or digits")
            if prefix:
                prefixes.append((" ".join(spelt), concept))
            elif len(spelt) == 1:
                words.setdefault(spelt[0], []).append(concept)
            else:
                phrases.append((tuple(spelt), concept))
    return Lexicon(
        {w: tuple(dict.fromkeys(c)) for w, c in words.items()}, tuple(prefixes), tuple(phrases)
    )


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The package's lexicon of recurring customer words (package data)."""
    import yaml

    path = resources.files("touchpoints").joinpath("data/attendant_lexicon.yaml")
    return parse_lexicon(yaml.safe_load(path.read_text(encoding="utf-8")), "attendant_lexicon.yaml")


def word_features(normalised: str) -> str:
    """What the word model reads: the classifier's features and the lexicon's concepts."""
    concepts = " ".join(CONCEPT + c for c in lexicon().concepts(normalised))
    return f"{features(normalised)} {concepts}".strip()


def weak_examples(intent: Intent) -> list[str]:
    """An intent's own words as extra examples: its id, its titles and its answers."""
    return [intent.id.replace("_", " "), *intent.title.values(), *intent.answer.values()]


def normalise(text: str) -> str:
    """Lower case, no accents, no repeated letters, abbreviations spelt out, entities as
    placeholders: "Vc tem pneuuu 175/70 R14???" -> "voce tem pneu tyresize"."""
    text = URL.sub(" ", text[:MAX_CHARS])
    text = TYRE_SIZE.sub(" tyresize ", text)
    text = ORDER.sub(" ordernum ", text)
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[^a-z0-9]+", " ", text)
    # Three or more of one letter is emphasis ("oiii", "simmm"); two is spelling ("carro").
    text = re.sub(r"([a-z])\1{2,}", r"\1", text)
    text = re.sub(r"([aeiou])\1+\b", r"\1", text)  # "oiee", "valeuu"
    words = [ABBREVIATIONS.get(w, w) for w in text.split()]
    return GREETING_OPENING.sub("oi", " ".join(words))


def features(normalised: str) -> str:
    """What the classifier reads: the normalised text without its function words (the
    whole text when nothing else is left)."""
    words = [w for w in normalised.split() if w not in FUNCTION_WORDS]
    return " ".join(words) if words else normalised


def entities(text: str) -> dict[str, str]:
    """Order numbers and tyre sizes, in a canonical spelling ('175/70 R14')."""
    found: dict[str, str] = {}
    size = TYRE_SIZE.search(text)
    if size:
        found["tyre_size"] = f"{size[1]}/{size[2]} R{size[3]}"
    order = ORDER.search(TYRE_SIZE.sub(" ", text))
    if order:
        found["order"] = next(g for g in order.groups() if g)
    return found


def language(normalised: str, default: str) -> str:
    """pt-BR or en by common words; a tie keeps the configured language."""
    words = normalised.split()
    pt = sum(w in PT_WORDS for w in words)
    en = sum(w in EN_WORDS for w in words)
    if pt == en:
        return default
    return "pt-BR" if pt > en else "en"


def angry(text: str, normalised: str) -> bool:
    """Insults or complaint channels, "!!!", or a message shouted in capitals."""
    if ANGER_WORDS.search(normalised) or "!!!" in text:
        return True
    letters = [ch for ch in text if ch.isalpha()]
    return len(letters) >= 12 and sum(ch.isupper() for ch in letters) / len(letters) > 0.7


@dataclass
class Reading:
    """What one message asks, before any conversation state is applied."""

    text: str
    normalised: str
    lang: str
    intent: str | None
    confidence: float
    kind: str  # answer | clarify | handoff | optout | empty
    reason: str | None = None  # why a hand-off: asked | intent | anger
    choices: list[str] = field(default_factory=list)
    entities: dict[str, str] = field(default_factory=dict)
    ranking: list[tuple[str, float]] = field(default_factory=list)

    @property
    def handoff(self) -> bool:
        return self.kind == "handoff"

    @property
    def understood(self) -> bool:
        return self.intent is not None


class Matcher:
    """The classifier of one configuration, trained once when it is built."""

    def __init__(self, config: AttendantConfig) -> None:
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        self.config = config
        self.handoff_ids = set(config.handoff_intents)
        self.person = person_intent(config)
        texts: list[str] = []
        labels: list[str] = []
        weights: list[float] = []
        for intent in config.intents:
            for examples in intent.examples.values():
                for example in examples:
                    texts.append(normalise(example))
                    labels.append(intent.id)
                    weights.append(1.0)
        written = len(texts)
        for intent in config.intents:
            for weak in weak_examples(intent):
                texts.append(normalise(weak))
                labels.append(intent.id)
                weights.append(WEAK_WEIGHT)
        weak = len(texts) - written
        others = list(config.out_of_scope.values())
        if config.generic_out_of_scope:
            others += list(generic_out_of_scope().values())
        for examples in others:
            for example in examples:
                texts.append(normalise(example))
                labels.append(OUT_OF_SCOPE)
                weights.append(1.0)
        # Two vectorizers side by side (not a FeatureUnion: its joblib machinery costs more
        # per message than the two transforms themselves).
        self.vectorizers = [
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
            TfidfVectorizer(analyzer=stemmed_words, sublinear_tf=True),
        ]
        # The character n-grams read the words; the word model reads them with the
        # lexicon's concepts.
        self._inputs = [features, word_features]
        matrix = hstack(
            [
                v.fit_transform([f(t) for t in texts])
                for v, f in zip(self.vectorizers, self._inputs, strict=True)
            ]
        ).tocsr()
        # No intercept: a message whose words the file never uses leans to no class, so
        # it is asked back. With one, the other-subjects class (many examples, widely
        # spread) took a head start of about 8:1 odds, and any message with a word the
        # examples lack ("tem zumba?", "ta aberto agora?") went to it.
        self.model = LogisticRegression(
            C=30.0, max_iter=3000, class_weight="balanced", fit_intercept=False
        )
        with _one_thread():
            self.model.fit(matrix, labels, sample_weight=np.array(weights))
        # The likeness check compares a message with what customers say, not with answers.
        shown = [i for i in range(len(labels)) if not written <= i < written + weak]
        self.examples = matrix[shown]
        self.labels = [labels[i] for i in shown]
        self.classes: list[str] = list(self.model.classes_)
        # What reading one message needs, taken out of the fitted objects once: their
        # transform and predict_proba check their input on every call, which costs more
        # than the arithmetic of a one-line message (the reply's latency; the results are
        # the same, tests/test_attendant_understanding.py compares them).
        self._analyzers = [v.build_analyzer() for v in self.vectorizers]
        self._vocabularies = [v.vocabulary_ for v in self.vectorizers]
        self._idf = [v.idf_ for v in self.vectorizers]
        sizes = [len(v.vocabulary_) for v in self.vectorizers]
        self._offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        self._width = sum(sizes)
        self._weights = np.ascontiguousarray(self.model.coef_.T)
        self._intercept = self.model.intercept_
        # A term the file never uses weighs as one no document has (smooth idf).
        self._unknown_idf = float(np.log(1 + len(texts)) + 1)

    def vectorize(self, normalised: str) -> Any:
        """The message's TF-IDF row, as the fitted vectorizers side by side give it:
        sublinear term frequency x idf, each half L2-normalised."""
        return self.reading_row(normalised)[0]

    def reading_row(self, normalised: str) -> tuple[Any, list[float]]:
        """The message's TF-IDF row, and for each half the share of the message the file
        knows: the norm of its known terms over the norm of all its terms, a term the file
        never uses weighing as a term no example has (smooth idf)."""
        from scipy.sparse import csr_matrix

        columns: list[Any] = []
        values: list[Any] = []
        known: list[float] = []
        for make, analyzer, vocabulary, idf, offset in zip(
            self._inputs, self._analyzers, self._vocabularies, self._idf, self._offsets, strict=True
        ):
            text = make(normalised)
            counts: dict[int, int] = {}
            unknown: dict[str, int] = {}
            for term in analyzer(text):
                j = vocabulary.get(term)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
                else:
                    unknown[term] = unknown.get(term, 0) + 1
            unknown_mass = sum(
                ((1.0 + np.log(c)) * self._unknown_idf) ** 2 for c in unknown.values()
            )
            if not counts:
                known.append(0.0)
                continue
            index = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            weight = (1.0 + np.log(np.fromiter(counts.values(), float, len(counts)))) * idf[index]
            norm = float(np.sqrt(weight @ weight))
            known.append(norm / float(np.sqrt(norm**2 + unknown_mass)) if norm else 0.0)
            columns.append(index + offset)
            values.append(weight / norm if norm else weight)
        if not columns:
            return csr_matrix((1, self._width)), known
        index = np.concatenate(columns)
        order = np.argsort(index)
        data = np.concatenate(values)[order]
        row = csr_matrix((data, index[order], [0, len(index)]), shape=(1, self._width))
        return row, known

    def known_scaled(self, vector: Any, known: list[float]) -> Any:
        """The row with each half multiplied by the share of the message the file knows."""
        scaled = vector.copy()
        ends = [*self._offsets[1:], self._width]
        for start, end, share in zip(self._offsets, ends, known, strict=True):
            inside = (scaled.indices >= start) & (scaled.indices < end)
            scaled.data[inside] *= share
        return scaled

    def probabilities(self, vector: Any) -> Any:
        """The classes' probabilities for one row, as the fitted model's predict_proba."""
        decision = np.asarray(vector @ self._weights).ravel() + self._intercept
        if decision.shape[0] == 1:  # two classes: one logistic
            positive = 1.0 / (1.0 + np.exp(-decision[0]))
            return np.array([1.0 - positive, positive])
        decision -= decision.max()
        exp = np.exp(decision)
        return exp / exp.sum()

    def scores(self, normalised: str) -> tuple[list[tuple[str, float]], dict[str, float]]:
        """Intents by probability, and each intent's likeness (cosine) to its nearest example."""
        vector, known = self.reading_row(normalised)
        probabilities = self.probabilities(vector)
        ranking = sorted(
            zip(self.classes, (float(p) for p in probabilities), strict=True),
            key=lambda pair: -pair[1],
        )
        # Each half of the union is L2-normalised, so the dot product runs 0..2.
        # The likeness counts what the file does not know: each half of the row is scaled
        # by the share of the message the file knows, so "preciso de uma coisa sobre o
        # pneu" is not as like "pneu aro 15" as "pneu" alone is. (Each half is
        # L2-normalised, so the dot product runs 0..2.)
        likeness = (self.examples @ self.known_scaled(vector, known).T).toarray().ravel() / len(
            self.vectorizers
        )
        nearest: dict[str, float] = {}
        for label, value in zip(self.labels, likeness, strict=True):
            if value > nearest.get(label, -1.0):
                nearest[label] = float(value)
        return ranking, nearest

    def decide(self, ranking: list[tuple[str, float]], nearest: dict[str, float]) -> str | None:
        """The intent to answer, or None to ask back: the best class is an intent, and its
        probability (absolute and against an even guess), its ratio over the runner-up and
        the message's likeness to one of its examples all clear the file's thresholds."""
        rules = self.config.understanding
        best, confidence = ranking[0]
        runner_up = ranking[1][1] if len(ranking) > 1 else 0.0
        # Against an even guess, but a majority always suffices: with three classes a
        # lift of 3 would ask for a probability of 1, and a file of two intents never
        # answered.
        lifted = confidence >= min(rules.min_lift / len(ranking), MAJORITY)
        confident = (
            best != OUT_OF_SCOPE
            and confidence >= rules.min_confidence
            and lifted
            and confidence >= rules.min_ratio * runner_up
            and nearest.get(best, 0.0) >= rules.min_similarity
        )
        return best if confident else None

    def read(self, text: str, lang: str | None = None) -> Reading:
        """One message -> what it asks (`lang` forces the reply language)."""
        raw = text if isinstance(text, str) else ""
        normalised = normalise(raw)
        reply_lang = lang or language(normalised, self.config.language)
        found = entities(raw)
        if not normalised:
            return Reading(raw, normalised, reply_lang, None, 0.0, "empty", entities=found)
        if OPT_OUT.search(normalised):
            return Reading(raw, normalised, reply_lang, None, 1.0, "optout", entities=found)
        if PERSON.search(normalised):
            return Reading(
                raw, normalised, reply_lang, self.person, 1.0, "handoff", "asked", entities=found
            )
        ranking, nearest = self.scores(normalised)
        best, confidence = ranking[0]
        rules = self.config.understanding
        intent = self.decide(ranking, nearest)
        if angry(raw, normalised):
            return Reading(
                raw, normalised, reply_lang, intent, confidence, "handoff", "anger",
                entities=found, ranking=ranking,
            )  # fmt: skip
        if intent is not None:
            kind, reason = ("handoff", "intent") if intent in self.handoff_ids else ("answer", None)
            return Reading(
                raw, normalised, reply_lang, intent, confidence, kind, reason,
                entities=found, ranking=ranking,
            )  # fmt: skip
        choices = [
            label
            for label, p in ranking
            if label != OUT_OF_SCOPE
            and label not in self.handoff_ids
            and p >= rules.choices_floor
            and nearest.get(label, 0.0) >= rules.min_similarity / 2
        ][:2]
        return Reading(
            raw, normalised, reply_lang, None, confidence, "clarify",
            choices=choices, entities=found, ranking=ranking,
        )  # fmt: skip


def person_intent(config: AttendantConfig) -> str | None:
    """The hand-off intent an explicit ask for a person is recorded as: the one whose
    examples the ask-for-a-person rule recognises most often. A file may list other
    hand-off intents first ("cancel", sent to a person to keep the customer), and an ask
    for a person is not a cancellation; with no such examples, the first hand-off intent."""
    best, most = next(iter(config.handoff_intents), None), 0
    for intent in config.intents:
        if not intent.handoff:
            continue
        asks = sum(
            bool(PERSON.search(normalise(example)))
            for examples in intent.examples.values()
            for example in examples
        )
        if asks > most:
            best, most = intent.id, asks
    return best


def _one_thread() -> Any:
    """BLAS and OpenMP limited to one thread while training: the problem is tiny, and on a
    busy machine a pool of spinning threads makes a 0.2 s fit take seconds. (Not around
    each prediction: setting the limit costs more than the prediction itself.)"""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


_MATCHERS: dict[int, Matcher] = {}


def matcher(config: AttendantConfig) -> Matcher:
    """The trained matcher of `config`, built once per configuration object."""
    key = id(config)
    found = _MATCHERS.get(key)
    if found is None or found.config is not config:
        found = _MATCHERS[key] = Matcher(config)
    return found


def describe(reading: Reading) -> dict[str, Any]:
    """A reading as JSON-ready data (for logs and hand-off notes)."""
    return {
        "intent": reading.intent,
        "confidence": reading.confidence,
        "kind": reading.kind,
        "reason": reading.reason,
        "lang": reading.lang,
        "entities": reading.entities,
    }
