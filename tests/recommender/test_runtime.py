"""The shipped model under LiteRT: loads, scores a batch, agrees with its float twin."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from recommender import PickContext, RecommenderModel, load_model
from recommender.candidates import candidates
from recommender.features import CROSS_NAMES
from recommender.offline.simulator import CallerSimulator, LoggingPolicy
from recommender.runtime import card_path
from tests.fixtures.recommender import install_model
from willay.catalog import Audience
from willay.errors import ModelError

JUNE = dt.date(2026, 6, 15)


def test_shipped_model_loads_with_litert_and_scores_a_batch(shipped_model, content_catalog):
    model = load_model(shipped_model)
    slot = model._slot()
    assert type(slot.interpreter).__module__.startswith("ai_edge_litert")
    context = PickContext(today=JUNE, channel="ussd", region="puno")
    tips = list(content_catalog.tips)
    scores = model.score_tips(context, tips=tips, catalog=content_catalog)
    assert scores.shape == (len(tips),) and scores.dtype == np.float32
    assert np.all((scores >= 0) & (scores <= 1)) and scores.std() > 0.01
    one_by_one = [
        model.score_tips(context, tips=[tip], catalog=content_catalog)[0] for tip in tips[:20]
    ]
    np.testing.assert_allclose(scores[:20], one_by_one, atol=1e-6)


def test_shipped_model_is_small_and_carded(shipped_model):
    card = json.loads(card_path(shipped_model).read_text())
    assert shipped_model.stat().st_size == card["size_bytes"] < 100_000
    for section in ("signature", "features", "training", "metrics", "quantization"):
        assert card[section], section
    for section in ("evaluation", "bench"):
        assert section in card, f"run willay evaluate --card / bench --card: {section} missing"
    assert card["signature"]["input"]["shape"] == [None, card["features"]["size"]]
    assert shipped_model.with_suffix(".md").read_text().startswith("# Model card: ")


def test_the_layout_is_the_cards_and_built_once(shipped_model):
    card = json.loads(card_path(shipped_model).read_text())
    spec = load_model(shipped_model).spec
    assert list(spec.names) == card["features"]["names"]
    assert (
        spec.size
        == card["features"]["size"]
        == len(spec.context_names) + len(spec.tip_names) + len(CROSS_NAMES)
    )
    # read on every scored request: the spec keeps the layout, it does not rebuild it
    assert spec.names is spec.names and spec.tip_names is spec.tip_names


def test_batches_of_any_size_score_like_single_rows(shipped_model, content_catalog):
    model = load_model(shipped_model)
    context = PickContext(
        today=JUNE,
        channel="ussd",
        region="loreto",
        audiences=frozenset({Audience.general, Audience.child_under5}),
    )
    rows = model.encoder.encode(context, tips=list(content_catalog.tips), catalog=content_catalog)
    full = model.score(rows)
    for size in (1, 17, 66, 3, 40):
        np.testing.assert_allclose(model.score(rows[:size]), full[:size], atol=1e-6)
    assert model.score(rows[:0]).shape == (0,)


def test_quantized_agrees_with_float(shipped_model, float_twin, content_catalog):
    """Tolerances. Dynamic-range quantization rounds each weight of the first layer to int8
    (at most half a step, 1/254 of the layer's largest weight, off) and keeps activations in
    float. Training measured max 0.0065 and mean 0.00094 over 257,415 held-out scores: we allow
    3x that max (0.02, a tenth of the usual gap between a fitting and an unfitting tip) and a
    mean of 0.002. What serving uses is the ranking: the top tip may differ only where float
    scores nearly tie, so the float score given up when they differ must stay below 0.005, and
    where the float top two are at least that far apart the quantized model must pick the same
    tip (agreement >= 0.99). Agreement over all requests depends on the catalog, not on
    quantization: after the content corrections two tips (agua-suero-oral and
    agua-diarrea-signos-peligro) differ only by two characters of length, their float scores are
    closer than the quantization error, and they flip in 6% of requests (0.929 overall, 1.0 where
    the top two are 0.005 apart)."""
    quantized = load_model(shipped_model)
    floating = RecommenderModel(
        float_twin, version="float", spec=quantized.spec, source="float twin"
    )
    sim = CallerSimulator(content_catalog, seed=2024, purpose="heldout")
    log = sim.run(sim.callers(150), LoggingPolicy(epsilon=0.3))
    diffs, lost, requests, decided, decided_agree = [], [], 0, 0, 0
    for item in log.interactions:
        tips = candidates(item.context, content_catalog, repeat_days=30)
        rows = quantized.encoder.encode(item.context, tips=tips, catalog=content_catalog)
        q, f = quantized.score(rows), floating.score(rows)
        diffs.append(np.abs(q - f))
        same = bool(np.argmax(q) == np.argmax(f))
        lost.append(f.max() - f[np.argmax(q)])
        requests += 1
        top_two = np.sort(f)[-2:]
        if len(f) == 1 or top_two[1] - top_two[0] >= 0.005:
            decided += 1
            decided_agree += int(same)
    flat = np.concatenate(diffs)
    assert requests > 300
    assert flat.max() < 0.02 and flat.mean() < 0.002
    assert decided > requests / 3 and decided_agree / decided >= 0.99, (decided, decided_agree)
    assert max(lost) < 0.005


class TestRefused:
    def test_garbage_with_a_matching_card(self, tmp_path, shipped_model):
        path = install_model(shipped_model, tmp_path, 2, content=b"TFL3" + b"\x00garbage" * 50)
        with pytest.raises(ModelError, match=r"willay-recommender-v2.tflite refused: not a TFLite"):
            load_model(path)

    def test_incomplete_copy(self, tmp_path, shipped_model):
        path = install_model(shipped_model, tmp_path, 2)
        content = shipped_model.read_bytes()
        path.write_bytes(content[: len(content) // 2])
        with pytest.raises(ModelError, match="SHA-256 does not match its card"):
            load_model(path)

    def test_missing_card(self, tmp_path, shipped_model):
        path = install_model(shipped_model, tmp_path, 2)
        card_path(path).unlink()
        with pytest.raises(ModelError, match="no card willay-recommender-v2.json"):
            load_model(path)

    def test_features_that_do_not_fit_the_model(self, tmp_path, shipped_model):
        path = install_model(shipped_model, tmp_path, 2)
        card = json.loads(card_path(path).read_text())
        card["features"]["topics"] = card["features"]["topics"][:-1]
        card["features"]["size"] -= 1
        card_path(path).write_text(json.dumps(card))
        with pytest.raises(ModelError, match=r"input is \[-1, \d+\] float32, the card's features"):
            load_model(path)


def test_serving_never_imports_tensorflow() -> None:
    code = (
        "import sys, datetime as dt\n"
        "import shell.app, recommender\n"
        "from willay.config import Settings\n"
        "picker = recommender.ModelPicker.from_settings(Settings())\n"
        "picker.close()\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WILLAY_")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
