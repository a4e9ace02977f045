"""Human recordings from the browser: checked, normalised and stored with their provenance.

An upload (WAV, WebM/Opus, Ogg/Opus or MP3) is decoded with ffmpeg (through pydub, as the audio
cache does) and refused, with the reason, when it is over-long, silent, clipped or has too
little speech. A usable one is trimmed of the silence around it, set to the cache's loudness and
stored as `<recordings>/<tip id>.<lang>.wav` (or `prompts/<prompt>.<lang>.wav`), 16 kHz mono,
beside `<...>.json`: the speaker, the time, the SHA-256 of the text read, the speech's length.
Both files are written under temporary names and renamed, so a refusal or a crash leaves
nothing half-written; the audio cache then renders that one item again.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio_cache import Provenance, Utterance
from audio_cache.encode import FFMPEG_ERRORS, load, normalise
from studio.errors import RecordingRefused
from willay.errors import BadRequest

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    from pydub import AudioSegment
    from pydub.silence import detect_leading_silence

__all__ = [
    "MAX_SECONDS",
    "MIN_SPEECH_SECONDS",
    "Recorder",
    "Take",
    "check_take",
    "sniff",
    "speech_bounds",
]

MAX_SECONDS = 120.0  # the longest tip, read slowly, takes under a minute
MIN_SPEECH_SECONDS = 0.6
CHARS_PER_SECOND = 15.0  # a brisk reading pace; a take is judged against its text's length
SHORTEST_SHARE = 0.3  # less speech than this share of the expected time: not all was read
LONGEST_FACTOR = 4.0  # more than this many times the expected time: not this text alone
SILENCE_DBFS = -50.0
CLIPPED_SHARE = 0.001  # samples at full scale, over the whole take
FULL_SCALE = 0.999
STORED_RATE = 16_000

# leading bytes -> what the upload is
_SIGNATURES = (
    (b"RIFF", "wav"),
    (b"\x1a\x45\xdf\xa3", "webm"),
    (b"OggS", "ogg"),
    (b"ID3", "mp3"),
    (b"\xff\xfb", "mp3"),
    (b"\xff\xf3", "mp3"),
)


def sniff(body: bytes) -> str:
    """The container of an upload by its first bytes; `RecordingRefused` if it is not audio."""
    if not body:
        raise BadRequest("empty body: send the recording (WAV, WebM/Opus or Ogg)")
    for magic, kind in _SIGNATURES:
        if body.startswith(magic) and (kind != "wav" or body[8:12] == b"WAVE"):
            return kind
    raise RecordingRefused("not audio: send WAV, WebM/Opus or Ogg (or MP3)")


@dataclass(frozen=True)
class Take:
    """A usable recording: the normalised clip and how long its speech is."""

    clip: AudioSegment
    speech_seconds: float
    kind: str


def _clipped_share(clip: AudioSegment) -> float:
    samples = np.abs(np.asarray(clip.get_array_of_samples(), dtype=np.int64))
    if samples.size == 0:
        return 0.0
    full = (1 << (8 * clip.sample_width - 1)) - 1
    return float(np.count_nonzero(samples >= full * FULL_SCALE)) / samples.size


def speech_bounds(text: str) -> tuple[float, float]:
    """The least and most seconds of speech a reading of `text` may take."""
    expected = len(text) / CHARS_PER_SECOND
    shortest = max(MIN_SPEECH_SECONDS, SHORTEST_SHARE * expected)
    return shortest, min(MAX_SECONDS, max(15.0, LONGEST_FACTOR * expected))


def check_take(body: bytes, *, text: str, loudness: float) -> Take:
    """Decode, check and normalise a reading of `text`; `RecordingRefused` says why not."""
    kind = sniff(body)
    with tempfile.TemporaryDirectory(prefix="willay-take-") as tmp:
        path = Path(tmp) / f"upload.{kind}"
        path.write_bytes(body)
        try:
            clip = load(path)
        except FFMPEG_ERRORS:
            raise RecordingRefused(f"not audio: this {kind} file cannot be decoded") from None
    seconds = len(clip) / 1000
    if seconds > MAX_SECONDS:
        raise RecordingRefused(
            f"over-long: {seconds:.1f} s; a recording holds one tip or prompt, "
            f"at most {MAX_SECONDS:.0f} s"
        )
    if len(clip) == 0 or clip.rms == 0 or clip.max_dBFS < SILENCE_DBFS:
        raise RecordingRefused(
            f"silent: nothing louder than {SILENCE_DBFS:.0f} dBFS; check the microphone"
        )
    share = _clipped_share(clip)
    if share > CLIPPED_SHARE:
        raise RecordingRefused(
            f"clipped: {share:.1%} of the samples are at full scale; record a little further "
            "from the microphone or more softly"
        )
    lead = detect_leading_silence(clip, silence_threshold=SILENCE_DBFS)
    tail = detect_leading_silence(clip.reverse(), silence_threshold=SILENCE_DBFS)
    speech = max(0, len(clip) - lead - tail) / 1000
    shortest, longest = speech_bounds(text)
    if speech < shortest:
        raise RecordingRefused(
            f"too short: {speech:.1f} s of speech for a text of {len(text)} characters; "
            f"read all of it (at least {shortest:.1f} s)"
        )
    if speech > longest:
        raise RecordingRefused(
            f"over-long: {speech:.1f} s of speech for a text of {len(text)} characters "
            f"(at most {longest:.0f} s); record this text alone"
        )
    clip = normalise(clip, target_dbfs=loudness).set_frame_rate(STORED_RATE).set_sample_width(2)
    return Take(clip=clip, speech_seconds=round(speech, 3), kind=kind)


def _write_atomically(files: list[tuple[Path, bytes]]) -> None:
    """Write every file under a temporary name first, then rename them all."""
    partials = [
        (path.with_name(f".tmp-{uuid.uuid4().hex}{path.suffix}"), path) for path, _ in files
    ]
    try:
        for (partial, _), (_, data) in zip(partials, files, strict=True):
            partial.write_bytes(data)
        for partial, path in partials:
            os.replace(partial, path)
    finally:
        for partial, _ in partials:
            partial.unlink(missing_ok=True)


class Recorder:
    """Stores takes in the recordings folder, where the audio cache looks for them."""

    def __init__(self, recordings_dir: Path) -> None:
        self._dir = recordings_dir

    def paths(self, utterance: Utterance) -> tuple[Path, Path]:
        """Where this utterance's recording and its provenance go."""
        folder = self._dir if utterance.kind == "tip" else self._dir / "prompts"
        return folder / f"{utterance.label}.wav", folder / f"{utterance.label}.json"

    def store(
        self, utterance: Utterance, take: Take, *, speaker: str, at: dt.datetime
    ) -> Provenance:
        """Save a checked take as this utterance's recording, with who read which text."""
        provenance = Provenance(
            speaker=speaker,
            recorded_at=at,
            text_sha256=utterance.text_sha256,
            duration=take.speech_seconds,
            original=take.kind,
        )
        audio, meta = self.paths(utterance)
        audio.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="willay-take-") as tmp:
            wav = Path(tmp) / "take.wav"
            take.clip.export(str(wav), format="wav").close()
            data = wav.read_bytes()
        _write_atomically([(audio, data), (meta, provenance.model_dump_json(indent=1).encode())])
        return provenance
