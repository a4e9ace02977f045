"""The dialogue layer both voice and menu channels share: a turn over a small conversation
protocol, the action runner, the shared actions, journey and flow definitions, failure records."""

from dialogue.actions import ACTIONS, Action, answers
from dialogue.failure import record_failure
from dialogue.journeys import MAX_DEPTH, ActionStep, menu_depths, read_definition
from dialogue.runner import MAX_ACTION_CHAIN, run_actions
from dialogue.turn import Conversation, Jump, Services, Turn

__all__ = [
    "ACTIONS",
    "Action",
    "ActionStep",
    "Conversation",
    "Jump",
    "MAX_ACTION_CHAIN",
    "MAX_DEPTH",
    "Services",
    "Turn",
    "answers",
    "menu_depths",
    "read_definition",
    "record_failure",
    "run_actions",
]
