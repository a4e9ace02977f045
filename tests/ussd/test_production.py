"""What production serves: only signed-off texts, the language fallback, else the danger signs.

On the real Redis, through the USSD endpoint as Africa's Talking calls it.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shell.app import create_app
from tests.fixtures.environment import TEST_KEY
from tests.fixtures.ussd import FixedClock, Phone
from willay.catalog import load_catalog
from willay.config import Environment, Settings
from willay.events import MemoryEventSink
from willay.gsm7 import to_gsm7
from willay.signoff import record_signoff, text_sha256

NOW = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)
TIP = "manos-momentos-clave"  # for everyone, all year, in es, quy and quz
TOKEN = "production-callback-token-7Hq2xZ9p"  # strong enough for production


@pytest.fixture
def content(tmp_path) -> Path:
    """A copy of the shipped catalog, to record sign-offs in."""
    return Path(shutil.copytree(Settings().content_dir, tmp_path / "content"))


def sign(content: Path, language: str, *, tip_id: str = TIP, **fields: object) -> None:
    catalog = load_catalog(content)
    data: dict[str, object] = {
        "reviewer": "Dra. Ana Quispe" if language == "es" else "Rosa Huamán",
        "role": "Médica, CMP 012345" if language == "es" else "Hablante nativa",
        "decision": "approve",
        "date": dt.date(2026, 11, 20),
        "back_translation": "" if language == "es" else "Lávate las manos con jabón.",
    }
    data.update(fields)
    record_signoff(
        content,
        catalog=catalog,
        tip_id=tip_id,
        language=language,
        text_sha256=text_sha256(catalog.by_id[tip_id].text[language]),
        now=NOW,
        **data,  # type: ignore[arg-type]
    )


@pytest.fixture
def serve(
    content: Path, redis_url: str, redis_prefix: str, raw_redis, tmp_path
) -> Iterator[Callable[..., Phone]]:
    """Start the app on the real Redis; `serve(environment=..., now=...)` gives its phone."""
    clients: list[TestClient] = []

    def start(*, environment: Environment = Environment.production, now=NOW, clock=None) -> Phone:
        settings = Settings(
            environment=environment,
            pseudonym_key=TEST_KEY,
            callback_token=TOKEN,
            content_dir=content,
            redis_url=redis_url,
            redis_prefix=redis_prefix,
            public_url="https://willay.example.org",
            events_file=tmp_path / "events.jsonl",
            recommender="rules",
        )
        client = TestClient(
            create_app(settings, events=MemoryEventSink(), clock=clock or FixedClock(now))
        )
        clients.append(client.__enter__())
        return Phone(client, token=TOKEN)

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def press(phone: Phone, key: str):
    """One more key, answered with its headers."""
    phone.inputs.append(key)
    return phone.client.post(
        f"/ussd/africastalking?token={TOKEN}",
        data={
            "sessionId": phone.session_id,
            "serviceCode": "*123#",
            "phoneNumber": phone.number,
            "networkCode": phone.network,
            "text": "*".join(phone.inputs),
        },
    )


def tip_for_me(phone: Phone, *, language: str = "1"):
    phone.dial()
    phone.press(language, "1")  # language, consent
    return press(phone, "1")  # a tip for me


def screen(response) -> str:
    assert response.status_code == 200, response.text
    return response.text[4:]


class TestProduction:
    def test_nothing_signed_gives_the_danger_signs_never_a_tip(self, serve, caplog) -> None:
        with caplog.at_level(logging.INFO, logger="shell.lifespan"):
            phone = serve()
        assert "servable tips per language: es 0, quy 0, quz 0" in caplog.text
        assert screen(tip_for_me(phone)).startswith("URGENCIA: ve YA al centro de salud")
        topics = phone.press("00", "2", "1")  # home, topics, the first topic
        assert topics.screen.startswith("URGENCIA")
        ready = phone.client.get("/readyz").json()
        assert ready["environment"] == "production"
        assert ready["servable_tips"] == {"es": 0, "quy": 0, "quz": 0}

    def test_clinical_signoff_serves_spanish_and_quechua_falls_back_to_it(
        self, serve, content
    ) -> None:
        sign(content, "es")
        es = to_gsm7(load_catalog(content).by_id[TIP].text["es"])
        phone = serve()
        assert phone.client.get("/readyz").json()["servable_tips"] == {"es": 1, "quy": 0, "quz": 0}
        reply = tip_for_me(phone)
        assert screen(reply).startswith(es[:40])
        assert "X-Willay-Draft" not in reply.headers
        quechua = tip_for_me(Phone(phone.client, number="+51911111111", token=TOKEN), language="2")
        assert screen(quechua).startswith(es[:40])

    def test_quechua_needs_its_language_signoff_too(self, serve, content) -> None:
        sign(content, "es")
        sign(content, "quy")
        quy = to_gsm7(load_catalog(content).by_id[TIP].text["quy"])
        phone = serve()
        assert phone.client.get("/readyz").json()["servable_tips"] == {"es": 1, "quy": 1, "quz": 0}
        assert screen(tip_for_me(phone, language="2")).startswith(quy[:30])

    def test_an_expired_signoff_serves_nothing(self, serve, content) -> None:
        sign(content, "es", expires_on=dt.date(2026, 12, 1))
        phone = serve(now=dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC))
        assert screen(tip_for_me(phone)).startswith("URGENCIA")

    def test_a_signoff_expiring_while_serving_stops_that_day(self, serve, content) -> None:
        sign(content, "es", expires_on=dt.date(2026, 12, 1))
        clock = FixedClock(NOW)
        phone = serve(clock=clock)
        assert not screen(tip_for_me(phone)).startswith("URGENCIA")
        clock.now = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
        later = Phone(phone.client, number="+51922222222", token=TOKEN)
        assert screen(tip_for_me(later)).startswith("URGENCIA")

    def test_an_edit_after_the_signoff_serves_nothing(self, serve, content) -> None:
        sign(content, "es")
        tips = content / "tips" / "manos.yaml"
        tips.write_text(
            tips.read_text(encoding="utf-8").replace("antes de comer", "antes de cada comida", 1),
            encoding="utf-8",
        )
        phone = serve()
        assert screen(tip_for_me(phone)).startswith("URGENCIA")


class TestDrafts:
    def test_testing_serves_drafts_and_marks_them_for_the_simulator(self, serve) -> None:
        phone = serve(environment=Environment.testing)
        assert phone.client.get("/readyz").json()["servable_tips"] == {
            "es": 67,
            "quy": 67,
            "quz": 23,
        }
        reply = tip_for_me(phone)
        assert not screen(reply).startswith("URGENCIA")
        assert reply.headers["X-Willay-Draft"] == "borrador"
        assert "X-Willay-Draft" not in press(phone, "00").headers  # a menu is not a draft

    def test_a_retried_hop_keeps_its_draft_mark(self, serve) -> None:
        phone = serve(environment=Environment.testing)
        first = tip_for_me(phone)
        phone.inputs.pop()  # the gateway sends the same text again: answered from the store
        again = press(phone, "1")
        assert again.text == first.text
        assert again.headers["X-Willay-Draft"] == "borrador"
        press(phone, "00")
        phone.inputs.pop()
        assert "X-Willay-Draft" not in press(phone, "00").headers  # the menu's retry: no mark
        phone.inputs[:] = ["1", "1"]
        late = press(phone, "1")  # a late retry of the tip, after the menu
        assert late.text == first.text
        assert late.headers["X-Willay-Draft"] == "borrador"

    def test_the_draft_mark_follows_the_day_a_signoff_expires(self, serve, content) -> None:
        """Whether a tip is signed off is kept for the day only: the next day asks again."""
        for tip_id in load_catalog(content).by_id:
            sign(content, "es", tip_id=tip_id, expires_on=dt.date(2026, 12, 1))
        clock = FixedClock(NOW)
        phone = serve(environment=Environment.testing, clock=clock)
        today = tip_for_me(phone)
        assert not screen(today).startswith("URGENCIA")
        assert "X-Willay-Draft" not in today.headers
        clock.now = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
        tomorrow = press(phone, "98")  # the same tip (its next page, or itself), the next day
        assert tomorrow.headers["X-Willay-Draft"] == "borrador"
