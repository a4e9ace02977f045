"""The call flow as data: the shipped flow is valid, and every kind of mistake is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.actions import ACTIONS
from ivr.channel import load_call_flow
from ivr.engine import NOTICES
from ivr.flow import FLOW_FILE, MAX_DEPTH, MenuNode, TipNode, _depths, load_flow
from willay.catalog import load_catalog
from willay.config import PROJECT_ROOT
from willay.errors import MenuDefinitionError

FLOWS = Path(__file__).parent / "flows"
CHOICES = {"set_language": {"es", "quy", "quz"}, "pick_in_topic": {"tbc"}}


def load(name: str):
    return load_flow(FLOWS / name, actions=ACTIONS, choices=CHOICES, notices=NOTICES)


@pytest.fixture(scope="module")
def flow():
    return load_call_flow(load_catalog(PROJECT_ROOT / "content"))


def test_the_shipped_flow_is_valid_and_shallow(flow):
    assert FLOW_FILE.is_file()
    depths = _depths(flow, flow.home)
    assert max(depths.values()) <= MAX_DEPTH
    assert depths["tip"] == 2  # a known caller hears a tip after one key


def test_every_menu_speaks_both_languages_and_keys_are_digits(flow):
    for name, node in flow.nodes.items():
        if isinstance(node, MenuNode | TipNode):
            assert all(key.isdigit() and len(key) == 1 for key in node.options), name
    for name, prompt in flow.prompts.items():
        assert prompt.texts.get("es") and prompt.texts.get("quy"), name


def test_every_topic_of_the_catalog_has_a_key(flow):
    catalog = load_catalog(PROJECT_ROOT / "content")
    offered = {
        option.value
        for name in ("topics", "topics_more")
        for option in flow.nodes[name].options.values()
        if option.value
    }
    assert offered == {t.id for t in catalog.topics}


def test_prompts_become_utterances_with_one_mixed_clip(flow):
    utterances = flow.utterances()
    mixed = [u for u in utterances if u.lang == "mul"]
    assert [u.id for u in mixed] == ["choose_language"]
    assert [s.lang for s in mixed[0].segments] == ["es", "quy", "quz"]
    assert {(u.id, u.lang) for u in utterances} >= {("main", "es"), ("main", "quy")}


def test_valid_small_flow_loads():
    flow = load("valid_small.yaml")
    assert flow.home == "main" and flow.max_replays == 2 and flow.repeat_key == "*"


def test_every_problem_is_reported_at_once():
    with pytest.raises(MenuDefinitionError) as caught:
        load("invalid_many.yaml")
    assert caught.value.problems == [
        "goodbye: 'main' must be a node of type end",
        "nodes.start: unknown action 'launch'",
        "nodes.main: next node 'nowhere' does not exist",
        "nodes.main: key '12' is not one digit",
        "nodes.main: key '*' is not one digit",
        "nodes.main.options.2: pick_in_topic cannot take 'dinosaurios'",
        "nodes.topic: no next for outcome 'unsigned' of pick_in_topic",
        "nodes.deep1: prompt 'missing_prompt' does not exist",
        "nodes.pick: no next for outcome 'none' of pick_for_me",
        "nodes.pick: no next for outcome 'unsigned' of pick_for_me",
        "prompts: missing 'invalid' (the engine plays it)",
        "prompts: missing 'thanks' (the engine plays it)",
        "prompts: missing 'no_tip' (the engine plays it)",
        "prompts: missing 'unavailable' (the engine plays it)",
        "prompts.main: missing language quy",
        "nodes.bye: never reached from 'start'",
        "nodes.orphan: never reached from 'start'",
        "nodes.deep4: menu level 5, deeper than 4",
    ]


def test_unknown_node_type_is_refused():
    with pytest.raises(MenuDefinitionError) as caught:
        load("invalid_type.yaml")
    assert len(caught.value.problems) == 1
    assert "nodes.start" in caught.value.problems[0] and "'screen'" in caught.value.problems[0]


def test_unreadable_file_is_one_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [", encoding="utf-8")
    with pytest.raises(MenuDefinitionError, match="cannot read YAML"):
        load_flow(bad, actions=ACTIONS, choices=CHOICES, notices=NOTICES)
