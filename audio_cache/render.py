"""Rendering one clip, in a worker process: speech (or a recording) in, encoded files out."""

from __future__ import annotations

import hashlib
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from audio_cache.encode import (
    FFMPEG_ERRORS,
    concatenate,
    encode,
    load,
    normalise,
    probe_duration,
)
from audio_cache.formats import AudioFormat
from audio_cache.tts import synthesize
from willay.errors import AudioError

__all__ = ["RenderJob", "Rendered", "ignore_interrupts", "render"]


@dataclass(frozen=True)
class RenderJob:
    """What a worker needs: speech segments `(voice id, rate, text)` or a recording."""

    label: str
    speech: tuple[tuple[str, int, str], ...]
    recording: Path | None
    loudness: float
    outputs: tuple[tuple[AudioFormat, Path], ...]


@dataclass(frozen=True)
class Rendered:
    """A finished clip: per format name, the file's size, SHA-256 and duration as decoded."""

    label: str
    files: dict[str, tuple[int, str, float]]


def ignore_interrupts() -> None:
    """Worker initializer: Ctrl-C is the parent's to handle, so a job is never cut in half."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def render(job: RenderJob) -> Rendered:
    """Speak (or load), normalise and encode one clip to every output; `AudioError` on failure."""
    try:
        if job.recording is not None:
            clip = load(job.recording)
        else:
            with tempfile.TemporaryDirectory(prefix="willay-tts-") as tmp:
                parts = []
                for i, (voice, rate, text) in enumerate(job.speech):
                    wav = Path(tmp) / f"{i}.wav"
                    synthesize(text, voice=voice, rate=rate, path=wav)
                    parts.append(load(wav))
                clip = concatenate(parts)
        clip = normalise(clip, target_dbfs=job.loudness)
        files = {}
        for fmt, path in job.outputs:
            encode(clip, fmt, path=path)
            files[fmt.name] = (path.stat().st_size, _sha256(path), probe_duration(path))
    except FFMPEG_ERRORS as exc:
        raise AudioError(f"{job.label}: {type(exc).__name__}: {exc}") from exc
    return Rendered(label=job.label, files=files)
