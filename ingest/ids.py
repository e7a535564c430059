"""Content-derived ids: the same content at the same position always gets the same id."""

from __future__ import annotations

import hashlib
from pathlib import Path

_ID_HEX_CHARS = 16  # 64 bits: collision-free for any realistic corpus, short enough to cite


def _digest(*parts: object) -> str:
    hasher = hashlib.blake2b(digest_size=16)
    for part in parts:
        hasher.update(str(part).encode("utf-8"))
        hasher.update(b"\x1f")  # unit separator, so ("ab", "c") and ("a", "bc") differ
    return hasher.hexdigest()[:_ID_HEX_CHARS]


def file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def filing_id(sha256: str) -> str:
    return "f" + sha256[: _ID_HEX_CHARS - 1]


def page_id(filing: str, page: int) -> str:
    return "p" + _digest(filing, page)[1:]


def sentence_id(filing: str, page: int, start: int, text: str) -> str:
    return "s" + _digest(filing, page, start, text)[1:]


def chunk_id(filing: str, page: int, sentence_ids: list[str]) -> str:
    return "c" + _digest(filing, page, *sentence_ids)[1:]


def table_id(filing: str, page: int, start: int) -> str:
    return "t" + _digest(filing, page, start)[1:]


def settings_hash(**settings: object) -> str:
    """A short hash of the settings that shape an index, used as its version."""
    return _digest(*(f"{key}={settings[key]}" for key in sorted(settings)))
