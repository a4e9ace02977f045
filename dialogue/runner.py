"""The action runner: from a step, run action steps until one is to be shown or heard."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from dialogue.actions import Action
from dialogue.journeys import ActionStep
from dialogue.turn import Jump, Turn
from willay.errors import ConfigurationError

__all__ = ["MAX_ACTION_CHAIN", "run_actions"]

MAX_ACTION_CHAIN = 8  # actions (and plays) in a row from one step: more is a loop in the data

T = TypeVar("T", bound=Turn)
S = TypeVar("S")


def run_actions(
    turn: T,
    start: str,
    *,
    steps: Mapping[str, S],
    actions: Mapping[str, Action[T]],
    passes: Callable[[S], str | None] | None = None,
) -> str | Jump:
    """The step to rest on from `start`, running each action step on the way (or its `Jump`).

    `passes(step)` names the step after one the channel goes through without resting (an IVR
    play), or None to rest on it; without it, every step but an action is one to rest on.
    """
    name = start
    for _ in range(MAX_ACTION_CHAIN):
        step = steps[name]
        if isinstance(step, ActionStep):
            outcome = actions[step.run](turn)
            if isinstance(outcome, Jump):
                return outcome
            if outcome not in step.next:
                raise ConfigurationError(f"step {name!r} has no next for outcome {outcome!r}")
            name = step.next[outcome]
        elif passes is not None and (after := passes(step)) is not None:
            name = after
        else:
            return name
    raise ConfigurationError(f"more than {MAX_ACTION_CHAIN} actions in a row from {start!r}")
