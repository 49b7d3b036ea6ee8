"""Every analysis declared once: its name, options, scope, function and result schema.

The CLI commands (`touchpoints.cli.analyses`), the `/v1` routes (`touchpoints.server.api`),
the dashboard's data sets, the report and the Python API (`touchpoints.python`) are all
built from these declarations; none of them lists an analysis's options again. Adding an
option is one field on the analysis's `Options` model; adding an analysis is one
`register(Analysis(...))` in its module and the module's name in `MODULES`.

An analysis is a plain function `run(store, scope, options) -> dict` whose dict is the
SPEC §5 JSON object at full precision (the CLI's `--json`, the API body, `to_dict()`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from touchpoints.analytics.scope import (
    DEFAULT_AFTER,
    DEFAULT_DURING,
    DEFAULT_GAP,
    Scope,
    check_values,
)
from touchpoints.core.errors import UsageError

if TYPE_CHECKING:
    from touchpoints.analytics.results import Result
    from touchpoints.store.base import Store

# The analysis modules, in the order commands are listed in `--help` and routes in /docs.
MODULES = (
    "summary",
    "kpis",
    "events",
    "journeys",
    "flows",
    "strength",
    "moments",
    "retention",
    "attribution",
    "whatif",
    "insights",
    "forecast",
    "staffing",
    "feedback",
    "live",
    "customers",
    "attendant",
    "changes",
    "agents",
)


class Options(BaseModel):
    """Base of every analysis's options: unknown names are refused, values are frozen.
    Validators are built on first use (`defer_build`): the CLI declares every analysis at
    start-up and runs one."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class ResultModel(BaseModel):
    """Base of the result schemas (OpenAPI, tests): built when first asked for."""

    model_config = ConfigDict(defer_build=True)


class ScopeOptions(Options):
    """The scope as interfaces take it, named like the CLI options (`--from`, `--touchpoint`,
    `--timezone`, ...). An analysis declares which of these fields it takes."""

    date_from: str | None = Field(
        None, alias="from", description="First day or timestamp (inclusive)."
    )
    date_to: str | None = Field(None, alias="to", description="Last day or timestamp (inclusive).")
    touchpoint: list[str] | None = Field(None, description="Only these touchpoints.")
    channel: list[str] | None = Field(None, description="Only these channels.")
    kind: list[str] | None = Field(None, description="Only static, interactive or human.")
    phase: list[str] | None = Field(None, description="Only before, during or after.")
    segment: list[str] | None = Field(None, description="Only these customer segments.")
    agent: list[str] | None = Field(None, description="Only these agents.")
    during: str = Field(
        DEFAULT_DURING, description="Window before a purchase that counts as during."
    )
    after: str = Field(DEFAULT_AFTER, description="Window after a purchase that counts as after.")
    gap: str = Field(DEFAULT_GAP, description="Silence that ends a journey cycle (SPEC §3).")
    timezone: str = Field(
        "UTC", description="Zone of --from/--to dates and of days, weeks, months, hours."
    )

    @field_validator("touchpoint", "channel", "kind", "phase", "segment", "agent", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        """`touchpoint="phone"` from Python reads as `["phone"]`."""
        return [value] if isinstance(value, str) else value

    @field_validator("during", "after", "gap", mode="before")
    @classmethod
    def _plain_seconds(cls, value: Any) -> Any:
        """`during=3600` from Python means seconds, as `--during 3600` does."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return repr(value)
        return value

    @field_validator("date_from", "date_to", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        """`date_from=date(2026, 1, 1)` from Python reads as the CLI's `--from 2026-01-01`."""
        return value.isoformat() if isinstance(value, date | datetime) else value

    def to_scope(self) -> Scope:
        return Scope.build(
            self.date_from,
            self.date_to,
            self.touchpoint,
            self.channel,
            self.kind,
            self.phase,
            self.segment,
            self.agent,
            self.during,
            self.after,
            self.gap,
            self.timezone,
        )


FILTERS = ("date_from", "date_to", "touchpoint", "channel", "kind", "phase", "segment", "agent")
EVENT_SCOPE = (*FILTERS, "during", "after", "timezone")
JOURNEY_SCOPE = (*FILTERS, "during", "after", "gap", "timezone")


class NoOptions(Options):
    """For analyses whose scope says everything."""


Run = Callable[["Store", Scope, Any], dict[str, Any]]


def with_facts(run: Run) -> Run:
    """`run` with the scope told whether the store keeps journey facts cut with its windows
    (`store.derived`); answers are the same either way, only their cost differs."""

    @functools.wraps(run)
    def wrapped(store: Store, scope: Scope, options: Any) -> dict[str, Any]:
        if store is not None and isinstance(scope, Scope):
            from touchpoints.store.derived import FactOptions, stored_options

            wanted = FactOptions.of(scope.gap_seconds, scope.during_seconds, scope.after_seconds)
            if stored_options(store) == wanted:
                scope = scope.replace(facts=True)
        return run(store, scope, options)

    wrapped.reads_facts = True  # type: ignore[attr-defined]
    return wrapped


def shared(name: str) -> Callable[[Run], Run]:
    """`run` computed once per data stamp for a store and its readers (`Store.memo`):
    for analyses that are also parts of others (`insights` reads `touchpoint_strength`
    and `moments`), so a page's own job and the analysis that borrows it share one
    computation. Keyed by `name`, the scope (with whether it reads facts) and the options,
    at `store.derived.answer_stamp`: any ingestion, erase, rebuild, catalog or change-log
    edit makes a new stamp, so an answer is never served for data it was not computed
    from. Computed afresh inside a transaction (what it reads may be rolled back, and the
    next commit may bring the same stamp) and on engines without a stamp (Spark)."""

    def decorate(run: Run) -> Run:
        @functools.wraps(run)
        def wrapped(store: Store, scope: Scope, options: Any) -> dict[str, Any]:
            shown = options.model_dump_json() if isinstance(options, BaseModel) else repr(options)
            key = (name, scope, type(options).__qualname__, shown)
            return store.remembered(key, lambda: run(store, scope, options))

        return wrapped

    return decorate


@dataclass(frozen=True)
class Analysis:
    """One analysis, as every interface needs to know it."""

    name: str  # dotted words: "kpis", "journeys.dfg", "customer.journey"
    summary: str  # one line: CLI help, OpenAPI summary, Python docstring
    run: Run
    options: type[Options]
    result: type[BaseModel]  # the JSON object's schema (OpenAPI; checked by tests)
    scope: tuple[str, ...] = EVENT_SCOPE  # the ScopeOptions fields it takes
    table: str = "rows"  # the result's main table: to_pandas, CSV, HTML
    explode: str = ""  # a list inside the table's rows that becomes one row per item
    arguments: tuple[str, ...] = ()  # options the CLI takes as positional arguments
    path: str | None = None  # HTTP path when not /v1/<words>
    aliases: tuple[str, ...] = ()  # other CLI names
    needs_store: Callable[[Any], bool] | None = None  # False: answers without data

    def __post_init__(self) -> None:
        # Analyses that take --gap are the ones that cut journey cycles.
        if "gap" in self.scope and not getattr(self.run, "reads_facts", False):
            object.__setattr__(self, "run", with_facts(self.run))

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.name.split("."))

    @property
    def http_path(self) -> str:
        return self.path or "/v1/" + "/".join(self.words)

    @property
    def description(self) -> str:
        """The run function's docstring: what the analysis computes and why."""
        return inspect.getdoc(self.run) or self.summary

    def option_fields(self) -> dict[str, Any]:
        """Scope fields first (the filters every analysis shares), then its own options."""
        scope = {name: ScopeOptions.model_fields[name] for name in self.scope}
        return {**scope, **self.options.model_fields}

    def parse(self, values: Mapping[str, Any]) -> tuple[Scope, Options]:
        """Option values by name (`date_from` or `from`) -> the scope and the options.

        A name the analysis does not take, or a value of the wrong type, is a UsageError
        that names the option as the CLI spells it.
        """
        aliases = {"from": "date_from", "to": "date_to"}
        given = {aliases.get(k, k): v for k, v in values.items()}
        unknown = sorted(set(given) - set(self.option_fields()))
        if unknown:
            raise UsageError(
                f"{self.name} takes no option {', '.join(repr(u) for u in unknown)}; "
                f"it takes: {', '.join(self.option_fields())}"
            )
        scope_values = {k: v for k, v in given.items() if k in self.scope}
        own = {k: v for k, v in given.items() if k not in self.scope}
        try:
            scope = ScopeOptions.model_validate(scope_values).to_scope()
            options = self.options.model_validate(own)
        except ValidationError as exc:
            raise usage_error(exc) from None
        return scope, options

    def compute(self, store: Store | None, **values: Any) -> dict[str, Any]:
        """Parse `values` and run: the JSON object (what `--json` prints)."""
        scope, options = self.parse(values)
        return self.run(store, scope, options)  # type: ignore[arg-type]

    def __call__(self, store: Store | None, **values: Any) -> Result:
        from touchpoints.analytics.results import Result

        return Result(self, self.compute(store, **values))

    def uses_store(self, options: Options) -> bool:
        return self.needs_store is None or self.needs_store(options)


