"""What one channel may ask another to send a person: the `TipTexter` protocol.

The USSD engine texts the tip that was on screen when a session was cut short, without knowing
the SMS channel: the app wires `sms.SmsTipTexter` into the USSD services. An implementation must
return at once (send in the background) and text a session's tip at most once.
"""

from __future__ import annotations

from typing import Protocol

from willay.profiles import Subscriber

__all__ = ["TipTexter"]


class TipTexter(Protocol):
    """Texts a person the tip they were reading."""

    async def text_tip(
        self, *, subscriber: Subscriber, phone: str, tip_id: str, lang: str, session_id: str
    ) -> bool:
        """Queue the tip for `phone`; False if this session's tip was already texted."""
        ...
