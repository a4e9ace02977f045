"""Sign-offs: a person's approval (or rejection) of one exact text of one tip.

A **clinical** sign-off is a clinician's decision on the Spanish text: reviewer, role and
registration (e.g. "Obstetra, COP 12345"), date, and the sha256 of the Spanish text they read.
A **language** sign-off is a native speaker's decision on one Quechua variety's text: reviewer,
role (e.g. "Hablante nativa, Ayacucho"), date, the sha256 of that text, the sha256 of the Spanish
text it renders, and a back-translation to Spanish the clinician can read.

Rules (`SignOffBook`):

- A sign-off binds the sha256 of the exact UTF-8 text (`text_sha256`). Any edit to the text
  voids it; so does an edit to the Spanish text for a language sign-off.
- For one (tip, language, text), the latest decision counts (by `date`, then `recorded_at`):
  `approve` or `reject`.
- An approval is valid from its `date` until `expires_on` (exclusive; by default
  `DEFAULT_VALID_DAYS` after `date`).
- In production a (tip, language) is servable only with a valid clinical approval of the current
  Spanish text and, for Quechua, also a valid language approval of the current Quechua text given
  against the current Spanish text (`SignOffBook.servable`).

Storage: `<content dir>/signoffs.jsonl`, append-only, one JSON record a line, so the whole
history stays as an audit trail and concurrent writers (CLI import, studio) never lose a line.

Public API, for the CSV import and the studio:

    text_sha256(text) -> str
    kind_for(language) -> SignOffKind                 (es: clinical; Quechua: language)
    load_signoffs(content_dir) -> SignOffBook        (ContentError on a corrupt file)
    record_signoff(content_dir, catalog=..., tip_id=..., language=..., text_sha256=...,
                   reviewer=..., role=..., decision=..., date=..., comment=...,
                   back_translation=..., expires_on=None, via="csv") -> SignOff
        raises SignOffRefused (a 400 BadRequest) naming the reason, e.g. the text changed
    SignOffBook.servable(tip, language=..., today=...) -> bool
    SignOffBook.servable_languages(tip, today) -> frozenset[str]
    SignOffBook.voided(tips) -> list[VoidedSignOff]  (approvals an edit voided)
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from willay.errors import ContentError, SignOffRefused
from willay.languages import DEFAULT_LANGUAGE, LANGUAGES

if TYPE_CHECKING:
    from willay.catalog import Catalog, Tip

__all__ = [
    "DEFAULT_VALID_DAYS",
    "SIGNOFFS_FILE",
    "Decision",
    "SignOff",
    "SignOffBook",
    "SignOffKind",
    "VoidedSignOff",
    "kind_for",
    "load_signoffs",
    "record_signoff",
    "text_sha256",
]

SIGNOFFS_FILE = "signoffs.jsonl"
DEFAULT_VALID_DAYS = 365
SHA256 = r"^[0-9a-f]{64}$"


def text_sha256(text: str) -> str:
    """The sha256 (hex) of a text's exact UTF-8 bytes: what a sign-off binds."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_sha = text_sha256  # `record_signoff` takes a parameter of the same name


class SignOffKind(StrEnum):
    clinical = "clinical"  # a clinician, on the Spanish text
    language = "language"  # a native speaker, on one Quechua variety's text


class Decision(StrEnum):
    approve = "approve"
    reject = "reject"


def kind_for(language: str) -> SignOffKind:
    """Spanish texts get clinical sign-offs; every other language, language sign-offs."""
    return SignOffKind.clinical if language == DEFAULT_LANGUAGE else SignOffKind.language


