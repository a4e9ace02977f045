"""What routes get from the app's lifespan state, as `Annotated` dependency aliases."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from willay.config import Settings
from willay.kv import KeyValueStore
from willay.security import check_callback

__all__ = [
    "CallbackGuard",
    "SettingsDep",
    "StoreDep",
    "get_settings",
    "guard_callback",
]


def get_settings(request: Request) -> Settings:
    return cast(Settings, request.state.settings)


def get_store(request: Request) -> KeyValueStore:
    return cast(KeyValueStore, request.state.kv)


async def guard_callback(request: Request) -> None:  # async: no worker-thread hop per request
    """Provider callbacks only: the secret token and, if configured, the network allow-list."""
    check_callback(request, request.state.settings)


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[KeyValueStore, Depends(get_store)]
CallbackGuard = Depends(guard_callback)
