"""Ingestion: everything that puts events into a store, above the engine adapters.

- `pipeline`: `ingest_files`, `ingest_records`, `ingest_table`, `quarantine_raw`;
- `files`: reading CSV / JSON Lines / JSON arrays / Parquet into the staging view `_raw`;
- `checks`: the generated SQL that types and validates every column (`_good`, `_bad`);
- `records`: the Python fast path for records already parsed;
- `sources`: exports as other tools write them (SPEC §5 "Sources": dialects, encodings,
  spreadsheets, value maps, formats, units), staged like any file;
- `conflicts`: an event_id already stored with other content is rejected, not a duplicate;
- `warnings`: rows stored but counted nowhere or wrongly, said in the ingest summary;
- `identities`: aliases of one customer across channels, applied at ingestion;
- `quarantine`: listing, exporting and clearing rejected rows; fixed rows resolved;
- `pseudonymize`: keyed pseudonyms of customer ids;
- `privacy`: a customer's export and erasure, comment retention;
- `surveys`: signed survey links and the feedback events an answer becomes.

Connectors translate channels into these calls. Nothing here imports analytics or the
interfaces (CLI, server, reports).
"""

from touchpoints.ingest.checks import Staged, quarantine_sample
from touchpoints.ingest.files import detect_format, parse_mapping, stage_file
from touchpoints.ingest.pipeline import (
    ingest_files,
    ingest_records,
    ingest_table,
    quarantine_raw,
)
from touchpoints.ingest.pseudonymize import key_text, pseudonymize
from touchpoints.ingest.records import LazyRecords, TypedRow, check_records, loads_strict
from touchpoints.ingest.results import IngestResult, RecordsResult

__all__ = [
    "IngestResult",
    "LazyRecords",
    "RecordsResult",
    "Staged",
    "TypedRow",
    "check_records",
    "detect_format",
    "ingest_files",
    "ingest_records",
    "ingest_table",
    "key_text",
    "loads_strict",
    "parse_mapping",
    "pseudonymize",
    "quarantine_raw",
    "quarantine_sample",
    "stage_file",
]
