"""Regional health alerts: what one is, how it is checked, and the board channels read them from.

An `Alert` is a short text per language for one region (or `all`), valid from `starts` to
`ends`. `draft_alert` checks what an editor typed and gathers every problem (no text, a window
that ends before it starts or is already over, an unknown region, a text a phone cannot show or
that does not fit above the USSD first screen) into one `AlertError`.

Alerts need the same sign-off as tips before production serves them (`willay.signoff`): a
clinical approval of the exact Spanish text and, for a Quechua text, a language approval of it
(with a back-translation). The records travel inside the alert (`signoffs`, as `SignOff` lines
naming the tip id `alert-<id>`); `sign_off` adds one. In production an alert is served only in
the languages it is approved in (falling back as texts do), and not at all without a Spanish
approval.

`AlertBoard` is where published alerts live and channels read them: one current alert per
region topic. `FileAlertBoard` (a JSON file) is the embedded default; the MQTT board (retained
messages, one per region topic) is in the `alerts` package.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypedDict, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from willay.catalog import Catalog, Tip
from willay.errors import ProblemsError
from willay.gsm7 import septets, to_gsm7
from willay.languages import DEFAULT_LANGUAGE, LANGUAGES, pick_text
from willay.signoff import Decision, SignOff, SignOffBook, kind_for, text_sha256

__all__ = [
    "ALL_REGIONS",
    "Alert",
    "AlertBoard",
    "AlertData",
    "AlertError",
    "AlertFeed",
    "FileAlertBoard",
    "alert_data",
    "alert_for",
    "draft_alert",
    "sign_off",
]

ALL_REGIONS = "all"
MAX_KEPT_VERDICTS = 256  # (alert, sign-offs, day) verdicts an AlertFeed keeps; then it starts over

log = logging.getLogger(__name__)


class AlertError(ProblemsError):
    """An alert that cannot be published; one message per problem."""

    status_code = 400


class Alert(BaseModel):
    """One published alert; `id` is a hash of what it says, where and when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    region: str
    starts: dt.datetime
    ends: dt.datetime
    text: dict[str, str]
    signoffs: tuple[SignOff, ...] = ()

    @property
    def signoff_id(self) -> str:
        """The id its sign-off records name (where a tip's name the tip)."""
        return f"alert-{self.id}"

    def approved(self, today: dt.date) -> frozenset[str]:
        """The languages whose text is approved today, as a tip's would be."""
        book = SignOffBook(self.signoffs)
        view = cast(Tip, _SignedText(id=self.signoff_id, text=self.text))
        return book.servable_languages(view, today)

    def servable(self, today: dt.date) -> Alert | None:
        """The alert cut to its approved languages; None if its Spanish is not approved."""
        approved = self.approved(today)
        if DEFAULT_LANGUAGE not in approved:
            return None
        return self.model_copy(
            update={"text": {c: t for c, t in self.text.items() if c in approved}}
        )

    def active(self, now: dt.datetime) -> bool:
        """True inside the alert's window."""
        return self.starts <= now < self.ends

    def applies_to(self, region: str | None) -> bool:
        """True for a person of `region` (an `all` alert applies to everyone)."""
        return self.region == ALL_REGIONS or (region is not None and region == self.region)

    def text_for(self, lang: str) -> tuple[str, str]:
        """The text in `lang` (or its fallback) and the language used."""
        return pick_text(self.text, lang)

    def phone_text(self, lang: str) -> str:
        """The text in `lang` as a phone shows it (GSM-7)."""
        return to_gsm7(self.text_for(lang)[0])


@dataclass(frozen=True)
class _SignedText:
    """What a `SignOffBook` reads of a tip: an id and its texts."""

    id: str
    text: dict[str, str]


