"""Africa's Talking voice callbacks."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form
from fastapi.responses import Response

from ivr.deps import IvrChannelDep
from ivr.schemas import AtVoiceForm
from ivr.turn import CHANNEL
from willay.deps import CallbackGuard
from willay.errors import ServiceUnavailable
from willay.events import Event, EventKind

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/ivr", tags=["ivr"], dependencies=[CallbackGuard])


@router.post("/africastalking", response_class=Response)
async def ivr_notification(
    form: Annotated[AtVoiceForm, Form()], ivr: IvrChannelDep, background: BackgroundTasks
) -> Response:
    """One voice notification: answers Africa's Talking voice XML (`application/xml`)."""
    engine = ivr.engine
    try:
        reply = await engine.handle(form)
    except ServiceUnavailable as exc:
        log.error("voice notification %s failed: %s", form.sessionId, exc)
        engine.services.events.publish(
            Event(
                channel=CHANNEL,
                kind=EventKind.error,
                subscriber="unknown",
                session=form.sessionId,
                data={"error": type(exc).__name__, "digits": form.dtmfDigits},
            )
        )
        reply = engine.unavailable()
    if reply.call_back and ivr.callbacks is not None:
        background.add_task(ivr.callbacks.call_back, reply.call_back, reply.subscriber or "")
    return Response(ivr.xml.render(reply), media_type="application/xml")
