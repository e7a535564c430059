"""Small linear models the engine learns from data and ships as JSON (no pickles): a sparse
feature vocabulary, one weight row per class, and the training record that produced them."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class LinearModel:
    """Multinomial (or binary: one class named ``"yes"``) logistic regression over named
    features; ``features`` maps a feature name to its column."""

    classes: list[str]
    features: dict[str, int]
    weights: list[list[float]]  # per class (binary: one row), per feature
    bias: list[float]
    card: dict[str, Any] = field(default_factory=dict)  # how it was trained and measured

    def logits(self, active: dict[str, float]) -> list[float]:
        rows = []
        for weights, bias in zip(self.weights, self.bias, strict=True):
            total = bias
            for name, value in active.items():
                column = self.features.get(name)
                if column is not None:
                    total += weights[column] * value
            rows.append(total)
        return rows

    def probabilities(self, active: dict[str, float]) -> dict[str, float]:
        logits = self.logits(active)
        if len(logits) == 1:  # binary: the probability of the positive class
            yes = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logits[0]))))
            return {self.classes[-1]: yes, self.classes[0]: 1.0 - yes}
        top = max(logits)
        exps = [math.exp(value - top) for value in logits]
        total = sum(exps)
        return {name: value / total for name, value in zip(self.classes, exps, strict=True)}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "classes": self.classes,
            "features": self.features,
            "weights": [[round(w, 6) for w in row] for row in self.weights],
            "bias": [round(b, 6) for b in self.bias],
            "card": self.card,
        }
        path.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        body = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            body["classes"], body["features"], body["weights"], body["bias"], body.get("card", {})
        )


def fit_linear(
    examples: Sequence[dict[str, float]],
    labels: Sequence[str],
    regularisation: float = 1.0,
    min_count: int = 2,
) -> LinearModel:
    """Logistic regression (scikit-learn's lbfgs) over features seen at least ``min_count``
    times; deterministic for the same examples."""
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    counts: dict[str, int] = {}
    for example in examples:
        for name in example:
            counts[name] = counts.get(name, 0) + 1
    features = {
        name: i for i, name in enumerate(sorted(n for n, c in counts.items() if c >= min_count))
    }
    rows, columns, values = [], [], []
    for index, example in enumerate(examples):
        for name, value in example.items():
            column = features.get(name)
            if column is not None:
                rows.append(index)
                columns.append(column)
                values.append(value)
    matrix = csr_matrix((values, (rows, columns)), shape=(len(examples), len(features)))
    model = LogisticRegression(C=regularisation, max_iter=2000)
    model.fit(matrix, list(labels))
    classes = [str(name) for name in model.classes_]
    return LinearModel(
        classes=classes,
        features=features,
        weights=[[float(w) for w in row] for row in model.coef_],
        bias=[float(b) for b in model.intercept_],
    )