def _alert_id(
    region: str, *, starts: dt.datetime, ends: dt.datetime, text: Mapping[str, str]
) -> str:
    what = json.dumps(
        [region, starts.isoformat(), ends.isoformat(), sorted(text.items())], ensure_ascii=False
    )
    return hashlib.sha256(what.encode()).hexdigest()[:16]


def draft_alert(
    *,
    region: str,
    starts: dt.datetime,
    ends: dt.datetime,
    text: Mapping[str, str | None],
    catalog: Catalog,
    room: Callable[[str], int],
    now: dt.datetime,
) -> Alert:
    """The alert, or `AlertError` listing every problem.

    `room(lang)` is how many GSM-7 septets the alert line may take in `lang`: the USSD page
    budget less the first screen it sits above.
    """
    problems: list[str] = []
    texts = {code: value.strip() for code, value in text.items() if value and value.strip()}
    if not texts:
        problems.append("no text: give at least the Spanish text (--text-es)")
    elif DEFAULT_LANGUAGE not in texts:
        problems.append("no Spanish text: it is what every other language falls back to")
    for code, value in texts.items():
        if code not in LANGUAGES:
            problems.append(f"unknown language {code!r} (known: {', '.join(LANGUAGES)})")
            continue
        shown = to_gsm7(value)
        if shown.count("?") > value.count("?"):
            problems.append(f"{code} text has characters a phone cannot show")
        if "\n" in value:
            problems.append(f"{code} text must be one line")
        limit = room(code)
        if septets(shown) > limit:
            problems.append(
                f"{code} text takes {septets(shown)} GSM-7 characters; above the USSD first "
                f"screen there is room for {limit}"
            )
    if region != ALL_REGIONS and catalog.region(region) is None:
        known = ", ".join(sorted(r.id for r in catalog.regions))
        problems.append(f"unknown region {region!r} (use {ALL_REGIONS!r} or one of: {known})")
    if starts.tzinfo is None or ends.tzinfo is None:
        problems.append("the window needs a time zone")
    elif ends <= starts:
        problems.append(f"the window runs backwards: it ends ({ends}) before it starts ({starts})")
    elif ends <= now:
        problems.append(f"the window is over: it ended {ends}")
    if problems:
        raise AlertError(problems)
    return Alert(
        id=_alert_id(region, starts=starts, ends=ends, text=texts),
        region=region,
        starts=starts,
        ends=ends,
        text=texts,
    )


def sign_off(
    alert: Alert,
    *,
    language: str,
    reviewer: str,
    role: str,
    now: dt.datetime,
    decision: Decision = Decision.approve,
    back_translation: str = "",
) -> Alert:
    """The alert with one more sign-off of its current `language` text; `AlertError` says why not.

    The approval lasts as long as the alert's window.
    """
    text = alert.text.get(language)
    if not text:
        raise AlertError([f"the alert has no {language} text to sign off"])
    kind = kind_for(language)
    try:
        record = SignOff(
            kind=kind,
            tip_id=alert.signoff_id,
            language=language,
            text_sha256=text_sha256(text),
            es_sha256=None if language == DEFAULT_LANGUAGE else text_sha256(alert.text["es"]),
            reviewer=reviewer.strip(),
            role=role.strip(),
            decision=decision,
            date=now.date(),
            expires_on=max(alert.ends.date(), now.date()) + dt.timedelta(days=1),
            back_translation=back_translation.strip(),
            recorded_at=now,
            via="alerts",
        )
    except ValidationError as exc:
        raise AlertError(
            [f"{'.'.join(map(str, e['loc'])) or 'sign-off'}: {e['msg']}" for e in exc.errors()]
        ) from None
    return alert.model_copy(update={"signoffs": (*alert.signoffs, record)})


def alert_for(alerts: Iterable[Alert], *, region: str | None) -> Alert | None:
    """The alert a person of `region` gets among `alerts` (those being served): their region's
    before `all`, newest first."""
    fitting = [a for a in alerts if a.applies_to(region)]
    fitting.sort(key=lambda a: (a.region != ALL_REGIONS, a.starts), reverse=True)
    return fitting[0] if fitting else None


