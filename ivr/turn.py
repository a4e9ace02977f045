"""One notification of one call: the dialogue's turn over the call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from dialogue import Conversation, Services, Turn
from ivr.store import CallStore, IvrCall

__all__ = ["CHANNEL", "CallTurn", "IvrServices"]

CHANNEL = "ivr"


@dataclass(frozen=True, kw_only=True)
class IvrServices(Services):
    """The dialogue's services and the call store, built once by the channel."""

    calls: CallStore


@dataclass(kw_only=True)
class CallTurn(Turn):
    """The call being served; its profile and events are stored when the engine saves the call."""

    channel: ClassVar[str] = CHANNEL

    call: IvrCall

    @property
    def conversation(self) -> Conversation:
        """The call."""
        return self.call

    def note(self, notice: str) -> None:
        """Play prompt `notice` before what the caller hears next."""
        self.call.notices.append(notice)

    def tip_served(self) -> None:
        """The tip node plays the tip just picked."""
        self.call.play_tip = True
