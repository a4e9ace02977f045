"""Versioned model files: newest first, hot swap under load, corrupt files refused."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import numpy as np
import pytest

from recommender import ExplorationPolicy, ModelPicker, ModelRegistry, PickContext, load_model
from recommender.registry import model_file
from recommender.runtime import card_path
from tests.fixtures.recommender import install_model
from willay.errors import ModelError

CONTEXT = PickContext(today=dt.date(2026, 6, 15), channel="ussd", region="puno")


def greedy(registry: ModelRegistry) -> ModelPicker:
    return ModelPicker(registry, policy=ExplorationPolicy(epsilon=0.0))


def test_the_newest_version_serves(model_dir, shipped_model) -> None:
    install_model(shipped_model, model_dir, 9)
    install_model(shipped_model, model_dir, 10)
    registry = ModelRegistry(model_dir, poll_seconds=0)
    assert registry.start().version == "willay-recommender-v10"


def test_no_model_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ModelError, match="no willay-recommender-v<N>.tflite file in"):
        ModelRegistry(tmp_path, poll_seconds=0).start()


def test_corrupt_newer_model_is_refused_and_the_previous_keeps_serving(
    model_dir, shipped_model, content_catalog, caplog
) -> None:
    registry = ModelRegistry(model_dir, poll_seconds=0)
    registry.start()
    chooser = greedy(registry)
    bad = install_model(shipped_model, model_dir, 2, content=b"\x00not a model" * 40)
    with caplog.at_level(logging.ERROR, logger="recommender.registry"):
        assert registry.reload() is False
        assert registry.reload() is False
    refusals = [r.getMessage() for r in caplog.records]
    assert len(refusals) == 1, "a refused file is logged once, not at every poll"
    assert f"recommender model {bad} refused: not a TFLite model" in refusals[0]
    assert refusals[0].endswith("still serving willay-recommender-v1")
    assert "not a TFLite model" in (registry.last_error or "")
    assert chooser.pick(CONTEXT, content_catalog).model_version == "willay-recommender-v1"
    install_model(shipped_model, model_dir, 2)  # fixed: same name, new bytes
    assert registry.reload() is True
    assert chooser.pick(CONTEXT, content_catalog).model_version == "willay-recommender-v2"


def test_a_model_without_its_card_never_serves(model_dir, shipped_model) -> None:
    registry = ModelRegistry(model_dir, poll_seconds=0)
    registry.start()
    card_path(install_model(shipped_model, model_dir, 2)).unlink()
    assert registry.reload() is False
    assert registry.current.version == "willay-recommender-v1"


def test_hot_swap_under_concurrent_requests(
    model_dir, shipped_model, float_twin, content_catalog
) -> None:
    """Threads pick while v2 is written slowly, in pieces, in place (not atomically) and the
    registry reloads over and over: every answer comes whole from v1 or from v2."""
    registry = ModelRegistry(model_dir, poll_seconds=0)
    registry.start()
    chooser = greedy(registry)
    tips = [t for t, _ in chooser.distribution(CONTEXT, content_catalog)]
    expected = {
        "willay-recommender-v1": registry.current.score_tips(CONTEXT, tips, content_catalog)
    }
    v2 = install_model(shipped_model, model_dir / "staging", 2, content=float_twin)
    expected["willay-recommender-v2"] = load_model(v2).score_tips(CONTEXT, tips, content_catalog)
    assert not np.allclose(*expected.values()), "v2 must score differently to tell them apart"

    stop = threading.Event()
    seen: list[tuple[str, float]] = []
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            while not stop.is_set():
                picked = chooser.pick(CONTEXT, content_catalog)
                seen.append((picked.model_version, picked.score))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    workers = [threading.Thread(target=serve) for _ in range(4)]
    for worker in workers:
        worker.start()
    target = model_file(model_dir, 2)
    card_path(target).write_bytes(card_path(v2).read_bytes())
    content = v2.read_bytes()
    with target.open("wb") as out:
        for start in range(0, len(content), 1000):
            out.write(content[start : start + 1000])
            out.flush()
            registry.reload()
            time.sleep(0.01)
    deadline = time.monotonic() + 10
    while registry.current.version != "willay-recommender-v2" and time.monotonic() < deadline:
        registry.reload()
        time.sleep(0.01)
    served_before = len(seen)
    while len(seen) < served_before + 50 and not failures:
        time.sleep(0.01)
    stop.set()
    for worker in workers:
        worker.join()

    assert failures == []
    assert registry.current.version == "willay-recommender-v2"
    versions = {version for version, _ in seen}
    assert versions == set(expected)
    for version, score in seen:
        assert score == pytest.approx(float(expected[version].max()), abs=1e-6), version


def test_the_background_watch_swaps_in_a_new_file(model_dir, shipped_model, float_twin) -> None:
    registry = ModelRegistry(model_dir, poll_seconds=0.05)
    registry.start()
    try:
        install_model(shipped_model, model_dir, 3, content=float_twin)
        deadline = time.monotonic() + 10
        while registry.current.version != "willay-recommender-v3":
            assert time.monotonic() < deadline, "the watch never swapped in v3"
            time.sleep(0.02)
    finally:
        registry.close()
