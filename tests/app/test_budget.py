"""The data budget of the light app, measured as `bench/app_bytes.py` measures it."""

from __future__ import annotations

import datetime as dt

import pytest

from app import build_pack
from audio_cache import AudioLibrary
from bench.app_bytes import measure, stand_in_audio
from willay.catalog import load_catalog


@pytest.mark.parametrize("lang", ["es", "quy"])
def test_within_the_data_budget(settings, tmp_path, lang):
    audio = tmp_path / "audio"
    audio.mkdir()
    stand_in_audio(settings.content_dir, audio)
    pack = build_pack(
        load_catalog(settings.content_dir),
        lang=lang,
        audio=AudioLibrary(audio, base_url=settings.public_url),
        today=dt.date.today(),
    )
    assert all("a" in tip for tip in pack.tips)  # the pack measured lists every clip
    figures = measure(settings.model_copy(update={"audio_dir": audio}), lang=lang)
    assert figures.over_budget() == []
    assert figures.pack_raw > figures.pack  # it travelled compressed
