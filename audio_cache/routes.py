"""`GET /audio/{name}`: cached audio, immutable, with a strong ETag and byte ranges."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Annotated, cast

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import FileResponse, Response

from audio_cache.library import AudioLibrary
from willay.errors import NotFound

__all__ = ["CACHE_CONTROL", "router"]

CACHE_CONTROL = "public, max-age=31536000, immutable"

router = APIRouter(prefix="/audio", tags=["audio"])


def get_library(request: Request) -> AudioLibrary:
    return cast(AudioLibrary, request.state.audio)


AudioLibraryDep = Annotated[AudioLibrary, Depends(get_library)]


def _regular_file(path: Path) -> bool:
    """True for a regular file itself: a symlink (wherever it points) or anything else is not."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison, as If-None-Match uses."""
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.head("/{name}", response_class=FileResponse, include_in_schema=False)
@router.get(
    "/{name}",
    response_class=FileResponse,
    responses={
        200: {"content": {"audio/mpeg": {}, "audio/ogg": {}}, "description": "The clip"},
        404: {"description": "No such audio file"},
        206: {"description": "The requested byte range"},
        304: {"description": "Not modified (If-None-Match)"},
        416: {"description": "Range not satisfiable"},
    },
)
async def audio_file(
    name: str,
    *,
    library: AudioLibraryDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """One pre-rendered clip (MP3 for calls, Opus for the app); Range requests give 206."""
    served = library.served(name)
    if served is None or not _regular_file(served.path):
        raise NotFound(f"no audio file {name[:64]!r}")
    headers = {
        "ETag": served.etag,
        "Cache-Control": CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
    }
    if if_none_match and _matches(if_none_match, served.etag):
        return Response(status_code=304, headers=headers)
    return FileResponse(served.path, media_type=served.content_type, headers=headers)
