"""The actions a flow's `action` nodes run, by name: the dialogue's shared actions and the one
only a call has (hear the tip again)."""

from __future__ import annotations

from dialogue import ACTIONS as SHARED_ACTIONS
from dialogue import Action, answers
from ivr.turn import CallTurn

__all__ = ["ACTIONS"]


@answers("ok")
def repeat_tip(turn: CallTurn) -> str:
    """Play the tip being served once more."""
    turn.call.play_tip = turn.call.tip_id is not None
    return "ok"


ACTIONS: dict[str, Action[CallTurn]] = {**SHARED_ACTIONS, "repeat_tip": repeat_tip}
