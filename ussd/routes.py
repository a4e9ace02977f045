"""Africa's Talking USSD callbacks and the browser simulator."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, cast
from urllib.parse import unquote

from fastapi import APIRouter, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dialogue import record_failure
from ussd.channel import UssdChannel
from ussd.deps import UssdEngineDep
from ussd.engine import UssdEngine
from ussd.schemas import AtUssdForm, AtUssdNotice
from willay.deps import SettingsDep
from willay.gsm7 import septets, to_gsm7
from willay.languages import DEFAULT_LANGUAGE, pick_text
from willay.retried import RetriedRoute
from willay.security import CALLBACK_TAG

__all__ = ["SCHEMA_COMPONENTS", "ProviderHops", "router", "simulator_router", "url_fields"]

log = logging.getLogger(__name__)

SIMULATOR_PAGE = Path(__file__).parent / "static" / "simulator.html"
URLENCODED = "application/x-www-form-urlencoded"
HOP_PATH = "/ussd/africastalking"
PLAIN_TEXT = b"text/plain; charset=utf-8"

# the hop's form, read by hand (`_hop_form`, `ProviderHops`), so FastAPI does not list it
SCHEMA_COMPONENTS = {"AtUssdForm": AtUssdForm}

router = APIRouter(prefix="/ussd", tags=["ussd", CALLBACK_TAG])
simulator_router = APIRouter(tags=["simulator"])


async def _hop_form(request: Request) -> AtUssdForm:
    """The hop's form from any encoding; a form that does not validate is a 400."""
    if request.headers.get("content-type", "").startswith(URLENCODED):
        fields: Mapping[str, object] = url_fields(await request.body())
    else:
        async with request.form() as form:  # closes any uploaded file
            fields = dict(form)
    try:
        return AtUssdForm.model_validate(fields)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None


def url_fields(body: bytes) -> dict[str, str]:
    """The fields of a url-encoded body, as `parse_qsl(..., keep_blank_values=True)` reads them
    (the last of a repeated name wins), without its generality: the hot path's one parse."""
    fields = {}
    for pair in body.decode("utf-8", "replace").split("&"):
        if pair:
            name, _, value = pair.partition("=")
            fields[_unquoted(name)] = _unquoted(value)
    return fields


def _unquoted(text: str) -> str:
    """`unquote_plus(text)`; escapes of ASCII characters (the service code's `*` and `#`, the
    number's `+`, the text's `*`) are looked up, any other escape goes to `unquote`."""
    if "+" in text:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    head, *escaped = text.split("%")
    try:
        return head + "".join([_ASCII_ESCAPES[part[:2]] + part[2:] for part in escaped])
    except KeyError:  # a non-ASCII or malformed escape
        return unquote(text)


# "2A" (and "2a") -> "*": the escapes of the 128 ASCII characters, in any case of hex digits
_ASCII_ESCAPES = {
    f"{high}{low}": chr(code)
    for code in range(128)
    for high in {f"{code >> 4:x}", f"{code >> 4:X}"}
    for low in {f"{code & 15:x}", f"{code & 15:X}"}
}


async def _reply(engine: UssdEngine, form: AtUssdForm) -> tuple[str, dict[str, str]]:
    """The hop's answer (`CON ...` or `END ...`) and its headers; never raises."""
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
            headers["X-Willay-Septets"] = str(reply.septets)
            return body, headers
    except Exception as exc:  # noqa: BLE001 - every failure of a hop ends the session politely
        body = await _failed(engine, form=form, exc=exc)
    headers["X-Willay-Septets"] = str(septets(body[4:]))
    return body, headers


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
    form = await _hop_form(request)
    body, headers = await _reply(cast(UssdChannel, request.state.ussd).engine, form)
    return PlainTextResponse(body, headers=headers)


class ProviderHops:
    """Pure ASGI middleware: the provider's hops answered without the framework.

    A url-encoded POST to the hop path (what the provider sends) is parsed, validated and
    answered here, by the same `_reply` as `ussd_hop`, without routing, dependency solving or
    request and response objects (they cost as much CPU as the hop itself). Anything else goes
    on to the app, and so does a form that does not validate, for the documented route's 400.

    It sits in front of the app's whole middleware stack, so a hop also skips the framework's
    outer layers (each one a frame that every suspension of the hop passes through twice);
    `guard` wraps the hop's own answer in the app's `RequestGuard` (a callback authenticated
    before its body is read, the body capped and timed), as it wraps every other request.
    """

    def __init__(self, app: ASGIApp, *, guard: Callable[[ASGIApp], ASGIApp]) -> None:
        self.app = app
        self._guarded_hop = guard(self._answer)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: PLR0917 - ASGI
        if _provider_hop(scope):
            await self._guarded_hop(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: PLR0917 - ASGI
        body = await _read_body(receive)
        if body is None:
            return  # the provider went away: nobody to answer
        try:
            form = AtUssdForm.model_validate(url_fields(body))
        except ValidationError:
            await self.app(scope, _replay(body, receive), send)
            return
        channel: UssdChannel = scope["state"]["ussd"]
        text, headers = await _reply(channel.engine, form)
        content = text.encode()
        raw = [
            (b"content-length", b"%d" % len(content)),
            (b"content-type", PLAIN_TEXT),
            *((name.lower().encode(), value.encode()) for name, value in headers.items()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        await send({"type": "http.response.body", "body": content})


def _provider_hop(scope: Scope) -> bool:
    if scope["type"] != "http" or scope["path"] != HOP_PATH or scope["method"] != "POST":
        return False
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
    return content_type.startswith(URLENCODED.encode())


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body; None if the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` for an app after the body was read: the body once, then the client's own."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def _notice_end(engine: UssdEngine, name: str, *, lang: str = DEFAULT_LANGUAGE) -> str:
    """`END` with a notice of the journey, in `lang` (or its fallback)."""
    return "END " + to_gsm7(pick_text(engine.journey.notices[name], lang)[0])


async def _failed(engine: UssdEngine, *, form: AtUssdForm, exc: Exception) -> str:
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
    return _notice_end(engine, "unavailable", lang=lang)


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
