"""The pick's hot path: rows gathered from per-catalog arrays, candidates kept per context.

Both are shortcuts; each must give exactly what the long way gives.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import numpy as np
import pytest

from recommender import FixedModel, ModelPicker, PickContext, load_model
from recommender.candidates import candidates
from recommender.features import FeatureEncoder, FeatureSpec
from recommender.model_picker import _context_key
from recommender.policy import Exploration, ExplorationPolicy, draw
from recommender.rules import RuleBasedPicker
from recommender.runtime import RecommenderModel
from willay.catalog import Audience


def random_context(rng: random.Random, catalog) -> PickContext:
    """A person of any kind: region (or an unknown one), audiences, history, month, topic."""
    tips = list(catalog.tips)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return PickContext(
        today=dt.date(2026, rng.randint(1, 12), rng.randint(1, 28)),
        channel=rng.choice(["ussd", "ivr", "sms"]),
        language=rng.choice(["es", "qu"]),
        region=rng.choice([None, "atlantida", *(r.id for r in catalog.regions)]),
        audiences=frozenset({Audience.general, *rng.sample(list(Audience), rng.randint(0, 2))}),
        heard={
            t.id: start + dt.timedelta(days=rng.randint(0, 400))
            for t in rng.sample(tips, rng.randint(0, 6))
        },
        rated={t.id: rng.random() < 0.5 for t in rng.sample(tips, rng.randint(0, 6))},
        exclude=frozenset(t.id for t in rng.sample(tips, rng.randint(0, 3))),
        topic=rng.choice([None, None, *(t.id for t in catalog.topics)]),
        age_group=rng.choice([None, "<18", "40-59"]),
    )


@pytest.mark.parametrize("version", [1, 2])
def test_rows_of_catalog_tips_equal_rows_built_on_the_spot(content_catalog, version):
    spec = dataclasses.replace(FeatureSpec.for_catalog(content_catalog), version=version)
    encoder = FeatureEncoder(spec)
    rng = random.Random(version)
    for _ in range(300):
        context = random_context(rng, content_catalog)
        tips = rng.sample(list(content_catalog.tips), rng.randint(0, len(content_catalog.tips)))
        gathered = encoder.encode(context, tips=tips, catalog=content_catalog)
        copies = [tip.model_copy() for tip in tips]  # not the catalog's own: built on the spot
        built = encoder.encode(context, tips=copies, catalog=content_catalog)
        assert gathered.shape == (len(tips), spec.size) and gathered.dtype == np.float32
        np.testing.assert_array_equal(gathered, built)
        cross = encoder.cross_matrix(context, tips=copies, catalog=content_catalog)
        np.testing.assert_array_equal(gathered[:, -cross.shape[1] :], cross)


def test_a_new_catalog_is_encoded_from_its_own_tips(content_catalog):
    spec = FeatureSpec.for_catalog(content_catalog)
    encoder = FeatureEncoder(spec)
    context = PickContext(today=dt.date(2026, 6, 15), channel="ussd")
    tip = content_catalog.tips[0]
    before = encoder.encode(context, tips=[tip], catalog=content_catalog)
    longer = tip.model_copy(update={"text": {**tip.text, "es": tip.text["es"] + " Más."}})
    changed = dataclasses.replace(content_catalog, tips=(longer, *content_catalog.tips[1:]))
    after = encoder.encode(context, tips=[longer], catalog=changed)
    length = spec.names.index("tip_length")
    assert after[0, length] > before[0, length]
    np.testing.assert_array_equal(
        after, FeatureEncoder(spec).encode(context, tips=[longer], catalog=changed)
    )


def test_kept_candidates_are_the_candidates_of_each_context(shipped_model, content_catalog):
    """Many contexts, some repeated with one field changed: always the long way's answer."""
    picker = ModelPicker(
        FixedModel(load_model(shipped_model)), holdout=0.2, rng=np.random.default_rng(3)
    )
    rules = RuleBasedPicker()
    rng = random.Random(5)
    seen: list[PickContext] = []
    for _ in range(400):
        if seen and rng.random() < 0.5:  # a context met before, with one thing changed or not
            context = rng.choice(seen)
            change = rng.choice(["none", "exclude", "heard", "region", "today"])
            if change == "exclude":
                excluded = frozenset(t.id for t in some_tips(content_catalog, rng))
                context = dataclasses.replace(context, exclude=excluded)
            elif change == "heard":
                now = dt.datetime.combine(context.today, dt.time(), tzinfo=dt.UTC)
                context = dataclasses.replace(
                    context, heard={t.id: now for t in some_tips(content_catalog, rng)}
                )
            elif change == "region":
                region = rng.choice(content_catalog.regions).id
                context = dataclasses.replace(context, region=region)
            elif change == "today":
                context = dataclasses.replace(context, today=context.today + dt.timedelta(days=90))
        else:
            context = random_context(rng, content_catalog)
        seen.append(context)
        served = {tip.id for tip, _ in picker.distribution(context, content_catalog)}
        expected = {t.id for t in candidates(context, content_catalog, repeat_days=30)}
        expected |= {t.id for t in rules.best(context, content_catalog)[0]}
        assert served == expected
    picker.close()


