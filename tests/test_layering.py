"""Imports point one way: service → answer engine → retrieval, verifier → ingest. Alignment
uses the engine, the verifier and the stores of logged answers and their reviews
(``service.log``, ``service.review``), never the API layer. A
module that climbs back (ingest reading the engine's settings, the verifier importing the
engine's question reader) fails here, named."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ingest", "retrieval", "verifier", "engine", "service", "alignment")
# What each package may import of the others; alignment may import only the service's stores
# of logged answers and reviews.
ALLOWED = {
    "ingest": set(),
    "retrieval": {"ingest"},
    "verifier": {"ingest"},
    "engine": {"ingest", "retrieval", "verifier"},
    "service": {"ingest", "retrieval", "verifier", "engine", "alignment"},
    "alignment": {"ingest", "retrieval", "verifier", "engine", "service.log", "service.review"},
}


def _imported(path: Path) -> set[str]:
    """The modules of the project a file imports (at module level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def _permitted(package: str, module: str) -> bool:
    top = module.split(".")[0]
    if top == package:
        return True
    return any(
        module == allowed or module.startswith(f"{allowed}.") or top == allowed
        for allowed in ALLOWED[package]
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules under {package}/"
    climbing = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in files
        for module in sorted(_imported(path))
        if not _permitted(package, module)
    ]
    assert not climbing, climbing


def test_the_check_catches_a_climb_back() -> None:
    assert not _permitted("ingest", "engine.settings")
    assert not _permitted("verifier", "engine.question")
    assert not _permitted("alignment", "service.api.app")
    assert _permitted("alignment", "service.log")
    assert _permitted("engine", "verifier.asked")


# The functions of ingest's vocabulary that read a question's words.
QUESTION_READERS = {
    "asked_breakdowns",
    "asked_items",
    "asks_about_certification",
    "asks_about_consent",
    "asks_about_subsidiaries",
    "expansion_phrases",
    "named_statements",
    "stated_statements",
}


def _names_imported_from(path: Path, module: str) -> set[str]:
    return {
        alias.name
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module == module
        for alias in node.names
    }


def test_retrieval_reads_the_question_in_one_module() -> None:
    """Inside retrieval, only ``retrieval/query.py`` reads question words; every list and
    filter takes the ``SearchQuery`` it makes."""
    readers = {
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "retrieval").rglob("*.py"))
        if _names_imported_from(path, "ingest.vocabulary") & QUESTION_READERS
    }
    assert readers == {"retrieval/query.py"}


def test_the_image_copies_every_package() -> None:
    """The Dockerfile installs the project from the packages it copies in: one left out
    builds an image whose service cannot import (the engine package once was)."""
    import re
    import tomllib

    included = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    packages = {name.rstrip("*") for name in included}
    assert packages == set(PACKAGES)
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \1$", dockerfile, re.MULTILINE))
    stubbed = set(re.findall(r"\b(\w+)/__init__\.py", dockerfile))
    assert copied == packages and stubbed == packages
    # The build context is an allow-list: the packages and the project file, never .venv
    # (gigabytes sent to the daemon on every build) or an index folder.
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ignored[ignored.index("*") :].count("*") == 1
    allowed = {line[1:] for line in ignored if line.startswith("!")}
    assert allowed == packages | {"pyproject.toml", "README.md"}
