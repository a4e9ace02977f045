"""A rule-based `TipPicker`: audience, region, season, not heard recently.

It stands behind "a tip for me" until the trained model lands, and stays as the fallback.
"""

from __future__ import annotations

import random

from recommender.candidates import pools
from recommender.picker import PickContext, PickedTip
from willay.catalog import Audience, Catalog, Tip

__all__ = ["RuleBasedPicker"]

MODEL_VERSION = "rules-1"


class RuleBasedPicker:
    """Scores tips by how well they fit; picks uniformly among the best, logging the odds."""

    def __init__(self, *, repeat_days: int = 30, rng: random.Random | None = None) -> None:
        self._repeat_days = repeat_days
        self._rng = rng or random.Random()

    def fit(self, tip: Tip, *, context: PickContext, catalog: Catalog) -> float | None:
        """How well `tip` fits, or None when it does not fit at all."""
        strict = context.topic is None
        score = 0.0
        specific = context.audiences - {Audience.general}
        if tip.audiences & specific:
            score += 3
        elif Audience.general not in tip.audiences:
            return None
        if tip.regions or tip.zones:
            region = catalog.region(context.region)
            here = region is not None and (region.id in tip.regions or region.zone in tip.zones)
            if here:
                score += 2
            elif strict:
                return None
        if tip.seasonal:
            if tip.in_season(context.today.month, catalog.zone_of(context.region)):
                score += 2
            elif strict:
                return None
        return score

    def best(self, context: PickContext, catalog: Catalog) -> tuple[list[Tip], float]:
        """The best-fitting tips (equally good) and their score; no tips when nothing fits."""
        for pool in pools(context, catalog, repeat_days=self._repeat_days):
            scored = [
                (score, tip)
                for tip in pool
                if (score := self.fit(tip, context=context, catalog=catalog)) is not None
            ]
            if scored:
                best = max(score for score, _ in scored)
                return [tip for score, tip in scored if score == best], best
        return [], 0.0

    def pick(self, context: PickContext, catalog: Catalog) -> PickedTip | None:
        """The best-fitting tip not heard in the last `repeat_days`, or None if nothing fits."""
        top, score = self.best(context, catalog)
        if not top:
            return None
        return PickedTip(
            tip=self._rng.choice(top),
            score=score,
            propensity=1 / len(top),
            model_version=MODEL_VERSION,
            arm="rules",
        )
