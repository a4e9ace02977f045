"""Offline evaluation on held-out simulated callers: ranking metrics and an IPS estimate.

- AUC of the answers those callers actually logged (with their noise and position bias).
- Hit rate@1 and NDCG@5 over the full candidate list of each request (never sampled
  negatives): a tip counts as relevant when the person, asked about it first, would answer
  "useful" (drawn once from the simulator's hidden odds).
- The baselines: popularity (each tip's useful-rate in the training logs, weighted by inverse
  propensity, the same for everyone) and random; and, as a ceiling, the simulator's own hidden
  odds (no model can know them).
- The helpful-rate of the model's policy (with its exploration) estimated from logs of another
  policy (the rule-based picker exploring with epsilon) by inverse propensity scoring, plain and
  self-normalised (SNIPS), beside the simulator's true value of that policy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from recommender.candidates import candidates
from recommender.interactions import Interaction
from recommender.model_picker import ModelPicker
from recommender.progress import SILENT, Steps
from recommender.simulator import CallerSimulator, LoggingPolicy, SimulatedLog
from willay.catalog import Catalog

__all__ = [
    "Evaluation",
    "IpsEstimate",
    "auc",
    "evaluate",
    "hit_and_ndcg",
    "popularity",
]

RANKERS = ("model", "popularity", "random")
CEILING = "ceiling"


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


def hit_and_ndcg(scores: np.ndarray, labels: np.ndarray, k: int = 5) -> tuple[float, float]:
    """Hit@1 and NDCG@k of one ranked list with binary relevance (best first, stable ties)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    gains = np.asarray(labels, dtype=np.float64)[order][:k]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.sort(labels)[::-1][:k]
    best = float((ideal * discounts[: len(ideal)]).sum())
    ndcg = float((gains * discounts[: len(gains)]).sum()) / best if best else 0.0
    return float(gains[0]) if len(gains) else 0.0, ndcg


def popularity(interactions: list[Interaction]) -> dict[str, float]:
    """Each tip's useful-rate among its answers, weighted by 1 / propensity.

    The weights undo the logging policy's choices (a tip served mostly where and when it fits
    would otherwise look useful to everyone); one useful and one not useful answer of weight 1
    are added to each tip.
    """
    counts: dict[str, list[float]] = {}
    for item in interactions:
        if item.useful is not None:
            weight = 1.0 / item.propensity
            useful, answered = counts.setdefault(item.tip_id, [0.0, 0.0])
            counts[item.tip_id] = [useful + weight * item.useful, answered + weight]
    return {tip_id: (u + 1) / (n + 2) for tip_id, (u, n) in counts.items()}


@dataclass(frozen=True)
class IpsEstimate:
    """The model policy's helpful-rate estimated from another policy's logs."""

    events: int
    logging_epsilon: float
    logging_rate: float
    ips: float
    snips: float
    truth: float
    effective_events: float
    max_weight: float


@dataclass(frozen=True)
class Evaluation:
    """Everything `willay evaluate` prints."""

    model_version: str
    exploration: str
    callers: int
    requests: int
    answered: int
    mean_candidates: float
    auc: dict[str, float]
    hit_at_1: dict[str, float]
    ndcg_at_5: dict[str, float]
    ips: IpsEstimate

    def lines(self) -> list[str]:
        """The report; its last line is `NDCG@5 model x popularity y random z`."""
        ips = self.ips
        columns = (*RANKERS, CEILING)
        table = [f"{'':<8}" + "".join(f"{name:>12}" for name in columns)]
        for label, values in (("hit@1", self.hit_at_1), ("NDCG@5", self.ndcg_at_5)):
            table.append(f"{label:<8}" + "".join(f"{values[n]:>12.3f}" for n in columns))
        table.append(f"{'AUC':<8}" + "".join(f"{self.auc[n]:>12.3f}" for n in RANKERS))
        return [
            f"model {self.model_version}, held-out simulated callers: {self.callers}",
            f"ranking: {self.requests} requests, each over all its candidates "
            f"(mean {self.mean_candidates:.1f}); AUC: {self.answered} logged answers; "
            f"{CEILING} = the simulator's hidden odds",
            *table,
            f"IPS: {ips.events} first tips logged by the rule-based picker exploring with "
            f"epsilon {ips.logging_epsilon:g} (its helpful-rate {ips.logging_rate:.3f})",
            f"IPS: model policy ({self.exploration}) helpful-rate: IPS {ips.ips:.3f}, "
            f"SNIPS {ips.snips:.3f}, simulated truth {ips.truth:.3f} "
            f"(effective events {ips.effective_events:.0f}, max weight {ips.max_weight:.0f})",
            "NDCG@5 " + " ".join(f"{name} {self.ndcg_at_5[name]:.3f}" for name in RANKERS),
        ]

    def to_json(self) -> dict[str, object]:
        """The figures, for a model card."""
        return asdict(self)


