"""The studio's pages (`/studio/...`) and its API for scripts (`/studio/api/...`)."""

from __future__ import annotations

import logging
import urllib.parse
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from audio_cache import AudioFile
from ivr import Clip
from ivr.schemas import AtVoiceForm
from studio.auth import SESSION_COOKIE, Caller
from studio.catalog_view import CatalogFilter
from studio.errors import Unauthorized
from studio.pages import (
    call_page,
    catalog_page,
    login_page,
    prompts_page,
    rebuild_page,
    record_page,
)
from studio.service import Studio
from willay.errors import NotFound, ServiceUnavailable, SignOffRefused
from willay.openapi import error_response

__all__ = ["router"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "media-src 'self' blob:; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# every API route asks for an account first (`api_caller`); the pages are not in the schema
API_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: error_response(
        "No account: no session and no (or wrong) HTTP Basic credentials",
        headers={"WWW-Authenticate": '`Basic realm="Willay Studio"`: send HTTP Basic credentials'},
    ),
    403: error_response("The account may not do this, or a session without its CSRF token"),
}

router = APIRouter(prefix="/studio", tags=["studio"], responses=API_AUTH_RESPONSES)


def get_studio(request: Request) -> Studio:
    return request.state.studio  # type: ignore[no-any-return]


StudioDep = Annotated[Studio, Depends(get_studio)]


async def api_caller(request: Request, studio: StudioDep) -> Caller:
    """The account behind an API request (Basic or session); 401 without, 403 without CSRF."""
    caller = await studio.gate.caller(request)
    if caller is None:
        raise Unauthorized("log in or send HTTP Basic credentials", basic=True)
    await studio.gate.check_csrf(request, caller)
    return caller


CallerDep = Annotated[Caller, Depends(api_caller)]


def _page(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)


async def _page_caller(request: Request, studio: Studio) -> Caller | RedirectResponse:
    caller = await studio.gate.caller(request)
    if caller is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = urllib.parse.urlencode({"next": target})
        return RedirectResponse(f"/studio/login?{query}", status_code=303)
    return caller


def _safe_next(url: str) -> str:
    """Only a path inside the studio, never another site."""
    return url if url.startswith("/studio") and not url.startswith("//") else "/studio"


# -- logging in ---------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_form(next: str = "/studio") -> HTMLResponse:
    """The login form."""
    return _page(login_page(next_url=_safe_next(next)))


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
async def log_in(
    request: Request,
    *,
    studio: StudioDep,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=512)] = "/studio",
) -> Response:
    """Check the password, open a session, set its cookie."""
    if studio.gate.foreign_origin(request) is not None:
        return _page(login_page(error="Inicio de sesión desde otro sitio."), 403)
    try:
        account = await studio.gate.check_password(name, password)
    except Unauthorized:
        log.info("studio login refused for %r", name[:64])
        return _page(login_page(error="Usuario o contraseña incorrectos.", next_url=next), 401)
    token = await studio.gate.log_in(account)
    log.info("studio login: %s", account.title)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=studio.gate.ttl,
        path="/studio",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout", include_in_schema=False)
async def log_out(caller: CallerDep, studio: StudioDep) -> Response:
    """Close the session."""
    if caller.session:
        await studio.gate.log_out(caller.session)
    response = RedirectResponse("/studio/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/studio", secure=True, httponly=True)
    return response


