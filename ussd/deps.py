"""Dependency aliases for the USSD routes."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from ussd.engine import UssdEngine

__all__ = ["UssdEngineDep"]


async def get_engine(request: Request) -> UssdEngine:
    return cast(UssdEngine, request.state.ussd)


UssdEngineDep = Annotated[UssdEngine, Depends(get_engine)]
