"""What gets spoken: tips and channel prompts as utterances, and the human recordings that win."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from willay.catalog import Catalog
from willay.signoff import text_sha256

__all__ = [
    "MIXED",
    "RECORDING_EXTENSIONS",
    "Kind",
    "Segment",
    "Utterance",
    "recording_for",
    "tip_utterances",
    "unused_recordings",
]

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

    @property
    def text_sha256(self) -> str:
        """The sha256 of what is said (segments joined by newlines), as sign-offs hash texts."""
        return text_sha256("\n".join(s.text for s in self.segments))


def tip_utterances(catalog: Catalog) -> list[Utterance]:
    """Every tip in every language it has its own text in (fallbacks are resolved when played)."""
    return [
        Utterance(kind="tip", id=tip.id, lang=lang, segments=(Segment(lang, text),))
        for tip in catalog.tips
        for lang, text in tip.text.items()
    ]


def _candidates(recordings_dir: Path, utterance: Utterance) -> list[Path]:
    folder = recordings_dir if utterance.kind == "tip" else recordings_dir / "prompts"
    return [folder / f"{utterance.label}{ext}" for ext in RECORDING_EXTENSIONS]


def recording_for(recordings_dir: Path, utterance: Utterance) -> Path | None:
    """The human recording of this utterance, if a content team dropped one in."""
    return next((p for p in _candidates(recordings_dir, utterance) if p.is_file()), None)


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
