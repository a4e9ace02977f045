"""The catalog as people meet it: every tip in every language, on each channel, with its state.

A row shows the USSD screen exactly as the journey pages it (the engine's own `tip_pages`), the
SMS as `sms.message.compose_tip` builds it, the cached call and app audio (or its fallback),
the human recording's state, the source, the expiry and the sign-off state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from audio_cache import AudioFile, AudioLibrary, Provenance, Utterance, provenance_for
from audio_cache import recording_for as current_recording
from sms.message import SmsText, compose_tip
from studio.review import Review, ReviewBook
from ussd.engine import UssdEngine
from willay.catalog import Catalog, Tip
from willay.gsm7 import septets
from willay.languages import LANGUAGES
from willay.signoff import SignOffBook

__all__ = [
    "CatalogFilter",
    "CatalogRow",
    "CatalogView",
    "PromptRow",
    "RecordingState",
    "recording_state",
]

RecordingState = Literal["human", "stale", "none"]
PAGE_SIZE = 20


def recording_state(
    recordings_dir: Path, utterance: Utterance
) -> tuple[RecordingState, Provenance | None]:
    """Whether a human recording plays for this utterance, went stale, or there is none."""
    provenance = provenance_for(recordings_dir, utterance)
    if current_recording(recordings_dir, utterance) is not None:
        return "human", provenance
    return ("stale" if provenance is not None else "none"), provenance


@dataclass(frozen=True)
class PromptRow:
    """One IVR prompt in one language (`mul`: the mixed language choice)."""

    utterance: Utterance
    audio: tuple[AudioFile, str] | None
    recording: RecordingState
    provenance: Provenance | None


@dataclass(frozen=True)
class CatalogFilter:
    """What the catalog page shows: empty strings mean "any"."""

    topic: str = ""
    lang: str = ""
    state: str = ""
    recording: str = ""
    page: int = 1


@dataclass(frozen=True)
class CatalogRow:
    """One tip in one language, on every channel."""

    tip: Tip
    lang: str
    text: str
    text_lang: str  # the language the text is in: `lang`, or its fallback
    ussd: tuple[tuple[str, int], ...]  # page text, septets
    sms: SmsText
    audio: dict[str, tuple[AudioFile, str] | None]  # format -> file and the language it is in
    recording: RecordingState
    provenance: Provenance | None
    review: Review
    expiry: Literal["current", "expiring", "expired"]

    @property
    def own(self) -> bool:
        """True when the tip has its own text in this language (it can be recorded, reviewed)."""
        return self.text_lang == self.lang


class CatalogView:
    """Builds catalog rows from the running app's catalog, engine, audio and sign-offs."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        ussd: UssdEngine,
        audio: AudioLibrary,
        reviews: ReviewBook,
        recordings_dir: Path,
        expiry_warning_days: int,
    ) -> None:
        self.catalog = catalog
        self._ussd = ussd
        self._audio = audio
        self._reviews = reviews
        self._recordings = recordings_dir
        self._warning = dt.timedelta(days=expiry_warning_days)

    def row(
        self, tip: Tip, lang: str, *, today: dt.date, book: SignOffBook | None = None
    ) -> CatalogRow:
        """One tip in one language (its sign-offs from `book`, else the current ones)."""
        text, text_lang = tip.text_for(lang)
        pages = self._ussd.tip_pages(tip, lang)
        recording, provenance = self._recording(tip, lang)
        expiry: Literal["current", "expiring", "expired"] = "current"
        if not tip.is_current(today):
            expiry = "expired"
        elif tip.expires_on is not None and tip.expires_on - today <= self._warning:
            expiry = "expiring"
        return CatalogRow(
            tip=tip,
            lang=lang,
            text=text,
            text_lang=text_lang,
            ussd=tuple((str(p), septets(str(p))) for p in pages),
            sms=compose_tip(tip, lang),
            audio={
                fmt: self._audio.clip("tip", item_id=tip.id, lang=text_lang, fmt=fmt, text=text)
                for fmt in ("call", "app")
            },
            recording=recording,
            provenance=provenance,
            review=self._reviews.review(tip, text_lang, today=today, book=book),
            expiry=expiry,
        )

    def prompts(self, utterances: list[Utterance]) -> list[PromptRow]:
        """Every IVR prompt in every language it has, with its call audio and recording."""
        rows = []
        for utterance in utterances:
            state, provenance = recording_state(self._recordings, utterance)
            audio = self._audio.clip("prompt", item_id=utterance.id, lang=utterance.lang)
            rows.append(PromptRow(utterance, audio, state, provenance))
        return rows

    def _recording(self, tip: Tip, lang: str) -> tuple[RecordingState, Provenance | None]:
        if tip.text_for(lang)[1] != lang:
            return "none", None
        return recording_state(self._recordings, Utterance.of_tip(tip, lang))

    def rows(self, chosen: CatalogFilter, today: dt.date) -> tuple[list[CatalogRow], int]:
        """The rows of one page of the filtered catalog, and how many match in all.

        Filters look only at the states; the channels are laid out for the page's rows alone.
        """
        langs = [chosen.lang] if chosen.lang else list(LANGUAGES)
        book = self._reviews.book()  # once for the page, not per tip and language
        matching = [
            (tip, lang)
            for tip in self.catalog.tips
            if not chosen.topic or tip.topic == chosen.topic
            for lang in langs
            if (
                not chosen.state
                or self._reviews.review(tip, tip.text_for(lang)[1], today=today, book=book).state
                == chosen.state
            )
            and (not chosen.recording or self._recording(tip, lang)[0] == chosen.recording)
        ]
        start = (max(chosen.page, 1) - 1) * PAGE_SIZE
        shown = matching[start : start + PAGE_SIZE]
        return [self.row(tip, lang, today=today, book=book) for tip, lang in shown], len(matching)
