"""Dependency aliases for the USSD routes."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from ussd.channel import UssdChannel
from ussd.engine import UssdEngine

__all__ = ["UssdEngineDep"]


async def get_engine(request: Request) -> UssdEngine:
    return cast(UssdChannel, request.state.ussd).engine


UssdEngineDep = Annotated[UssdEngine, Depends(get_engine)]
