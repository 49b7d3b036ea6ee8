"""Touchpoints: see, measure and improve every point where customers meet the company.

The public Python API is small and explicit::

    import touchpoints as tp
    from touchpoints.analytics.kpis import kpis
    from touchpoints.ingest import ingest_files

    store = tp.open("touchpoints.duckdb")
    ingest_files(store, "events.csv")
    kpis(store, by="touchpoint")
"""

from typing import TYPE_CHECKING, Any

from touchpoints.core.catalog import (
    Catalog,
    Touchpoint,
    default_catalog,
    load_catalog,
    parse_catalog,
)
from touchpoints.core.errors import (
    CatalogError,
    InputFileError,
    StoreError,
    TouchpointsError,
    UsageError,
)
from touchpoints.store import Store
from touchpoints.store import open_store as open

if TYPE_CHECKING:
    from touchpoints.analytics.base import Filters, PhaseOptions
    from touchpoints.ingest.results import IngestResult

__version__ = "0.1.0"

# Names from the layers above the store, imported on first use: importing a low layer
# (`touchpoints.store.duckdb` runs this file first) must not load the ones above it.
_LAZY = {
    "Filters": "touchpoints.analytics.base",
    "PhaseOptions": "touchpoints.analytics.base",
    "IngestResult": "touchpoints.ingest.results",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'touchpoints' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Catalog",
    "CatalogError",
    "Filters",
    "IngestResult",
    "InputFileError",
    "PhaseOptions",
    "Store",
    "StoreError",
    "Touchpoint",
    "TouchpointsError",
    "UsageError",
    "__version__",
    "default_catalog",
    "load_catalog",
    "open",
    "parse_catalog",
]
