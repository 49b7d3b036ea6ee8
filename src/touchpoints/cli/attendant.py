"""`touchpoints attendant reply|eval` (SPEC §7): try the 24/7 attendant from the terminal.

`attendant kpis` is an analysis (analytics/attendant.py) and is generated from the
registry into the same group.
"""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

import typer

from touchpoints.cli.common import JsonOpt, LangOpt, lang_code, out, print_json
from touchpoints.core.errors import UsageError
from touchpoints.core.messages import t

attendant_app = typer.Typer(
    help="The 24/7 attendant: answers on WhatsApp and Chatwoot, hands over to people.",
    no_args_is_help=True,
)

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="Attendant YAML (default: the tyre retailer's attendant.yaml shipped with Touchpoints).",
    ),
]


@attendant_app.command("reply")
def reply_command(
    text: Annotated[str, typer.Option("--text", help="The customer's message.")],
    config: ConfigOpt = None,
    reply_lang: Annotated[
        str | None,
        typer.Option(
            "--reply-lang", "--lang", help="Reply in en or pt-BR (default: the message's)."
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at", help="When the message arrives (ISO; naive = the file's zone). Default now."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """What the attendant answers to one message: {intent, confidence, handoff, queued, reply}."""
    from datetime import datetime

    from touchpoints.attendant.bot import Attendant
    from touchpoints.attendant.config import load_config
    from touchpoints.core import format as fmt
    from touchpoints.core.messages import normalize
    from touchpoints.core.time import parse_when

    cfg = load_config(config)
    lang = None
    if reply_lang is not None:
        lang = normalize(reply_lang)
        if lang is None:
            raise UsageError(f"--lang {reply_lang!r}: use en or pt-BR")
    moment = (
        parse_when(at, "--at", tz=cfg.timezone).replace(tzinfo=UTC)  # type: ignore[union-attr]
        if at
        else datetime.now(UTC)
    )
    answer = Attendant(cfg).respond(text, lang=lang, at=moment)
    if as_json:
        print_json(answer.to_json())
        return
    words = lang_code(answer.lang)
    out.print(answer.text, markup=False, highlight=False, soft_wrap=True)
    for _id, title in answer.choices:
        out.print(f"  [{title}]", markup=False, highlight=False)
    decided = t(words, "cli.attendant.intent", intent=answer.intent or "—")
    confidence = fmt.number(answer.confidence, words, 2)
    decided += f" · {t(words, 'cli.attendant.confidence')} {confidence}"
    if answer.handoff:
        decided += " · " + t(
            words, "cli.attendant.queued" if answer.queued else "cli.attendant.handoff"
        )
    out.print(decided, style="dim", markup=False, highlight=False)


@attendant_app.command("eval")
def eval_command(
    cases: Annotated[
        str, typer.Option("--cases", help="YAML list of {text, intent} (null = should not answer).")
    ],
    config: ConfigOpt = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at", help="Time the messages arrive (hand-offs queue outside hours). Default now."
        ),
    ] = None,
    as_json: JsonOpt = False,
    lang: LangOpt = "en",
) -> None:
    """The attendant over labelled cases: {cases, accuracy, wrong_answer_rate, fallback_rate}."""
    from touchpoints.attendant.config import load_config
    from touchpoints.attendant.evaluate import evaluate, load_cases
    from touchpoints.core import format as fmt
    from touchpoints.core.time import parse_when

    cfg = load_config(config)
    moment = parse_when(at, "--at", tz=cfg.timezone).replace(tzinfo=UTC) if at else None  # type: ignore[union-attr]
    result = evaluate(cfg, load_cases(cases), at=moment)
    if as_json:
        print_json(result)
        return
    words = lang_code(lang)
    for row in result["cases"]:
        if row["intent"] != row["expected"]:
            out.print(
                f"✗ {row['text']!r}: {row['expected'] or '—'} → {row['intent'] or '—'} "
                f"({fmt.number(row['confidence'], words, 2)})",
                markup=False,
                highlight=False,
            )
    for key in ("accuracy", "wrong_answer_rate", "fallback_rate"):
        out.print(f"{t(words, f'metric.{key}')}: {fmt.percent(result[key], words)}")
    out.print(
        t(words, "cli.attendant.cases", n=fmt.integer(len(result["cases"]), words)), style="dim"
    )


def register(app: typer.Typer, panel: str) -> None:
    app.add_typer(attendant_app, name="attendant", rich_help_panel=panel)