# -- pages --------------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse, include_in_schema=False)
async def catalog(
    request: Request,
    *,
    studio: StudioDep,
    topic: Annotated[str, Query(max_length=48)] = "",
    lang: Annotated[str, Query(max_length=8)] = "",
    state: Annotated[str, Query(max_length=16)] = "",
    recording: Annotated[str, Query(max_length=8)] = "",
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    notice: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Every tip × language: USSD pages, SMS, audio, recording, source, expiry, sign-off."""
    caller = await _page_caller(request, studio)
    if isinstance(caller, Response):
        return caller
    chosen = CatalogFilter(topic=topic, lang=lang, state=state, recording=recording, page=page)
    rows, total = studio.view.rows(chosen, studio.clock().date())
    return _page(
        catalog_page(
            account=caller.account,
            csrf=caller.csrf or "",
            catalog=studio.catalog,
            chosen=chosen,
            rows=rows,
            total=total,
            notice=notice,
        )
    )


@router.get("/record", response_class=HTMLResponse, include_in_schema=False)
async def record(
    request: Request,
    *,
    studio: StudioDep,
    lang: Annotated[str, Query(max_length=8)],
    tip: Annotated[str | None, Query(max_length=64)] = None,
    prompt: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Read a tip or a prompt aloud in the browser."""
    caller = await _page_caller(request, studio)
    if isinstance(caller, Response):
        return caller
    kind, item = ("tip", tip) if tip else ("prompt", prompt or "")
    utterance = studio.utterance(kind, item, lang=lang)
    prefix = "/studio/api/recordings" + ("" if kind == "tip" else "/prompts")
    path = f"{prefix}/{urllib.parse.quote(item)}/{urllib.parse.quote(lang)}"
    return _page(
        record_page(
            account=caller.account, csrf=caller.csrf or "", utterance=utterance, api_path=path
        )
    )


@router.get("/prompts", response_class=HTMLResponse, include_in_schema=False)
async def prompts(request: Request, studio: StudioDep) -> Response:
    """The IVR prompts: listen and record."""
    caller = await _page_caller(request, studio)
    if isinstance(caller, Response):
        return caller
    rows = studio.view.prompts(studio.ivr.flow.utterances())
    return _page(prompts_page(account=caller.account, csrf=caller.csrf or "", rows=rows))


@router.get("/call", response_class=HTMLResponse, include_in_schema=False)
async def call(request: Request, studio: StudioDep) -> Response:
    """The IVR call simulator."""
    caller = await _page_caller(request, studio)
    if isinstance(caller, Response):
        return caller
    return _page(call_page(account=caller.account, csrf=caller.csrf or ""))


@router.get("/rebuild", response_class=HTMLResponse, include_in_schema=False)
async def rebuild(request: Request, studio: StudioDep) -> Response:
    """The full rebuild's progress and the latest changes."""
    caller = await _page_caller(request, studio)
    if isinstance(caller, Response):
        return caller
    return _page(
        rebuild_page(
            account=caller.account,
            csrf=caller.csrf or "",
            status=studio.builder.status(),
            audit=studio.audit.latest(),
        )
    )


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    """The stylesheet and the script."""
    path = STATIC / name
    if name not in {"studio.css", "studio.js"} or not path.is_file():
        raise NotFound(f"no studio file {name[:32]!r}")
    return Response(
        path.read_bytes(),
        media_type=STATIC_TYPES[path.suffix],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@router.post("/review", include_in_schema=False)
async def review_form(
    *,
    caller: CallerDep,
    studio: StudioDep,
    tip_id: Annotated[str, Form(max_length=64)],
    lang: Annotated[str, Form(max_length=8)],
    text_sha256: Annotated[str, Form(max_length=64)],
    decision: Annotated[Literal["approve", "reject"], Form()],
    comment: Annotated[str, Form(max_length=2000)] = "",
    back_translation: Annotated[str, Form(max_length=2000)] = "",
    back: Annotated[str, Form(max_length=512)] = "/studio",
) -> Response:
    """Approve or reject from the catalog page; back to it with what happened."""
    try:
        signoff = studio.sign_off(
            caller.account,
            tip_id=tip_id,
            lang=lang,
            text_sha256=text_sha256,
            decision=decision,
            comment=comment,
            back_translation=back_translation,
        )
        verb = "aprobado" if signoff.decision == "approve" else "rechazado"
        notice = f"{tip_id} {lang}: {verb} por {signoff.reviewer}"
    except SignOffRefused as exc:
        notice = f"No se registró: {exc.message}"
    target = urllib.parse.urlsplit(_safe_next(back))
    query = urllib.parse.parse_qsl(target.query) + [("notice", notice)]
    return RedirectResponse(
        f"{target.path}?{urllib.parse.urlencode(query)}#{tip_id}-{lang}", status_code=303
    )


# -- API ----------------------------------------------------------------------------------------


class SignOffCreate(BaseModel):
    """A reviewer's decision on the text whose sha256 they saw."""

    tip_id: str = Field(max_length=64)
    lang: str = Field(max_length=8)
    text_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    decision: Literal["approve", "reject"]
    comment: str = Field(default="", max_length=2000)
    back_translation: str = Field(default="", max_length=2000)


@router.post(
    "/api/signoffs",
    status_code=201,
    responses={400: error_response("Refused: the text changed, ...")},
)
async def create_signoff(
    body: SignOffCreate, *, caller: CallerDep, studio: StudioDep
) -> dict[str, object]:
    """Approve or reject a (tip, language) text: the same sign-off the review CSV writes."""
    signoff = studio.sign_off(caller.account, **body.model_dump())
    return signoff.model_dump(mode="json")


class RecordingFile(BaseModel):
    format: str
    url: str = Field(description="path under /audio/ where the file is served")
    file: str
    bytes: int
    duration: float
    source: Literal["tts", "human"]


class RecordingPublic(BaseModel):
    kind: Literal["tip", "prompt"]
    id: str
    lang: str
    speaker: str
    files: list[RecordingFile]


async def _recorded(
    kind: Literal["tip", "prompt"],
    item: str,
    *,
    lang: str,
    request: Request,
    caller: Caller,
    studio: Studio,
) -> JSONResponse:
    """Store and render the body as the recording of a tip or prompt; 201 naming its files."""
    utterance = studio.utterance(kind, item, lang=lang)
    body = await request.body()  # capped at WILLAY_STUDIO_MAX_UPLOAD by the app's RequestGuard
    files: dict[str, AudioFile] = await studio.record(caller.account, utterance, body=body)
    public = RecordingPublic(
        kind=kind,
        id=item,
        lang=lang,
        speaker=caller.account.name,
        files=[
            RecordingFile(format=fmt, url=f"/audio/{f.file}", **f.model_dump())
            for fmt, f in files.items()
        ],
    )
    return JSONResponse(public.model_dump(), status_code=201)


RECORDING_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"description": "Empty body"},
    **API_AUTH_RESPONSES,
    403: error_response("The account may not record this language, or no CSRF token"),
    404: {"description": "No such tip, prompt or language"},
    413: {"description": "Body over WILLAY_STUDIO_MAX_UPLOAD"},
    422: {"description": "Not audio, over-long, silent, clipped or too short (with the reason)"},
}


