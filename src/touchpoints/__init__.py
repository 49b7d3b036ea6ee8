"""Touchpoints: see, measure and improve every point where customers meet the company.

The public Python API is small and explicit::

    import touchpoints as tp
    ws = tp.open("touchpoints.duckdb")
    ws.ingest("events.csv")
    ws.kpis(by="touchpoint").to_pandas()
    ws.journeys.dfg(case="cycle").to_dict()

Names load on first use, so importing one submodule (the store, the CLI) does not import
every analysis.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "open": "touchpoints.python",
    "Workspace": "touchpoints.python",
    "Result": "touchpoints.analytics.results",
    "Scope": "touchpoints.analytics.scope",
    "Catalog": "touchpoints.core.catalog",
    "Touchpoint": "touchpoints.core.catalog",
    "default_catalog": "touchpoints.core.catalog",
    "load_catalog": "touchpoints.core.catalog",
    "parse_catalog": "touchpoints.core.catalog",
    "TouchpointsError": "touchpoints.core.errors",
    "UsageError": "touchpoints.core.errors",
    "InputFileError": "touchpoints.core.errors",
    "CatalogError": "touchpoints.core.errors",
    "StoreError": "touchpoints.core.errors",
    "IngestResult": "touchpoints.ingest",
    "Store": "touchpoints.store.base",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'touchpoints' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)
