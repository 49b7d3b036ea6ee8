"""Touchpoints: see, measure and improve every point where customers meet the company.

The public Python API is small and explicit::

    import touchpoints as tp
    store = tp.open("touchpoints.duckdb")
    store.ingest(["events.csv"])
    store.kpis(by="touchpoint")
"""

from touchpoints.analytics.base import Filters, PhaseOptions
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
from touchpoints.ingest import IngestResult
from touchpoints.store import Store
from touchpoints.store import open_store as open

__version__ = "0.1.0"

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
