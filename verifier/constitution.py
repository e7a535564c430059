"""The constitution as versioned data: rules with an id, text, check kind, severity and
thresholds, read from a TOML file (verifier/constitutions/ holds the shipped one)."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from verifier.errors import ConstitutionError

CHECKS = frozenset(
    {
        "citation_present",
        "citation_in_context",
        "quote_verbatim",
        "entailment",
        "numbers",
        "periods",
        "figure_periods",
        "arithmetic",
        "answer_grounded",
        "answer_specific",
        "answer_on_topic",
        "answer_item",
        "answer_meaning",
        "claim_words",
        "asked_period",
        "not_instructions",
    }
)
DEFAULT_CONSTITUTION = Path(__file__).parent / "constitutions" / "sec-filings-v1.toml"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    text: str
    check: str
    severity: Literal["block", "record"]
    scope: Literal["claim", "answer"] = "claim"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Constitution:
    name: str
    version: str
    principle: str
    rules: tuple[Rule, ...]
    digest: str  # sha256 of the file, so an edit without a version bump is still visible

    @property
    def version_id(self) -> str:
        return f"{self.name}@{self.version}+{self.digest[:8]}"

    @property
    def blocking(self) -> frozenset[str]:
        return frozenset(rule.id for rule in self.rules if rule.severity == "block")

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def by_check(self, check: str) -> list[Rule]:
        return [rule for rule in self.rules if rule.check == check]


def load_constitution(path: Path | None = None) -> Constitution:
    path = path or DEFAULT_CONSTITUTION
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode())
    except OSError as exc:
        raise ConstitutionError(f"{path}: cannot read the constitution ({exc})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConstitutionError(f"{path}: not valid TOML ({exc})") from exc
    rules = []
    seen: set[str] = set()
    for number, entry in enumerate(data.get("rules", []), start=1):
        try:
            rule_id, text, check = str(entry["id"]), str(entry["text"]), str(entry["check"])
        except KeyError as exc:
            raise ConstitutionError(f"{path}: rule {number} lacks {exc}") from exc
        if check not in CHECKS:
            raise ConstitutionError(
                f"{path}: rule '{rule_id}' names unknown check '{check}' (known: "
                f"{', '.join(sorted(CHECKS))})"
            )
        if rule_id in seen:
            raise ConstitutionError(f"{path}: rule id '{rule_id}' appears twice")
        seen.add(rule_id)
        severity = entry.get("severity", "block")
        scope = entry.get("scope", "claim")
        if severity not in ("block", "record") or scope not in ("claim", "answer"):
            raise ConstitutionError(f"{path}: rule '{rule_id}' has a bad severity or scope")
        options = {
            k: v for k, v in entry.items() if k not in {"id", "text", "check", "severity", "scope"}
        }
        rules.append(Rule(rule_id, text, check, severity, scope, options))
    if not rules:
        raise ConstitutionError(f"{path}: no rules")
    for key in ("name", "version"):
        if key not in data:
            raise ConstitutionError(f"{path}: missing '{key}'")
    return Constitution(
        name=str(data["name"]),
        version=str(data["version"]),
        principle=str(data.get("principle", "")),
        rules=tuple(rules),
        digest=hashlib.sha256(raw).hexdigest(),
    )
