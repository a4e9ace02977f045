"""The `TipPicker` served by the TFLite model: candidates, one batched call, exploration."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from functools import cached_property
from operator import attrgetter
from typing import Protocol

import numpy as np

from recommender.candidates import candidates
from recommender.picker import PickContext, PickedTip
from recommender.policy import ExplorationPolicy, draw
from recommender.registry import ModelRegistry
from recommender.rules import MODEL_VERSION as RULES_VERSION
from recommender.rules import RuleBasedPicker
from recommender.runtime import RecommenderModel
from willay.catalog import Catalog, Tip
from willay.config import Settings

__all__ = ["FixedModel", "ModelPicker", "ModelSource"]

CONTEXTS_KEPT = 4096  # contexts whose candidates and scores are kept (current catalog and model)


_CONTEXT_VALUES = attrgetter(*(f.name for f in fields(PickContext)))
_CONTEXT_MAPS = tuple(
    i for i, f in enumerate(fields(PickContext)) if str(f.type).startswith("dict")
)


def _context_key(context: PickContext) -> tuple[object, ...]:
    """Every field of a context, hashable (its maps as frozen sets of their items)."""
    values = list(_CONTEXT_VALUES(context))
    for i in _CONTEXT_MAPS:
        values[i] = frozenset(values[i].items())
    return tuple(values)


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


@dataclass(frozen=True)
class _Choices:
    """What either arm may serve for one context, and the model's scores of its candidates."""

    tips: list[Tip]  # the model's candidates
    held: list[Tip]  # the holdout's best tips (none without a holdout)
    scores: np.ndarray  # the model's, read-only
    fixed: np.ndarray | None  # the policy's probabilities when they take no draw, read-only

    @cached_property
    def by_id(self) -> dict[str, Tip]:
        """Every tip either arm may serve, the model's candidates first."""
        return {t.id: t for t in (*self.tips, *self.held)}

    @cached_property
    def places(self) -> dict[str, int]:
        """Each candidate's place among `tips`."""
        return {t.id: i for i, t in enumerate(self.tips)}

    @cached_property
    def held_ids(self) -> frozenset[str]:
        return frozenset(t.id for t in self.held)

    def chance(self, tip_id: str, model_p: np.ndarray, *, holdout: float) -> float:
        """The chance `tip_id` has under the mixture: the model's share of its probability
        under the policy, and the holdout's share split evenly among the holdout's tips."""
        share = holdout if self.held else 0.0
        place = self.places.get(tip_id)
        chance = (1.0 - share) * float(model_p[place]) if place is not None else 0.0
        return chance + (share / len(self.held) if tip_id in self.held_ids else 0.0)


