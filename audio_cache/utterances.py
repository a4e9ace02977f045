"""What gets spoken: tips and channel prompts as utterances, and the human recordings that win.

A recording may have a provenance file beside it (`<id>.<lang>.json`, written by the studio):
who read it, when, and the SHA-256 of the text they read. When the text has changed since, the
recording is stale: it no longer wins, and the synthetic voice plays until it is recorded again.
A recording without provenance (placed by hand) always wins.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from willay.catalog import Catalog, Tip
from willay.signoff import text_sha256

__all__ = [
    "MIXED",
    "RECORDING_EXTENSIONS",
    "Kind",
    "Provenance",
    "Segment",
    "Utterance",
    "provenance_for",
    "recording_for",
    "stale_recordings",
    "tip_utterances",
    "unused_recordings",
]

log = logging.getLogger(__name__)

Kind = Literal["tip", "prompt"]
MIXED = "mul"  # BCP-47 "multiple languages": a prompt heard in every language in a row
RECORDING_EXTENSIONS = (".wav", ".mp3")  # the first one found wins


@dataclass(frozen=True)
class Segment:
    """Text in one language, spoken with that language's voice."""

    lang: str
    text: str


@dataclass(frozen=True)
class Utterance:
    """One thing to render: a tip or a prompt in one language (or `mul`, several in a row)."""

    kind: Kind
    id: str
    lang: str
    segments: tuple[Segment, ...]

    @property
    def label(self) -> str:
        """`<id>.<lang>`, as shown in progress and file names of recordings."""
        return f"{self.id}.{self.lang}"

    @classmethod
    def of_tip(cls, tip: Tip, lang: str) -> Utterance:
        """A tip in a language it has its own text in."""
        return cls(kind="tip", id=tip.id, lang=lang, segments=(Segment(lang, tip.text[lang]),))

    @property
    def text(self) -> str:
        """Everything read aloud, one segment per line."""
        return "\n".join(s.text for s in self.segments)

    @property
    def text_sha256(self) -> str:
        """The sha256 of what is said (segments joined by newlines), as sign-offs hash texts."""
        return text_sha256(self.text)


class Provenance(BaseModel):
    """Who recorded a clip, when, and the SHA-256 of the text they read."""

    model_config = ConfigDict(frozen=True)

    speaker: str = Field(min_length=1, max_length=64)
    recorded_at: dt.datetime
    text_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    duration: float = Field(ge=0, description="seconds of speech, once trimmed")
    original: str = Field(default="", max_length=64, description="the uploaded file's type")

    def is_current(self, utterance: Utterance) -> bool:
        """True while the text the speaker read is still the utterance's text."""
        return self.text_sha256 == utterance.text_sha256


def tip_utterances(catalog: Catalog) -> list[Utterance]:
    """Every tip in every language it has its own text in (fallbacks are resolved when played)."""
    return [Utterance.of_tip(tip, lang) for tip in catalog.tips for lang in tip.text]


def _candidates(recordings_dir: Path, utterance: Utterance) -> list[Path]:
    folder = recordings_dir if utterance.kind == "tip" else recordings_dir / "prompts"
    return [folder / f"{utterance.label}{ext}" for ext in RECORDING_EXTENSIONS]


def provenance_for(recordings_dir: Path, utterance: Utterance) -> Provenance | None:
    """The provenance file of this utterance's recording, if there is one (and it reads)."""
    folder = recordings_dir if utterance.kind == "tip" else recordings_dir / "prompts"
    path = folder / f"{utterance.label}.json"
    try:
        return Provenance.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as exc:
        log.warning("recording provenance %s unreadable, ignored: %s", path, exc)
        return None


def recording_for(recordings_dir: Path, utterance: Utterance) -> Path | None:
    """The human recording of this utterance, unless its text changed since (stale)."""
    found = next((p for p in _candidates(recordings_dir, utterance) if p.is_file()), None)
    if found is None:
        return None
    provenance = provenance_for(recordings_dir, utterance)
    if provenance is not None and not provenance.is_current(utterance):
        return None
    return found


def stale_recordings(recordings_dir: Path, utterances: Iterable[Utterance]) -> list[str]:
    """Labels of recordings whose text changed since they were read (the synthetic voice plays)."""
    return [
        u.label
        for u in utterances
        if any(p.is_file() for p in _candidates(recordings_dir, u))
        and recording_for(recordings_dir, u) is None
    ]


def unused_recordings(recordings_dir: Path, utterances: Iterable[Utterance]) -> list[Path]:
    """Recordings named after no tip or prompt (a typo in a file name, a removed tip)."""
    expected = {p for u in utterances for p in _candidates(recordings_dir, u)}
    found = [
        p
        for folder in (recordings_dir, recordings_dir / "prompts")
        if folder.is_dir()
        for p in sorted(folder.iterdir())
        if p.suffix.lower() in RECORDING_EXTENSIONS
    ]
    return [p for p in found if p not in expected]
