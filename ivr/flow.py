"""The call flow as data: the YAML as typed nodes and prompts, validated as a whole before serving.

Shorthand is normalised on load (`"1": main` becomes `{next: main}`, `next: x` on an action
becomes `{ok: x}`, a prompt's languages sit beside its `mixed` flag), so the engine handles one
shape. `load_flow` gathers every problem (unknown type or action, an outcome with no branch,
dangling next node, a missing prompt or language, a key that is not one digit, an option value
the action cannot take, a node never reached, a menu deeper than 4 levels) and raises
`MenuDefinitionError` with all of them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from audio_cache import MIXED, Segment, Utterance
from dialogue import MAX_DEPTH, Action, ActionStep, menu_depths, read_definition
from willay.errors import ConfigurationError, MenuDefinitionError
from willay.languages import REQUIRED_LANGUAGES, pick_text

__all__ = [
    "FLOW_FILE",
    "MAX_DEPTH",
    "ActionNode",
    "EndNode",
    "Flow",
    "MenuNode",
    "Node",
    "Option",
    "PlayNode",
    "Prompt",
    "TipNode",
    "load_flow",
]

FLOW_FILE = Path(__file__).parent / "flows" / "call.yaml"
KEYS = "0123456789"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prompt(_Model):
    """What a caller hears, per language; `mixed`: every language in a row, in one clip."""

    texts: dict[str, str]
    mixed: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        if isinstance(value, dict) and "texts" not in value:
            texts = {k: v for k, v in value.items() if k != "mixed"}
            return {"texts": texts, "mixed": value.get("mixed", False)}
        return value

    def text(self, lang: str) -> str:
        """The text in `lang` (or its fallback); all of them, in order, for a mixed prompt."""
        if self.mixed:
            return " ".join(self.texts.values())
        return pick_text(self.texts, lang)[0]


class Option(_Model):
    next: str
    value: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        return {"next": value} if isinstance(value, str) else value


class _Asking(_Model):
    prompt: str
    options: dict[str, Option]

    def targets(self) -> list[str]:
        """The nodes one key away."""
        return [o.next for o in self.options.values()]


class MenuNode(_Asking):
    """Asks `prompt` and follows the key pressed."""

    type: Literal["menu"]


class TipNode(_Asking):
    """Plays the tip being served, then asks `prompt` like a menu."""

    type: Literal["tip"]


class ActionNode(ActionStep):
    """Runs an action (ivr/actions.py) and goes on to `next[outcome]`; never heard."""


class PlayNode(_Model):
    """Plays `prompt` and goes on to `next` without waiting for a key."""

    type: Literal["play"]
    prompt: str
    next: str

    def targets(self) -> list[str]:
        """The node after it."""
        return [self.next]


class EndNode(_Model):
    """Plays `prompt`; the call ends."""

    type: Literal["end"]
    prompt: str

    def targets(self) -> list[str]:
        """None: the call ends here."""
        return []


Node = Annotated[MenuNode | TipNode | ActionNode | PlayNode | EndNode, Field(discriminator="type")]


class Flow(_Model):
    initial: str
    home: str
    goodbye: str
    repeat_key: Literal["*"] = "*"  # "#" ends a GetDigits input, so it cannot be a key
    max_replays: int = Field(default=2, ge=0, le=3)
    prompts: dict[str, Prompt]
    nodes: dict[str, Node]

    def targets(self, name: str) -> list[str]:
        """The nodes reachable in one step from node `name`."""
        return self.nodes[name].targets()

    def heard(self, name: str) -> MenuNode | TipNode | EndNode:
        """Node `name`, which a caller hears (a call never rests on an action or a play)."""
        node = self.nodes[name]
        if isinstance(node, ActionNode | PlayNode):
            raise ConfigurationError(f"node {name!r} is never heard")
        return node

    def utterances(self) -> list[Utterance]:
        """Every prompt in every language it has (one `mul` clip for a mixed prompt)."""
        found = []
        for name, prompt in self.prompts.items():
            segments = tuple(Segment(lang, text) for lang, text in prompt.texts.items())
            if prompt.mixed:
                found.append(Utterance(kind="prompt", id=name, lang=MIXED, segments=segments))
            else:
                found += [
                    Utterance(kind="prompt", id=name, lang=s.lang, segments=(s,)) for s in segments
                ]
        return found


def _depths(flow: Flow, start: str) -> dict[str, int]:
    """Menu levels from `start`: action and play nodes pass through without a level."""
    return menu_depths(
        flow.nodes,
        start,
        targets=flow.targets,
        counts=lambda node: isinstance(node, MenuNode | TipNode),
    )


def _node_problems(
    flow: Flow, *, actions: Mapping[str, Action[Any]], choices: Mapping[str, Collection[str]]
) -> list[str]:
    problems = []
    for name, node in flow.nodes.items():
        where = f"nodes.{name}"
        for target in flow.targets(name):
            if target not in flow.nodes:
                problems.append(f"{where}: next node {target!r} does not exist")
        if isinstance(node, ActionNode):
            problems += node.action_problems(where, actions)
        prompt = getattr(node, "prompt", None)
        if prompt is not None and prompt not in flow.prompts:
            problems.append(f"{where}: prompt {prompt!r} does not exist")
        for key, option in getattr(node, "options", {}).items():
            if len(key) != 1 or key not in KEYS:
                problems.append(f"{where}: key {key!r} is not one digit")
            step = flow.nodes.get(option.next)
            if (
                isinstance(step, ActionNode)
                and step.run in choices
                and option.value not in choices[step.run]
            ):
                problems.append(f"{where}.options.{key}: {step.run} cannot take {option.value!r}")
    return problems


def _entry_problems(flow: Flow) -> list[str]:
    problems = []
    for field, kind in (("initial", None), ("home", "menu"), ("goodbye", "end")):
        name = getattr(flow, field)
        if name not in flow.nodes:
            problems.append(f"{field}: no node named {name!r}")
        elif kind is not None and flow.nodes[name].type != kind:
            problems.append(f"{field}: {name!r} must be a node of type {kind}")
    return problems


def _prompt_problems(flow: Flow, *, notices: Collection[str]) -> list[str]:
    problems = []
    for notice in notices:
        if notice not in flow.prompts:
            problems.append(f"prompts: missing {notice!r} (the engine plays it)")
    for name, prompt in flow.prompts.items():
        missing = [code for code in REQUIRED_LANGUAGES if not prompt.texts.get(code)]
        if missing:
            problems.append(f"prompts.{name}: missing language {', '.join(missing)}")
    return problems


def _reach_problems(flow: Flow) -> list[str]:
    problems = []
    if flow.initial in flow.nodes:
        for name in sorted(set(flow.nodes) - set(_depths(flow, flow.initial))):
            problems.append(f"nodes.{name}: never reached from {flow.initial!r}")
    if flow.home in flow.nodes:
        for name, level in _depths(flow, flow.home).items():
            if level > MAX_DEPTH:
                problems.append(f"nodes.{name}: menu level {level}, deeper than {MAX_DEPTH}")
    return problems


def load_flow(
    path: Path,
    *,
    actions: Mapping[str, Action[Any]],
    choices: Mapping[str, Collection[str]],
    notices: Collection[str],
) -> Flow:
    """Parse and validate a flow file; raise `MenuDefinitionError` listing every problem.

    `actions` are ivr/actions.py's, by name, `choices` the option values an action
    accepts (languages, topics), `notices` the prompts the engine plays by name.
    """
    flow = read_definition(path, Flow)
    problems = [
        *_entry_problems(flow),
        *_node_problems(flow, actions=actions, choices=choices),
        *_prompt_problems(flow, notices=notices),
        *_reach_problems(flow),
    ]
    if problems:
        raise MenuDefinitionError(problems)
    return flow
