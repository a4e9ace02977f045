"""Whatever a handset sends as `text`, the hop answers a screen: never a 500, never a 400.

Hypothesis draws arbitrary Unicode (unusual digits, NUL, control and combining characters,
runs of `*`) and posts it to the real app on real Redis.
"""

from __future__ import annotations

import itertools

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.ussd import Phone
from ussd.schemas import TEXT_MAX
from willay.gsm7 import is_gsm7, septets

pytestmark = pytest.mark.redis

numbers = itertools.count(51_910_000_000)
INVALID = "Opcion no valida."

# a key: any Unicode at all, or what a keypad and a confused gateway might send
ANY_KEY = st.one_of(
    st.text(max_size=8),
    st.text(alphabet="0123456789*#²³¹⁹١٢３０ \x00\t", max_size=8),
    st.sampled_from(["1", "2", "3", "0", "00", "98", "99", "", "*", "**"]),
)


def assert_screen(reply, budget: int = 160) -> None:
    assert reply.status == 200, reply.body
    assert reply.body.startswith(("CON ", "END ")), reply.body
    assert is_gsm7(reply.screen), reply.screen
    assert septets(reply.screen) <= budget, reply.screen


def test_any_unicode_text_answers_a_screen(redis_client: TestClient) -> None:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(text=st.text(max_size=64))
    def hop(text: str) -> None:
        phone = Phone(redis_client, number=f"+{next(numbers)}")
        phone.dial()
        phone.inputs = [text]
        assert_screen(phone.hop())

    hop()


def test_any_walk_of_unicode_keys_answers_screens(redis_client: TestClient) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(keys=st.lists(ANY_KEY, max_size=8))
    def walk(keys: list[str]) -> None:
        phone = Phone(redis_client, number=f"+{next(numbers)}")
        assert_screen(phone.dial())
        for key in keys:
            reply = phone.press(key)
            assert_screen(reply)
            if reply.end:
                assert_screen(phone.dial())

    walk()


def test_only_ascii_digits_are_keys(redis_client: TestClient) -> None:
    """On the first screen, a key holding anything but ASCII digits re-prompts."""

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(key=st.text(min_size=1, max_size=6).filter(lambda k: "*" not in k))
    def press(key: str) -> None:
        stripped = key.strip()
        if not stripped or (stripped.isascii() and stripped.isdigit()):
            return
        phone = Phone(redis_client, number=f"+{next(numbers)}")
        phone.dial()
        reply = phone.press(key)
        assert reply.status == 200 and reply.screen.startswith(INVALID), (key, reply.body)

    press()


@pytest.mark.parametrize("key", ["²", "١", "１", "⁹⁹", "1\x00", "\x00"])
def test_unicode_digits_do_not_choose(redis_client: TestClient, key: str) -> None:
    phone = Phone(redis_client)
    phone.dial()
    reply = phone.press(key)
    assert reply.status == 200 and reply.screen.startswith(INVALID)


def test_text_over_the_cap_ends_politely(redis_client: TestClient) -> None:
    phone = Phone(redis_client)
    phone.dial()
    phone.inputs = ["1"] * (TEXT_MAX // 2 + 1)
    reply = phone.hop()
    assert reply.status == 200 and reply.end
    assert "Vuelve a marcar" in reply.screen and "106" in reply.screen
    assert_screen(reply)
