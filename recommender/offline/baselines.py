"""What a model must beat, offline: popularity, context popularity, the rule picker (alone and
with popularity breaking its ties) and a logistic regression on the model's own features.

Each baseline is fitted on logged interactions and scores candidate tips like a model does, so
evaluation ranks them all the same way. The popularities weight each answer by 1 / propensity,
undoing the logging policy's choices (a tip served mostly where it fits would otherwise look
useful to everyone).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recommender.features import FeatureEncoder
from recommender.offline.interactions import Interaction
from recommender.picker import PickContext
from recommender.rules import RuleBasedPicker
from willay.catalog import Catalog, Tip

__all__ = [
    "ContextPopularity",
    "LogisticModel",
    "encode_served",
    "fit_logistic",
    "popularity",
    "rule_scores",
]

UNFIT = -10.0  # the rule score of a tip the rules would never serve here
SHRINK = 5.0  # answers a context's rate is pulled towards the tip's overall rate with


def popularity(interactions: list[Interaction]) -> dict[str, float]:
    """Each tip's useful-rate among its answers, weighted by 1 / propensity.

    One useful and one not useful answer of weight 1 are added to each tip.
    """
    counts: dict[str, list[float]] = {}
    for item in interactions:
        if item.useful is not None:
            weight = 1.0 / item.propensity
            useful, answered = counts.setdefault(item.tip_id, [0.0, 0.0])
            counts[item.tip_id] = [useful + weight * item.useful, answered + weight]
    return {tip_id: (u + 1) / (n + 2) for tip_id, (u, n) in counts.items()}


def _segment(context: PickContext, catalog: Catalog) -> tuple[str, int]:
    region = catalog.region(context.region)
    return (region.zone.value if region else "unknown", context.today.month)


class ContextPopularity:
    """Each tip's useful-rate among people of the same zone in the same month, shrunk towards
    the tip's overall (propensity-weighted) rate when that segment has few answers. Within a
    segment answers count once each: weights as large as 1 / 0.007 would let one explored
    answer decide a small segment."""

    def __init__(self, interactions: list[Interaction], catalog: Catalog) -> None:
        self.overall = popularity(interactions)
        self._catalog = catalog
        counts: dict[tuple[str, str, int], list[float]] = {}
        for item in interactions:
            if item.useful is not None:
                key = (item.tip_id, *_segment(item.context, catalog))
                useful, answered = counts.setdefault(key, [0.0, 0.0])
                counts[key] = [useful + item.useful, answered + 1.0]
        self._counts = counts

    def scores(self, context: PickContext, tips: list[Tip]) -> np.ndarray:
        segment = _segment(context, self._catalog)
        found = []
        for tip in tips:
            prior = self.overall.get(tip.id, 0.5)
            useful, answered = self._counts.get((tip.id, *segment), (0.0, 0.0))
            found.append((useful + SHRINK * prior) / (answered + SHRINK))
        return np.asarray(found)


def rule_scores(
    rules: RuleBasedPicker, context: PickContext, *, tips: list[Tip], catalog: Catalog
) -> np.ndarray:
    """The rule picker's fit of each tip (`UNFIT` where it would never serve it)."""
    return np.asarray(
        [
            UNFIT if (fit := rules.fit(tip, context=context, catalog=catalog)) is None else fit
            for tip in tips
        ]
    )


@dataclass(frozen=True)
class LogisticModel:
    """A logistic regression: P(useful) = sigmoid(rows @ weights + bias)."""

    weights: np.ndarray
    bias: float

    def predict(self, rows: np.ndarray) -> np.ndarray:
        odds: np.ndarray = 1.0 / (1.0 + np.exp(-(rows @ self.weights + self.bias)))
        return odds


def fit_logistic(
    rows: np.ndarray, labels: np.ndarray, *, l2: float = 1.0, iterations: int = 30
) -> LogisticModel:
    """Maximum a posteriori logistic regression (L2 on the weights) by Newton's method."""
    x = np.hstack([rows.astype(np.float64), np.ones((len(rows), 1))])
    y = labels.astype(np.float64)
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        gradient = x.T @ (p - y) + penalty * beta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-7:
            break
    return LogisticModel(weights=beta[:-1], bias=float(beta[-1]))


def encode_served(
    encoder: FeatureEncoder,
    items: list[Interaction],
    *,
    catalog: Catalog,
    label: Callable[[Interaction], bool] = lambda i: bool(i.useful),
) -> tuple[np.ndarray, np.ndarray]:
    """The row of each interaction's served tip in its context, and its label."""
    if not items:
        return np.zeros((0, encoder.spec.size), dtype=np.float32), np.zeros(0, dtype=np.float32)
    x = np.concatenate(
        [encoder.encode(i.context, tips=[catalog.by_id[i.tip_id]], catalog=catalog) for i in items]
    )
    return x, np.array([1.0 if label(i) else 0.0 for i in items], dtype=np.float32)
