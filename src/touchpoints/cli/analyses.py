"""Analysis commands generated from the registry: one declaration, one command.

Each analysis's options (its `Options` model) and the scope fields it takes become Typer
options with the declared names, defaults and help; every command also takes `--db`,
`--json`, `--format table|csv|json` and `--lang`. The command parses the values with the
analysis (so the CLI, the API and Python validate alike), runs it and prints the JSON
object exactly, the main table as CSV, or the tables of `touchpoints.cli.tables`.
"""

from __future__ import annotations

import inspect
import types
import typing
from contextlib import nullcontext
from typing import Any

import typer
from pydantic.fields import FieldInfo

from touchpoints.analytics.registry import Analysis, analyses, option_flag
from touchpoints.analytics.results import table_rows, to_csv
from touchpoints.cli.common import lang_code, open_for_reading, out, print_json, touchpoint_names
from touchpoints.core.collector import gc_paused
from touchpoints.core.errors import UsageError

COMMON = ("db", "as_json", "output", "lang")
OUTPUTS = ("table", "csv", "json")


def _cli_type(annotation: Any) -> Any:
    """The Typer-friendly type of a pydantic field (Literal and friends become str)."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _cli_type(inner[0]) | None if len(inner) == 1 else str | None
    if origin is list:
        return list[str]
    if origin is typing.Literal:
        return str
    return annotation


def _parameter(name: str, field: FieldInfo, positional: bool) -> inspect.Parameter:
    default = None if field.is_required() else field.get_default(call_default_factory=True)
    help_text = field.description or ""
    if positional:
        marker = typer.Argument(... if field.is_required() else default, help=help_text)
    elif default is True:
        # A switch that is on by default needs its off spelling (`--no-by-phase`).
        flag = option_flag(name)
        marker = typer.Option(default, f"{flag}/--no-{flag[2:]}", help=help_text)
    else:
        flag = option_flag(name)
        if field.annotation is bool:  # `--by-phase/--no-by-phase`: a True default can be undone
            flag = f"{flag}/--no-{flag.removeprefix('--')}"
        marker = typer.Option(default, flag, help=help_text)
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=marker, annotation=_cli_type(field.annotation)
    )


def _common(analysis: Analysis) -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [
        inspect.Parameter(
            "db",
            kw,
            annotation=str | None,
            default=typer.Option(
                None,
                "--db",
                help="Store: a DuckDB file or postgresql:// URL (default $TOUCHPOINTS_DB or ./touchpoints.duckdb).",
            ),
        ),
        inspect.Parameter(
            "as_json",
            kw,
            annotation=bool,
            default=typer.Option(False, "--json", help="Print the JSON object (as the API)."),
        ),
        inspect.Parameter(
            "output",
            kw,
            annotation=str,
            default=typer.Option(
                "table", "--format", help="table (default), csv (the main table) or json."
            ),
        ),
    ]
    if "lang" not in analysis.options.model_fields:
        params.append(
            inspect.Parameter(
                "lang",
                kw,
                annotation=str,
                default=typer.Option(
                    "en",
                    "--lang",
                    help="Language of labels: en or pt-BR.",
                    envvar="TOUCHPOINTS_LANG",
                ),
            )
        )
    return params


def make_command(analysis: Analysis) -> Any:
    """The Typer command function of `analysis` (its signature built from the registry)."""
    fields = analysis.option_fields()

    def command(**values: Any) -> None:
        db = values.pop("db")
        as_json = values.pop("as_json")
        output = values.pop("output")
        if output not in OUTPUTS:
            raise UsageError(f"--format {output!r}: use table, csv or json")
        lang = lang_code(values.pop("lang"))
        if "lang" in analysis.options.model_fields:
            values["lang"] = lang  # the analysis's own option (insights' sentences)
        # Unset list options are None; the analysis's own defaults apply to the rest.
        given = {k: v for k, v in values.items() if v is not None and v != []}
        scope, options = analysis.parse(given)
        uses_store = analysis.uses_store(options)
        # The result is printed and dropped before the collector runs again: its pass over
        # a large answer (284k variants) would cost more than the command's own work.
        with gc_paused():
            with open_for_reading(db) if uses_store else nullcontext(None) as store:
                data = analysis.run(store, scope, options)
                names = touchpoint_names(store, lang) if store is not None else {}
            if as_json or output == "json":
                print_json(data)
            elif output == "csv":
                out.file.write(to_csv(table_rows(data, analysis.table, analysis.explode)))
            else:
                from touchpoints.cli.tables import View, render

                view = View(lang, names, options, scope, out.width)
                for renderable in render(analysis.name, analysis.table, data, view):
                    out.print(renderable)
            del data

    params = [_parameter(n, f, n in analysis.arguments) for n, f in fields.items()]
    # Positional arguments first, as Typer lists them.
    params.sort(key=lambda p: 0 if p.name in analysis.arguments else 1)
    command.__signature__ = inspect.Signature([*params, *_common(analysis)])  # type: ignore[attr-defined]
    command.__doc__ = analysis.description
    command.__name__ = analysis.name.replace(".", "_")
    return command


GROUP_HELP = {
    "feedback": "What customers wrote and answered: comments and their sentiment, first-heard.",
}


def register(app: typer.Typer, groups: dict[str, typer.Typer], panel: str) -> None:
    """Add every analysis to `app` (dotted names go into the group of their first word;
    a group not in `groups` is made here and added to `app`)."""
    for analysis in analyses():
        *group_words, name = analysis.words
        if group_words and group_words[0] not in groups:
            word = group_words[0]
            groups[word] = typer.Typer(help=GROUP_HELP.get(word), no_args_is_help=True)
            app.add_typer(groups[word], name=word, rich_help_panel=panel)
        target = groups[group_words[0]] if group_words else app
        fn = make_command(analysis)
        target.command(name, help=analysis.description, short_help=analysis.summary,
                       rich_help_panel=None if group_words else panel)(fn)  # fmt: skip
        for alias in analysis.aliases:
            app.command(alias, help=f"Same as `{analysis.name}`.", rich_help_panel=panel)(fn)
