"""An action step against the actions' declared outcomes: every outcome has a branch, no branch
is for an outcome the action never answers."""

from __future__ import annotations

import pytest

from dialogue import ACTIONS, ActionStep, answers
from ivr.actions import ACTIONS as CALL_ACTIONS
from ussd.actions import ACTIONS as USSD_ACTIONS


@answers("yes", "no")
def ask(turn: object) -> str:
    """A test action."""
    return "yes"


def step(run: str, next_: dict[str, str] | str) -> ActionStep:
    return ActionStep.model_validate({"type": "action", "run": run, "next": next_})


def test_answers_declares_the_outcomes_on_the_action_itself() -> None:
    assert ask.outcomes == frozenset({"yes", "no"})
    assert ask.__name__ == "ask" and ask.__doc__ == "A test action."


@pytest.mark.parametrize("registry", [ACTIONS, USSD_ACTIONS, CALL_ACTIONS])
def test_every_action_declares_what_it_answers(registry) -> None:
    for name, action in registry.items():
        assert action.outcomes and all(isinstance(o, str) for o in action.outcomes), name


def test_a_step_covering_every_outcome_has_no_problem() -> None:
    assert step("ask", {"yes": "a", "no": "b"}).action_problems("s", {"ask": ask}) == []


def test_a_steps_targets_are_its_branches() -> None:
    assert step("ask", {"yes": "a", "no": "b"}).targets() == ["a", "b"]
    assert step("ask", "c").targets() == ["c"]


def test_a_missing_and_a_stray_branch_are_both_named() -> None:
    assert step("ask", {"yes": "a", "maybe": "b"}).action_problems("s", {"ask": ask}) == [
        "s: no next for outcome 'no' of ask",
        "s: ask never answers 'maybe'",
    ]


def test_the_shorthand_next_is_the_ok_outcome_only() -> None:
    assert step("ask", "a").action_problems("s", {"ask": ask}) == [
        "s: no next for outcome 'no' of ask",
        "s: no next for outcome 'yes' of ask",
        "s: ask never answers 'ok'",
    ]


def test_an_unknown_action_is_one_problem() -> None:
    assert step("fly", "a").action_problems("s", {"ask": ask}) == ["s: unknown action 'fly'"]
