""" "Text me this": the tip on screen when a USSD session was cut short, sent once by SMS.

`SmsTipTexter` implements `willay.messaging.TipTexter`. It claims the session (so a repeated
end-of-session notice texts nothing more) and hands the send to a background task, so the
notice is answered without waiting for the provider. Sends in flight are awaited at shutdown.
"""

from __future__ import annotations

import asyncio
import logging

from sms.message import compose_tip
from sms.services import Recipient, SmsServices
from willay.errors import WillayError
from willay.events import EventKind
from willay.profiles import Subscriber

__all__ = ["SmsTipTexter"]

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 8


class SmsTipTexter:
    """Texts the tip a person was reading, at most once per USSD session."""

    def __init__(self, services: SmsServices) -> None:
        self._services = services
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def text_tip(
        self, *, subscriber: Subscriber, phone: str, tip_id: str, lang: str, session_id: str
    ) -> bool:
        """Queue the tip for `phone`; False if unknown or this session's tip was texted already."""
        if tip_id not in self._services.catalog.by_id:
            return False
        if not await self._services.store.claim_texted(session_id):
            return False
        recipient = Recipient(subscriber=subscriber.id, number=phone, lang=lang)
        task = asyncio.create_task(self._send(recipient, tip_id=tip_id, session_id=session_id))
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return True

    async def _send(self, recipient: Recipient, *, tip_id: str, session_id: str) -> None:
        services = self._services
        message = compose_tip(services.catalog.by_id[tip_id], recipient.lang)
        async with self._slots:
            try:
                await services.deliver(
                    message, [recipient], purpose="texted", session=session_id, tip_id=tip_id
                )
            except WillayError as exc:
                log.warning("tip of session %s not texted: %s", session_id, exc.message)
                services.emit(
                    EventKind.sms_failed,
                    subscriber=recipient.subscriber,
                    lang=recipient.lang,
                    session=session_id,
                    purpose="texted",
                    tip_id=tip_id,
                    status=type(exc).__name__,
                )

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("texting a tip failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for every send in flight (at shutdown, and in tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
