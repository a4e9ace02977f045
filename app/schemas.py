"""What the app sends: a request for its next tips, and events it recorded (maybe offline)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["AppEvent", "AppEvents", "PickLog", "QueueRequest"]

Install = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16,64}$")]
Session = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
Lang = Literal["es", "quy", "quz"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueueRequest(_In):
    """The next tips for this person: `exclude` what the app already holds or showed."""

    install: Install
    lang: Lang
    topic: Slug | None = None
    exclude: list[Slug] = Field(default=[], max_length=300)
    n: int = Field(default=5, ge=1, le=10)


class PickLog(_In):
    """How the server chose the tip, carried back with its events."""

    score: float
    propensity: float = Field(ge=0, le=1)
    model_version: str = Field(max_length=64)
    arm: Literal["model", "holdout", "rules"] = "model"  # which policy chose it


class AppEvent(_In):
    """One thing that happened in the app; `id` makes sending it again harmless."""

    id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    ts: dt.datetime
    kind: Literal["consent", "profile_update", "tip_served", "feedback", "alert_seen"]
    session: Session
    lang: Lang
    tip_id: Slug | None = None
    useful: bool | None = None
    accepted: bool | None = None
    region: Slug | None = None
    alert_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")] | None = None
    pick: PickLog | None = None


class AppEvents(_In):
    """A batch of events of one install, oldest first."""

    install: Install
    events: list[AppEvent] = Field(min_length=1, max_length=200)
