"""Dependency aliases for the IVR routes."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from ivr.channel import IvrChannel

__all__ = ["IvrChannelDep"]


def get_channel(request: Request) -> IvrChannel:
    return cast(IvrChannel, request.state.ivr)


IvrChannelDep = Annotated[IvrChannel, Depends(get_channel)]