class AlertData(TypedDict):
    """The data of `alert_delivered` / `alert_seen`."""

    alert_id: str
    alert_region: str
    region: str


def alert_data(alert: Alert, *, region: str | None) -> AlertData:
    """The data of `alert_delivered` / `alert_seen`: the alert and the person's region."""
    return {"alert_id": alert.id, "alert_region": alert.region, "region": region or alert.region}


class AlertBoard(Protocol):
    """Where published alerts live: at most one per region (`all` is a region here).

    `version` grows whenever an alert arrives or is withdrawn, so a reader can wait for news.
    """

    @property
    def version(self) -> int: ...

    def alerts(self) -> list[Alert]: ...

    def publish(self, alert: Alert) -> None: ...

    def withdraw(self, region: str) -> None: ...

    def close(self) -> None: ...


class FileAlertBoard:
    """The embedded board: `{region: alert}` in one JSON file, read again when it changes."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._alerts: dict[str, Alert] = {}
        self._version = 0

    def _refresh(self) -> dict[str, Alert]:
        try:
            stat = self._path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._stamp, self._version = stamp, self._version + 1
                self._alerts = self._read() if stamp else {}
            return dict(self._alerts)

    def _read(self) -> dict[str, Alert]:
        try:
            raw = json.loads(self._path.read_text(encoding="utf-8"))
            return {region: Alert.model_validate(a) for region, a in raw.items()}
        except (OSError, ValueError, ValidationError, AttributeError) as exc:
            log.error("alerts file %s unreadable, serving no alerts: %s", self._path, exc)
            return {}

    @property
    def version(self) -> int:
        """Grows when the file changes."""
        self._refresh()
        return self._version

    def alerts(self) -> list[Alert]:
        """Every alert on the board, active or not."""
        return list(self._refresh().values())

    def _write(self, alerts: dict[str, Alert]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        partial = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
        partial.write_text(
            json.dumps({r: a.model_dump(mode="json") for r, a in alerts.items()}), encoding="utf-8"
        )
        os.replace(partial, self._path)

    def publish(self, alert: Alert) -> None:
        """Make `alert` its region's current alert."""
        self._write({**self._refresh(), alert.region: alert})

    def withdraw(self, region: str) -> None:
        """Remove the region's alert, if any."""
        current = self._refresh()
        current.pop(region, None)
        self._write(current)

    def close(self) -> None:
        """Nothing to close."""


@dataclass(frozen=True)
class AlertFeed:
    """What the channels read: the board's active alerts, signed off when `signed_only`.

    An alert's approved languages are worked out once per alert, sign-offs and day (it hashes
    every text), not on every screen that shows it.
    """

    board: AlertBoard
    signed_only: bool
    _servable: dict[tuple[str, tuple[SignOff, ...], dt.date], Alert | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def current(self, now: dt.datetime) -> list[Alert]:
        """Every alert to serve now, newest first."""
        return sorted(self._serving(now), key=lambda a: a.starts, reverse=True)

    def for_region(self, region: str | None, now: dt.datetime) -> Alert | None:
        """The alert a person of `region` gets now, if any."""
        return alert_for(self._serving(now), region=region)

    def _serving(self, now: dt.datetime) -> list[Alert]:
        """The active alerts, cut to their approved languages when `signed_only` (production)."""
        active = [a for a in self.board.alerts() if a.active(now)]
        if not self.signed_only:
            return active
        today = now.date()
        served = []
        for alert in active:
            key = (alert.id, alert.signoffs, today)
            if key not in self._servable:
                if len(self._servable) >= MAX_KEPT_VERDICTS:
                    self._servable.clear()
                self._servable[key] = alert.servable(today)
            if (cut := self._servable[key]) is not None:
                served.append(cut)
        return served