class ModelPicker:
    """Scores every candidate with the current model and draws one with a logged propensity.

    Candidates: current tips (of the topic being browsed, if any), not served in this session,
    not heard in the last `repeat_days` unless none is left; outside topic browsing only tips
    for everyone or for one of the person's audiences. Place and season are the model's call.

    A permanent holdout: a share `holdout` of picks is the rule picker's (logged with arm
    `holdout` and its model version), so the model's helpful-rate always has a baseline to be
    compared with. The logged propensity is the chance the tip had under the whole mixture.
    """

    def __init__(
        self,
        registry: ModelSource,
        *,
        policy: ExplorationPolicy | None = None,
        repeat_days: int = 30,
        holdout: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        if not 0.0 <= holdout < 1.0:
            raise ValueError(f"holdout must be in [0, 1), got {holdout}")
        self.registry = registry
        self.policy = policy or ExplorationPolicy()
        self.holdout = holdout
        self._repeat_days = repeat_days
        self._rules = RuleBasedPicker(repeat_days=repeat_days)
        self._rng = rng or np.random.default_rng()
        self._rng_lock = threading.Lock()
        self._choices_kept: (
            tuple[Catalog, RecommenderModel, dict[tuple[object, ...], _Choices]] | None
        ) = None

    def serving(self, model: RecommenderModel) -> ModelPicker:
        """This picker's policy (exploration, holdout, rng) serving `model` instead."""
        return ModelPicker(
            FixedModel(model),
            policy=self.policy,
            repeat_days=self._repeat_days,
            holdout=self.holdout,
            rng=self._rng,
        )

    def describe(self) -> str:
        """The policy in words."""
        policy = self.policy
        if policy.kind == "thompson":
            text = f"Thompson sampling, strength {policy.strength:g}, epsilon {policy.epsilon:g}"
        else:
            text = f"epsilon-greedy, epsilon {policy.epsilon:g}"
        return text + (f", {self.holdout:.0%} rule-picker holdout" if self.holdout else "")

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        source: ModelSource | None = None,
        *,
        rng: np.random.Generator | None = None,
    ) -> ModelPicker:
        """The policy of `settings` (exploration, repeat days, holdout) serving `source`; by
        default the newest model in `WILLAY_MODEL_DIR`, watching it (`ModelError` if none
        loads)."""
        if source is None:
            registry = ModelRegistry(settings.model_dir, poll_seconds=settings.model_poll_seconds)
            registry.start()
            source = registry
        return cls(
            source,
            policy=ExplorationPolicy.from_settings(settings),
            repeat_days=settings.repeat_days,
            holdout=settings.recommender_holdout,
            rng=rng,
        )

    def _choices(self, context: PickContext, catalog: Catalog) -> tuple[_Choices, str]:
        """The candidates, the holdout's tips and the scores for `context` (not to change),
        and the version of the model that scored them.

        All are functions of the context, the catalog and the model alone, and filtering the
        catalog and encoding the rows cost more than the model's call: they are kept per
        context, for the last catalog and model seen (up to `CONTEXTS_KEPT`; callers new to
        the service share one context).
        """
        model = self.registry.current
        kept = self._choices_kept
        if (
            kept is None
            or kept[0] is not catalog
            or kept[1] is not model
            or len(kept[2]) >= CONTEXTS_KEPT
        ):
            kept = self._choices_kept = (catalog, model, {})
        key = _context_key(context)
        found = kept[2].get(key)
        if found is None:
            tips = candidates(context, catalog, repeat_days=self._repeat_days)
            held = self._rules.best(context, catalog)[0] if self.holdout else []
            scores = model.score_tips(context, tips=tips, catalog=catalog)
            scores.flags.writeable = False
            fixed = self.policy.fixed_probabilities(scores)
            if fixed is not None:
                fixed.flags.writeable = False
            found = kept[2][key] = _Choices(tips, held, scores, fixed)
        return found, model.version

    def _probabilities(self, choices: _Choices) -> np.ndarray:
        """The policy's vector over the candidates (a draw from the generator if it takes one)."""
        if choices.fixed is not None:
            return choices.fixed
        with self._rng_lock:
            return self.policy.probabilities(choices.scores, self._rng)

    def distribution(self, context: PickContext, catalog: Catalog) -> list[tuple[Tip, float]]:
        """Each tip this picker may serve with the probability it would serve it."""
        choices, _ = self._choices(context, catalog)
        probabilities = self._probabilities(choices)
        chances = [
            (tip, choices.chance(tip.id, probabilities, holdout=self.holdout))
            for tip in choices.by_id.values()
        ]
        return [(tip, p) for tip, p in chances if p > 0]

    def pick(self, context: PickContext, catalog: Catalog) -> PickedTip | None:
        """A tip drawn by the exploration policy (or the holdout), with its score, propensity
        under the whole mixture, model version and arm."""
        choices, version = self._choices(context, catalog)
        tips = choices.tips
        if not tips:
            return None
        scores = choices.scores
        probabilities = self._probabilities(choices)
        held = choices.held
        with self._rng_lock:
            if held and self._rng.random() < self.holdout:
                tip = held[int(self._rng.integers(len(held)))]
                arm, version = "holdout", RULES_VERSION
            else:
                tip = tips[draw(probabilities, self._rng)]
                arm = "model"
        index = choices.places.get(tip.id)
        return PickedTip(
            tip=tip,
            score=float(scores[index]) if index is not None else 0.0,
            propensity=choices.chance(tip.id, probabilities, holdout=self.holdout),
            model_version=version,
            arm=arm,
        )

    def close(self) -> None:
        """Stop watching for new model files."""
        self.registry.close()
