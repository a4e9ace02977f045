"""Pre-rendered audio: speech, encoding, a content-addressed cache and its manifest.

The route (`audio_cache.routes.router`) is imported by the app alone, so the worker processes
that render audio do not load the web framework.
"""

from audio_cache.build import AudioBuild, BuildReport, ItemDone
from audio_cache.encode import AudioFormat, audio_formats
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
    "AudioBuild",
    "AudioFile",
    "AudioFormat",
    "AudioLibrary",
    "BuildReport",
    "ItemDone",
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
