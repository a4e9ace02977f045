"""Africa's Talking USSD requests, as the provider posts them (form fields, camelCase)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from willay.profiles import MsisdnInput

__all__ = ["TEXT_MAX", "AtUssdForm", "AtUssdNotice"]

TEXT_MAX = 1024  # characters of `text`; a longer one ends the session politely


class _AtForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sessionId: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    phoneNumber: MsisdnInput
    serviceCode: str | None = Field(default=None, max_length=32)
    networkCode: str | None = Field(default=None, max_length=16)


class AtUssdForm(_AtForm):
    """One hop: `text` is every input of the session so far, joined by `*`."""

    serviceCode: str = Field(min_length=1, max_length=32)
    text: str = Field(
        default="",
        description=f"every input so far, joined by `*`; over {TEXT_MAX} characters the "
        "session ends politely (`END`)",
    )

    @property
    def too_long(self) -> bool:
        """True when `text` is past what one session may hold."""
        return len(self.text) > TEXT_MAX


class AtUssdNotice(_AtForm):
    """The end-of-session notice posted to the events URL."""

    status: Literal["Success", "Incomplete", "Failed"]
    durationInMillis: int | None = Field(default=None, ge=0)
    hopsCount: int | None = Field(default=None, ge=0)
    input: str | None = Field(default=None, max_length=1024)
    lastAppResponse: str | None = Field(default=None, max_length=2048)
    errorMessage: str | None = Field(default=None, max_length=2048)
    cost: str | None = Field(default=None, max_length=64)
    date: str | None = Field(default=None, max_length=64)
