"""Missed-call call-back: the service calls the person back, so the call costs them nothing.

The webhook answers `<Reject/>` at once; the call is placed afterwards, off the request path,
through the `africastalking` SDK's voice API. A failure is logged and published as an event,
never raised: there is nobody left to answer.
"""

from __future__ import annotations

import logging
import re

from africastalking.Voice import VoiceService

from ivr.turn import CHANNEL
from willay.errors import ProviderError
from willay.events import Event, EventKind, EventSink
from willay.provider import provider_errors

__all__ = ["CallBacker"]

log = logging.getLogger(__name__)

CALL_TIMEOUT = 10.0  # seconds for the provider to accept the call request
_NUMBER = re.compile(r"\+?\d{6,}")


def _scrubbed(message: str) -> str:
    """An error message without phone numbers (the SDK puts them in some)."""
    return _NUMBER.sub("<number>", message)[:300]


class CallBacker:
    """Places call-backs from the service's voice number."""

    def __init__(self, voice: VoiceService, *, from_number: str, events: EventSink) -> None:
        self._voice = voice
        self._from = from_number
        self._events = events

    def _failed(self, subscriber: str, detail: str) -> None:
        log.error("call-back to %s failed: %s", subscriber, detail)
        self._events.publish(
            Event(
                channel=CHANNEL,
                kind=EventKind.error,
                subscriber=subscriber,
                data={"error": "ProviderError", "stage": "call_back", "detail": detail},
            )
        )

    def call_back(self, number: str, subscriber: str) -> None:
        """Ask the provider to call `number`; runs in a worker thread after the reply is sent."""
        try:
            with provider_errors("call"):
                reply = self._voice.call(self._from, [number], timeout=CALL_TIMEOUT)
        except ProviderError as exc:
            self._failed(subscriber, _scrubbed(exc.message))
            return
        entries = (reply.get("entries") or []) if isinstance(reply, dict) else []
        status = entries[0].get("status") if entries else None
        if status != "Queued":
            self._failed(subscriber, f"call not queued: {_scrubbed(str(status))}")
            return
        log.info("call-back to %s queued as %s", subscriber, entries[0].get("sessionId"))