def option_flag(name: str) -> str:
    """How the CLI spells an option field: `date_from` -> `--from`, `answer_within` ->
    `--answer-within`."""
    field = ScopeOptions.model_fields.get(name)
    spelled = field.alias if field is not None and field.alias else name
    return "--" + spelled.replace("_", "-")


def usage_error(exc: ValidationError) -> UsageError:
    """A pydantic error as one sentence naming the option and the bad value."""
    first = exc.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    value = first.get("input")
    message = first["msg"].removeprefix("Value error, ")
    return UsageError(f"{option_flag(name)} {value!r}: {message}")


_REGISTRY: dict[str, Analysis] = {}


def register(analysis: Analysis) -> Analysis:
    """Declare an analysis (each module calls this once per analysis at import). Its `run`
    first checks the scope's filter values against the store (`scope.check_values`), so
    every interface refuses a typo the same way."""
    analysis = dataclasses.replace(analysis, run=_checked(analysis.run))
    _REGISTRY[analysis.name] = analysis
    return analysis


def _checked(run: Run) -> Run:
    @functools.wraps(run)
    def checked(store: Store, scope: Scope, options: Any) -> dict[str, Any]:
        if store is not None:
            check_values(store, scope)
        return run(store, scope, options)

    return checked


def analyses() -> list[Analysis]:
    """Every analysis, in `MODULES` order (imports the modules on first use)."""
    for module in MODULES:
        importlib.import_module(f"touchpoints.analytics.{module}")
    # Registration follows import order, which one module importing another changes
    # (summary reads kpis' roll-up): the listing keeps the declared order.
    order = {f"touchpoints.analytics.{module}": i for i, module in enumerate(MODULES)}
    return sorted(_REGISTRY.values(), key=lambda a: order.get(a.run.__module__, len(order)))


def get(name: str) -> Analysis:
    """One analysis by its dotted name."""
    if name not in _REGISTRY:
        analyses()
    if name not in _REGISTRY:
        raise UsageError(f"no analysis {name!r}; analyses: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]
