"""Exploration on top of the model's scores, with the exact probability of every choice.

Both strategies turn the candidates' scores into a probability vector and draw the tip from it,
so the logged propensity is the probability the chosen tip really had:

- `epsilon`: the best-scoring tips (ties share) with probability 1 - epsilon, any candidate
  uniformly with probability epsilon (Vowpal Wabbit's default epsilon is 0.05).
- `thompson`: each score is read as a Beta belief worth `strength` answers; a tip's chance is
  how often its draw is the highest over `draws` Monte Carlo rounds (Thompson sampling as
  probability matching), mixed with epsilon uniform so every candidate keeps some chance.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from willay.config import Settings

__all__ = ["Exploration", "ExplorationPolicy", "draw"]


class Exploration(StrEnum):
    epsilon = "epsilon"
    thompson = "thompson"


@dataclass(frozen=True)
class ExplorationPolicy:
    """How the picker explores; `probabilities` sums to 1 over the candidates."""

    kind: Exploration = Exploration.epsilon
    epsilon: float = 0.05
    strength: float = 50.0
    draws: int = 512

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {self.epsilon}")
        if self.strength <= 0 or self.draws < 1:
            raise ValueError("strength must be positive and draws at least 1")

    @classmethod
    def from_settings(cls, settings: Settings) -> ExplorationPolicy:
        """The policy `WILLAY_EXPLORATION`, `..._EPSILON` and `WILLAY_THOMPSON_STRENGTH` name."""
        return cls(
            kind=Exploration(settings.exploration),
            epsilon=settings.exploration_epsilon,
            strength=settings.thompson_strength,
        )

    def _greedy(self, scores: np.ndarray) -> np.ndarray:
        best = scores == scores.max()
        share: np.ndarray = best / best.sum()
        return share

    def _thompson(self, scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = np.clip(scores.astype(np.float64), 0.0, 1.0)
        samples = rng.beta(
            p * self.strength + 1.0, (1.0 - p) * self.strength + 1.0, size=(self.draws, len(p))
        )
        wins = np.bincount(samples.argmax(axis=1), minlength=len(p))
        return wins / self.draws

    def probabilities(self, scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The chance of serving each candidate, given its score."""
        fixed = self.fixed_probabilities(scores)
        if fixed is not None:
            return fixed
        return self._mixed(self._thompson(scores, rng)) if len(scores) else np.zeros(0)

    def fixed_probabilities(self, scores: np.ndarray) -> np.ndarray | None:
        """`probabilities` when the scores alone decide them (epsilon-greedy), else None:
        Thompson sampling draws from the generator on every call."""
        if self.kind is not Exploration.epsilon:
            return None
        return self._mixed(self._greedy(scores)) if len(scores) else np.zeros(0)

    def _mixed(self, exploit: np.ndarray) -> np.ndarray:
        probabilities: np.ndarray = (1.0 - self.epsilon) * exploit + self.epsilon / len(exploit)
        probabilities /= probabilities.sum()
        return probabilities

    def choose(self, scores: np.ndarray, rng: np.random.Generator) -> tuple[int, np.ndarray]:
        """The index drawn and the probability vector it was drawn from."""
        probabilities = self.probabilities(scores, rng)
        return draw(probabilities, rng), probabilities


def draw(probabilities: np.ndarray, rng: np.random.Generator) -> int:
    """An index drawn with these probabilities: `rng.choice(len(p), p=p)` without its checks
    (the policy's vector sums to 1), the same draw from the same generator state."""
    cdf = probabilities.cumsum()
    cdf /= cdf[-1]
    return int(cdf.searchsorted(rng.random(), side="right"))
