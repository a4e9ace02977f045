"""Africa's Talking voice callbacks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form
from fastapi.responses import Response

from dialogue import record_failure
from ivr.deps import IvrChannelDep
from ivr.engine import IvrEngine, IvrReply
from ivr.schemas import AtVoiceForm
from ivr.turn import CHANNEL
from willay.security import CALLBACK_TAG

__all__ = ["router"]

router = APIRouter(prefix="/ivr", tags=["ivr", CALLBACK_TAG])


@router.post("/africastalking", response_class=Response)
async def ivr_notification(
    *, form: Annotated[AtVoiceForm, Form()], ivr: IvrChannelDep, background: BackgroundTasks
) -> Response:
    """One voice notification: answers Africa's Talking voice XML (`application/xml`)."""
    try:
        reply = await ivr.engine.handle(form)
        xml = ivr.xml.render(reply)
    except Exception as exc:  # noqa: BLE001 - every failure of a call step is an apology
        reply = _failed(ivr.engine, form, exc=exc)
        xml = ivr.xml.render(reply)
    if reply.call_back and ivr.callbacks is not None:
        background.add_task(ivr.callbacks.call_back, reply.call_back, reply.subscriber or "")
    return Response(xml, media_type="application/xml")


def _failed(engine: IvrEngine, form: AtVoiceForm, *, exc: Exception) -> IvrReply:
    """The one answer to any failure of a call step: the spoken apology, then the line hangs up.

    The provider always gets valid voice XML, never internal detail.
    """
    record_failure(
        engine.services.events,
        channel=CHANNEL,
        what="voice notification",
        session_id=form.sessionId,
        exc=exc,
        digits=form.dtmfDigits,
    )
    return engine.unavailable()
