"""Whole calls walked key by key on real Redis, in Spanish and Quechua, every reply validated."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.audio import PUBLIC_URL, TOKEN, Caller
from tests.fixtures.ussd import Phone

pytestmark = pytest.mark.redis

TIP_PLAYED = "tip:"


def tips(plays: list[str]) -> list[str]:
    return [p for p in plays if p.startswith(TIP_PLAYED)]


class TestSpanishCall:
    def test_new_caller_walks_every_menu(self, caller: Caller, events, raw_redis, redis_prefix):
        reply = caller.dial()
        assert reply.plays == [] and reply.asks == "prompt:choose_language.mul"
        assert reply.callback_url == f"{PUBLIC_URL}/ivr/africastalking?token={TOKEN}"
        assert caller.press("1").asks == "prompt:consent.es"
        assert caller.press("1").asks == "prompt:main.es"  # consented: a profile is kept
        profile_keys = list(raw_redis.scan_iter(f"{redis_prefix}:sub:*"))
        assert len(profile_keys) == 1
        assert json.loads(raw_redis.get(profile_keys[0]))["language"] == "es"

        reply = caller.press("1")  # a tip for me
        first = tips(reply.plays)
        assert len(first) == 1 and first[0].endswith(".es") and reply.asks == "prompt:feedback.es"
        reply = caller.press("1")  # useful
        assert reply.plays == ["prompt:thanks.es"] and reply.asks == "prompt:after_feedback.es"
        reply = caller.press("9")  # repeat
        assert reply.plays == first and reply.asks == "prompt:feedback.es"
        reply = caller.press("3")  # another tip
        assert len(tips(reply.plays)) == 1 and tips(reply.plays) != first
        reply = caller.press("2")  # not useful
        assert reply.plays == ["prompt:thanks.es"]
        assert caller.press("0").asks == "prompt:main.es"

        assert caller.press("2").asks == "prompt:topics.es"
        assert caller.press("9").asks == "prompt:topics_more.es"
        reply = caller.press("3")  # tuberculosis
        assert tips(reply.plays)[0].startswith("tip:tbc-")
        assert caller.press("0").asks == "prompt:main.es"

        served = [e.data for e in events.events if e.kind == "feedback"]
        assert [d["useful"] for d in served] == [True, False]
        assert caller.hang_up() == 200
        end = events.events[-1]
        assert end.kind == "call_end" and end.channel == "ivr"
        assert end.data["duration_s"] == 42 and end.data["amount"] == 0.35
        assert end.data["currency"] == "PEN" and end.data["hangup_cause"] == "NORMAL_CLEARING"
        assert not list(raw_redis.scan_iter(f"{redis_prefix}:ivr:call:*"))
        kinds = set(events.kinds())
        assert {"session_start", "consent", "tip_served", "tip_completed", "menu_step"} <= kinds
        assert all("+51" not in e.to_json() for e in events.events)

    def test_call_end_counts_the_audio_bytes_played(
        self, caller: Caller, events, built_audio
    ) -> None:
        manifest = built_audio.manifest
        heard = []
        for reply in (caller.dial(), caller.press("1"), caller.press("1"), caller.press("1")):
            heard += reply.plays + ([reply.asks] if reply.asks else [])
        assert any(label.startswith(TIP_PLAYED) for label in heard)
        expected = 0
        for label in heard:
            kind, item = label.split(":", 1)
            item_id, lang = item.rsplit(".", 1)
            section = manifest.tips if kind == "tip" else manifest.prompts
            expected += section[item_id][lang]["call"].bytes
        caller.hang_up()
        end = events.events[-1]
        assert end.kind == "call_end" and end.data["bytes"] == expected > 0

    def test_linear_path_is_one_key_per_tip_then_goodbye(self, caller: Caller):
        caller.dial()
        caller.press("1")
        caller.press("2")  # no consent: nothing kept, still served
        heard = []
        reply = caller.press("3")
        while reply.asks == "prompt:next_tip.es":
            heard += tips(reply.plays)
            reply = caller.press("1")
        assert len(heard) == len(set(heard)) == 4  # every tip of the small catalog, once
        assert reply.plays == ["prompt:no_tip.es", "prompt:goodbye.es"] and reply.asks is None

    def test_known_caller_hears_a_tip_after_one_key(self, caller: Caller):
        caller.dial()
        caller.press("1")
        caller.press("1")
        caller.hang_up()
        reply = caller.dial()
        assert reply.plays == ["prompt:welcome.es"] and reply.asks == "prompt:main.es"
        assert len(tips(caller.press("1").plays)) == 1


class TestQuechuaCall:
    def test_language_chosen_by_ussd_holds_on_a_call(self, caller: Caller, ivr_client, events):
        phone = Phone(ivr_client, number=caller.number or "", token=TOKEN)
        phone.dial()
        phone.press("2", "1")  # Runasimi Chanka, consent
        reply = caller.dial()
        assert reply.plays == ["prompt:welcome.quy"] and reply.asks == "prompt:main.quy"
        assert caller.press("2").asks == "prompt:topics.quy"
        reply = caller.press("5")  # maki mayllakuy
        assert tips(reply.plays) == ["tip:manos-como-lavar.quy"]
        assert reply.asks == "prompt:feedback.quy"
        reply = caller.press("1")
        assert reply.plays == ["prompt:thanks.quy"]
        assert caller.press("0").asks == "prompt:main.quy"
        assert caller.press("4").asks == "prompt:choose_language.mul"
        # Cusco Quechua: prompts fall back to Chanka, tips are played in quz where recorded
        assert caller.press("3").asks == "prompt:main.quy"
        reply = caller.press("2")
        caller.press("9")
        reply = caller.press("3")  # TBC: both tips have Cusco text
        assert tips(reply.plays)[0].endswith(".quz")
        served = [e for e in events.events if e.kind == "tip_served" and e.channel == "ivr"]
        assert served[-1].data["text_lang"] == "quz"
        assert caller.hang_up() == 200
        assert caller.dial().plays == ["prompt:welcome.quy"]  # quz prompts fall back to quy

    def test_new_caller_in_quechua(self, caller: Caller):
        caller.dial()
        assert caller.press("2").asks == "prompt:consent.quy"
        assert caller.press("1").asks == "prompt:main.quy"
        reply = caller.press("1")
        assert tips(reply.plays)[0].endswith(".quy") and reply.asks == "prompt:feedback.quy"


class TestKeys:
    def test_star_repeats_everywhere_without_counting(self, caller: Caller):
        assert caller.dial().asks == "prompt:choose_language.mul"
        for _ in range(4):
            assert caller.press("*").asks == "prompt:choose_language.mul"
        caller.press("1")
        for expected in ("prompt:consent.es",) * 3:
            assert caller.press("*").asks == expected
        caller.press("2")
        assert caller.press("*").asks == "prompt:main.es"
        reply = caller.press("1")
        assert len(tips(reply.plays)) == 1
        reply = caller.press("*")  # the question again, not the whole tip
        assert reply.plays == [] and reply.asks == "prompt:feedback.es"

    def test_wrong_or_no_key_replays_twice_then_goodbye(self, caller: Caller, events):
        caller.dial()
        caller.press("1")
        reply = caller.press("7")
        assert reply.plays == ["prompt:invalid.es"] and reply.asks == "prompt:consent.es"
        reply = caller.wait()
        assert reply.plays == [] and reply.asks == "prompt:consent.es"
        reply = caller.wait()
        assert reply.plays == ["prompt:goodbye.es"] and reply.asks is None
        assert reply.root.find("GetDigits") is None and reply.root.find("Redirect") is None
        steps = [e.data["key"] for e in events.events if e.kind == "menu_step"]
        assert steps[-3:] == ["invalid", "no_key", "no_key"]

    def test_a_good_key_resets_the_count(self, caller: Caller):
        caller.dial()
        caller.wait()
        caller.wait()
        assert caller.press("1").asks == "prompt:consent.es"
        caller.press("5")
        assert caller.wait().asks == "prompt:consent.es"


class TestCallerWithoutNumber:
    def test_withheld_number_is_served_and_nothing_is_kept(
        self, caller: Caller, raw_redis, redis_prefix, events
    ):
        caller.number = None
        caller.dial()
        assert caller.press("1").asks == "prompt:main.es"  # no consent question: nothing to keep
        assert len(tips(caller.press("1").plays)) == 1
        assert not list(raw_redis.scan_iter(f"{redis_prefix}:sub:*"))
        assert all(e.subscriber.startswith("anon-") for e in events.events)
