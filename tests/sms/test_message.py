"""SMS text: GSM-7 always, one segment when it fits, parts counted as the network splits them."""

from __future__ import annotations

import math

import pytest

from sms import SmsText, compose_stopped, compose_tip, split_parts, stop_word
from sms.message import PART_SEPTETS, SINGLE_SEPTETS
from tests.fixtures.catalog import make_tip
from willay.catalog import load_catalog
from willay.config import Settings
from willay.gsm7 import is_gsm7, septets

CATALOG = load_catalog(Settings().content_dir)
STOP = {"es": "BAJA", "quy": "SAQIY", "quz": "SAQIY"}


@pytest.mark.parametrize("lang", ["es", "quy", "quz"])
def test_every_tip_is_gsm7_and_ends_with_how_to_stop(lang: str) -> None:
    for tip in CATALOG.tips:
        message = compose_tip(tip, lang)
        assert is_gsm7(message.text), tip.id
        assert message.text.rsplit("\n", 1)[-1].count(STOP[lang]) == 1, tip.id
        assert tip.source.short in message.text
        assert "".join(message.parts) == message.text
        assert message.segments == (
            1 if message.septets <= SINGLE_SEPTETS else math.ceil(message.septets / PART_SEPTETS)
        )


def test_accents_are_transliterated_not_sent_as_ucs2() -> None:
    text = {"es": "Lávate las manos: niño, bebé, pingüino.", "quy": "Makiykita maqchiy."}
    tip = make_tip(text=text)
    message = compose_tip(tip, "es")
    assert message.text.startswith("Willay: Lavate las manos: niño, bebé, pingüino.")
    assert message.segments == 1 and message.septets <= SINGLE_SEPTETS
    assert message.text.endswith("\nPara no recibir mas, responde BAJA.")


def test_a_shorter_ending_is_chosen_when_it_saves_a_segment() -> None:
    text = "Consejo " * 16 + "final."  # 134 septets: too long with the brand and the full ending
    message = compose_tip(make_tip(text={"es": text, "quy": "Yuyay."}), "es")
    assert message.segments == 1
    assert message.text == f"{text} (Minsa)\nSalir: BAJA"


def test_a_long_tip_is_split_in_parts_of_153_and_keeps_the_full_ending() -> None:
    text = "Toma agua hervida y lava tus manos con jabon antes de comer. " * 5
    message = compose_tip(make_tip(text={"es": text, "quy": "Yuyay."}), "es")
    assert message.segments == math.ceil(message.septets / PART_SEPTETS) == 3
    assert all(septets(part) <= PART_SEPTETS for part in message.parts)
    assert message.text.startswith("Willay: ") and message.text.endswith("responde BAJA.")


def test_a_two_septet_character_is_never_cut_between_parts() -> None:
    text = "a" * 152 + "€" + "b" * 20  # the euro sign (ESC + code) would straddle parts 1 and 2
    parts = split_parts(text)
    assert parts == ["a" * 152, "€" + "b" * 20]
    assert SmsText.of(text).segments == 2


def test_exactly_160_septets_is_one_segment() -> None:
    assert SmsText.of("x" * 160).segments == 1
    assert SmsText.of("x" * 161).segments == 2
    assert SmsText.of("x" * 159 + "{").segments == 2


def test_quechua_without_its_own_text_falls_back_and_stops_with_saqiy() -> None:
    tip = make_tip(text={"es": "Come sangrecita.", "quy": "Yawarchata mikuy."})
    message = compose_tip(tip, "quz")
    assert "Yawarchata mikuy." in message.text and "SAQIY" in message.text


def test_stop_confirmation_names_the_short_code() -> None:
    assert "*123#" in compose_stopped("es", short_code="*123#").text
    quechua = compose_stopped("quy", short_code="*123#")
    assert is_gsm7(quechua.text) and quechua.text.startswith("Willay: manañam")


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("BAJA", "baja"),
        ("  baja ", "baja"),
        ("Bája", "baja"),
        ("STOP!", "stop"),
        ("stop please", "stop"),
        ("Saqíy", "saqiy"),
        ("SAQIY, amaña", "saqiy"),
        ("hola", None),
        ("bajar", None),
        ("no baja", None),
        ("", None),
    ],
)
def test_stop_words_ignore_case_accents_and_punctuation(text: str, word: str | None) -> None:
    assert stop_word(text) == word
