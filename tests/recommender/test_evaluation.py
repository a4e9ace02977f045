"""The pieces evaluation rests on: intervals, calibration, the logistic baseline, the second
world, off-policy estimates and the holdout's propensities."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from recommender import ExplorationPolicy, FixedModel, ModelPicker, load_model
from recommender.baselines import encode_served, fit_logistic
from recommender.candidates import candidates
from recommender.features import FeatureEncoder, FeatureSpec
from recommender.metrics import bootstrap_mean, calibration
from recommender.offpolicy import RewardModel, estimate, exploration_needs
from recommender.simulator import WORLDS, CallerSimulator, LoggingPolicy


def test_bootstrap_resamples_callers_not_requests() -> None:
    rng = np.random.default_rng(1)
    # two callers, each always the same: the spread is between callers only
    values = np.array([1.0] * 50 + [0.0] * 50)
    groups = np.array(["a"] * 50 + ["b"] * 50)
    interval = bootstrap_mean(values, groups, rng)
    assert interval.mean == 0.5 and interval.low == 0.0 and interval.high == 1.0
    many = bootstrap_mean(values, np.arange(100), rng)
    assert 0.35 < many.low < 0.5 < many.high < 0.65


def test_reliability_table_and_ece_by_hand() -> None:
    cal = calibration(np.array([0.05, 0.05, 0.95, 0.95]), np.array([0, 1, 1, 1]), bins=10)
    assert [(n, mean, rate) for _, _, n, mean, rate in cal.bins] == [
        (2, 0.05, 0.5),
        (2, 0.95, 1.0),
    ]
    assert cal.ece == pytest.approx(0.5 * 0.45 + 0.5 * 0.05)


def test_logistic_regression_recovers_its_coefficients() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20_000, 3))
    truth = np.array([1.5, -2.0, 0.0])
    y = rng.random(20_000) < 1 / (1 + np.exp(-(x @ truth - 0.5)))
    fitted = fit_logistic(x, y, l2=0.1)
    assert fitted.weights == pytest.approx(truth, abs=0.08)
    assert fitted.bias == pytest.approx(-0.5, abs=0.08)


def _linear_fit_of_the_truth(world: str, catalog) -> float:
    """R^2 of the simulator's true log-odds regressed on the model's features."""
    sim = WORLDS[world](catalog, seed=11, purpose="heldout")
    log = sim.run(sim.callers(250), LoggingPolicy(epsilon=0.3))
    encoder = FeatureEncoder(FeatureSpec.for_catalog(catalog))
    rows, truths = [], []
    for item in log.interactions:
        caller, tip = log.callers[item.caller], catalog.by_id[item.tip_id]
        history = sim._history(item.context)
        truths.append(sim.logit(caller, tip, item.context, history, item.position))
        rows.append(encoder.encode(item.context, [tip], catalog)[0])
    x = np.hstack([np.array(rows), np.ones((len(rows), 1))])
    y = np.array(truths)
    fitted, *_ = np.linalg.lstsq(x, y, rcond=None)
    return 1 - np.var(y - x @ fitted) / np.var(y)


def test_the_second_world_is_not_a_linear_function_of_the_features(content_catalog) -> None:
    """A linear fit on the features must leave clearly more of the second world's truth
    unexplained than of the first's (which the crosses copy): at least a tenth more.

    Stated as a ratio of unexplained shares, not a difference of R^2, because both R^2 move
    with the catalog (how many tips, how long, which seasons). On the 66-tip catalog the worlds
    gave R^2 0.718 and 0.526 (1.68x as much unexplained). The corrected 67-tip catalog took
    over one of the second world's hidden terms (dengue all year in the selva is now the tip's
    season, which the features read) and its corrected texts are longer: 0.68 and 0.63, 1.17x
    to 1.22x over seeds 11 to 13. A ratio near 1 would mean the MLP-versus-logistic comparison
    in that world no longer tests anything a linear model cannot do.
    """
    regions = _linear_fit_of_the_truth("regions", content_catalog)
    habits = _linear_fit_of_the_truth("habits", content_catalog)
    assert 1 - habits > 1.1 * (1 - regions), (regions, habits)


def test_off_policy_of_the_logging_policy_itself_is_its_mean(content_catalog) -> None:
    sim = CallerSimulator(content_catalog, seed=4, purpose="logged")
    logging = LoggingPolicy(epsilon=0.05)
    log = sim.run(sim.callers(150), logging)
    firsts = [i for i in log.interactions if i.position == 0]
    encoder = FeatureEncoder(FeatureSpec.for_catalog(content_catalog))
    reward = RewardModel.fit(encoder, log.interactions, content_catalog)
    found = estimate(
        lambda c: logging.distribution(c, content_catalog),
        firsts,
        catalog=content_catalog,
        reward=reward,
        rng=np.random.default_rng(0),
    )
    mean = np.mean([1.0 if i.useful else 0.0 for i in firsts])
    assert found.ips == pytest.approx(mean) and found.snips == pytest.approx(mean)
    assert found.effective_events == pytest.approx(len(firsts)) and found.max_weight == 1.0
    assert found.dr.low < mean < found.dr.high
    needs = exploration_needs(
        lambda c: logging.distribution(c, content_catalog),
        [i.context for i in firsts[:100]],
        catalog=content_catalog,
        reward=reward,
        logging_at=lambda c, e: logging.mixture(c, content_catalog, e),
        epsilons=(0.05, 0.3),
        half_width=0.02,
    )
    assert needs[0.05][1] < needs[0.3][1], "logging at its own rate is the cheapest"


def test_rows_of_served_tips_are_what_the_model_reads(content_catalog, shipped_model) -> None:
    model = load_model(shipped_model)
    sim = CallerSimulator(content_catalog, seed=4)
    log = sim.run(sim.callers(20), LoggingPolicy(epsilon=0.3))
    rows, labels = encode_served(model.encoder, log.interactions, catalog=content_catalog)
    assert rows.shape == (len(log.interactions), model.spec.size)
    assert labels.tolist() == [1.0 if i.useful else 0.0 for i in log.interactions]


def test_the_holdout_is_the_rule_picker_logged_with_the_mixture_propensity(
    content_catalog, shipped_model
) -> None:
    model = load_model(shipped_model)
    picker = ModelPicker(FixedModel(model), holdout=0.2, rng=np.random.default_rng(5))
    sim = CallerSimulator(content_catalog, seed=8, purpose="heldout")
    caller = sim.caller(0)
    context = sim.context_for(caller, dt.date(2026, 3, 10), heard={}, rated={})
    chances = {t.id: p for t, p in picker.distribution(context, content_catalog)}
    assert sum(chances.values()) == pytest.approx(1.0)
    picks = [picker.pick(context, content_catalog) for _ in range(2000)]
    held = [p for p in picks if p.arm == "holdout"]
    assert 0.15 < len(held) / len(picks) < 0.25
    assert {p.model_version for p in held} == {"rules-1"}
    assert all(p.propensity == pytest.approx(chances[p.tip.id]) for p in picks)
    tips = candidates(context, content_catalog, repeat_days=30)
    scored = model.score_tips(context, tips, content_catalog)
    scores = dict(zip((t.id for t in tips), scored.tolist(), strict=True))
    assert all(p.score == pytest.approx(scores.get(p.tip.id, 0.0)) for p in picks)
    counts = {tip_id: 0 for tip_id in chances}
    for p in picks:
        counts[p.tip.id] += 1
    for tip_id, chance in chances.items():
        assert counts[tip_id] / len(picks) == pytest.approx(chance, abs=0.04)


def test_a_picker_from_settings_serves_a_given_model_with_the_settings_policy(
    settings, shipped_model
) -> None:
    """`willay evaluate` measures the policy production serves: the one of the settings."""
    served = settings.model_copy(
        update={"exploration_epsilon": 0.2, "recommender_holdout": 0.1, "repeat_days": 12}
    )
    source = FixedModel(load_model(shipped_model))
    picker = ModelPicker.from_settings(served, source, rng=np.random.default_rng(1))
    assert picker.registry is source
    assert picker.policy == ExplorationPolicy.from_settings(served)
    assert picker.policy.epsilon == 0.2
    assert picker.holdout == 0.1
    assert picker._repeat_days == 12
    assert picker.serving(source.current).describe() == picker.describe()
