"""Offline evaluation on held-out simulated callers, in two simulated worlds.

- `regions`: the simulator the features were written for (its terms are the cross features);
  `habits`: a second world whose truth they cannot express (`simulator.HabitsSimulator`), so
  the figures are not only a measure of how well a model recovers a hand-written logit. In the
  first world the model is the one given; in the second it is the same recipe trained on that
  world's logs (`refit`), or missing when TensorFlow is not installed.
- Rankers over the full candidate list of each first request (never sampled negatives): the
  model, a logistic regression on the same features, the rule picker (the production
  fallback), the rule picker with popularity breaking its ties, popularity per zone and month
  (context popularity), popularity, random, and the simulator's hidden odds as a ceiling. A tip
  is relevant when the person, asked about it first, would answer "useful" (drawn once).
  Hit@1 and NDCG@5, with 95% bootstrap intervals (resampling callers) of model minus each.
- AUC and calibration (a reliability table, ECE) on the answers those callers logged.
- Off-policy: the helpful-rate of the model's policy (with its exploration) estimated by DR,
  IPS and SNIPS from logs of the rule picker exploring with production's epsilon (0.05), beside
  the simulated truth of that policy, of the rule picker and of the best possible; and how
  many logged picks an interval of +/- 0.02 needs at each exploration rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from recommender.candidates import candidates
from recommender.features import FeatureEncoder, FeatureSpec
from recommender.model_picker import ModelPicker
from recommender.offline.baselines import (
    ContextPopularity,
    encode_served,
    fit_logistic,
    popularity,
    rule_scores,
)
from recommender.offline.interactions import Interaction
from recommender.offline.metrics import (
    Calibration,
    Interval,
    auc,
    bootstrap_mean,
    calibration,
    hit_and_ndcg,
)
from recommender.offline.offpolicy import (
    OffPolicyEstimate,
    RewardModel,
    estimate,
    exploration_needs,
)
from recommender.offline.progress import SILENT, Steps
from recommender.offline.simulator import (
    TRAINING_EPSILON,
    WORLDS,
    CallerSimulator,
    LoggingPolicy,
    SimulatedLog,
    TipDistribution,
)
from recommender.picker import PickContext
from recommender.rules import RuleBasedPicker
from recommender.runtime import RecommenderModel
from willay.catalog import Catalog, Tip

__all__ = ["Evaluation", "Ranker", "WorldResult", "evaluate"]

CEILING = "ceiling"
LAST_LINE = ("model", "rules", "popularity", "random")
EXPLORATION_RATES = (0.05, 0.1, 0.2, 0.3)
HALF_WIDTH = 0.02
NEEDS_CONTEXTS = 1500  # logged contexts the exploration table averages over
WORLD_NOTES = {
    "regions": "the simulator the cross features were written for",
    "habits": "a truth the cross features cannot express",
}

ModelFor = Callable[[list[Interaction]], RecommenderModel | None]
Scorer = Callable[[PickContext, list[Tip]], np.ndarray]
PolicyOf = Callable[[PickContext], TipDistribution]


@dataclass(frozen=True)
class Ranker:
    """One ranker's figures, and the model minus it (None for the model itself)."""

    hit_at_1: float
    ndcg_at_5: float
    hit_vs_model: Interval | None = None
    ndcg_vs_model: Interval | None = None


@dataclass(frozen=True)
class OffPolicy:
    """The model policy's helpful-rate from the rule picker's logs, and the simulated truths."""

    logging_epsilon: float
    logging_rate: float
    model: OffPolicyEstimate
    truth: float
    rules_truth: float
    best_truth: float
    needs: dict[float, tuple[float, int]]


