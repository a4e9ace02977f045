"""What routes get from the app's lifespan state, as `Annotated` dependency aliases."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from willay.config import Settings
from willay.kv import KeyValueStore

__all__ = ["SettingsDep", "StoreDep", "get_settings"]


def get_settings(request: Request) -> Settings:
    return cast(Settings, request.state.settings)


def get_store(request: Request) -> KeyValueStore:
    return cast(KeyValueStore, request.state.kv)


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[KeyValueStore, Depends(get_store)]