@router.put(
    "/api/recordings/{tip_id}/{lang}",
    status_code=201,
    response_model=RecordingPublic,
    responses=RECORDING_RESPONSES,
)
async def put_tip_recording(
    tip_id: str, lang: str, *, request: Request, caller: CallerDep, studio: StudioDep
) -> JSONResponse:
    """A tip read aloud (WAV, WebM/Opus or Ogg body): stored, rendered, served under /audio/."""
    return await _recorded("tip", tip_id, lang=lang, request=request, caller=caller, studio=studio)


@router.put(
    "/api/recordings/prompts/{name}/{lang}",
    status_code=201,
    response_model=RecordingPublic,
    responses=RECORDING_RESPONSES,
)
async def put_prompt_recording(
    name: str, lang: str, *, request: Request, caller: CallerDep, studio: StudioDep
) -> JSONResponse:
    """An IVR prompt read aloud (`mul` for the mixed language choice), like a tip."""
    return await _recorded("prompt", name, lang=lang, request=request, caller=caller, studio=studio)


class CallStep(BaseModel):
    """One step of a simulated call: start it, press keys, or hang up."""

    session: str = Field(pattern=r"^studio-[A-Za-z0-9-]{8,64}$")
    number: str = Field(pattern=r"^\+999\d{9}$", description="a fictitious caller number")
    digits: str | None = Field(default=None, max_length=8, pattern=r"^[0-9*#]*$")
    hangup: bool = False


@router.post("/api/call")
async def call_step(
    step: CallStep, *, request: Request, caller: CallerDep, studio: StudioDep
) -> dict[str, object]:
    """What the caller hears next, from the IVR call flow itself, with the audio it plays."""
    form = AtVoiceForm(
        isActive="0" if step.hangup else "1",
        sessionId=step.session,
        callerNumber=step.number,
        destinationNumber=studio.settings.ivr_voice_number,
        dtmfDigits=step.digits,
        hangupCause="NORMAL_CLEARING" if step.hangup else None,
    )
    engine = studio.ivr
    try:
        reply = await engine.handle(form)
    except ServiceUnavailable as exc:
        log.error("studio call %s failed: %s", step.session, exc)
        reply = engine.unavailable()

    def heard(clip: Clip) -> dict[str, object]:
        found = clip.cached_in(studio.audio)
        data: dict[str, object] = {
            "kind": clip.kind,
            "id": clip.id,
            "lang": clip.lang,
            "text": clip.text,
            "url": None,
            "source": None,
        }
        if found is not None:
            data.update(url=f"/audio/{found[0].file}", source=found[0].source, audio_lang=found[1])
        return data

    xml = request.state.ivr.xml.render(reply).decode()
    return {
        "plays": [heard(c) for c in reply.plays],
        "ask": heard(reply.ask) if reply.ask else None,
        "ended": step.hangup or reply.ask is None,
        "xml": xml,
    }


@router.get("/api/rebuild")
async def rebuild_status(caller: CallerDep, studio: StudioDep) -> dict[str, object]:
    """Where the latest full audio rebuild stands."""
    return studio.builder.status().model_dump(mode="json")


@router.post("/api/rebuild", status_code=202, responses={409: error_response("One is running")})
async def rebuild_start(caller: CallerDep, studio: StudioDep) -> dict[str, object]:
    """Start a full audio rebuild (editors and admins); 409 while one runs."""
    studio.start_rebuild(caller.account)
    return studio.builder.status().model_dump(mode="json")