@dataclass(frozen=True)
class WorldResult:
    world: str
    model: str
    callers: int
    requests: int
    mean_candidates: float
    answered: int
    rankers: dict[str, Ranker]
    auc: dict[str, float]
    calibration: dict[str, Calibration]
    off_policy: OffPolicy | None

    def lines(self) -> list[str]:
        head = (
            f"world {self.world} ({WORLD_NOTES.get(self.world, 'simulated')}): model = "
            f"{self.model}; {self.callers} held-out callers, {self.requests} requests ranked "
            f"over all their candidates (mean {self.mean_candidates:.1f})"
        )
        table = [f"  {'ranker':<19}{'hit@1':>7}{'NDCG@5':>8}   model minus ranker, 95% CI:"]
        for name, r in self.rankers.items():
            diff = (
                f"   hit@1 {r.hit_vs_model}  NDCG@5 {r.ndcg_vs_model}"
                if r.hit_vs_model is not None
                else ""
            )
            table.append(f"  {name:<19}{r.hit_at_1:>7.3f}{r.ndcg_at_5:>8.3f}{diff}")
        scored = ", ".join(f"{n} {v:.3f}" for n, v in self.auc.items())
        lines = [head, *table, f"  AUC on {self.answered} logged answers: {scored}"]
        for name, cal in self.calibration.items():
            bins = "; ".join(
                f"{low:.1f}-{high:.1f}: {n} at {mean:.2f} -> {rate:.2f}"
                for low, high, n, mean, rate in cal.bins
            )
            lines.append(
                f"  calibration {name}: ECE {cal.ece:.3f}; score bin: answers at mean "
                f"score -> useful rate: {bins}"
            )
        if self.off_policy is not None:
            lines += _off_policy_lines(self.off_policy)
        return lines


def _off_policy_lines(off: OffPolicy) -> list[str]:
    m = off.model
    needs = ", ".join(f"{e:g}: {n:,}" for e, (_, n) in off.needs.items())
    return [
        f"  off-policy: {m.events} first tips logged by the rule picker exploring with epsilon "
        f"{off.logging_epsilon:g} (helpful-rate {off.logging_rate:.3f})",
        f"  model policy helpful-rate: DR {m.dr.mean:.3f} [{m.dr.low:.3f}, {m.dr.high:.3f}], "
        f"clipped DR {m.clipped_dr.mean:.3f} [{m.clipped_dr.low:.3f}, {m.clipped_dr.high:.3f}], "
        f"IPS {m.ips:.3f}, SNIPS {m.snips:.3f}; simulated truth {off.truth:.3f} "
        f"(effective events {m.effective_events:.0f}, max weight {m.max_weight:.0f})",
        f"  simulated truth of the rule picker {off.rules_truth:.3f}, best possible "
        f"{off.best_truth:.3f}",
        f"  logged first tips a DR interval of +/-{HALF_WIDTH:g} needs, by exploration "
        f"epsilon: {needs}",
    ]


@dataclass(frozen=True)
class Evaluation:
    """Everything `willay evaluate` prints."""

    model_version: str
    exploration: str
    seed: int
    worlds: list[WorldResult]

    def lines(self) -> list[str]:
        """The report; its last line is `NDCG@5 model x rules y popularity z random w`."""
        first = self.worlds[0].rankers
        return [
            f"model {self.model_version}, policy {self.exploration}, seed {self.seed}",
            *(line for world in self.worlds for line in world.lines()),
            "NDCG@5 " + " ".join(f"{name} {first[name].ndcg_at_5:.3f}" for name in LAST_LINE),
        ]

    def to_json(self) -> dict[str, object]:
        """The figures, for a model card."""
        return asdict(self)


def _policy(picker: ModelPicker, model: RecommenderModel, *, catalog: Catalog) -> PolicyOf:
    served = picker.serving(model)
    return lambda context: served.distribution(context, catalog)


def _rank(
    model: RecommenderModel | None,
    *,
    log: SimulatedLog,
    sim: CallerSimulator,
    catalog: Catalog,
    scorers: dict[str, Scorer],
    repeat_days: int,
    steps: Steps,
) -> tuple[dict[str, list[tuple[float, float]]], list[str], list[int]]:
    """Hit@1 and NDCG@5 of every ranker on each first request, its caller, its candidates."""
    firsts = [i for i in log.interactions if i.position == 0]
    steps.stage("ranking every candidate of each held-out request", total=len(firsts))
    names = ([] if model is None else ["model"]) + [*scorers, CEILING]
    ranks: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    callers, sizes = [], []
    for item in firsts:
        steps.advance()
        caller = log.callers[item.caller]
        tips = candidates(item.context, catalog, repeat_days=repeat_days)
        relevant = sim.labels(caller, tips=tips, context=item.context)
        if not relevant.any():
            continue
        callers.append(item.caller)
        sizes.append(len(tips))
        scores = {name: score(item.context, tips) for name, score in scorers.items()}
        scores[CEILING] = sim.useful_probabilities(caller, tips=tips, context=item.context)
        if model is not None:
            scores["model"] = model.score_tips(item.context, tips=tips, catalog=catalog)
        for name in names:
            ranks[name].append(hit_and_ndcg(scores[name], relevant))
    return ranks, callers, sizes


