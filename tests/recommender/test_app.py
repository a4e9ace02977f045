"""The app chooses tips with the shipped model over USSD, and falls back to the rules."""

from __future__ import annotations

import logging
import time

from fastapi.testclient import TestClient

from shell.app import create_app
from tests.fixtures.recommender import install_model
from tests.fixtures.ussd import Phone


def to_main(phone: Phone) -> None:
    phone.dial()
    phone.press("1", "1")  # Español, accept


def served(events) -> list[dict]:
    return [e.data for e in events.events if e.kind == "tip_served"]


def test_a_tip_for_me_comes_from_the_model(settings, events, clock, shipped_model) -> None:
    greedy = settings.model_copy(update={"exploration_epsilon": 0.0, "recommender_holdout": 0.0})
    with TestClient(create_app(greedy, events=events, clock=clock)) as client:
        phone = Phone(client)
        to_main(phone)
        phone.press("3", "1", "98", "8")  # my profile -> region -> page 2 -> Cusco
        phone.press("00")
        tip = phone.press("1")  # a tip for me, on 15 June
        assert not tip.end and tip.status == 200
        phone.press("3")  # another tip
    first, second = served(events)
    assert first["model_version"] == second["model_version"] == shipped_model.stem
    assert first["topic"] == "heladas" and first["region"] == "cusco"
    assert first["tip_id"] != second["tip_id"]
    assert 0 < first["score"] < 1 and first["propensity"] > 0.9


def test_without_a_model_the_rules_choose_and_say_why(
    settings, events, clock, tmp_path, caplog
) -> None:
    empty = settings.model_copy(update={"model_dir": tmp_path})
    with (
        caplog.at_level(logging.WARNING, logger="shell.lifespan"),
        TestClient(create_app(empty, events=events, clock=clock)) as client,
    ):
        phone = Phone(client)
        to_main(phone)
        phone.press("1")
    assert served(events)[0]["model_version"] == "rules-1"
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "no willay-recommender-v<N>.tflite file in" in warning
    assert "choosing tips with the rule-based picker" in warning


def test_rules_can_be_chosen(settings, events, clock) -> None:
    rules = settings.model_copy(update={"recommender": "rules"})
    with TestClient(create_app(rules, events=events, clock=clock)) as client:
        phone = Phone(client)
        to_main(phone)
        phone.press("1")
    assert served(events)[0]["model_version"] == "rules-1"


def test_a_newer_model_is_served_without_a_restart(
    settings, events, clock, model_dir, shipped_model, float_twin
) -> None:
    watched = settings.model_copy(
        update={"model_dir": model_dir, "model_poll_seconds": 0.05, "recommender_holdout": 0.0}
    )
    with TestClient(create_app(watched, events=events, clock=clock)) as client:
        phone = Phone(client)
        to_main(phone)
        phone.press("1")
        install_model(shipped_model, model_dir, 2, content=float_twin)
        deadline = time.monotonic() + 10
        while served(events)[-1]["model_version"] != "willay-recommender-v2":
            assert time.monotonic() < deadline, "v2 was never served"
            time.sleep(0.05)
            phone.press("3")  # another tip
    assert served(events)[0]["model_version"] == "willay-recommender-v1"


def test_the_app_leaves_its_holdout_share_to_the_rule_picker(
    settings, events, clock, shipped_model
) -> None:
    half = settings.model_copy(update={"recommender_holdout": 0.5})
    with TestClient(create_app(half, events=events, clock=clock)) as client:
        phone = Phone(client)
        to_main(phone)
        phone.press("1")
        for _ in range(19):  # both arms, but for a chance of 2 in a million
            phone.press("3")  # another tip
    arms = {(d["arm"], d["model_version"]) for d in served(events)}
    assert arms == {("model", shipped_model.stem), ("holdout", "rules-1")}, arms
