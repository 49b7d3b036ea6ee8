"""The Python API for notebooks and scripts (SPEC §8), built from the registry of analyses.

    import touchpoints as tp
    ws = tp.open("touchpoints.duckdb")
    ws.ingest("events.csv")
    ws.kpis(by="touchpoint", answer_within=60).to_pandas()
    ws.journeys.dfg(case="cycle")
    ws.attribution(model="markov", order=2)

Every analysis is a method named like its command (`journeys dfg` -> `ws.journeys.dfg`),
with keyword arguments named like its options (`--answer-within` -> `answer_within`,
`--from` -> `date_from`); each returns a `Result` whose `to_dict()` is exactly the
`--json` object. Methods are generated from the declarations, so they never drift from
the CLI and the API.

A DuckDB file is opened for each call and closed after it (read-only for analyses), so a
notebook left open never locks the file against the CLI, the server or another notebook.
PostgreSQL, Spark and `:memory:` stores keep one connection.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from touchpoints.analytics.registry import Analysis, analyses
from touchpoints.analytics.results import Result
from touchpoints.core.errors import UsageError
from touchpoints.core.settings import get_settings
from touchpoints.store import SPARK_PREFIXES, open_store, resolve_target

if TYPE_CHECKING:
    from touchpoints.core.catalog import Catalog
    from touchpoints.ingest import IngestResult
    from touchpoints.store.base import Store

__all__ = ["Workspace", "open"]


class Workspace:
    """One store, and every analysis as a method (see the module docstring)."""

    def __init__(self, target: str | None = None, read_only: bool = False) -> None:
        self.target = resolve_target(target)
        self.read_only = read_only
        self._shared: Store | None = None
        if not self._per_call:
            self._shared = open_store(self.target, read_only=read_only)
        else:
            # Fail now, not at the first analysis, on a path that cannot be opened.
            with self.store(write=not read_only):
                pass

    @property
    def _per_call(self) -> bool:
        t = self.target
        return not (t == ":memory:" or t.startswith(("postgres", *SPARK_PREFIXES)))

    @contextmanager
    def store(self, write: bool = False) -> Iterator[Store]:
        """The store adapter for one operation (opened and closed around it for a file)."""
        if self._shared is not None:
            yield self._shared
            return
        store = open_store(self.target, read_only=not write or self.read_only)
        try:
            yield store
        finally:
            store.close()

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<touchpoints workspace {self.target!r}>"

    # -- data in ---------------------------------------------------------------------------
    def ingest(
        self,
        source: str | Path | Iterable[str | Path] | Any,
        *,
        catalog: Catalog | None = None,
        mapping: dict[str, str] | None = None,
        timezone: str = "UTC",
        format: str | None = None,  # noqa: A002 - named like the CLI option
    ) -> IngestResult:
        """Store events from a file, several files, or a pandas/pyarrow table; bad rows go to
        quarantine with file, row, column and reason, good rows are kept."""
        if self.read_only:
            raise UsageError(
                f"this workspace on {self.target!r} is read-only: open it with "
                "touchpoints.open(target) to ingest"
            )
        from touchpoints.ingest import ingest_files, ingest_table, key_text

        key = key_text(get_settings().pseudonymize_key)
        with self.store(write=True) as store:
            if isinstance(source, str | Path) or _is_paths(source):
                return ingest_files(store, source, catalog, mapping, timezone, format, key=key)
            return ingest_table(
                store, source, catalog=catalog, mapping=mapping, timezone=timezone, key=key
            )

    def catalog(self) -> Catalog:
        """The catalog stored with the events (the package default when none was loaded)."""
        with self.store() as store:
            return store.catalog()

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One SELECT in DuckDB's dialect, values as `$name` markers bound from `params`."""
        with self.store() as store:
            return store.query(sql, params)

    def run(self, analysis: Analysis | str, **options: Any) -> Result:
        """Any analysis by name (`"journeys.dfg"`) with its options."""
        from touchpoints.analytics.registry import get

        chosen = get(analysis) if isinstance(analysis, str) else analysis
        scope, parsed = chosen.parse(options)
        if not chosen.uses_store(parsed):
            return Result(chosen, chosen.run(None, scope, parsed))  # type: ignore[arg-type]
        with self.store() as store:
            return Result(chosen, chosen.run(store, scope, parsed))


def _is_paths(source: Any) -> bool:
    """A list or tuple of file names (anything else that is not a path is a table)."""
    return isinstance(source, list | tuple) and all(isinstance(p, str | Path) for p in source)


class _Group:
    """A command group (`ws.journeys`, `ws.customer`): its analyses as methods."""

    def __init__(self, workspace: Workspace, name: str) -> None:
        self._workspace = workspace
        self._name = name

    def __repr__(self) -> str:
        methods = sorted(k for k in type(self).__dict__ if not k.startswith("_"))
        return f"<{self._name}: {', '.join(methods)}>"


def _method(analysis: Analysis) -> Callable[..., Result]:
    """A method whose signature lists the analysis's options (for help() and Jupyter)."""

    def method(self: Any, *args: Any, **options: Any) -> Result:
        workspace = self if isinstance(self, Workspace) else self._workspace
        for name, value in zip(analysis.arguments, args, strict=False):
            options[name] = value
        return workspace.run(analysis, **options)

    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)]
    fields = analysis.option_fields()
    # Positional arguments (`ws.customer.journey("c1")`) before the keyword-only options.
    ordered = sorted(fields.items(), key=lambda item: item[0] not in analysis.arguments)
    for name, field in ordered:
        kind = (
            inspect.Parameter.POSITIONAL_OR_KEYWORD
            if name in analysis.arguments
            else inspect.Parameter.KEYWORD_ONLY
        )
        default = (
            inspect.Parameter.empty
            if field.is_required()
            else field.get_default(call_default_factory=True)
        )
        params.append(inspect.Parameter(name, kind, default=default, annotation=field.annotation))
    method.__signature__ = inspect.Signature(params, return_annotation=Result)  # type: ignore[attr-defined]
    method.__doc__ = (
        f"{analysis.description}\n\nSame as `touchpoints {' '.join(analysis.words)}`; "
        "returns a Result (`to_dict()`, `to_pandas()`, `to_arrow()`)."
    )
    method.__name__ = analysis.words[-1]
    return method


def _build() -> None:
    """Attach every registered analysis to Workspace (or to its group) once."""
    groups: dict[str, type[_Group]] = {}
    for analysis in analyses():
        *group_words, name = analysis.words
        if group_words:
            group = group_words[0]
            if group not in groups:
                groups[group] = type(f"{group.title()}Group", (_Group,), {})
                setattr(
                    Workspace,
                    group,
                    property(lambda self, g=group: groups[g](self, g)),
                )
            setattr(groups[group], name.replace("-", "_"), _method(analysis))
        else:
            setattr(Workspace, name.replace("-", "_"), _method(analysis))


_build()


def open(target: str | None = None, read_only: bool = False) -> Workspace:  # noqa: A001
    """A workspace on `target` (a DuckDB file, `postgresql://...`, `spark://...`); default
    `$TOUCHPOINTS_DB`, else `./touchpoints.duckdb`. `read_only=True` for a file another
    process writes to (analyses only)."""
    return Workspace(target, read_only=read_only)