def _world(
    world: str,
    picker: ModelPicker,
    *,
    catalog: Catalog,
    model_for: ModelFor,
    seed: int,
    callers: int,
    train_callers: int,
    logged_callers: int,
    logging_epsilon: float,
    repeat_days: int,
    steps: Steps,
) -> WorldResult:
    rng = np.random.default_rng([seed, 99])
    exploring = LoggingPolicy(epsilon=TRAINING_EPSILON, repeat_days=repeat_days)
    runs = {}
    for purpose, count, policy in (
        ("train", train_callers, exploring),
        ("heldout", callers, exploring),
        ("logged", logged_callers, LoggingPolicy(epsilon=logging_epsilon, repeat_days=repeat_days)),
    ):
        sim = WORLDS[world](catalog, seed=seed, purpose=purpose)
        steps.stage(f"{world}: simulating {count} {purpose} callers", total=count)
        runs[purpose] = (sim, sim.run(sim.callers(count), policy, progress=steps.advance))
    trained = runs["train"][1].interactions
    steps.stage(f"{world}: fitting the model and the baselines", total=None)
    model = model_for(trained)
    encoder = FeatureEncoder(FeatureSpec.for_catalog(catalog))
    answered_train = [i for i in trained if i.useful is not None]
    logistic = fit_logistic(*encode_served(encoder, answered_train, catalog=catalog))
    popular = popularity(trained)
    in_context = ContextPopularity(trained, catalog)
    rules = RuleBasedPicker(repeat_days=repeat_days)

    def by_rules(
        context: PickContext, tips: list[Tip], *, with_popularity: bool = False
    ) -> np.ndarray:
        fit = rule_scores(rules, context, tips=tips, catalog=catalog)
        tiebreak = np.array([popular.get(t.id, 0.5) for t in tips]) if with_popularity else 0
        return fit + 0.5 * tiebreak + 1e-6 * rng.random(len(tips))

    scorers: dict[str, Scorer] = {
        "logistic": lambda c, tips: logistic.predict(encoder.encode(c, tips=tips, catalog=catalog)),
        "rules": by_rules,
        "rules+popularity": lambda c, tips: by_rules(c, tips, with_popularity=True),
        "context popularity": in_context.scores,
        "popularity": lambda c, tips: np.array([popular.get(t.id, 0.5) for t in tips]),
        "random": lambda c, tips: rng.random(len(tips)),
    }
    sim, log = runs["heldout"]
    ranks, ranked_callers, sizes = _rank(
        model,
        log=log,
        sim=sim,
        catalog=catalog,
        scorers=scorers,
        repeat_days=repeat_days,
        steps=steps,
    )
    groups = np.array(ranked_callers)
    columns = {
        name: (np.array([v[0] for v in vs]), np.array([v[1] for v in vs]))
        for name, vs in ranks.items()
    }
    rankers = {}
    for name, (hits, ndcgs) in columns.items():
        versus: dict[str, Interval | None] = {"hit_vs_model": None, "ndcg_vs_model": None}
        if "model" in columns and name != "model":
            model_hits, model_ndcgs = columns["model"]
            versus = {
                "hit_vs_model": bootstrap_mean(model_hits - hits, groups, rng=rng),
                "ndcg_vs_model": bootstrap_mean(model_ndcgs - ndcgs, groups, rng=rng),
            }
        rankers[name] = Ranker(float(hits.mean()), float(ndcgs.mean()), **versus)

    answered = [i for i in log.interactions if i.useful is not None]
    x, labels = encode_served(encoder, answered, catalog=catalog)
    scored = {"logistic": logistic.predict(x)}
    if model is not None:
        scored = {
            "model": model.score(encode_served(model.encoder, answered, catalog=catalog)[0]),
            **scored,
        }
    aucs = {name: auc(s, labels) for name, s in scored.items()}
    aucs["popularity"] = auc(np.array([popular.get(i.tip_id, 0.5) for i in answered]), labels)

    off_policy = None
    if model is not None:
        reward = RewardModel.fit(encoder, items=trained, catalog=catalog)
        logged_sim, logged = runs["logged"]
        off_policy = _off_policy(
            _policy(picker, model, catalog=catalog),
            sim=logged_sim,
            log=logged,
            catalog=catalog,
            reward=reward,
            rng=rng,
            epsilon=logging_epsilon,
            repeat_days=repeat_days,
            steps=steps,
        )
    return WorldResult(
        world=world,
        model=model.version if model is not None else "none (training needs TensorFlow)",
        callers=callers,
        requests=len(groups),
        mean_candidates=float(np.mean(sizes)),
        answered=len(answered),
        rankers=rankers,
        auc=aucs,
        calibration={name: calibration(s, labels) for name, s in scored.items()},
        off_policy=off_policy,
    )


