"""What an ingestion answers: per file (`IngestResult`, SPEC §5) or per record
(`RecordsResult`, SPEC §6 `POST /v1/events`)."""

from __future__ import annotations

from dataclasses import dataclass, field

QUARANTINE_LIST_LIMIT = 1000


@dataclass
class IngestResult:
    """What one `ingest_files` did; `to_json` is SPEC §5's shape (plus each rejection's file)."""

    ingested: int = 0
    duplicates: int = 0
    rejected: int = 0
    quarantine: list[dict[str, object]] = field(default_factory=list)
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)
    # Rows stored but counted nowhere or wrongly, and files wholly rejected (ingest/warnings.py).
    warnings: list[dict[str, object]] = field(default_factory=list)

    def add(self, other: IngestResult) -> None:
        self.ingested += other.ingested
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        room = QUARANTINE_LIST_LIMIT - len(self.quarantine)
        self.quarantine.extend(other.quarantine[: max(room, 0)])
        self.ignored_columns.update(other.ignored_columns)
        self.warnings.extend(other.warnings)

    @property
    def files_all_rejected(self) -> list[str]:
        """Files none of whose rows was stored because every one was rejected."""
        return [str(w["file"]) for w in self.warnings if w["code"] == "all_rejected"]

    def to_json(self) -> dict[str, object]:
        return {
            "ingested": self.ingested,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "quarantine": self.quarantine,
            "warnings": self.warnings,
        }


@dataclass
class RecordsResult:
    """What `ingest_records` did, item by item (SPEC §6 `POST /v1/events` body)."""

    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    items: list[dict[str, object]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "items": self.items,
        }
