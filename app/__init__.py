"""Willay Lite: the light offline-first web app at `/app`, on minimal data."""

from app.pack import Pack, build_pack
from app.routes import router
from app.service import LiteService

__all__ = ["LiteService", "Pack", "build_pack", "router"]
