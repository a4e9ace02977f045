"""The IVR in production: a caller hears only signed-off texts, in the language signed, else
the danger signs (as USSD shows its danger screen)."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from fastapi.testclient import TestClient

from shell.app import create_app
from tests.fixtures.audio import Caller, VoiceChecker
from tests.fixtures.ussd import FixedClock
from willay.catalog import load_catalog
from willay.config import Environment
from willay.events import MemoryEventSink
from willay.signoff import record_signoff, text_sha256

pytestmark = pytest.mark.redis

NOW = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)
TIP = "manos-como-lavar"


def sign_spanish(content) -> None:
    catalog = load_catalog(content)
    record_signoff(
        content,
        catalog=catalog,
        tip_id=TIP,
        language="es",
        text_sha256=text_sha256(catalog.by_id[TIP].text["es"]),
        reviewer="Dra. Ana Quispe",
        role="Médica, CMP 012345",
        decision="approve",
        date=dt.date(2026, 11, 20),
        now=NOW,
    )


@pytest.fixture
def production_caller(request, ivr_settings, built_audio, tmp_path):
    content = shutil.copytree(ivr_settings.content_dir, tmp_path / "content")
    if request.param:
        sign_spanish(content)
    settings = ivr_settings.model_copy(
        update={"environment": Environment.production, "content_dir": content}
    )
    app = create_app(settings, events=MemoryEventSink(), clock=FixedClock(NOW))
    with TestClient(app) as client:
        yield Caller(client, VoiceChecker(client, built_audio.manifest))


@pytest.mark.parametrize("production_caller", [True], indirect=True)
def test_a_quechua_caller_hears_the_signed_spanish_audio_not_the_unsigned_quechua(
    production_caller: Caller,
) -> None:
    production_caller.dial()
    production_caller.press("2")  # Runasimi Chanka
    production_caller.press("1")  # consent
    reply = production_caller.press("1")  # a tip for me
    assert [p for p in reply.plays if p.startswith("tip:")] == [f"tip:{TIP}.es"]


@pytest.mark.parametrize("production_caller", [False], indirect=True)
@pytest.mark.parametrize("key", ["1", "3"])  # a tip for me; tips in a row
def test_with_nothing_signed_a_caller_hears_the_danger_signs_never_a_tip(
    production_caller: Caller, key: str
) -> None:
    production_caller.dial()
    production_caller.press("1")  # español
    production_caller.press("1")  # consent
    reply = production_caller.press(key)
    assert not [p for p in reply.plays if p.startswith("tip:")]
    assert "prompt:danger_signs.es" in reply.plays, reply.plays
