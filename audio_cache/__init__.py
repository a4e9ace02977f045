"""Pre-rendered audio: a content-addressed cache of speech and its manifest, served as files.

This package's surface is the serving side (`AudioLibrary`, the manifest, the formats, what is
spoken). The build side, `audio_cache.build` (speech, encoding, worker processes), is imported
by whoever builds; the web process never loads the TTS engine, and the route
(`audio_cache.routes.router`) is imported by the app alone.
"""

from audio_cache.formats import AudioFormat, audio_formats
from audio_cache.library import AudioLibrary, ServedFile
from audio_cache.manifest import AudioFile, Manifest, load_manifest
from audio_cache.utterances import (
    MIXED,
    Provenance,
    Segment,
    Utterance,
    provenance_for,
    recording_for,
    tip_utterances,
)

__all__ = [
    "AudioFile",
    "AudioFormat",
    "AudioLibrary",
    "MIXED",
    "Manifest",
    "Provenance",
    "Segment",
    "ServedFile",
    "Utterance",
    "audio_formats",
    "load_manifest",
    "provenance_for",
    "recording_for",
    "tip_utterances",
]
