"""Reviewing in a spreadsheet: (tip, language) rows out to CSV, reviewers' decisions back in.

The file is UTF-8 with a byte-order mark (so spreadsheet programs read the accents), with the
header `HEADER` exactly. Export writes one row per (tip, language) with its text and the sha256
of that text; reviewers fill `reviewer`, `role`, `decision` (`approve` or `reject`), `date`,
`comment` and, for Quechua, `back_translation`. Import records each filled row as a sign-off
(`willay.signoff.record_signoff`); a row is refused by its id (`tip/language`) when its
`text_sha256` is no longer the current text's, or it is incomplete, and nothing else is lost.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path

from willay.catalog import Catalog
from willay.errors import ContentError, SignOffRefused
from willay.signoff import SignOff, record_signoff, text_sha256

__all__ = [
    "HEADER",
    "ImportReport",
    "export_review",
    "import_review",
    "signoff_notices",
]

HEADER = (
    "tip_id",
    "language",
    "text",
    "back_translation",
    "text_sha256",
    "reviewer",
    "role",
    "decision",
    "date",
    "comment",
)
DECIDED = ("reviewer", "role", "decision", "date", "comment", "back_translation")


def export_review(catalog: Catalog, path: Path, *, language: str | None = None) -> int:
    """Write the review sheet (all languages, or one) to `path`; the number of rows."""
    if language is not None and language not in catalog.languages:
        raise ContentError([f"no tip has {language!r} text; languages: {catalog.languages}"])
    rows = []
    for tip in catalog.tips:
        for code in catalog.languages:
            text = tip.text.get(code)
            if not text or language not in (None, code):
                continue
            current = catalog.signoffs.decision(tip, code)
            back = current.back_translation if current else ""
            rows.append([tip.id, code, text, back, text_sha256(text), "", "", "", "", ""])
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return len(rows)


@dataclass
class ImportReport:
    """What an import recorded, refused (by row id, with the reason) and skipped."""

    recorded: list[SignOff] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    already: int = 0
    blank: int = 0

    def summary(self) -> str:
        """One line: `recorded 3 (es 2, quy 1); refused 1; already recorded 0; not filled 60`."""
        per_lang: dict[str, int] = {}
        for record in self.recorded:
            per_lang[record.language] = per_lang.get(record.language, 0) + 1
        detail = ", ".join(f"{code} {n}" for code, n in sorted(per_lang.items()))
        recorded = f"recorded {len(self.recorded)}" + (f" ({detail})" if detail else "")
        return (
            f"{recorded}; refused {len(self.refused)}; already recorded {self.already}; "
            f"not filled {self.blank}"
        )


def _read(path: Path) -> list[dict[str, str]]:
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ContentError([f"{path}: not UTF-8; save the sheet as CSV UTF-8"]) from None
    except OSError as exc:
        raise ContentError([f"{path}: cannot read: {exc.strerror}"]) from None
    first = raw.splitlines()[0] if raw else ""
    delimiter = ";" if first == ";".join(HEADER) else ","  # spreadsheets in Spanish locales
    reader = csv.reader(io.StringIO(raw, newline=""), delimiter=delimiter)
    header = tuple(next(reader, ()))
    if header != HEADER:
        raise ContentError([f"{path}: the header must be exactly {','.join(HEADER)}"])
    return [
        dict(zip(HEADER, row + [""] * (len(HEADER) - len(row)), strict=False)) for row in reader
    ]


def _date(value: str) -> dt.date:
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise SignOffRefused(f"date {value!r} is not YYYY-MM-DD")


def _same(record: SignOff, row: dict[str, str], *, date: dt.date) -> bool:
    return (
        record.text_sha256 == row["text_sha256"]
        and (record.reviewer, record.role, record.comment)
        == (row["reviewer"], row["role"], row["comment"])
        and record.decision == row["decision"]
        and record.date == date
    )


def _import_row(
    row: dict[str, str], *, content_dir: Path, catalog: Catalog, now: dt.datetime | None
) -> SignOff | None:
    """Record one filled row; None when it is already recorded. SignOffRefused says why not."""
    tip = catalog.by_id.get(row["tip_id"])
    current = tip.text.get(row["language"]) if tip else None
    if current is not None and row["text"] and row["text"] != current:
        raise SignOffRefused("the text was edited in the sheet: edit the tip, then export again")
    decision = row["decision"].lower()
    if decision not in ("approve", "reject"):
        raise SignOffRefused(f"decision {row['decision']!r} is neither approve nor reject")
    date = _date(row["date"])
    row = {**row, "decision": decision}
    history = catalog.signoffs.history(row["tip_id"], row["language"])
    if any(_same(record, row, date=date) for record in history):
        return None
    return record_signoff(
        content_dir,
        catalog=catalog,
        tip_id=row["tip_id"],
        language=row["language"],
        text_sha256=row["text_sha256"],
        reviewer=row["reviewer"],
        role=row["role"],
        decision=decision,
        date=date,
        comment=row["comment"],
        back_translation=row["back_translation"],
        via="csv",
        now=now,
    )


def import_review(
    path: Path, *, content_dir: Path, catalog: Catalog, now: dt.datetime | None = None
) -> ImportReport:
    """Record every filled row of the sheet at `path`; refuse the others one by one."""
    report = ImportReport()
    for line, raw in enumerate(_read(path), start=2):
        row = {name: (value or "").strip() for name, value in raw.items()}
        if not any(row[name] for name in DECIDED if name != "back_translation"):
            report.blank += 1
            continue
        row_id = f"{row['tip_id']}/{row['language']}"
        try:
            record = _import_row(row, content_dir=content_dir, catalog=catalog, now=now)
        except SignOffRefused as exc:
            reason = exc.message.removeprefix(f"{row_id}: ")
            report.refused.append((row_id, f"line {line}: {reason}"))
            continue
        if record is None:
            report.already += 1
        else:
            report.recorded.append(record)
    return report


def signoff_notices(catalog: Catalog, *, today: dt.date, within_days: int) -> list[str]:
    """Sign-offs an edit voided, and approvals expired or expiring within `within_days`."""
    notices = [str(voided) for voided in catalog.signoffs.voided(catalog.tips)]
    limit = today + dt.timedelta(days=within_days)
    for tip in catalog.tips:
        for code in tip.text:
            record = catalog.signoffs.decision(tip, code)
            if record is None or record.decision != "approve":
                continue
            who = f"tip {tip.id}: {code} {record.kind} sign-off by {record.reviewer}"
            if record.expires_on <= today:
                notices.append(f"{who} expired on {record.expires_on}")
            elif record.expires_on <= limit:
                notices.append(f"{who} expires on {record.expires_on}")
    return notices
