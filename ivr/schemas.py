"""Africa's Talking voice callbacks, as the provider posts them (form fields, camelCase)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from willay.profiles import normalise_msisdn

__all__ = ["AtVoiceForm"]


class AtVoiceForm(BaseModel):
    """One voice notification: a new call, digits pressed, or (`isActive=0`) the call's end."""

    model_config = ConfigDict(extra="ignore")

    isActive: Literal["0", "1"]
    sessionId: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    direction: Literal["Inbound", "Outbound"] = "Inbound"
    callerNumber: str | None = Field(default=None, max_length=32)
    destinationNumber: str | None = Field(default=None, max_length=32)
    dtmfDigits: str | None = Field(default=None, max_length=32, pattern=r"^[0-9*#]*$")
    callerCountryCode: str | None = Field(default=None, max_length=8)
    callStartTime: str | None = Field(default=None, max_length=64)
    callSessionState: str | None = Field(default=None, max_length=64)
    durationInSeconds: int | None = Field(default=None, ge=0)
    amount: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    currencyCode: str | None = Field(default=None, max_length=8)
    hangupCause: str | None = Field(default=None, max_length=64)

    @field_validator("direction", mode="before")
    @classmethod
    def _capitalised(cls, value: object) -> object:
        return value.capitalize() if isinstance(value, str) else value

    @property
    def active(self) -> bool:
        """False on the final notification, which carries duration and cost."""
        return self.isActive == "1"

    def person(self, service_number: str | None) -> str | None:
        """The phone user's number in international form, or None if withheld or malformed.

        On a call the service placed, whichever number is not the service's own is the person's.
        """
        number = self.callerNumber
        if (
            self.direction == "Outbound"
            and service_number is not None
            and number is not None
            and number.replace(" ", "") == service_number
        ):
            number = self.destinationNumber
        try:
            return normalise_msisdn(number) if number else None
        except ValueError:
            return None
