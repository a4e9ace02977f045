"""Africa's Talking USSD callbacks and the browser simulator."""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, PlainTextResponse

from ussd.deps import UssdEngineDep
from ussd.engine import UssdEngine
from ussd.schemas import AtUssdForm, AtUssdNotice
from willay.deps import CallbackGuard, SettingsDep
from willay.errors import ServiceUnavailable
from willay.events import Event, EventKind
from willay.gsm7 import septets, to_gsm7
from willay.languages import pick_text

__all__ = ["router", "simulator_router"]

log = logging.getLogger(__name__)

SIMULATOR_PAGE = Path(__file__).parent / "static" / "simulator.html"

router = APIRouter(prefix="/ussd", tags=["ussd"], dependencies=[CallbackGuard])
simulator_router = APIRouter(tags=["simulator"])


@router.post("/africastalking", response_class=PlainTextResponse)
async def ussd_hop(form: Annotated[AtUssdForm, Form()], engine: UssdEngineDep) -> PlainTextResponse:
    """One USSD hop: answers `CON <screen>` or `END <screen>` as text/plain."""
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
    except ServiceUnavailable as exc:
        log.error("USSD hop %s failed: %s", form.sessionId, exc)
        engine.services.events.publish(
            Event(
                channel="ussd",
                kind=EventKind.error,
                subscriber="unknown",
                session=form.sessionId,
                data={"error": type(exc).__name__, "input": form.text},
            )
        )
        body = _notice_end(engine, "unavailable")
    headers["X-Willay-Septets"] = str(septets(body[4:]))
    return PlainTextResponse(body, headers=headers)


def _notice_end(engine: UssdEngine, name: str) -> str:
    """`END` with a notice of the journey (written in Spanish and Quechua)."""
    return "END " + to_gsm7(pick_text(engine.journey.notices[name], "es")[0])


@router.post("/africastalking/events", response_class=PlainTextResponse)
async def ussd_session_ended(notice: Annotated[AtUssdNotice, Form()], engine: UssdEngineDep) -> str:
    """The provider's end-of-session notice (Success, Incomplete or Failed)."""
    try:
        await engine.session_ended(notice)
    except ServiceUnavailable as exc:
        log.error("end-of-session notice for %s not recorded: %s", notice.sessionId, exc)
        raise
    return "OK"


@simulator_router.get("/simulator", response_class=HTMLResponse, include_in_schema=False)
async def simulator(settings: SettingsDep) -> HTMLResponse:
    """A phone emulator in the browser for content teams and demos."""
    page = SIMULATOR_PAGE.read_text(encoding="utf-8")
    return HTMLResponse(page.replace("{{SHORT_CODE}}", html.escape(settings.short_code)))
