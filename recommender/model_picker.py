"""The `TipPicker` served by the TFLite model: candidates, one batched call, exploration."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from recommender.candidates import candidates
from recommender.picker import PickContext, PickedTip
from recommender.policy import ExplorationPolicy
from recommender.registry import ModelRegistry
from recommender.runtime import RecommenderModel
from willay.catalog import Catalog, Tip
from willay.config import Settings

__all__ = ["FixedModel", "ModelPicker", "ModelSource"]


class ModelSource(Protocol):
    """Where the picker gets the model to use for one request (`ModelRegistry`, `FixedModel`)."""

    @property
    def current(self) -> RecommenderModel: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class FixedModel:
    """A source that always gives the same model: for evaluation and benchmarks."""

    current: RecommenderModel

    def close(self) -> None:
        """Nothing to stop."""


class ModelPicker:
    """Scores every candidate with the current model and draws one with a logged propensity.

    Candidates: current tips (of the topic being browsed, if any), not served in this session,
    not heard in the last `repeat_days` unless none is left; outside topic browsing only tips
    for everyone or for one of the person's audiences. Place and season are the model's call.
    """

    def __init__(
        self,
        registry: ModelSource,
        *,
        policy: ExplorationPolicy | None = None,
        repeat_days: int = 30,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.registry = registry
        self.policy = policy or ExplorationPolicy()
        self._repeat_days = repeat_days
        self._rng = rng or np.random.default_rng()
        self._rng_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelPicker:
        """Serve the newest model in `WILLAY_MODEL_DIR`, watching it; `ModelError` if none loads."""
        registry = ModelRegistry(settings.model_dir, poll_seconds=settings.model_poll_seconds)
        registry.start()
        return cls(
            registry,
            policy=ExplorationPolicy.from_settings(settings),
            repeat_days=settings.repeat_days,
        )

    def _scored(self, context: PickContext, catalog: Catalog) -> tuple[list[Tip], np.ndarray, str]:
        model = self.registry.current
        tips = candidates(context, catalog, repeat_days=self._repeat_days)
        return tips, model.score_tips(context, tips, catalog), model.version

    def distribution(self, context: PickContext, catalog: Catalog) -> list[tuple[Tip, float]]:
        """Each candidate with the probability this picker would serve it."""
        tips, scores, _ = self._scored(context, catalog)
        with self._rng_lock:
            probabilities = self.policy.probabilities(scores, self._rng)
        return list(zip(tips, probabilities.tolist(), strict=True))

    def pick(self, context: PickContext, catalog: Catalog) -> PickedTip | None:
        """A tip drawn by the exploration policy, with its score, propensity and model version."""
        tips, scores, version = self._scored(context, catalog)
        if not tips:
            return None
        with self._rng_lock:
            index, probabilities = self.policy.choose(scores, self._rng)
        return PickedTip(
            tip=tips[index],
            score=float(scores[index]),
            propensity=float(probabilities[index]),
            model_version=version,
        )

    def close(self) -> None:
        """Stop watching for new model files."""
        self.registry.close()
