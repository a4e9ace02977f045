"""Scripted dialogues on the real Redis: every screen a person sees, key by key."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.ussd import Phone
from willay.events import Event
from willay.gsm7 import to_gsm7
from willay.profiles import pseudonym

from ..fixtures.environment import TEST_KEY

pytestmark = pytest.mark.redis


def served_tip(phone: Phone, raw_redis, redis_prefix: str, lang: str) -> tuple[str, str]:
    """The tip this session served, in `lang` as the catalog has it, and its first page."""
    session = json.loads(raw_redis.get(f"{redis_prefix}:ussd:session:{phone.session_id}"))
    engine = phone.client.app_state["ussd"].engine
    tip = next(t for t in engine.services.catalog.tips if t.id == session["tip_id"])
    return to_gsm7(tip.text_for(lang)[0]), to_gsm7(str(engine.tip_pages(tip, lang)[0]))


def new_user_to_main(phone: Phone, *, language: str = "1", accept: bool = True) -> None:
    phone.dial()
    phone.press(language, "1" if accept else "2")


class TestFirstContact:
    def test_new_user_chooses_language_then_consents(self, redis_phone: Phone) -> None:
        first = redis_phone.dial()
        assert first.status == 200 and not first.end
        assert "1 Español" in first.screen and "2 Runasimi Chanka" in first.screen
        consent = redis_phone.press("1")
        assert "guardamos" in consent.screen and "1 Acepto" in consent.screen
        main = redis_phone.press("1")
        assert main.screen.startswith("Willay salud")
        assert "1 Consejo para mi" in main.screen

    def test_new_user_reaches_a_tip_in_three_inputs(
        self, redis_phone: Phone, raw_redis, redis_prefix: str
    ) -> None:
        redis_phone.dial()
        redis_phone.press("1", "1")  # Español, Acepto: the main menu
        tip = redis_phone.press("1")  # the third input: Consejo para mi
        assert tip.status == 200 and not tip.end
        text, first_page = served_tip(redis_phone, raw_redis, redis_prefix, "es")
        assert tip.screen == first_page and tip.screen.startswith(text[:40])

    def test_returning_user_skips_to_their_language(
        self, redis_phone: Phone, raw_redis, redis_prefix: str
    ) -> None:
        new_user_to_main(redis_phone, language="2")
        again = redis_phone.dial()
        assert again.screen.startswith("Willay hampi")
        tip = redis_phone.press("1")  # one input from the main menu
        assert tip.status == 200 and not tip.end
        text, first_page = served_tip(redis_phone, raw_redis, redis_prefix, "quy")
        assert tip.screen == first_page and tip.screen.startswith(text[:40])

    def test_quechua_screens_are_in_quechua(self, redis_phone: Phone) -> None:
        redis_phone.dial()
        consent = redis_phone.press("2")
        assert "waqaychasaqku" in consent.screen and "1 Ari" in consent.screen
        main = redis_phone.press("1")
        assert "Temakuna" in main.screen and "99 Usqay" in main.screen


class TestConsent:
    def test_accepting_stores_profile_under_pseudonym_only(
        self, redis_phone: Phone, raw_redis, redis_prefix: str, clock
    ) -> None:
        new_user_to_main(redis_phone)
        subscriber = pseudonym(redis_phone.number, TEST_KEY)
        raw = raw_redis.get(f"{redis_prefix}:sub:{subscriber}")
        assert raw is not None
        profile = json.loads(raw)
        assert profile["language"] == "es"
        assert profile["consent_at"].startswith(clock.now.isoformat()[:19])
        for key in raw_redis.scan_iter(f"{redis_prefix}:*"):
            assert "987654321" not in key
            assert "987654321" not in (raw_redis.get(key) or "")

    def test_declining_stores_nothing_and_still_serves_tips(
        self, redis_phone: Phone, raw_redis, redis_prefix: str
    ) -> None:
        new_user_to_main(redis_phone, accept=False)
        tip = redis_phone.press("1")
        text, first_page = served_tip(redis_phone, raw_redis, redis_prefix, "es")
        assert tip.screen == first_page and tip.screen.startswith(text[:40])
        assert list(raw_redis.scan_iter(f"{redis_prefix}:sub:*")) == []
        again = redis_phone.dial()
        assert "1 Español" in again.screen, "a person who declined is asked again"

    @pytest.mark.parametrize("language", ["1", "2", "3"])
    def test_consent_is_one_screen_in_every_language(self, phone: Phone, language: str) -> None:
        phone.dial()
        consent = phone.press(language)
        assert "98 " not in consent.screen, "what is kept and why fits one screen"
        assert consent.screen.count("\n") >= 2

    def test_profile_needs_consent(self, redis_phone: Phone) -> None:
        new_user_to_main(redis_phone, accept=False)
        screen = redis_phone.press("3")
        assert "debes aceptar" in screen.screen and "1 Acepto" in screen.screen

    def test_delete_my_data_erases_the_profile(
        self, redis_phone: Phone, raw_redis, redis_prefix: str
    ) -> None:
        new_user_to_main(redis_phone)
        assert list(raw_redis.scan_iter(f"{redis_prefix}:sub:*"))
        confirm = redis_phone.press("5")
        assert "Borrar todos tus datos" in confirm.screen
        done = redis_phone.press("1")
        assert done.end and "borrados" in done.screen
        assert list(raw_redis.scan_iter(f"{redis_prefix}:sub:*")) == []
        assert "1 Español" in redis_phone.dial().screen


class TestProfileAndTips:
    def test_profile_answers_are_saved(self, redis_phone: Phone, raw_redis, redis_prefix) -> None:
        new_user_to_main(redis_phone)
        regions = redis_phone.press("3", "1")
        assert "1 Amazonas" in regions.screen and "98 Mas" in regions.screen
        page2 = redis_phone.press("98")
        assert "8 Cusco" in page2.screen
        saved = redis_phone.press("8")
        assert saved.screen.startswith("Guardado.")
        redis_phone.press("3", "1")  # pregnant: yes
        redis_phone.press("4", "2")  # child under 5: no
        key = f"{redis_prefix}:sub:{pseudonym(redis_phone.number, TEST_KEY)}"
        profile = json.loads(raw_redis.get(key))
        assert profile["region"] == "cusco"
        assert profile["pregnant"] is True and profile["child_under5"] is False

    def test_tip_feedback_is_recorded(self, redis_phone: Phone, raw_redis, redis_prefix) -> None:
        new_user_to_main(redis_phone)
        screen = redis_phone.press("1")
        while "98 Mas" in screen.screen:
            screen = redis_phone.press("98")
        assert "1 Util" in screen.screen and "3 Otro consejo" in screen.screen
        thanks = redis_phone.press("1")
        assert thanks.screen.startswith("¡Gracias por tu respuesta!")
        profile = json.loads(
            raw_redis.get(f"{redis_prefix}:sub:{pseudonym(redis_phone.number, TEST_KEY)}")
        )
        assert profile["feedback"][0]["useful"] is True
        assert profile["feedback"][0]["tip_id"] in profile["heard"]

    def test_another_tip_is_a_different_tip(self, redis_phone: Phone, events) -> None:
        new_user_to_main(redis_phone)
        redis_phone.press("2", "2")  # topics -> dengue
        redis_phone.press("3")
        served = [e.data["tip_id"] for e in events.events if e.kind == "tip_served"]
        assert len(served) == 2 and served[0] != served[1]
        assert all(t.startswith("dengue") for t in served)

    def test_subscribe_to_weekly_sms(self, redis_phone: Phone, raw_redis, redis_prefix) -> None:
        new_user_to_main(redis_phone)
        offer = redis_phone.press("4")
        assert "1 Lunes" in offer.screen and "7 Domingo" in offer.screen
        assert "98 " not in offer.screen, "the seven days fit one screen"
        done = redis_phone.press("3")  # Wednesday
        assert done.end
        profile = json.loads(
            raw_redis.get(f"{redis_prefix}:sub:{pseudonym(redis_phone.number, TEST_KEY)}")
        )
        assert profile["sms_since"] and profile["sms_number"] == redis_phone.number
        assert profile["sms_day"] == 2
        redis_phone.dial()
        assert "1 Dejar de recibir" in redis_phone.press("4").screen


class TestNavigation:
    def test_wrong_key_reprompts_with_error_line(self, redis_phone: Phone) -> None:
        new_user_to_main(redis_phone)
        wrong = redis_phone.press("7")
        assert wrong.screen.startswith("Opcion no valida.")
        assert "1 Consejo para mi" in wrong.screen

    def test_danger_screen_is_one_key_from_every_menu(self, redis_phone: Phone) -> None:
        new_user_to_main(redis_phone)
        for path in ([], ["2"], ["3"], ["3", "1"], ["6"], ["5"]):
            redis_phone.dial()
            if path:
                redis_phone.press(*path)
            danger = redis_phone.press("99")
            assert "106" in danger.screen and "113" in danger.screen, path

    def test_back_and_home(self, redis_phone: Phone) -> None:
        new_user_to_main(redis_phone)
        redis_phone.press("3")
        back = redis_phone.press("0")
        assert back.screen.startswith("Willay salud")
        redis_phone.press("3", "2")
        home = redis_phone.press("00")
        assert home.screen.startswith("Willay salud")
        top = redis_phone.press("0")
        assert top.screen.startswith("Ya estas al inicio.")

    def test_retried_hop_is_not_applied_twice(self, redis_phone: Phone, events) -> None:
        new_user_to_main(redis_phone)
        first = redis_phone.press("1")
        again = redis_phone.hop()
        assert again.body == first.body
        assert [e.kind for e in events.events].count("tip_served") == 1

    def test_unknown_session_with_text_starts_cleanly(self, redis_phone: Phone) -> None:
        redis_phone.session_id = "ATUid_expired"
        redis_phone.inputs = ["1", "2", "3"]
        reply = redis_phone.hop()
        assert reply.status == 200 and "1 Español" in reply.screen

    def test_session_state_expires(self, redis_phone, raw_redis, redis_prefix, redis_settings):
        redis_phone.dial()
        ttl = raw_redis.ttl(f"{redis_prefix}:ussd:session:{redis_phone.session_id}")
        assert 0 < ttl <= redis_settings.ussd_session_ttl


class TestResume:
    def test_incomplete_session_offers_to_continue(self, redis_phone: Phone) -> None:
        new_user_to_main(redis_phone)
        lost = redis_phone.press("3", "2")
        assert "Tu edad" in lost.screen
        assert redis_phone.hang_up("Incomplete") == 200
        offer = redis_phone.dial()
        assert "se corto" in offer.screen and "1 Continuar" in offer.screen
        resumed = redis_phone.press("1")
        assert resumed.screen == lost.screen
        assert redis_phone.press("0").screen.startswith("Mi perfil")

    def test_start_over_and_success_leave_no_offer(self, redis_phone: Phone) -> None:
        new_user_to_main(redis_phone)
        redis_phone.press("2")
        redis_phone.hang_up("Incomplete")
        redis_phone.dial()
        assert redis_phone.press("2").screen.startswith("Willay salud")
        redis_phone.press("2")
        redis_phone.hang_up("Success")
        assert redis_phone.dial().screen.startswith("Willay salud")

    def test_notice_for_unknown_session_is_accepted(self, redis_phone: Phone, events) -> None:
        redis_phone.session_id = "ATUid_never_seen"
        assert redis_phone.hang_up("Failed") == 200
        assert events.events[-1].kind == "session_end"
        assert events.events[-1].data["status"] == "Failed"


class TestEvents:
    def test_every_step_is_an_event_without_phone_number(self, redis_phone: Phone, events):
        new_user_to_main(redis_phone)
        redis_phone.press("1")
        kinds = events.kinds()
        assert kinds[:2] == ["session_start", "menu_step"]
        assert {"consent", "tip_served"} <= set(kinds)
        served = next(e for e in events.events if e.kind == "tip_served")
        assert {"tip_id", "topic", "score", "propensity", "model_version"} <= set(served.data)
        subscriber = pseudonym(redis_phone.number, TEST_KEY)
        assert served.subscriber == subscriber
        for event in events.events:
            assert "987654321" not in event.to_json()

    def test_events_built_unvalidated_are_the_validated_ones(self, redis_phone: Phone, events):
        new_user_to_main(redis_phone)
        redis_phone.press("1")
        redis_phone.hang_up("Success")
        kinds = {"session_start", "hop", "menu_step", "consent", "tip_served", "session_end"}
        assert kinds <= set(events.kinds())
        for event in events.events:
            validated = Event.model_validate(dict(event))
            assert validated == event
            assert event.to_json().encode() == validated.model_dump_json(exclude_none=True).encode()

    def test_events_before_consent_are_anonymous(self, redis_phone: Phone, events) -> None:
        new_user_to_main(redis_phone, accept=False)
        subscriber = pseudonym(redis_phone.number, TEST_KEY)
        assert all(e.subscriber != subscriber for e in events.events)
        assert all(e.subscriber.startswith("anon-") for e in events.events)
