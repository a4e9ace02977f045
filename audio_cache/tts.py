"""Text to speech with pyttsx3 on espeak-ng: one engine per process, behind a lock.

pyttsx3's espeak driver drives a single espeak instance per process and crashes the process
(double free, segfault) when several threads synthesise at once, so every call here holds
`_LOCK`; parallel rendering uses worker processes (`audio_cache.build`).

espeak runs in its own thread (retrieval mode) and `runAndWait()` can return before the file is
written; the next utterance's commands then land mid-synthesis (a cancelled, empty or misnamed
file). So each call waits for the driver's `finished-utterance` notification, which comes after
the file is closed, checks the file, and retries an empty one (about 1 in 100 on this machine).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import re
import threading
import wave
from pathlib import Path
from typing import TYPE_CHECKING

from willay.errors import AudioError, ConfigurationError

if TYPE_CHECKING:
    import pyttsx3

__all__ = ["TTS_ENGINE", "resolve_voice", "speakable", "synthesize"]

TTS_ENGINE = "pyttsx3/espeak-ng"
ATTEMPTS = 3
FINISH_TIMEOUT = 30.0  # seconds for one utterance

_LOCK = threading.Lock()
_engine: pyttsx3.Engine | None = None

# Spellings a voice reads letter by letter, rewritten before speaking. espeak-ng's `qu` voice
# spells out `ch'` (the Cusco ejective); without the apostrophe it says [tʃ].
_RESPELL: dict[str, tuple[tuple[re.Pattern[str], str], ...]] = {
    "qu": ((re.compile(r"(ch)'", re.IGNORECASE), r"\1"),),
}


def _get_engine() -> pyttsx3.Engine:
    """The process's one engine, started (and pyttsx3 imported) on first use, not on import."""
    global _engine
    if _engine is None:
        import pyttsx3

        _engine = pyttsx3.init("espeak")
        atexit.register(_drop_engine)
    return _engine


def _drop_engine() -> None:
    """Let the engine go at exit while pyttsx3's modules stand (its finaliser needs them)."""
    global _engine
    _engine = None


def speakable(text: str, voice: str) -> str:
    """`text` as the voice should read it (see `_RESPELL`)."""
    for pattern, replacement in _RESPELL.get(voice.rsplit("/", 1)[-1], ()):
        text = pattern.sub(replacement, text)
    return text


def resolve_voice(name: str) -> str:
    """The espeak-ng voice id for a name (`es-419` -> `roa/es-419`, `qu` -> `qu`)."""
    with _LOCK:
        voices = _get_engine().getProperty("voices")
    for voice in voices:
        if name in (voice.id, voice.id.rsplit("/", 1)[-1]) or name in (voice.languages or []):
            return str(voice.id)
    raise ConfigurationError(f"espeak-ng has no voice {name!r} (see `espeak-ng --voices`)")


def _frames(path: Path) -> int:
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes()
    except (OSError, EOFError, wave.Error):
        return 0


def synthesize(text: str, *, voice: str, rate: int, path: Path) -> None:
    """Speak `text` (already `speakable`) into `path` as WAV: mono, 16-bit, 22.05 kHz.

    Raises `AudioError` if the file stays empty after `ATTEMPTS` tries.
    """
    with _LOCK:
        engine = _get_engine()
        for _ in range(ATTEMPTS):
            path.unlink(missing_ok=True)
            _speak(engine, text, voice=voice, rate=rate, path=path)
            if _frames(path) > 0:
                return
    raise AudioError(f"espeak-ng produced no audio for {text[:40]!r} after {ATTEMPTS} attempts")


def _speak(engine: pyttsx3.Engine, text: str, *, voice: str, rate: int, path: Path) -> None:
    """One utterance into `path`, returning once the driver has written and closed the file."""
    finished = threading.Event()

    def on_finished(completed: bool = False, **_: object) -> None:
        # the driver also sends `completed=False` when a later command stops an idle engine
        if completed:
            finished.set()

    token = engine.connect("finished-utterance", on_finished)
    try:
        # the driver prints "Audio saved to ..." from espeak's thread, before it notifies
        with contextlib.redirect_stdout(io.StringIO()):
            engine.setProperty("voice", voice)
            engine.setProperty("rate", rate)
            engine.save_to_file(text, str(path))
            engine.runAndWait()
            if not finished.wait(FINISH_TIMEOUT):
                raise AudioError(f"espeak-ng did not finish {text[:40]!r} in {FINISH_TIMEOUT} s")
    finally:
        engine.disconnect(token)
