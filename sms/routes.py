"""Africa's Talking SMS callbacks: inbound messages and delivery reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form

from sms.deps import SmsInboxDep
from sms.schemas import AtDeliveryReport, AtInboundSms, DeliveryPublic, InboundPublic
from willay.retried import RetriedRoute
from willay.security import CALLBACK_TAG

__all__ = ["router"]

router = APIRouter(
    prefix="/sms/africastalking",
    tags=["sms", CALLBACK_TAG],
    route_class=RetriedRoute,
)


@router.post("/inbound", response_model=InboundPublic)
async def inbound_sms(sms: Annotated[AtInboundSms, Form()], inbox: SmsInboxDep) -> InboundPublic:
    """An SMS a person sent: BAJA, STOP or SAQIY ends their weekly SMS and is confirmed."""
    return InboundPublic(action=await inbox.receive(sms))


@router.post("/delivery", response_model=DeliveryPublic)
async def delivery_report(
    report: Annotated[AtDeliveryReport, Form()], inbox: SmsInboxDep
) -> DeliveryPublic:
    """The provider's delivery report on a message we sent."""
    state, known = await inbox.report(report)
    return DeliveryPublic(state=state, known=known)
