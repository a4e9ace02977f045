"""What the app sends: a request for its next tips, and events it recorded (maybe offline)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from willay.languages import Language

__all__ = ["AppEvent", "AppEvents", "PickLog", "QueueRequest"]

Install = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16,64}$")]
Session = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]


def _iso_text(value: object) -> object:
    """A date-time as the schema says: ISO 8601 text, never a number read as a Unix time."""
    if not isinstance(value, str | dt.datetime):
        raise ValueError("must be an ISO 8601 date-time string")
    return value


Timestamp = Annotated[dt.datetime, BeforeValidator(_iso_text)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueueRequest(_In):
    """The next tips for this person: `exclude` what the app already holds or showed."""

    install: Install
    lang: Language
    topic: Slug | None = None
    exclude: list[Slug] = Field(default=[], max_length=300)
    n: int = Field(default=5, ge=1, le=10)

    @field_validator("n", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> object:
        """An integer as the schema says (`3.0` too), never a string or a boolean coerced."""
        if isinstance(value, bool | str):
            raise ValueError("must be an integer")
        return value


class PickLog(_In):
    """How the server chose the tip, carried back with its events."""

    score: float = Field(strict=True)  # strict: a number, never a boolean or string coerced
    propensity: float = Field(ge=0, le=1, strict=True)
    model_version: str = Field(max_length=64)
    # which policy chose it (`recommender.PickedTip.arm`): the server sends it, the app returns it
    arm: Literal["model", "holdout", "rules"] = "model"


class AppEvent(_In):
    """One thing that happened in the app; `id` makes sending it again harmless."""

    id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
    ts: Timestamp
    kind: Literal["consent", "profile_update", "tip_served", "feedback", "alert_seen"]
    session: Session
    lang: Language
    tip_id: Slug | None = None
    useful: bool | None = Field(default=None, strict=True)
    accepted: bool | None = Field(default=None, strict=True)
    region: Slug | None = None
    alert_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")] | None = None
    pick: PickLog | None = None


class AppEvents(_In):
    """A batch of events of one install, oldest first."""

    install: Install
    events: list[AppEvent] = Field(min_length=1, max_length=200)
