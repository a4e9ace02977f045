"""The data budget of the light app, measured as `bench/app_bytes.py` measures it."""

from __future__ import annotations

import pytest

from bench.app_bytes import BUDGET, measure, stand_in_audio


@pytest.mark.parametrize("lang", ["es", "quy"])
def test_within_the_data_budget(settings, tmp_path, lang):
    audio = tmp_path / "audio"
    audio.mkdir()
    stand_in_audio(settings.content_dir, audio)
    figures = measure(settings.model_copy(update={"audio_dir": audio}), lang=lang)
    assert figures.over_budget() == []
    assert figures.pack_raw > figures.pack  # it travelled compressed
    assert figures.first_visit < BUDGET["first_visit"]
