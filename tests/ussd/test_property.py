"""Random key sequences through every menu, in every language: the screens always hold."""

from __future__ import annotations

import itertools

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shell.app import create_app
from tests.fixtures.ussd import Phone
from willay.config import Environment, Settings
from willay.events import MemoryEventSink
from willay.gsm7 import is_gsm7, septets

KEYS = st.sampled_from(
    ["1", "1", "2", "2", "3", "4", "5", "6", "7", "8", "9", "12", "0", "00", "98", "99", "", "x"]
)
numbers = itertools.count(51_900_000_000)


@pytest.mark.parametrize("budget", [120, 160, 182])
def test_random_walks_keep_every_screen_valid(budget: int, tmp_path) -> None:
    app = create_app(
        Settings(
            environment=Environment.testing,
            pseudonym_key="property-key",
            ussd_page_chars=budget,
            events_file=tmp_path / "events.jsonl",
        ),
        events=MemoryEventSink(),
    )
    with TestClient(app) as client:

        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(language=st.sampled_from(["1", "2", "3"]), keys=st.lists(KEYS, max_size=25))
        def walk(language: str, keys: list[str]) -> None:
            phone = Phone(client, number=f"+{next(numbers)}")
            replies = [phone.dial(), phone.press(language)]
            for key in keys:
                if replies[-1].end:
                    replies.append(phone.dial())
                replies.append(phone.press(key))
            for reply in replies:
                assert reply.status == 200, reply.body
                assert reply.body.startswith(("CON ", "END ")), reply.body
                assert is_gsm7(reply.screen), reply.screen
                assert septets(reply.screen) <= budget, reply.screen

        walk()
