"""Dependency aliases for the IVR routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ivr.channel import IvrChannel

__all__ = ["IvrChannelDep"]


def get_channel(request: Request) -> IvrChannel:
    return request.state.ivr


IvrChannelDep = Annotated[IvrChannel, Depends(get_channel)]