def _off_policy(
    policy: PolicyOf,
    *,
    sim: CallerSimulator,
    log: SimulatedLog,
    catalog: Catalog,
    reward: RewardModel,
    rng: np.random.Generator,
    epsilon: float,
    repeat_days: int,
    steps: Steps,
) -> OffPolicy:
    firsts = [i for i in log.interactions if i.position == 0]
    steps.stage("off-policy: weighting logged first tips", total=None)
    found = estimate(policy, firsts, catalog=catalog, reward=reward, rng=rng)
    logging = LoggingPolicy(epsilon=epsilon, repeat_days=repeat_days)
    truths = np.zeros((len(firsts), 3))
    for row, item in enumerate(firsts):
        caller = log.callers[item.caller]
        tips = candidates(item.context, catalog, repeat_days=repeat_days)
        chance = dict(
            zip(
                (t.id for t in tips),
                sim.useful_answer_probabilities(caller, tips=tips, context=item.context),
                strict=True,
            )
        )
        for column, choices in enumerate(
            (policy(item.context), logging.mixture(item.context, catalog=catalog, epsilon=0.0))
        ):
            truths[row, column] = sum(p * chance.get(t.id, 0.0) for t, p in choices)
        truths[row, 2] = max(chance.values(), default=0.0)
    steps.stage("off-policy: the exploration each interval needs", total=None)
    needs = exploration_needs(
        policy,
        [i.context for i in firsts[:NEEDS_CONTEXTS]],
        catalog=catalog,
        reward=reward,
        logging_at=lambda context, e: logging.mixture(context, catalog=catalog, epsilon=e),
        epsilons=EXPLORATION_RATES,
        half_width=HALF_WIDTH,
    )
    truth, rules_truth, best = truths.mean(axis=0)
    return OffPolicy(
        logging_epsilon=epsilon,
        logging_rate=float(np.mean([1.0 if i.useful else 0.0 for i in firsts])),
        model=found,
        truth=float(truth),
        rules_truth=float(rules_truth),
        best_truth=float(best),
        needs=needs,
    )


def evaluate(
    picker: ModelPicker,
    catalog: Catalog,
    *,
    seed: int,
    callers: int = 1000,
    train_callers: int = 8000,
    logged_callers: int = 3000,
    logging_epsilon: float = 0.05,
    repeat_days: int = 30,
    refit: ModelFor | None = None,
    worlds: tuple[str, ...] = tuple(WORLDS),
    steps: Steps = SILENT,
) -> Evaluation:
    """Evaluate `picker`'s model and policy on callers it was not trained on, in each world.

    `train_callers` are simulated as `willay train` does (the baselines learn from them, and
    `refit` trains the model's recipe on them in worlds other than the first); `callers`
    (ranking, AUC, calibration) and `logged_callers` (off-policy) are other people.
    """
    served = picker.registry.current
    results = []
    for number, world in enumerate(worlds):
        if number == 0:
            model_for: ModelFor = lambda _: served  # noqa: E731
        else:
            model_for = refit or (lambda _: None)
        results.append(
            _world(
                world,
                picker,
                catalog=catalog,
                model_for=model_for,
                seed=seed,
                callers=callers,
                train_callers=train_callers,
                logged_callers=logged_callers,
                logging_epsilon=logging_epsilon,
                repeat_days=repeat_days,
                steps=steps,
            )
        )
    return Evaluation(
        model_version=served.version, exploration=picker.describe(), seed=seed, worlds=results
    )
