"""What the USSD journey and the IVR call flow share: both are YAML files of named steps.

`ActionStep` is the step that runs a named action and follows `next[outcome]` (its `next` must
give a branch for every outcome the action declares, and none it never answers); `read_definition`
parses a definition file into its model, gathering every error; `menu_depths` measures how many
menus deep each step sits, for the "no menu deeper than 4 levels" rule.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from dialogue.actions import Action
from willay.errors import MenuDefinitionError

__all__ = ["MAX_DEPTH", "ActionStep", "menu_depths", "read_definition"]

MAX_DEPTH = 4

M = TypeVar("M", bound=BaseModel)
S = TypeVar("S")


class ActionStep(BaseModel):
    """Runs an action and goes on to `next[outcome]`; never shown nor heard."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["action"]
    run: str
    next: dict[str, str]

    @field_validator("next", mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        return {"ok": value} if isinstance(value, str) else value

    def targets(self) -> list[str]:
        """The steps of its outcomes."""
        return list(self.next.values())

    def action_problems(self, where: str, actions: Mapping[str, Action[Any]]) -> list[str]:
        """An action the channel does not have, an outcome of it with no branch, a branch for
        an outcome it never answers."""
        action = actions.get(self.run)
        if action is None:
            return [f"{where}: unknown action {self.run!r}"]
        missing = sorted(action.outcomes - self.next.keys())
        stray = sorted(self.next.keys() - action.outcomes)
        return [f"{where}: no next for outcome {o!r} of {self.run}" for o in missing] + [
            f"{where}: {self.run} never answers {o!r}" for o in stray
        ]


def read_definition(path: Path, model: type[M]) -> M:
    """The YAML file at `path` as `model`; `MenuDefinitionError` lists every problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MenuDefinitionError([f"{path}: cannot read YAML: {exc}"]) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise MenuDefinitionError(
            [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        ) from exc


def menu_depths(
    steps: Mapping[str, S],
    start: str,
    *,
    targets: Callable[[str], list[str]],
    counts: Callable[[S], bool],
    stop: Collection[str] = (),
) -> dict[str, int]:
    """Menu levels from `start`: a step adds a level when `counts(step)`; `stop` is not crossed.

    Targets naming no step are skipped (the loaders report them as dangling).
    """
    depth = {start: 1}
    queue = deque([start])
    while queue:
        name = queue.popleft()
        for target in targets(name):
            if target not in steps or target in depth:
                continue
            depth[target] = depth[name] + (1 if counts(steps[target]) else 0)
            if target not in stop:
                queue.append(target)
    return depth
