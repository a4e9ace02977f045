"""Offline metrics: AUC, hit@1 and NDCG@k, calibration, and bootstrap intervals by caller."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Calibration",
    "Interval",
    "auc",
    "bootstrap_mean",
    "calibration",
    "hit_and_ndcg",
]

BOOTSTRAP_ROUNDS = 1000


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); 0.5 when one class is missing."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return 0.5
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    _, starts, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(starts, counts, strict=True):
        ranks[order[start : start + count]] = start + (count + 1) / 2
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def hit_and_ndcg(scores: np.ndarray, labels: np.ndarray, *, k: int = 5) -> tuple[float, float]:
    """Hit@1 and NDCG@k of one ranked list with binary relevance (best first, stable ties)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    gains = np.asarray(labels, dtype=np.float64)[order][:k]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.sort(labels)[::-1][:k]
    best = float((ideal * discounts[: len(ideal)]).sum())
    ndcg = float((gains * discounts[: len(gains)]).sum()) / best if best else 0.0
    return float(gains[0]) if len(gains) else 0.0, ndcg


@dataclass(frozen=True)
class Interval:
    """A mean and its 95% bootstrap interval."""

    mean: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


def bootstrap_mean(values: np.ndarray, groups: np.ndarray, *, rng: np.random.Generator) -> Interval:
    """The mean of `values` with a 95% percentile interval, resampling whole groups (callers):
    one person's requests are not independent of each other."""
    values = np.asarray(values, dtype=np.float64)
    _, index = np.unique(groups, return_inverse=True)
    sums = np.bincount(index, weights=values)
    counts = np.bincount(index).astype(np.float64)
    draws = rng.integers(0, len(sums), size=(BOOTSTRAP_ROUNDS, len(sums)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(float(values.mean()), float(low), float(high))


@dataclass(frozen=True)
class Calibration:
    """A reliability table (equal-width score bins) and the expected calibration error."""

    bins: list[tuple[float, float, int, float, float]]  # low, high, count, mean score, rate
    ece: float


def calibration(scores: np.ndarray, labels: np.ndarray, *, bins: int = 10) -> Calibration:
    """How far predicted probabilities are from the rates they predict, bin by bin."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        member = which == b
        count = int(member.sum())
        if count == 0:
            continue
        mean, rate = float(scores[member].mean()), float(labels[member].mean())
        table.append((float(edges[b]), float(edges[b + 1]), count, mean, rate))
        ece += count / len(scores) * abs(mean - rate)
    return Calibration(bins=table, ece=ece)