class SignOff(BaseModel):
    """One person's decision on one exact text of one tip (a line of `signoffs.jsonl`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: SignOffKind
    tip_id: str = Field(min_length=1, max_length=48)
    language: str
    text_sha256: str = Field(pattern=SHA256)
    es_sha256: str | None = Field(default=None, pattern=SHA256)  # language: the Spanish rendered
    reviewer: str = Field(min_length=2, max_length=120)
    role: str = Field(min_length=2, max_length=160)
    decision: Decision
    date: dt.date
    expires_on: dt.date
    comment: str = Field(default="", max_length=2000)
    back_translation: str = Field(default="", max_length=2000)
    recorded_at: dt.datetime
    via: str = Field(default="csv", max_length=20)

    @model_validator(mode="after")
    def _coherent(self) -> SignOff:
        if self.language not in LANGUAGES:
            raise ValueError(f"unknown language {self.language!r}")
        if self.kind is not kind_for(self.language):
            raise ValueError(f"a {self.language} text takes a {kind_for(self.language)} sign-off")
        if self.expires_on <= self.date:
            raise ValueError("expires_on must be after date")
        if self.kind is SignOffKind.language:
            if self.es_sha256 is None:
                raise ValueError("a language sign-off names the Spanish text (es_sha256)")
            if self.decision is Decision.approve and not self.back_translation.strip():
                raise ValueError("a language approval needs a back-translation to Spanish")
        return self

    def valid_on(self, today: dt.date) -> bool:
        """An approval in force on `today`."""
        return self.decision is Decision.approve and self.date <= today < self.expires_on


@dataclass(frozen=True)
class VoidedSignOff:
    """An approval of a text that has since been edited (or whose Spanish was)."""

    signoff: SignOff
    reason: str

    def __str__(self) -> str:
        s = self.signoff
        return (
            f"tip {s.tip_id}: {s.language} {s.kind} sign-off by {s.reviewer} on {s.date} "
            f"voided: {self.reason}"
        )


@dataclass(frozen=True)
class SignOffBook:
    """Every sign-off recorded, and what they allow."""

    records: tuple[SignOff, ...] = ()
    _history: dict[tuple[str, str], list[SignOff]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        latest: dict[tuple[str, str], list[SignOff]] = {}
        for record in sorted(self.records, key=lambda r: (r.date, r.recorded_at)):
            latest.setdefault((record.tip_id, record.language), []).append(record)
        object.__setattr__(self, "_history", latest)

    def history(self, tip_id: str, language: str) -> list[SignOff]:
        """The sign-offs of one (tip, language), oldest first."""
        return list(self._history.get((tip_id, language), []))

    def decision(self, tip: Tip, language: str) -> SignOff | None:
        """The latest decision on the tip's current text in `language` (None if nobody decided)."""
        text = tip.text.get(language)
        if not text:
            return None
        sha, es_sha = text_sha256(text), text_sha256(tip.text.get(DEFAULT_LANGUAGE, ""))
        for record in reversed(self._history.get((tip.id, language), [])):
            if record.text_sha256 == sha and record.es_sha256 in (None, es_sha):
                return record
        return None

    def _approved(self, tip: Tip, *, language: str, today: dt.date) -> SignOff | None:
        record = self.decision(tip, language)
        return record if record is not None and record.valid_on(today) else None

    def governing(self, tip: Tip, *, language: str, today: dt.date) -> list[SignOff] | None:
        """The valid approvals that let `language` be served (None when it may not be)."""
        clinical = self._approved(tip, language=DEFAULT_LANGUAGE, today=today)
        if clinical is None:
            return None
        if language == DEFAULT_LANGUAGE:
            return [clinical]
        spoken = self._approved(tip, language=language, today=today)
        return None if spoken is None else [clinical, spoken]

    def servable(self, tip: Tip, *, language: str, today: dt.date) -> bool:
        """May production serve the tip's own `language` text on `today`?"""
        return self.governing(tip, language=language, today=today) is not None

    def servable_languages(self, tip: Tip, today: dt.date) -> frozenset[str]:
        """The tip's languages production may serve on `today`."""
        return frozenset(
            code for code in tip.text if self.servable(tip, language=code, today=today)
        )

    def voided(self, tips: Iterable[Tip]) -> list[VoidedSignOff]:
        """Approvals an edit voided: the latest approval of each text, if it no longer matches."""
        found = []
        for tip in tips:
            es_sha = text_sha256(tip.text.get(DEFAULT_LANGUAGE, ""))
            for language, text in tip.text.items():
                history = self._history.get((tip.id, language), [])
                if not history or self.decision(tip, language) is not None:
                    continue
                last = next((r for r in reversed(history) if r.decision is Decision.approve), None)
                if last is None:
                    continue
                if last.text_sha256 != text_sha256(text):
                    found.append(VoidedSignOff(last, f"the {language} text changed"))
                elif last.es_sha256 not in (None, es_sha):
                    found.append(VoidedSignOff(last, "the es text it translates changed"))
        return found


