"""Africa's Talking SMS callbacks as the provider posts them (form fields), and our answers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from willay.profiles import MsisdnInput as Msisdn

__all__ = [
    "AtDeliveryReport",
    "AtInboundSms",
    "DeliveryPublic",
    "DeliveryState",
    "DeliveryStatus",
    "InboundAction",
    "InboundPublic",
]

DeliveryStatus = Literal[
    "Sent", "Submitted", "Buffered", "Rejected", "Success", "Failed", "Expired"
]
DeliveryState = Literal["delivered", "sent", "failed"]
InboundAction = Literal["unsubscribed", "not_subscribed", "ignored", "duplicate"]
ProviderId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class _AtForm(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    networkCode: str | None = Field(default=None, max_length=16, pattern=r"^[0-9]*$")


class AtInboundSms(_AtForm):
    """An SMS a person sent to our short code."""

    sender: Msisdn = Field(alias="from")
    to: str = Field(min_length=1, max_length=32)
    text: str = Field(default="", max_length=1600)
    date: str = Field(min_length=1, max_length=64)
    id: ProviderId
    linkId: str | None = Field(default=None, max_length=128)


class AtDeliveryReport(_AtForm):
    """The provider's report on a message we sent (`id` is the send's `messageId`)."""

    id: ProviderId
    status: DeliveryStatus
    phoneNumber: Msisdn
    failureReason: str | None = Field(default=None, max_length=64)
    retryCount: int | None = Field(default=None, ge=0, le=1000)


class InboundPublic(BaseModel):
    """What the inbound SMS did: `unsubscribed`, `not_subscribed`, `ignored` or `duplicate`."""

    action: InboundAction


class DeliveryPublic(BaseModel):
    """The state the report put the message in: `delivered`, `sent` or `failed`."""

    state: DeliveryState
    known: bool = Field(description="the message id is one of ours")
