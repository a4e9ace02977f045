"""Sending SMS through Africa's Talking's bulk API with the official SDK, off the event loop.

The SDK blocks (it calls `requests`), so each request runs in a worker thread. Its answer is
checked and turned into one `Receipt` per recipient; errors become `ProviderError`, or
`ProviderTimeout` when the request left but no answer came back (it may have been sent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests
from africastalking.SMS import SMSService
from pydantic import BaseModel, ValidationError

from willay.errors import ProviderError, ProviderTimeout
from willay.provider import provider_errors

__all__ = ["ACCEPTED", "BLACKLISTED", "RETRYABLE", "Receipt", "SmsGateway"]

ACCEPTED = frozenset({100, 101, 102})  # Processed, Sent, Queued
BLACKLISTED = 406  # UserInBlacklist: the person opted out with the provider
# RiskHold, InsufficientBalance, CouldNotRoute, InternalServerError, GatewayError, RejectedByGateway
RETRYABLE = frozenset({401, 405, 407, 500, 501, 502})


@dataclass(frozen=True)
class Receipt:
    """The provider's answer for one recipient of a bulk send."""

    number: str
    status_code: int
    status: str
    message_id: str | None
    cost: str | None = None

    @property
    def accepted(self) -> bool:
        """Whether the provider took the message for delivery."""
        return self.status_code in ACCEPTED


class _Recipient(BaseModel):
    statusCode: int
    number: str
    status: str
    cost: str | None = None
    messageId: str | None = None


class _MessageData(BaseModel):
    Message: str = ""
    Recipients: list[_Recipient]


class _Reply(BaseModel):
    SMSMessageData: _MessageData


def _receipts(reply: Any) -> dict[str, Receipt]:
    try:
        data = _Reply.model_validate(reply).SMSMessageData
    except ValidationError as exc:
        raise ProviderError(f"Africa's Talking SMS send: unexpected answer ({exc})") from exc
    return {
        r.number: Receipt(
            number=r.number,
            status_code=r.statusCode,
            status=r.status,
            message_id=r.messageId if r.messageId not in (None, "", "None") else None,
            cost=r.cost,
        )
        for r in data.Recipients
    }


class SmsGateway:
    """Bulk SMS through the SDK's `SMSService`, from the configured sender id or short code."""

    def __init__(self, service: SMSService, *, sender_id: str | None) -> None:
        self._service = service
        self._sender_id = sender_id

    def _send(self, message: str, numbers: list[str]) -> Any:
        with provider_errors("SMS send"):
            try:
                return self._service.send(message, numbers, sender_id=self._sender_id)
            except requests.ReadTimeout as exc:
                raise ProviderTimeout(f"Africa's Talking SMS send: no answer ({exc})") from exc

    async def send(self, message: str, numbers: Sequence[str]) -> dict[str, Receipt]:
        """Send `message` to every number in one request; the receipts by number."""
        reply = await asyncio.to_thread(self._send, message, list(numbers))
        return _receipts(reply)
