"""Speech clean-up and encoding with pydub over ffmpeg, into the formats of `audio_cache.formats`.

Before encoding, a clip is trimmed of leading and trailing silence and its loudness set: the RMS
level of the trimmed speech goes to `WILLAY_AUDIO_LOUDNESS` dBFS, lowered if a peak would pass
-1 dBFS. Files are written to a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import subprocess
import uuid
import warnings
from pathlib import Path

from audio_cache.formats import AudioFormat
from willay.errors import AudioError

# pydub imports the stdlib `audioop`, deprecated on 3.11-3.12 (`audioop-lts` on 3.13)
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError, CouldntEncodeError
    from pydub.silence import detect_leading_silence

__all__ = [
    "FFMPEG_ERRORS",
    "PEAK_DBFS",
    "concatenate",
    "encode",
    "load",
    "normalise",
    "probe_duration",
]

# what pydub raises when ffmpeg cannot read or write a file
FFMPEG_ERRORS = (CouldntDecodeError, CouldntEncodeError, OSError)
PEAK_DBFS = -1.0
SILENCE_DBFS = -50.0
KEEP_LEAD_MS = 100
KEEP_TAIL_MS = 200
GAP_MS = 400  # between the languages of a mixed prompt


def load(path: Path) -> AudioSegment:
    """A WAV or MP3 file as a mono clip."""
    with path.open("rb") as handle:  # pydub leaves a file it opens itself open
        clip = AudioSegment.from_file(handle, format="wav" if path.suffix == ".wav" else None)
    return clip.set_channels(1)


def concatenate(clips: list[AudioSegment]) -> AudioSegment:
    """Clips one after another, with a short pause between them."""
    rate = max(c.frame_rate for c in clips)
    joined = AudioSegment.empty().set_frame_rate(rate)
    for i, clip in enumerate(clips):
        if i:
            joined += AudioSegment.silent(duration=GAP_MS, frame_rate=rate)
        joined += clip.set_frame_rate(rate).set_sample_width(2)
    return joined


def normalise(clip: AudioSegment, *, target_dbfs: float) -> AudioSegment:
    """Trim the silence around the speech and set its loudness (see the module docstring)."""
    lead = detect_leading_silence(clip, silence_threshold=SILENCE_DBFS)
    tail = detect_leading_silence(clip.reverse(), silence_threshold=SILENCE_DBFS)
    if lead + tail < len(clip):
        clip = clip[max(0, lead - KEEP_LEAD_MS) : len(clip) - max(0, tail - KEEP_TAIL_MS)]
    if clip.rms == 0:
        return clip
    gain = min(target_dbfs - clip.dBFS, PEAK_DBFS - clip.max_dBFS)
    return clip.apply_gain(gain)


def encode(clip: AudioSegment, fmt: AudioFormat, *, path: Path) -> None:
    """Write `clip` to `path` in `fmt`, atomically (temporary file, then rename)."""
    partial = path.with_name(f".tmp-{uuid.uuid4().hex}.{fmt.extension}")
    try:
        clip.export(
            str(partial),
            format="opus" if fmt.extension == "opus" else fmt.extension,
            codec=fmt.codec,
            bitrate=f"{fmt.kbps}k",
            parameters=list(fmt.parameters),
        ).close()
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def probe_duration(path: Path) -> float:
    """Seconds of audio in an encoded file, as ffprobe reads it back; `AudioError` if it cannot."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return round(float(result.stdout.strip()), 3)
    except ValueError:
        detail = result.stderr.strip()[:200] or f"exit status {result.returncode}"
        raise AudioError(f"ffprobe cannot read {path.name}: {detail}") from None
