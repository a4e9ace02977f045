"""Exploration propensities, the no-repeat rule and cold start, on the shipped model."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from recommender import (
    Exploration,
    ExplorationPolicy,
    FixedModel,
    ModelPicker,
    PickContext,
    load_model,
)
from willay.catalog import Audience

JUNE = dt.date(2026, 6, 15)
NOW = dt.datetime(2026, 6, 15, 9, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def model(shipped_model):
    return load_model(shipped_model)


def picker(model, *, kind=Exploration.epsilon, epsilon=0.05, seed=1) -> ModelPicker:
    return ModelPicker(
        FixedModel(model),
        policy=ExplorationPolicy(kind=kind, epsilon=epsilon),
        rng=np.random.default_rng(seed),
    )


class TestPropensities:
    SCORES = np.array([0.2, 0.9, 0.5, 0.9, 0.1], dtype=np.float32)

    def test_epsilon_greedy_shares_the_best_and_explores_the_rest(self) -> None:
        policy = ExplorationPolicy(epsilon=0.1)
        p = policy.probabilities(self.SCORES, np.random.default_rng(0))
        assert p.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(p, [0.02, 0.47, 0.02, 0.47, 0.02])

    def test_thompson_sums_to_one_and_favours_higher_scores(self) -> None:
        confident = ExplorationPolicy(kind=Exploration.thompson, epsilon=0.05, strength=50)
        p = confident.probabilities(self.SCORES, np.random.default_rng(0))
        assert p.sum() == pytest.approx(1.0)
        assert p.min() == pytest.approx(0.05 / len(p))
        assert p[1] + p[3] == pytest.approx(0.95 + 2 * 0.01)
        unsure = ExplorationPolicy(kind=Exploration.thompson, epsilon=0.05, strength=5)
        p = unsure.probabilities(self.SCORES, np.random.default_rng(0))
        assert p.sum() == pytest.approx(1.0)
        assert p[1] + p[3] > 0.5 and p[2] > p[0] >= 0.01

    @pytest.mark.parametrize("kind", list(Exploration))
    def test_each_arm_is_drawn_with_the_probability_it_is_logged_with(self, kind) -> None:
        """Over many draws, each arm comes up as often as the vector it was drawn from says
        (Thompson's vector is re-estimated on every draw: compare with its average)."""
        policy = ExplorationPolicy(kind=kind, epsilon=0.2, strength=5, draws=64)
        rng = np.random.default_rng(3)
        draws = 20_000
        counts = np.zeros(len(self.SCORES))
        total = np.zeros(len(self.SCORES))
        for _ in range(draws):
            index, p = policy.choose(self.SCORES, rng)
            assert p.sum() == pytest.approx(1.0) and p[index] > 0
            counts[index] += 1
            total += p
        expected = total / draws
        spread = 4 * np.sqrt(expected * (1 - expected) / draws)
        assert np.all(np.abs(counts / draws - expected) < spread), (counts / draws, expected)

    @pytest.mark.parametrize("kind", list(Exploration))
    def test_picker_logs_the_probability_of_the_tip_it_served(
        self, model, content_catalog, kind
    ) -> None:
        context = PickContext(today=JUNE, channel="ussd", region="puno")
        chooser = picker(model, kind=kind, epsilon=0.3)
        for _ in range(30):
            picked = chooser.pick(context, content_catalog)
            assert picked is not None and 0 < picked.propensity <= 1
            assert picked.model_version == model.version
            if kind is Exploration.epsilon:
                shares = dict((t.id, p) for t, p in chooser.distribution(context, content_catalog))
                assert sum(shares.values()) == pytest.approx(1.0)
                assert picked.propensity == pytest.approx(shares[picked.tip.id])
            scores = model.score_tips(context, tips=[picked.tip], catalog=content_catalog)
            assert picked.score == pytest.approx(float(scores[0]), abs=1e-6)


class TestNoRepeat:
    def test_recently_heard_tips_wait_until_the_rest_are_used(self, model, content_catalog) -> None:
        chooser = picker(model, epsilon=1.0)
        general = [t.id for t in content_catalog.tips if Audience.general in t.audiences]
        heard = {tip_id: NOW - dt.timedelta(days=3) for tip_id in general[:-2]}
        context = PickContext(today=JUNE, channel="ussd", region="lima", heard=heard)
        served = {chooser.pick(context, content_catalog).tip.id for _ in range(200)}
        assert served == set(general[-2:])

    def test_heard_long_ago_may_come_back(self, model, content_catalog) -> None:
        chooser = picker(model, epsilon=1.0)
        general = [t.id for t in content_catalog.tips if Audience.general in t.audiences]
        heard = {tip_id: NOW - dt.timedelta(days=40) for tip_id in general}
        context = PickContext(today=JUNE, channel="ussd", region="lima", heard=heard)
        served = {chooser.pick(context, content_catalog).tip.id for _ in range(300)}
        assert len(served) > len(general) / 2

    def test_exhausted_catalog_repeats_but_never_within_the_session(
        self, model, content_catalog
    ) -> None:
        chooser = picker(model, epsilon=1.0)
        heard = {t.id: NOW for t in content_catalog.tips}
        session = [t.id for t in content_catalog.current_tips(JUNE, "dengue")][:-1]
        context = PickContext(
            today=JUNE, channel="ussd", heard=heard, topic="dengue", exclude=frozenset(session)
        )
        picked = chooser.pick(context, content_catalog)
        assert picked is not None and picked.tip.topic == "dengue"
        assert picked.tip.id not in session
        every = frozenset(t.id for t in content_catalog.tips)
        done = PickContext(today=JUNE, channel="ussd", heard=heard, exclude=every)
        assert chooser.pick(done, content_catalog) is None

    def test_tips_for_another_audience_are_never_explored(self, model, content_catalog) -> None:
        chooser = picker(model, epsilon=1.0)
        context = PickContext(today=JUNE, channel="ussd", region="cusco")
        served = {chooser.pick(context, content_catalog).tip.id for _ in range(300)}
        assert len(served) > 20
        assert all(Audience.general in content_catalog.by_id[t].audiences for t in served)


class TestColdStart:
    """A caller with no history gets the model's best tip for their region and season."""

    @pytest.mark.parametrize(
        ("region", "today", "topic"),
        [
            ("puno", JUNE, "heladas"),
            ("cusco", dt.date(2026, 7, 10), "heladas"),
            ("loreto", dt.date(2026, 2, 15), "dengue"),
            ("piura", dt.date(2026, 3, 10), "dengue"),
            # dengue is in season all year in the selva (the catalog's seasons), and worth more
            # there than the friaje in July in the simulator's truth too (+2.0 against +1.4)
            ("ucayali", dt.date(2026, 7, 1), "dengue"),
        ],
    )
    def test_region_and_season(self, model, content_catalog, region, today, topic) -> None:
        context = PickContext(today=today, channel="ussd", region=region)
        picked = picker(model, epsilon=0.0).pick(context, content_catalog)
        assert picked is not None and picked.tip.topic == topic, picked.tip.id
        assert picked.propensity > 0

    def test_a_pregnant_woman_in_the_sierra_in_june(self, model, content_catalog) -> None:
        context = PickContext(
            today=JUNE,
            channel="ussd",
            region="puno",
            audiences=frozenset({Audience.general, Audience.pregnant}),
        )
        tips = [t for t, _ in picker(model).distribution(context, content_catalog)]
        scores = model.score_tips(context, tips=tips, catalog=content_catalog)
        top = [tips[i].topic for i in np.argsort(-scores)[:5]]
        # frost first, prenatal tips in the top five: the simulator's truth puts frost first
        # (log-odds 1.6 against 1.1: pregnancy x frost region x cold season, which no cross
        # holds); the shipped MLP (v3) learned it, the logistic v2 put a prenatal tip first
        assert top[0] == "heladas" and "embarazo" in top, top

    def test_no_dengue_in_the_andes_nor_frost_on_the_coast(self, model, content_catalog) -> None:
        chooser = picker(model, epsilon=0.0)
        puno = PickContext(today=dt.date(2026, 3, 1), channel="ussd", region="puno")
        lima = PickContext(today=JUNE, channel="ussd", region="lima")
        assert chooser.pick(puno, content_catalog).tip.topic != "dengue"
        assert chooser.pick(lima, content_catalog).tip.topic != "heladas"

    def test_an_anonymous_caller_gets_a_tip_for_everyone(self, model, content_catalog) -> None:
        picked = picker(model).pick(PickContext(today=JUNE, channel="ussd"), content_catalog)
        assert picked is not None and Audience.general in picked.tip.audiences
