"""Cold start: anonymous callers, tips and regions the model never saw (docs/recommender.md)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from recommender import ExplorationPolicy, FixedModel, ModelPicker, PickContext, load_model
from willay.catalog import Audience, Catalog

JUNE = dt.date(2026, 6, 15)


@pytest.fixture
def model(shipped_model):
    return load_model(shipped_model)


@pytest.fixture
def grown(content_catalog) -> Catalog:
    """The catalog after the model was trained: a new topic with a tip, and a new region."""
    topic = content_catalog.topics[0].model_copy(update={"id": "calor"})
    region = content_catalog.regions[0].model_copy(update={"id": "nueva_region"})
    tip = content_catalog.tips[0].model_copy(
        update={"id": "calor-agua-fresca", "topic": "calor", "months": frozenset()}
    )
    return Catalog(
        topics=(*content_catalog.topics, topic),
        regions=(*content_catalog.regions, region),
        tips=(*content_catalog.tips, tip),
    )


def column(model, row: np.ndarray, name: str) -> float:
    return float(row[model.spec.names.index(name)])


def test_an_anonymous_caller_is_scored_with_nothing_known(model, content_catalog) -> None:
    context = PickContext(today=JUNE, channel="ivr")
    tips = list(content_catalog.tips)
    rows = model.encoder.encode(context, tips=tips, catalog=content_catalog)
    for name in ("zone=unknown", "age=unknown", "region=other"):
        assert set(rows[:, model.spec.names.index(name)]) == {1.0}, name
    assert set(rows[:, model.spec.names.index("history_rated")]) == {0.0}
    picker = ModelPicker(FixedModel(model), policy=ExplorationPolicy(epsilon=0.0))
    picked = picker.pick(context, content_catalog)
    assert picked is not None and Audience.general in picked.tip.audiences


def test_a_new_tip_of_a_new_topic_is_scored_and_can_be_served(model, grown) -> None:
    new = grown.by_id["calor-agua-fresca"]
    context = PickContext(today=JUNE, channel="ussd")
    row = model.encoder.encode(context, tips=[new], catalog=grown)[0]
    assert column(model, row, "topic=other") == 1.0
    assert not any(column(model, row, f"topic={t}") for t in model.spec.topics)
    score = model.score_tips(context, tips=[new], catalog=grown)
    assert 0 < float(score[0]) < 1
    picker = ModelPicker(FixedModel(model), policy=ExplorationPolicy(epsilon=1.0))
    chances = {t.id: p for t, p in picker.distribution(context, grown)}
    assert chances["calor-agua-fresca"] > 0, "exploration reaches a tip the model never saw"


def test_a_new_region_falls_in_region_other(model, grown) -> None:
    context = PickContext(today=JUNE, channel="ussd", region="nueva_region")
    row = model.encoder.encode(context, tips=[grown.tips[0]], catalog=grown)[0]
    assert column(model, row, "region=other") == 1.0
    assert column(model, row, "zone=unknown") == 0.0, "its zone is known from the catalog"
    picker = ModelPicker(FixedModel(model), policy=ExplorationPolicy(epsilon=0.0))
    assert picker.pick(context, grown) is not None
