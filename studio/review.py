"""Review in the browser: the sign-off state of a (tip, language), and approve or reject.

It reads and writes the very sign-offs the review CSV import writes (`willay.signoff`), bound to
the sha256 of the text the reviewer saw: a clinical reviewer decides on Spanish texts, a language
reviewer on their variety's texts (an approval with a back-translation to Spanish). The file is
read again whenever it changes, so a decision made elsewhere (an import) shows at once.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from studio.accounts import Account
from willay.catalog import Catalog, Tip
from willay.errors import Forbidden, SignOffRefused
from willay.signoff import (
    SIGNOFFS_FILE,
    Decision,
    SignOff,
    SignOffBook,
    load_signoffs,
    record_signoff,
    text_sha256,
)

__all__ = ["REVIEW_STATES", "Review", "ReviewBook", "ReviewState"]

ReviewState = Literal["approved", "rejected", "expired", "void", "pending"]
REVIEW_STATES: tuple[ReviewState, ...] = ("approved", "rejected", "expired", "void", "pending")


@dataclass(frozen=True)
class Review:
    """Where one (tip, language) text stands."""

    state: ReviewState
    text_sha256: str
    servable: bool  # production may serve this very text today
    history: tuple[SignOff, ...] = ()  # newest first


class ReviewBook:
    """Sign-offs of the content folder, as the studio shows and records them."""

    def __init__(self, content_dir: Path, catalog: Catalog) -> None:
        self._dir = content_dir
        self._catalog = catalog
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._book = catalog.signoffs

    def book(self) -> SignOffBook:
        """Every sign-off, read again if the file changed."""
        try:
            stat = (self._dir / SIGNOFFS_FILE).stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._book = load_signoffs(self._dir) if stamp else SignOffBook()
                self._stamp = stamp
            return self._book

    def review(
        self, tip: Tip, lang: str, *, today: dt.date, book: SignOffBook | None = None
    ) -> Review:
        """The state of the tip's own `lang` text (in `book`, else the current sign-offs)."""
        if book is None:
            book = self.book()
        sha = text_sha256(tip.text[lang])
        history = tuple(reversed(book.history(tip.id, lang)))
        decision = book.decision(tip, lang)
        state: ReviewState
        if decision is None:
            approved = any(s.decision is Decision.approve for s in history)
            state = "void" if approved else "pending"
        elif decision.decision is Decision.reject:
            state = "rejected"
        else:
            state = "approved" if decision.valid_on(today) else "expired"
        return Review(
            state=state,
            text_sha256=sha,
            servable=book.servable(tip, language=lang, today=today),
            history=history,
        )

    def record(
        self,
        account: Account,
        *,
        tip_id: str,
        lang: str,
        text_sha256: str,
        decision: str,
        comment: str,
        back_translation: str,
        now: dt.datetime,
    ) -> SignOff:
        """Record the account's decision; `Forbidden` without the role, `SignOffRefused` why not."""
        if account.review_kind(lang) is None:
            raise Forbidden(f"{account.title} may not sign off {lang} texts")
        if decision == Decision.reject and not comment.strip():
            raise SignOffRefused(f"{tip_id}/{lang}: a rejection says why (comment)")
        return record_signoff(
            self._dir,
            catalog=self._catalog,
            tip_id=tip_id,
            language=lang,
            text_sha256=text_sha256,
            reviewer=account.reviewer,
            role=account.credential,
            decision=decision,
            date=now.date(),
            comment=comment,
            back_translation=back_translation,
            via="studio",
            now=now,
        )
