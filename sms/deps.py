"""Dependency aliases for the SMS routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sms.channel import SmsChannel
from sms.inbox import SmsInbox

__all__ = ["SmsInboxDep"]


def get_inbox(request: Request) -> SmsInbox:
    channel: SmsChannel = request.state.sms
    return channel.inbox


SmsInboxDep = Annotated[SmsInbox, Depends(get_inbox)]
