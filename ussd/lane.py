"""The provider's hop, from the request's bytes to the response's: admitted, parsed, answered.

`willay serve`'s HTTP protocol hands a hop to `HopLane` straight from the parser, without ASGI
(the scope, the receive and send messages, the middleware and their tasks cost about as much
CPU as the hop itself); `ProviderHops` and the documented route answer it on ASGI with the same
`reply`, so every way in gives the same answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import unquote

from pydantic import ValidationError

from dialogue import record_failure
from ussd.engine import UssdEngine
from ussd.schemas import AtUssdForm
from willay.gsm7 import septets, to_gsm7
from willay.languages import DEFAULT_LANGUAGE, pick_text
from willay.security import Answer, RequestRules, refusal_answer

__all__ = ["HOP_PATH", "LANE_STATE", "URLENCODED", "HopLane", "reply", "url_fields"]

log = logging.getLogger(__name__)

HOP_PATH = "/ussd/africastalking"
LANE_STATE = "hops"  # the key of the app's `HopLane` in its lifespan state (`AppState.hops`)
URLENCODED = "application/x-www-form-urlencoded"
PLAIN_TEXT = b"text/plain; charset=utf-8"
_URLENCODED = URLENCODED.encode()
_NOT_IN_LANE = frozenset({b"transfer-encoding", b"expect", b"upgrade"})


class HopLane:
    """The provider's url-encoded hops, answered as bytes under the app's `RequestRules`."""

    def __init__(self, engine: UssdEngine, *, rules: RequestRules) -> None:
        self.engine = engine
        self._rules = rules

    def admit(
        self,
        method: bytes,
        path: str,
        *,
        client: str,
        query_string: bytes,
        headers: Sequence[tuple[bytes, bytes]],
    ) -> Answer | bool:
        """Whether the lane takes this request, judged on its head: True to answer it once its
        body is in, a refusal to answer at once (the rules' 403, 413 or 400), False if it is
        the app's (not a url-encoded POST of a declared length to the hop path)."""
        if method != b"POST" or path != HOP_PATH:
            return False
        url_encoded: bool | None = None  # the first Content-Type decides, as the app reads it
        declared = False
        for name, value in headers:
            if name == b"content-type":
                if url_encoded is None:
                    url_encoded = value.startswith(_URLENCODED)
            elif name == b"content-length":
                declared = True
            elif name in _NOT_IN_LANE:
                return False
        if not (url_encoded and declared):
            return False
        refused = self._rules.refusal(
            path, client=client, query_string=query_string, headers=headers
        )
        return True if refused is None else refusal_answer(refused)

    @staticmethod
    def form(body: bytes) -> AtUssdForm | None:
        """The hop's form; None if it does not validate (the documented route words the 400)."""
        try:
            return AtUssdForm.model_validate(url_fields(body))
        except ValidationError:
            return None

    async def answer(self, form: AtUssdForm) -> Answer:
        """The hop's response: 200, `CON ...` or `END ...` as text/plain; never raises."""
        text, headers = await reply(self.engine, form)
        content = text.encode()
        raw = [(b"content-length", b"%d" % len(content)), (b"content-type", PLAIN_TEXT)]
        raw += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        return 200, raw, content


def url_fields(body: bytes) -> dict[str, str]:
    """The fields of a url-encoded body, as `parse_qsl(..., keep_blank_values=True)` reads them
    (the last of a repeated name wins), without its generality: the hot path's one parse."""
    fields = {}
    for pair in body.decode("utf-8", "replace").split("&"):
        if pair:
            name, _, value = pair.partition("=")
            if "%" in value or "+" in value:  # most values need no unquoting, and no call
                value = _unquoted(value)
            fields[_unquoted(name) if "%" in name or "+" in name else name] = value
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


async def reply(engine: UssdEngine, form: AtUssdForm) -> tuple[str, dict[str, str]]:
    """The hop's answer (`CON ...` or `END ...`) and its headers; never raises."""
    headers = {}
    try:
        if form.too_long:
            log.info(
                "USSD hop %s: text of %d characters, session ended", form.sessionId, len(form.text)
            )
            body = _notice_end(engine, "too_long")
        else:
            answer = await engine.handle(form)
            if answer.draft:
                headers["X-Willay-Draft"] = "borrador"
            headers["X-Willay-Septets"] = str(answer.septets)
            return answer.body, headers
    except Exception as exc:  # noqa: BLE001 - every failure of a hop ends the session politely
        body = await _failed(engine, form=form, exc=exc)
    headers["X-Willay-Septets"] = str(septets(body[4:]))
    return body, headers


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