def _ranking(
    picker: ModelPicker,
    catalog: Catalog,
    sim: CallerSimulator,
    log: SimulatedLog,
    popular: dict[str, float],
    rng: np.random.Generator,
    *,
    repeat_days: int,
    steps: Steps,
) -> tuple[dict[str, list[tuple[float, float]]], list[int]]:
    """Hit@1 and NDCG@5 per request for the model, the baselines and the ceiling."""
    model = picker.registry.current
    firsts = [i for i in log.interactions if i.position == 0]
    steps.stage("ranking every candidate of each held-out request", total=len(firsts))
    ranks: dict[str, list[tuple[float, float]]] = {name: [] for name in (*RANKERS, CEILING)}
    sizes = []
    for item in firsts:
        steps.advance()
        caller = log.callers[item.caller]
        tips = candidates(item.context, catalog, repeat_days=repeat_days)
        relevant = sim.labels(caller, tips, item.context)
        if not relevant.any():
            continue
        sizes.append(len(tips))
        scores = {
            "model": model.score_tips(item.context, tips, catalog),
            "popularity": np.array([popular.get(t.id, 0.5) for t in tips]),
            "random": rng.random(len(tips)),
            CEILING: sim.useful_probabilities(caller, tips, item.context),
        }
        for name, ranked in scores.items():
            ranks[name].append(hit_and_ndcg(ranked, relevant))
    return ranks, sizes


def _ips(
    picker: ModelPicker,
    catalog: Catalog,
    sim: CallerSimulator,
    log: SimulatedLog,
    rng: np.random.Generator,
    *,
    epsilon: float,
    repeat_days: int,
    steps: Steps,
) -> IpsEstimate:
    """Estimate the picker's helpful-rate on first tips from the logging policy's logs."""
    model = picker.registry.current
    firsts = [i for i in log.interactions if i.position == 0]
    steps.stage("weighting logged first tips (IPS)", total=len(firsts))
    weights, rewards, truths = [], [], []
    for item in firsts:
        steps.advance()
        caller = log.callers[item.caller]
        tips = candidates(item.context, catalog, repeat_days=repeat_days)
        policy = picker.policy.probabilities(model.score_tips(item.context, tips, catalog), rng)
        target = dict(zip((t.id for t in tips), policy, strict=True))
        weights.append(target.get(item.tip_id, 0.0) / item.propensity)
        rewards.append(1.0 if item.useful else 0.0)
        truths.append(float(policy @ sim.useful_answer_probabilities(caller, tips, item.context)))
    w, r = np.array(weights), np.array(rewards)
    return IpsEstimate(
        events=len(w),
        logging_epsilon=epsilon,
        logging_rate=float(r.mean()),
        ips=float((w * r).mean()),
        snips=float((w * r).sum() / w.sum()),
        truth=float(np.mean(truths)),
        effective_events=float(w.sum() ** 2 / (w**2).sum()),
        max_weight=float(w.max()),
    )


def evaluate(
    picker: ModelPicker,
    catalog: Catalog,
    *,
    seed: int,
    callers: int = 1000,
    train_callers: int = 8000,
    logged_callers: int = 3000,
    logging_epsilon: float = 0.3,
    repeat_days: int = 30,
    steps: Steps = SILENT,
) -> Evaluation:
    """Evaluate `picker`'s model and policy on callers it was not trained on.

    `train_callers` are simulated as `willay train` does, to measure popularity; `callers`
    (ranking, AUC) and `logged_callers` (IPS) are other people: other random streams of `seed`.
    """
    logging = LoggingPolicy(epsilon=logging_epsilon, repeat_days=repeat_days)
    rng = np.random.default_rng([seed, 99])
    runs = {}
    for purpose, count in (
        ("train", train_callers),
        ("heldout", callers),
        ("logged", logged_callers),
    ):
        sim = CallerSimulator(catalog, seed=seed, purpose=purpose)
        steps.stage(f"simulating {count} {purpose} callers", total=count)
        runs[purpose] = (sim, sim.run(sim.callers(count), logging, progress=steps.advance))
    popular = popularity(runs["train"][1].interactions)
    sim, log = runs["heldout"]
    model = picker.registry.current
    answered = [i for i in log.interactions if i.useful is not None and i.tip_id in catalog.by_id]
    labels = np.array([i.useful for i in answered], dtype=bool)
    model_scores = np.concatenate(
        [
            model.score(model.encoder.encode(i.context, [catalog.by_id[i.tip_id]], catalog))
            for i in answered
        ]
    )
    aucs = {
        "model": auc(model_scores, labels),
        "popularity": auc(np.array([popular.get(i.tip_id, 0.5) for i in answered]), labels),
        "random": auc(rng.random(len(answered)), labels),
    }
    ranks, sizes = _ranking(
        picker, catalog, sim, log, popular, rng, repeat_days=repeat_days, steps=steps
    )
    ips = _ips(
        picker,
        catalog,
        *runs["logged"],
        rng,
        epsilon=logging_epsilon,
        repeat_days=repeat_days,
        steps=steps,
    )
    columns = (*RANKERS, CEILING)
    return Evaluation(
        model_version=model.version,
        exploration=_describe(picker),
        callers=callers,
        requests=len(ranks["model"]),
        answered=len(answered),
        mean_candidates=float(np.mean(sizes)),
        auc=aucs,
        hit_at_1={n: float(np.mean([h for h, _ in ranks[n]])) for n in columns},
        ndcg_at_5={n: float(np.mean([g for _, g in ranks[n]])) for n in columns},
        ips=ips,
    )


def _describe(picker: ModelPicker) -> str:
    policy = picker.policy
    if policy.kind == "thompson":
        return f"Thompson sampling, strength {policy.strength:g}, epsilon {policy.epsilon:g}"
    return f"epsilon-greedy, epsilon {policy.epsilon:g}"