def _path(content_dir: Path) -> Path:
    return content_dir / SIGNOFFS_FILE


def load_signoffs(content_dir: Path) -> SignOffBook:
    """Every sign-off in `content_dir`; ContentError naming each malformed line."""
    path = _path(content_dir)
    if not path.exists():
        return SignOffBook()
    records, problems = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(SignOff.model_validate_json(line))
        except ValidationError as exc:
            reasons = "; ".join(e["msg"] for e in exc.errors())
            problems.append(f"{SIGNOFFS_FILE} line {number}: {reasons}")
    if problems:
        raise ContentError(problems)
    return SignOffBook(tuple(records))


def record_signoff(
    content_dir: Path,
    *,
    catalog: Catalog,
    tip_id: str,
    language: str,
    text_sha256: str,
    reviewer: str,
    role: str,
    decision: Decision | str,
    date: dt.date,
    comment: str = "",
    back_translation: str = "",
    expires_on: dt.date | None = None,
    via: str = "csv",
    now: dt.datetime | None = None,
) -> SignOff:
    """Append one decision on the current text of (tip, language); SignOffRefused says why not.

    Refused: an unknown tip or language, a `text_sha256` that is not the current text's (the text
    was edited since the reviewer read it), a date in the future, a missing reviewer or role, a
    language approval without back-translation. `expires_on` defaults to `DEFAULT_VALID_DAYS`
    after `date`.
    """
    tip = catalog.by_id.get(tip_id)
    if tip is None:
        raise SignOffRefused(f"{tip_id}/{language}: no such tip")
    text = tip.text.get(language)
    if not text:
        raise SignOffRefused(f"{tip_id}/{language}: the tip has no {language} text")
    if text_sha256 != _sha(text):
        raise SignOffRefused(f"{tip_id}/{language}: the text changed since it was read (sha256)")
    now = now or dt.datetime.now(dt.UTC)
    if date > now.date():
        raise SignOffRefused(f"{tip_id}/{language}: date {date} is in the future")
    if decision not in tuple(Decision):
        raise SignOffRefused(f"{tip_id}/{language}: decision must be approve or reject")
    kind = kind_for(language)
    try:
        record = SignOff(
            kind=kind,
            tip_id=tip_id,
            language=language,
            text_sha256=text_sha256,
            es_sha256=None if kind is SignOffKind.clinical else _sha(tip.text[DEFAULT_LANGUAGE]),
            reviewer=reviewer.strip(),
            role=role.strip(),
            decision=Decision(decision),
            date=date,
            expires_on=expires_on or date + dt.timedelta(days=DEFAULT_VALID_DAYS),
            comment=comment.strip(),
            back_translation=back_translation.strip(),
            recorded_at=now,
            via=via,
        )
    except (ValidationError, ValueError) as exc:
        reasons = (
            "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors()
            )
            if isinstance(exc, ValidationError)
            else str(exc)
        )
        raise SignOffRefused(f"{tip_id}/{language}: {reasons}") from None
    _append(_path(content_dir), record)
    return record


def _append(path: Path, record: SignOff) -> None:
    """Append one line under an exclusive lock, so concurrent writers never interleave."""
    line = json.dumps(record.model_dump(mode="json"), ensure_ascii=False) + "\n"
    with path.open("a", encoding="utf-8") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        try:
            out.write(line)
            out.flush()
        finally:
            fcntl.flock(out, fcntl.LOCK_UN)
