"""The release gate: a newly trained model serves only if it beats what would serve instead.

The test, on the held-out callers' logged picks (none of them trained on): the clipped doubly
robust estimate (`offpolicy.py`, weights cut at 10) of the helpful-rate (useful answers per
served tip) of the candidate's policy minus that of the rule picker, and minus that of the
serving model's policy, each with a paired 95% bootstrap interval over callers (the same
picks, the same reward model fitted on the training callers). The candidate passes when

- against the rule picker the interval lies above 0 (it beats the production fallback), and
- against the serving model the interval's lower end is above `-margin` (default 0.01): it
  is not worse by more than one point. A retrained model on the same recipe is rarely
  significantly better than the one it replaces, and a refresh (new tips, new months of
  data) must still be able to ship; a worse one must not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from recommender.features import FeatureEncoder, FeatureSpec
from recommender.model_picker import FixedModel, ModelPicker
from recommender.offline.interactions import Interaction
from recommender.offline.metrics import Interval, bootstrap_mean
from recommender.offline.offpolicy import CLIP, RewardModel, dr_terms
from recommender.offline.simulator import LoggingPolicy
from recommender.policy import ExplorationPolicy
from recommender.runtime import RecommenderModel
from willay.catalog import Catalog

__all__ = ["DEFAULT_MARGIN", "GateResult", "release_gate"]

DEFAULT_MARGIN = 0.01


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict and the figures behind it."""

    passed: bool
    reasons: list[str]
    events: int
    candidate: Interval
    versus: dict[str, Interval]
    margin: float

    def lines(self) -> list[str]:
        verdict = "passed" if self.passed else "refused"
        c = self.candidate
        head = (
            f"release gate {verdict}: clipped-DR helpful-rate of the candidate {c.mean:.3f} "
            f"[{c.low:.3f}, {c.high:.3f}] on {self.events} held-out logged picks"
        )
        return [
            head,
            *(f"  candidate minus {name}: {d}" for name, d in self.versus.items()),
            *(f"  {reason}" for reason in self.reasons),
        ]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def release_gate(
    candidate: RecommenderModel,
    serving: RecommenderModel | None,
    *,
    trained: list[Interaction],
    heldout: list[Interaction],
    catalog: Catalog,
    policy: ExplorationPolicy,
    repeat_days: int,
    seed: int,
    margin: float = DEFAULT_MARGIN,
) -> GateResult:
    """Compare the candidate's policy with the rule picker's and the serving model's."""
    rng = np.random.default_rng([seed, 23])
    items = [i for i in heldout if i.tip_id in catalog.by_id]
    reward = RewardModel.fit(
        FeatureEncoder(FeatureSpec.for_catalog(catalog)), items=trained, catalog=catalog
    )
    rules = LoggingPolicy(epsilon=0.0, repeat_days=repeat_days)

    def terms(model: RecommenderModel) -> np.ndarray:
        picker = ModelPicker(
            FixedModel(model),
            policy=policy,
            repeat_days=repeat_days,
            rng=np.random.default_rng(seed),
        )
        return dr_terms(
            lambda c: picker.distribution(c, catalog),
            items,
            catalog=catalog,
            reward=reward,
            clip=CLIP,
        )[0]

    groups = np.array([i.caller for i in items])
    mine = terms(candidate)
    by_rules, _ = dr_terms(
        lambda c: rules.mixture(c, catalog=catalog, epsilon=0.0),
        items,
        catalog=catalog,
        reward=reward,
        clip=CLIP,
    )
    versus = {"rule picker": bootstrap_mean(mine - by_rules, groups, rng=rng)}
    if serving is not None:
        versus[f"serving {serving.version}"] = bootstrap_mean(
            mine - terms(serving), groups, rng=rng
        )
    reasons = []
    for name, difference in versus.items():
        floor = 0.0 if name == "rule picker" else -margin
        if difference.low <= floor:
            reasons.append(
                f"not better than the {name}: the lower end of the interval, "
                f"{difference.low:+.3f}, is not above {floor:+.3f}"
            )
    return GateResult(
        passed=not reasons,
        reasons=reasons,
        events=len(items),
        candidate=bootstrap_mean(mine, groups, rng=rng),
        versus=versus,
        margin=margin,
    )
