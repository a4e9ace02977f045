"""Sign-off state of a (tip, language) and the browser's approve/reject (placeholder)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from audio_cache import text_sha256
from willay.catalog import Tip

__all__ = ["REVIEW_STATES", "Review", "ReviewBook", "ReviewState"]

ReviewState = Literal["approved", "rejected", "pending", "void"]
REVIEW_STATES: tuple[ReviewState, ...] = ("approved", "rejected", "pending", "void")


@dataclass(frozen=True)
class Review:
    state: ReviewState
    text_sha256: str
    lines: tuple[str, ...] = ()


class ReviewBook:
    def review(self, tip: Tip, lang: str) -> Review:
        return Review(state="pending", text_sha256=text_sha256(tip.text[lang]))
