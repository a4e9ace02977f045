"""What the USSD hot path skips must not change what a person or the provider gets."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from starlette.middleware.base import BaseHTTPMiddleware

from shell.app import CALLBACK_BODY_BYTES, create_app
from tests.fixtures.ussd import Phone
from ussd.lane import url_fields
from willay.gsm7 import EXTENSION, septets

FORM = {"sessionId": "ATUid_hp", "serviceCode": "*123#", "phoneNumber": "+51987654321", "text": ""}


@given(st.text(alphabet=st.sampled_from(sorted(EXTENSION) + list("abc ñ\n@"))))
def test_septets_count_extension_characters_twice(text: str) -> None:
    assert septets(text) == sum(2 if c in EXTENSION else 1 for c in text)


BODIES = st.text("ab=&%+257AFf ñ*#").map(str.encode) | st.binary()


@given(BODIES)
def test_the_hop_form_is_read_as_parse_qsl_reads_it(body: bytes) -> None:
    text = body.decode("utf-8", "replace")
    assert url_fields(body) == dict(parse_qsl(text, keep_blank_values=True))


def test_a_multipart_hop_is_answered_like_a_url_encoded_one(client) -> None:
    """The url-encoded hop (answered by `ProviderHops`) and the documented route agree."""
    plain = client.post("/ussd/africastalking", data=FORM)
    multipart = client.post(
        "/ussd/africastalking",
        data={**FORM, "sessionId": "ATUid_hp2"},
        files={"unused": ("x.txt", b"x")},
    )
    assert multipart.status_code == plain.status_code == 200
    assert multipart.text == plain.text and multipart.text.startswith("CON ")
    for name in ("content-type", "content-length", "x-willay-septets"):
        assert plain.headers[name] == multipart.headers[name], name
    assert plain.headers["content-type"] == "text/plain; charset=utf-8"
    bad = client.post("/ussd/africastalking", data={"text": ""}, files={"unused": ("x", b"x")})
    assert bad.status_code == 400 and "phoneNumber: Field required" in bad.json()["detail"]


def test_a_url_encoded_hop_that_does_not_validate_gets_the_documented_400(client) -> None:
    for form, field in [({"text": ""}, "phoneNumber"), ({**FORM, "sessionId": "a b"}, "sessionId")]:
        bad = client.post("/ussd/africastalking", data=form)
        assert bad.status_code == 400 and bad.json()["error"] == "BadRequest"
        assert f"{field}: " in bad.json()["detail"], bad.json()


def test_screens_from_the_page_cache_match_a_fresh_engine(client, settings, events, clock) -> None:
    """The same walk twice on one app (second time from the cache) and on a new app agree."""
    from fastapi.testclient import TestClient

    from shell.app import create_app

    def walk(phone: Phone) -> list[str]:
        screens = [phone.dial().body]
        screens += [phone.press(key).body for key in ("1", "2", "98", "0", "00", "99", "0")]
        return screens

    first = walk(Phone(client, number="+51911111111"))
    cached = walk(Phone(client, number="+51922222222"))
    with TestClient(create_app(settings, events=events, clock=clock)) as other:
        fresh = walk(Phone(other, number="+51933333333"))
    assert first == cached == fresh


def test_a_server_process_freezes_what_startup_built(monkeypatch, settings) -> None:
    import gc

    from shell import app as app_module

    monkeypatch.setattr(app_module, "Settings", lambda: settings)
    threshold = gc.get_threshold()
    try:
        app_module.app_from_environment()
        assert gc.get_freeze_count() > 10_000  # modules, schemas, catalog: never walked again
        assert gc.get_threshold() == (app_module.YOUNG_OBJECTS, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_hops_of_one_session_take_turns_and_leave_no_lock_behind() -> None:
    import asyncio

    from ussd.store import SessionLocks

    async def scenario() -> list[str]:
        locks, order = SessionLocks(), []

        async def hop(session: str, name: str, pause: float) -> None:
            async with locks.hold(session):
                order.append(f"{name} in")
                await asyncio.sleep(pause)
                order.append(f"{name} out")

        first = asyncio.create_task(hop("a", "a1", 0.05))
        await asyncio.sleep(0)
        waiting = asyncio.create_task(hop("a", "a2", 0))
        cancelled = asyncio.create_task(hop("a", "a3", 0))
        other = asyncio.create_task(hop("b", "b1", 0))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        await asyncio.gather(first, waiting, other, return_exceptions=True)
        assert cancelled.cancelled() and locks._locks == {}
        return order

    order = asyncio.run(scenario())
    assert order.index("b1 out") < order.index("a1 out")  # another session does not wait
    assert order.index("a1 out") < order.index("a2 in") and "a3 in" not in order


def test_the_septets_header_counts_the_screen_shown(client) -> None:
    """Counted once for the cost event and the header: both are the screen's septets."""
    first = client.post("/ussd/africastalking", data={**FORM, "sessionId": "ATUid_sep"})
    retried = client.post("/ussd/africastalking", data={**FORM, "sessionId": "ATUid_sep"})
    too_long = client.post(
        "/ussd/africastalking", data={**FORM, "sessionId": "ATUid_sep2", "text": "1*" * 600}
    )
    for reply in (first, retried, too_long):
        assert reply.headers["X-Willay-Septets"] == str(septets(reply.text[4:]))
    assert too_long.text.startswith("END ")


class TestTheHopGoesFirst:
    """The provider's hop is answered in front of the framework's middleware, still guarded."""

    @pytest.fixture
    def seen(self) -> list[str]:
        return []

    @pytest.fixture
    def app(self, settings, events, clock, seen: list[str]) -> FastAPI:
        app = create_app(
            settings.model_copy(update={"callback_token": SecretStr("hop-token")}),
            events=events,
            clock=clock,
        )

        async def outermost_of_the_framework(request: Request, call_next):  # noqa: ANN202
            seen.append(request.url.path)
            return await call_next(request)

        app.add_middleware(BaseHTTPMiddleware, dispatch=outermost_of_the_framework)
        return app

    def test_a_hop_skips_the_framework_and_anything_else_does_not(self, app, seen) -> None:
        with TestClient(app) as client:
            hop = client.post("/ussd/africastalking?token=hop-token", data=FORM)
            health = client.get("/healthz")
        assert hop.status_code == health.status_code == 200 and hop.text.startswith("CON ")
        assert seen == ["/healthz"]

    def test_a_hop_is_still_guarded(self, app, seen) -> None:
        with TestClient(app) as client:
            wrong = client.post("/ussd/africastalking?token=wrong", data=FORM)
            big = client.post(
                "/ussd/africastalking?token=hop-token",
                data={**FORM, "text": "1" * (CALLBACK_BODY_BYTES + 1)},
            )
        assert (wrong.status_code, wrong.json()["error"]) == (403, "Forbidden")
        assert (big.status_code, big.json()["error"]) == (413, "PayloadTooLarge")
        assert seen == []

    def test_a_hop_that_does_not_validate_gets_the_routes_400(self, app, seen) -> None:
        with TestClient(app) as client:
            bad = client.post("/ussd/africastalking?token=hop-token", data={"text": "1"})
        assert bad.status_code == 400
        assert seen == ["/ussd/africastalking"]
