"""pyttsx3 on espeak-ng: voices, respelling, and many renders at once without a crash."""

from __future__ import annotations

import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from audio_cache.tts import resolve_voice, speakable, synthesize
from willay.errors import ConfigurationError

TEXTS = [
    "Lávate las manos con agua y jabón.",
    "Hierve el agua antes de tomarla.",
    "Makiykita mayllakuy yakuwan, jabonwan.",
    "Yakuta timpuchiy manaraq upyaspa.",
]


def wav_info(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        return rate, wav.getnchannels(), wav.getsampwidth(), wav.getnframes() / rate


def test_voices_resolve_by_language():
    assert resolve_voice("es-419") == "roa/es-419"
    assert resolve_voice("qu") == "qu"
    with pytest.raises(ConfigurationError, match="no voice 'tlh'"):
        resolve_voice("tlh")


def test_cusco_ejective_is_not_spelled_out():
    assert speakable("Ch'aki simi, ch'aqchuy", "qu") == "Chaki simi, chaqchuy"
    assert speakable("Ch'aki", "roa/es-419") == "Ch'aki"


def test_one_render_is_mono_16_bit(tmp_path: Path):
    path = tmp_path / "one.wav"
    synthesize(TEXTS[0], voice="roa/es-419", rate=145, path=path)
    rate, channels, width, seconds = wav_info(path)
    assert (rate, channels, width) == (22050, 1, 2)
    assert 1.0 < seconds < 6.0


def test_many_threads_at_once_share_one_engine_safely(tmp_path: Path):
    """pyttsx3 crashes the process when threads synthesise together; the lock serialises them."""
    jobs = [
        (i, TEXTS[i % len(TEXTS)], "qu" if i % len(TEXTS) >= 2 else "roa/es-419") for i in range(16)
    ]

    def run(job: tuple[int, str, str]) -> float:
        i, text, voice = job
        path = tmp_path / f"{i}.wav"
        synthesize(text, voice=voice, rate=145, path=path)
        return wav_info(path)[3]

    with ThreadPoolExecutor(max_workers=8) as pool:
        seconds = list(pool.map(run, jobs))
    assert all(s > 1.0 for s in seconds)
    # the same text in the same voice lasts the same, whichever thread spoke it
    by_text = {}
    for (_, text, _), s in zip(jobs, seconds, strict=True):
        by_text.setdefault(text, []).append(s)
    for durations in by_text.values():
        assert max(durations) - min(durations) < 0.1
