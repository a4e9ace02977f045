"""Africa's Talking USSD callbacks and the browser simulator."""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, cast
from urllib.parse import parse_qsl

from fastapi import APIRouter, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import ValidationError
from starlette.routing import Match, Route
from starlette.types import Scope

from dialogue import record_failure
from ussd.channel import UssdChannel
from ussd.deps import UssdEngineDep
from ussd.engine import UssdEngine
from ussd.schemas import AtUssdForm, AtUssdNotice
from willay.deps import CallbackGuard, SettingsDep
from willay.gsm7 import septets, to_gsm7
from willay.languages import DEFAULT_LANGUAGE, pick_text
from willay.retried import RetriedRoute

__all__ = ["SCHEMA_COMPONENTS", "provider_hop_route", "router", "simulator_router"]

log = logging.getLogger(__name__)

SIMULATOR_PAGE = Path(__file__).parent / "static" / "simulator.html"
URLENCODED = "application/x-www-form-urlencoded"

# the hop's form, read by hand (`_hop_form`), so FastAPI does not list it: the schema must
SCHEMA_COMPONENTS = {"AtUssdForm": AtUssdForm}

router = APIRouter(prefix="/ussd", tags=["ussd"], dependencies=[CallbackGuard])
simulator_router = APIRouter(tags=["simulator"])


async def _hop_form(request: Request) -> AtUssdForm:
    """The hop's form, parsed without the generic form machinery (the hot path's one parse)."""
    if request.headers.get("content-type", "").startswith(URLENCODED):
        fields: Mapping[str, object] = dict(
            parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        )
    else:
        async with request.form() as form:  # closes any uploaded file
            fields = dict(form)
    try:
        return AtUssdForm.model_validate(fields)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None


async def _answer(request: Request) -> PlainTextResponse:
    form = await _hop_form(request)
    engine = cast(UssdChannel, request.state.ussd).engine
    headers = {}
    try:
        if form.too_long:
            log.info(
                "USSD hop %s: text of %d characters, session ended", form.sessionId, len(form.text)
            )
            body = _notice_end(engine, "too_long")
        else:
            reply = await engine.handle(form)
            body = reply.body
            if reply.draft:
                headers["X-Willay-Draft"] = "borrador"
    except Exception as exc:  # noqa: BLE001 - every failure of a hop ends the session politely
        body = await _failed(engine, form, exc)
    headers["X-Willay-Septets"] = str(septets(body[4:]))
    return PlainTextResponse(body, headers=headers)


@router.post(
    "/africastalking",
    response_class=PlainTextResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {URLENCODED: {"schema": {"$ref": "#/components/schemas/AtUssdForm"}}},
        }
    },
)
async def ussd_hop(request: Request) -> PlainTextResponse:
    """One USSD hop: answers `CON <screen>` or `END <screen>` as text/plain."""
    return await _answer(request)


class _ProviderHopRoute(Route):
    """`ussd_hop` for url-encoded forms (what the provider posts), as a bare Starlette route.

    FastAPI's per-request dependency solving and response plumbing cost as much CPU as the hop
    itself; this route skips them and calls the same handler. Its guard is `RequestGuard`, which
    authenticates every callback path before the app sees it. Anything else (another encoding,
    another method) falls through to the documented `ussd_hop`.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.FULL:
            return Match.NONE, {}
        content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
        return (match, child) if content_type.startswith(URLENCODED.encode()) else (Match.NONE, {})


provider_hop_route = _ProviderHopRoute(
    "/ussd/africastalking", _answer, methods=["POST"], include_in_schema=False
)


def _notice_end(engine: UssdEngine, name: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """`END` with a notice of the journey, in `lang` (or its fallback)."""
    return "END " + to_gsm7(pick_text(engine.journey.notices[name], lang)[0])


async def _failed(engine: UssdEngine, form: AtUssdForm, exc: Exception) -> str:
    """The one answer to any failure of a hop: `END`, the apology and the emergency numbers in
    the caller's language (the session's, if it can still be read; else Spanish).

    The caller and the gateway never see internal detail.
    """
    record_failure(
        engine.services.events,
        channel="ussd",
        what="USSD hop",
        session_id=form.sessionId,
        exc=exc,
        input=form.text,
    )
    try:
        session = await engine.services.sessions.get(form.sessionId)
    except Exception:  # noqa: BLE001 - the apology must not depend on what just failed
        session = None
    lang = session.lang if session is not None and session.lang else DEFAULT_LANGUAGE
    return _notice_end(engine, "unavailable", lang)


async def ussd_session_ended(notice: Annotated[AtUssdNotice, Form()], engine: UssdEngineDep) -> str:
    """The provider's end-of-session notice (Success, Incomplete or Failed); 503 to be retried."""
    await engine.session_ended(notice)
    return "OK"


router.add_api_route(
    "/africastalking/events",
    ussd_session_ended,
    methods=["POST"],
    response_class=PlainTextResponse,
    route_class_override=RetriedRoute,
)


@simulator_router.get("/simulator", response_class=HTMLResponse, include_in_schema=False)
async def simulator(settings: SettingsDep) -> HTMLResponse:
    """A phone emulator in the browser for content teams and demos."""
    page = SIMULATOR_PAGE.read_text(encoding="utf-8")
    return HTMLResponse(page.replace("{{SHORT_CODE}}", html.escape(settings.short_code)))
