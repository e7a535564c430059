"""Named ingest errors. Each message names the file and what to do about it."""

from __future__ import annotations

from pathlib import Path


class IngestError(Exception):
    """Base class for everything ingest refuses to do."""


class UnreadableFilingError(IngestError):
    """A file that cannot be ingested: encrypted, corrupt, empty, scanned, or not a filing."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class IndexMismatchError(IngestError):
    """The index on disk was built with other settings than the ones asked for now."""


class MetadataFileError(IngestError):
    """The metadata JSONL given with --metadata is unreadable or malformed."""


class FilingNotFoundError(IngestError):
    """No filing of that name is in the index."""