def test_a_contexts_key_is_hashable_and_tells_every_field_apart() -> None:
    base = PickContext(today=dt.date(2026, 1, 1), channel="ussd")
    changes = {
        "today": dt.date(2026, 1, 2),
        "channel": "sms",
        "language": "qu",
        "region": "lima",
        "audiences": frozenset({Audience.pregnant}),
        "heard": {"t1": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
        "exclude": frozenset({"t1"}),
        "topic": "dengue",
        "age_group": "<18",
        "rated": {"t1": True},
    }
    assert set(changes) == {f.name for f in dataclasses.fields(PickContext)}
    keys = {_context_key(dataclasses.replace(base, **{k: v})) for k, v in changes.items()}
    assert len(keys | {_context_key(base)}) == len(changes) + 1


class Swapping:
    """A model source whose current model the test changes."""

    def __init__(self, current: RecommenderModel) -> None:
        self.current = current

    def close(self) -> None:
        """Nothing to stop."""


@pytest.mark.parametrize(
    "policy", [ExplorationPolicy(), ExplorationPolicy(kind=Exploration.thompson, draws=64)]
)
def test_kept_scores_pick_what_a_fresh_picker_picks(
    shipped_model, float_twin, content_catalog, policy
):
    """Scores (and epsilon-greedy vectors) kept per context, across model swaps: the same
    tips, scores, propensities, versions and arms as a picker that keeps nothing, drawing
    from a generator in the same state."""
    quantized = load_model(shipped_model)
    floating = RecommenderModel(
        float_twin, version="float-twin", spec=quantized.spec, source="the float twin"
    )
    source = Swapping(quantized)
    kept = ModelPicker(source, policy=policy, holdout=0.2, rng=np.random.default_rng(7))
    fresh_rng = np.random.default_rng(7)
    rng = random.Random(11)
    contexts = [random_context(rng, content_catalog) for _ in range(30)]
    versions = set()
    for step in range(600):
        if step % 150 == 0:
            source.current = floating if source.current is quantized else quantized
        context = rng.choice(contexts)
        fresh = ModelPicker(FixedModel(source.current), policy=policy, holdout=0.2, rng=fresh_rng)
        picked = kept.pick(context, content_catalog)
        assert picked == fresh.pick(context, content_catalog)
        assert kept.distribution(context, content_catalog) == fresh.distribution(
            context, content_catalog
        )
        versions.add(picked.model_version if picked else None)
    assert {"float-twin", quantized.version} <= versions


def some_tips(catalog, rng: random.Random):
    return rng.sample(list(catalog.tips), rng.randint(1, 10))


def test_a_draw_is_the_generators_own_choice() -> None:
    """The same index as `rng.choice(len(p), p=p)` from the same state, for any policy vector."""
    shapes = np.random.default_rng(0)
    for seed in range(300):
        weights = shapes.random(int(shapes.integers(1, 70))) ** 4
        weights[shapes.random(len(weights)) < 0.3] = 0.0
        weights[int(shapes.integers(len(weights)))] += 0.01
        p = weights / weights.sum()
        ours, numpy = np.random.default_rng(seed), np.random.default_rng(seed)
        assert [draw(p, ours) for _ in range(20)] == [
            int(numpy.choice(len(p), p=p)) for _ in range(20)
        ]
