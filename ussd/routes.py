"""Africa's Talking USSD callbacks and the browser simulator."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, cast

from fastapi import APIRouter, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ussd.channel import UssdChannel
from ussd.deps import UssdEngineDep
from ussd.lane import HOP_PATH, LANE_STATE, URLENCODED, HopLane, reply, url_fields
from ussd.schemas import AtUssdForm, AtUssdNotice
from willay.deps import SettingsDep
from willay.retried import RetriedRoute
from willay.security import CALLBACK_TAG

__all__ = ["SCHEMA_COMPONENTS", "ProviderHops", "router", "simulator_router"]

SIMULATOR_PAGE = Path(__file__).parent / "static" / "simulator.html"

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
    body, headers = await reply(cast(UssdChannel, request.state.ussd).engine, form)
    return PlainTextResponse(body, headers=headers)


class ProviderHops:
    """Pure ASGI middleware: the provider's hops answered without the framework.

    A url-encoded POST to the hop path (what the provider sends) is parsed, validated and
    answered here by the app's `HopLane` (with the same `reply` as `ussd_hop`), without
    routing, dependency solving or request and response objects. Anything else goes on to
    the app, and so does a form that does not validate, for the documented route's 400.
    (`willay serve` answers most hops before ASGI, in `shell.http_protocol`; this serves any
    other ASGI server, and the hops the protocol leaves to the app.)

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
        lane: HopLane = scope["state"][LANE_STATE]
        form = lane.form(body)
        if form is None:
            await self.app(scope, _replay(body, receive), send)
            return
        status, headers, content = await lane.answer(form)
        await send({"type": "http.response.start", "status": status, "headers": headers})
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
