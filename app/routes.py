"""`/app`: the light app's shell, its content pack, next tips, events and live alerts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from app.assets import ASSETS, asset
from app.pack import compress, to_json
from app.schemas import AppEvents, QueueRequest
from app.service import LiteService
from audio_cache import AudioLibrary
from willay.alerts import Alert
from willay.errors import BadRequest, NotFound
from willay.languages import LANGUAGES

__all__ = ["router"]

STREAM_SECONDS = 600.0  # a stream then ends and the browser reopens it: no server waits forever
HEARTBEAT_SECONDS = 60.0  # keeps idle mobile NATs open; a hidden page closes its stream
REGION = Query(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=48)
SESSION = Query(pattern=r"^[A-Za-z0-9_-]{8,64}$")
LANG = Query(pattern=f"^({'|'.join(LANGUAGES)})$")

router = APIRouter(prefix="/app", tags=["app"])


def get_lite(request: Request) -> LiteService:
    return cast(LiteService, request.state.lite)


def get_audio(request: Request) -> AudioLibrary:
    return cast(AudioLibrary, request.state.audio)


LiteDep = Annotated[LiteService, Depends(get_lite)]
AudioDep = Annotated[AudioLibrary, Depends(get_audio)]


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    return etag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]


def _send(
    request: Request,
    *,
    body: bytes,
    gzipped: bytes | None = None,
    content_type: str,
    etag: str | None = None,
    cache: str = "no-cache",
) -> Response:
    """`body` gzipped when the client takes it, `304` when its copy is current."""
    headers = {"Cache-Control": cache, "Vary": "Accept-Encoding"}
    if etag is not None:
        headers["ETag"] = etag
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        body = gzipped if gzipped is not None else compress(body)
    return Response(body, media_type=content_type, headers=headers)


def _static(request: Request, name: str) -> Response:
    found = asset(name)
    response = _send(
        request,
        body=found.body,
        gzipped=found.gzipped,
        content_type=found.content_type,
        etag=found.etag,
    )
    if name == "sw.js":
        response.headers["Service-Worker-Allowed"] = "/app"  # its scope covers `/app` itself
    return response


@router.get("", include_in_schema=False)
@router.get("/", include_in_schema=False)
async def shell(request: Request) -> Response:
    """The app's page (the service worker serves it offline)."""
    return _static(request, "index.html")


@router.get("/pack/{lang}", responses={304: {}, 404: {}})
async def pack(
    request: Request,
    *,
    lang: Annotated[str, Path(json_schema_extra={"enum": list(LANGUAGES)})],
    lite: LiteDep,
    audio: AudioDep,
    have: Annotated[str | None, Query(max_length=2000, pattern=r"^[0-9a-f.]*$")] = None,
) -> Response:
    """One language's tips with sources and clips; `have` (hashes joined by `.`) asks a delta."""
    if lang not in LANGUAGES:
        raise NotFound(f"no pack for language {lang!r}")
    built = lite.packs.get(lang, audio=audio, today=lite.clock().date())
    if have is None:
        body, gzipped = built.body, built.gzipped
    else:
        body, gzipped = to_json(built.pack.delta(set(have.split(".")))), None
    return _send(
        request,
        body=body,
        gzipped=gzipped,
        content_type="application/json",
        etag=f'"{built.pack.version}"',
    )


@router.post("/queue")
async def queue(request: Request, *, body: QueueRequest, lite: LiteDep) -> Response:
    """The next few tips the model ranks for this person (the app keeps them for offline)."""
    tips = await lite.queue(body)
    save_data = request.headers.get("save-data", "").strip().lower() == "on"
    data = {"tips": tips, "saveData": save_data}
    return _send(request, body=to_json(data), content_type="application/json")


@router.post("/events")
async def events(batch: AppEvents, lite: LiteDep) -> dict[str, Any]:
    """Events the app queued (maybe offline); each id counts once however often it is sent."""
    return await lite.record(batch)


def _alerts_json(alerts: list[Alert], lang: str) -> bytes:
    return to_json(
        [
            {
                "id": a.id,
                "region": a.region,
                "text": a.text_for(lang)[0],
                "ends": a.ends.isoformat(),
            }
            for a in alerts
        ]
    )


@router.get("/alerts")
async def alerts(
    request: Request,
    *,
    lite: LiteDep,
    session: Annotated[str, SESSION],
    region: Annotated[str | None, REGION] = None,
    lang: Annotated[str, LANG] = "es",
) -> Response:
    """The alerts for the person's region now (found on opening the app)."""
    current = lite.current_alerts(region)
    await lite.delivered(current, session=session, lang=lang, region=region)
    return _send(request, body=_alerts_json(current, lang), content_type="application/json")


# an endless stream: left out of the OpenAPI schema, which tools call expecting an answer
@router.get("/alerts/stream", response_class=StreamingResponse, include_in_schema=False)
async def alert_stream(
    request: Request,
    *,
    lite: LiteDep,
    session: Annotated[str, SESSION],
    region: Annotated[str | None, REGION] = None,
    lang: Annotated[str, LANG] = "es",
) -> StreamingResponse:
    """Server-Sent Events: the region's alerts now, then again whenever they change."""
    if region is not None and region != "all" and lite.catalog.region(region) is None:
        raise BadRequest(f"region: unknown region {region!r}")

    async def stream() -> AsyncIterator[bytes]:
        # ends when the page goes: Starlette cancels it on the client's disconnect
        yield b"retry: 5000\n\n"
        sent = b""
        changed = True
        ends = time.monotonic() + STREAM_SECONDS
        while time.monotonic() < ends:
            seen = lite.watch.version  # a change from here on wakes the wait below
            if changed:
                current = lite.current_alerts(region)
                payload = _alerts_json(current, lang)
                if payload != sent:
                    sent = payload
                    await lite.delivered(current, session=session, lang=lang, region=region)
                    yield b"event: alerts\ndata: " + payload + b"\n\n"
            changed = await lite.watch.wait(seen, HEARTBEAT_SECONDS)
            if not changed:
                yield b":\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _static_route(name: str) -> Callable[[Request], Awaitable[Response]]:
    async def static_file(request: Request) -> Response:
        """The script, service worker, manifest and icon."""
        return _static(request, name)

    return static_file


# one route per file, not a catch-all `/{name}`: that would answer a GET to an API path
# (`GET /app/queue`) with 404 where the path exists and the answer is 405 with its `Allow`
for _name in ASSETS:
    if _name != "index.html":
        router.add_api_route(
            f"/{_name}", _static_route(_name), methods=["GET"], include_in_schema=False
        )
