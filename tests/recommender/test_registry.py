"""Versioned model files: pinned or newest first, hot swap under load, corrupt files refused,
rollback by pin or by deletion."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from recommender import ExplorationPolicy, ModelPicker, ModelRegistry, PickContext, load_model
from recommender.registry import PIN_FILE, clear_pin, model_file, model_files, read_pin, write_pin
from recommender.runtime import card_path
from shell.cli import app
from tests.fixtures.recommender import SHIPPED_DIR, install_model
from willay.errors import ModelError

runner = CliRunner()

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


def test_hot_swap_under_concurrent_requests(model_dir, content_catalog) -> None:
    """Threads pick while v2 is written slowly, in pieces, in place (not atomically) and the
    registry reloads over and over: every answer comes whole from v1 or from v2."""
    registry = ModelRegistry(model_dir, poll_seconds=0)
    registry.start()
    chooser = greedy(registry)
    tips = [t for t, _ in chooser.distribution(CONTEXT, content_catalog)]
    expected = {
        "willay-recommender-v1": registry.current.score_tips(
            CONTEXT, tips=tips, catalog=content_catalog
        )
    }
    # another shipped model (the oldest), whose scores differ from the newest's
    v2 = install_model(model_files(SHIPPED_DIR)[-1][1], model_dir / "staging", 2)
    expected["willay-recommender-v2"] = load_model(v2).score_tips(
        CONTEXT, tips=tips, catalog=content_catalog
    )
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


def test_a_pin_rolls_back_and_unpin_rolls_forward(model_dir, shipped_model, float_twin) -> None:
    install_model(shipped_model, model_dir, 2, content=float_twin)
    registry = ModelRegistry(model_dir, poll_seconds=0)
    assert registry.start().version == "willay-recommender-v2"
    write_pin(model_dir, 1)
    assert registry.reload() and registry.current.version == "willay-recommender-v1"
    install_model(shipped_model, model_dir, 3)
    assert not registry.reload(), "a newer file does not override the pin"
    assert ModelRegistry(model_dir, poll_seconds=0).start().version == "willay-recommender-v1"
    assert clear_pin(model_dir) and not clear_pin(model_dir)
    assert registry.reload() and registry.current.version == "willay-recommender-v3"


def test_a_bad_or_dangling_pin_keeps_the_model_serving(model_dir, shipped_model, caplog) -> None:
    registry = ModelRegistry(model_dir, poll_seconds=0)
    registry.start()
    write_pin(model_dir, 7)
    with caplog.at_level(logging.ERROR):
        assert not registry.reload()
    assert "pinned willay-recommender-v7 is not in" in caplog.text
    (model_dir / PIN_FILE).write_text("yesterday's\n")
    assert not registry.reload() and registry.current.version == "willay-recommender-v1"
    assert "is not a model version" in registry.last_error


def test_deleting_the_newest_file_rolls_back(model_dir, shipped_model, float_twin) -> None:
    install_model(shipped_model, model_dir, 2, content=float_twin)
    registry = ModelRegistry(model_dir, poll_seconds=0)
    assert registry.start().version == "willay-recommender-v2"
    model_file(model_dir, 2).unlink()
    assert registry.reload() and registry.current.version == "willay-recommender-v1"


def test_model_pin_unpin_and_status_commands(model_dir, shipped_model, float_twin) -> None:
    install_model(shipped_model, model_dir, 2, content=float_twin)
    folder = ["--model-dir", str(model_dir)]
    pinned = runner.invoke(app, ["model", "pin", "v1", *folder])
    assert pinned.exit_code == 0 and "pinned willay-recommender-v1" in pinned.stdout
    assert read_pin(model_dir) == 1
    status = runner.invoke(app, ["model", "status", *folder])
    assert "v1 published  (pinned)" in status.stdout
    assert "serving: willay-recommender-v1" in status.stdout
    missing = runner.invoke(app, ["model", "pin", "v9", *folder])
    assert missing.exit_code == 1 and read_pin(model_dir) == 1
    assert "not pinned" in " ".join(missing.stderr.split())
    bad = runner.invoke(app, ["model", "pin", "latest", *folder])
    assert bad.exit_code == 1 and "is not a model version" in bad.stderr
    unpinned = runner.invoke(app, ["model", "unpin", *folder])
    assert unpinned.exit_code == 0 and read_pin(model_dir) is None
    status = runner.invoke(app, ["model", "status", *folder])
    assert "serving: willay-recommender-v2" in status.stdout
