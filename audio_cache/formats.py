"""The two formats Willay serves, as data: what the cache holds and its `Content-Type`s.

- `call`: MP3, 8 kHz mono, constant bitrate: what Africa's Talking's `Play` fetches.
- `app`: Opus in Ogg, mono, VBR at a speech bitrate (6-16 kbps), `voip` tuning, 60 ms frames.

The encoder (`audio_cache.encode`, pydub over ffmpeg) is the build side's; serving reads only this.
"""

from __future__ import annotations

from dataclasses import dataclass

from willay.config import Settings

__all__ = ["CONTENT_TYPES", "AudioFormat", "audio_formats"]

CONTENT_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg; codecs=opus"}
_REPRODUCIBLE = ("-map_metadata", "-1", "-fflags", "+bitexact")


@dataclass(frozen=True)
class AudioFormat:
    """One encoding of every clip; `signature` goes into the content hash of its files."""

    name: str
    extension: str
    codec: str
    kbps: int
    parameters: tuple[str, ...]

    @property
    def content_type(self) -> str:
        """The exact `Content-Type` its files are served with."""
        return CONTENT_TYPES[self.extension]

    @property
    def signature(self) -> dict[str, object]:
        """Everything that shapes the encoded bytes."""
        return {
            "format": self.name,
            "ext": self.extension,
            "codec": self.codec,
            "kbps": self.kbps,
            "params": list(self.parameters),
        }


def audio_formats(settings: Settings) -> tuple[AudioFormat, ...]:
    """The formats every clip is encoded to: `call` (MP3 8 kHz) and `app` (Opus)."""
    return (
        AudioFormat(
            name="call",
            extension="mp3",
            codec="libmp3lame",
            kbps=settings.audio_call_kbps,
            parameters=("-ar", "8000", "-ac", "1", *_REPRODUCIBLE),
        ),
        AudioFormat(
            name="app",
            extension="opus",
            codec="libopus",
            kbps=settings.audio_app_kbps,
            parameters=(
                "-ac",
                "1",
                "-application",
                "voip",
                "-frame_duration",
                "60",
                "-vbr",
                "on",
                *_REPRODUCIBLE,
            ),  # fmt: skip
        ),
    )
