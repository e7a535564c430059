"""Uploaded filings: checked before anything is stored, then kept durably for the ingest job.

A file is refused (``BadUploadError``) for a path-like or odd name, a type other than PDF or
EDGAR HTML, content that does not match its suffix, a PDF that PyMuPDF cannot open or that
needs a password, or a size over the limit. Accepted files are written to a staging file,
fsynced, and renamed into ``uploads/<sha256 prefix>/<name>``: a crash leaves either the whole
file or none of it.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from ingest.pdf import pdf_encryption
from ingest.pipeline import SUPPORTED_SUFFIXES
from service.errors import BadUploadError

UPLOADS_DIR = "uploads"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,150}$")
# An absolute path inside a message (a library's error names the file it failed on): two or
# more segments, not preceded by a word character, so "and/or" is no path.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/(?:[^\s'\"/]+/)+[^\s'\"/,;:)]*")


def without_paths(message: str, paths: dict[Path, str] | None = None) -> str:
    """The message as a client may see it: each of ``paths`` (a staging file, the stored
    upload) said as the name given, any other absolute path as its file name. Where the
    service keeps its files is nobody's business outside it."""
    for path, name in (paths or {}).items():
        for spelled in {str(path), str(path.resolve())}:
            message = message.replace(spelled, name)
    return _ABSOLUTE_PATH.sub(lambda match: Path(match.group()).name, message)


@dataclass(frozen=True, slots=True)
class SavedUpload:
    path: Path
    name: str
    sha256: str
    size: int


def check_filename(filename: str | None) -> tuple[str, str]:
    """(file stem, lower-case suffix) of an acceptable upload name."""
    if not filename:
        raise BadUploadError("the upload has no file name; send it as multipart field 'file'")
    if any(c in filename for c in "/\\\x00") or ".." in filename:
        raise BadUploadError(
            f"the file name {filename!r} looks like a path; send a plain name such as "
            "ACME_2023_10K.pdf"
        )
    if not _NAME.match(filename):
        raise BadUploadError(
            f"the file name {filename!r} has characters outside letters, digits, space and "
            "._()-, or is too long; rename it"
        )
    path = Path(filename)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise BadUploadError(
            f"{filename!r} is not a PDF or EDGAR HTML filing; accepted: "
            + ", ".join(sorted(SUPPORTED_SUFFIXES))
        )
    return path.stem, suffix


def check_content(path: Path, suffix: str, filename: str) -> None:
    with path.open("rb") as handle:
        head = handle.read(2048)
    if suffix == ".pdf":
        if b"%PDF-" not in head[:1024]:
            raise BadUploadError(f"{filename!r} is named .pdf but is not a PDF file")
        import pymupdf

        try:
            with pymupdf.open(path) as document:  # type: ignore[no-untyped-call]
                if encryption := pdf_encryption(document):
                    raise BadUploadError(
                        f"{filename!r} is an encrypted PDF ({encryption}); upload an "
                        "unencrypted copy"
                    )
                if document.page_count == 0:
                    raise BadUploadError(f"{filename!r} has no pages")
        except BadUploadError:
            raise
        except Exception as exc:
            reason = without_paths(str(exc), {path: filename})
            raise BadUploadError(f"{filename!r} is not a readable PDF: {reason}") from exc
        return
    text = head.decode("utf-8", errors="ignore").lower()
    if "<html" not in text and "<?xml" not in text and "<!doctype" not in text:
        raise BadUploadError(f"{filename!r} is named {suffix} but is not an HTML document")


async def save_upload(
    chunks: AsyncIterator[bytes], filename: str | None, data_dir: Path, max_bytes: int
) -> SavedUpload:
    name, suffix = check_filename(filename)
    uploads = data_dir / UPLOADS_DIR
    uploads.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    descriptor, staging_name = tempfile.mkstemp(dir=uploads, prefix=".staging-", suffix=suffix)
    staging = Path(staging_name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise BadUploadError(
                        f"{filename!r} is larger than the {max_bytes:,}-byte upload limit"
                    )
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if size == 0:
            raise BadUploadError(f"{filename!r} is empty")
        check_content(staging, suffix, filename or "")
        sha256 = digest.hexdigest()
        target_dir = uploads / sha256[:16]
        target_dir.mkdir(exist_ok=True)
        target = target_dir / f"{name}{suffix}"
        staging.replace(target)
        directory = os.open(target_dir, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return SavedUpload(target, name, sha256, size)
    finally:
        staging.unlink(missing_ok=True)
