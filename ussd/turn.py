"""One hop of one USSD session: the dialogue's turn, with what only USSD keeps.

Nothing a turn does leaves the process until the hop commits: profile changes, a dropped resume
snapshot and events are held in the turn, written in the hop's one atomic write and published
after it, so a hop that loses a race (and is computed again) leaves no trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from dialogue import Conversation, Services, Turn
from ussd.store import HopWrite, SessionStore, UssdSession
from willay.messaging import TipTexter

__all__ = ["UssdServices", "UssdTurn"]


@dataclass(frozen=True, kw_only=True)
class UssdServices(Services):
    """The dialogue's services, the session store and "text me this", built once by the app."""

    sessions: SessionStore
    texter: TipTexter | None = None  # "text me this": SMS the tip of a session cut short


@dataclass(kw_only=True)
class UssdTurn(Turn):
    """The session being served, its resume snapshot, and the hop's changes to write."""

    channel: ClassVar[str] = "ussd"

    session: UssdSession
    phone: str
    resume: UssdSession | None = None  # the snapshot of this person's session cut short
    profile_deleted: bool = False
    resume_dropped: bool = False

    @property
    def conversation(self) -> Conversation:
        """The session."""
        return self.session

    def note(self, notice: str) -> None:
        """Show `notice` as a line above the next screen."""
        self.session.notice = notice

    def tip_served(self) -> None:
        """Nothing more: the tip screen shows the session's tip."""

    def delete_subscriber(self) -> None:
        """Erase the profile with the hop."""
        self.subscriber, self.profile_deleted = None, True

    def drop_resume(self) -> None:
        """Forget the resume snapshot with the hop."""
        self.resume, self.resume_dropped = None, True

    def write(self) -> HopWrite:
        """The hop's changes to store in its one atomic write."""
        profile = self.subscriber if self.profile_changed else None
        return HopWrite(
            session=self.session.model_dump_json(),
            profile=profile.model_dump_json() if profile is not None else None,
            delete_profile=self.profile_deleted and self.subscriber is None,
            sms_subscribed=profile is not None and profile.sms_subscribed,
            drop_resume=self.resume_dropped,
            session_model=self.session,
            profile_model=profile,
        )
