"""Subscriber profiles, kept under a keyed pseudonym of the phone number.

The raw number is never a key, never in an event or a log line: `pseudonym()` turns it into an
HMAC-SHA256 under `WILLAY_PSEUDONYM_KEY`. The number itself is stored only inside the profile of a
person who subscribed to SMS, since sending needs it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from willay.catalog import Audience
from willay.kv import KeyValueStore

__all__ = [
    "Feedback",
    "MSISDN_INPUT",
    "MsisdnInput",
    "PersonalKeys",
    "Subscriber",
    "SubscriberStore",
    "event_subject",
    "normalise_msisdn",
    "pseudonym",
]

MSISDN = re.compile(r"^\+[0-9]{7,15}$")
SEPARATORS = re.compile(r"[\s().-]")
# a phone number as a request may carry it: + or 00, 7 to 15 digits, up to two of ( ) . - or a
# space before each digit and at the end (so the pattern bounds its length, at most 49)
MSISDN_INPUT = r"^(\+|00)([ ().-]{0,2}[0-9]){7,15}[ ().-]{0,2}$"
_MSISDN_INPUT = re.compile(MSISDN_INPUT)
CONSENT_VERSION = 1
HEARD_LIMIT = 200
PSEUDONYMS_KEPT = 4096


def normalise_msisdn(number: str) -> str:
    """The number in international form `+<digits>`; `ValueError` if it is not a phone number."""
    digits = number[1:]
    if number[:1] == "+" and 7 <= len(digits) <= 15 and digits.isascii() and digits.isdigit():
        return number  # already in that form, as the providers send it
    cleaned = SEPARATORS.sub("", number)
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not MSISDN.match(cleaned):
        raise ValueError(f"not an international phone number: {len(number)} characters")
    return cleaned


def _msisdn_input(number: str) -> str:
    if not _MSISDN_INPUT.fullmatch(number):
        raise ValueError("not an international phone number (+ or 00, then 7 to 15 digits)")
    return normalise_msisdn(number)


MsisdnInput = Annotated[
    str, Field(json_schema_extra={"pattern": MSISDN_INPUT}), AfterValidator(_msisdn_input)
]
"""A phone number in a request, given back in international form (the pattern, documented)."""


@functools.lru_cache(maxsize=PSEUDONYMS_KEPT)
def pseudonym(number: str, key: str) -> str:
    """The keyed pseudonym of a phone number: 32 hex digits of HMAC-SHA256.

    The last `PSEUDONYMS_KEPT` are kept in this process's memory, never anywhere else: every hop
    of a session asks for the same one."""
    digest = _keyed(key).copy()
    digest.update(normalise_msisdn(number).encode())
    return digest.hexdigest()[:32]


@functools.lru_cache(maxsize=4)
def _keyed(key: str) -> hmac.HMAC:
    """The HMAC-SHA256 keyed with `key` and fed nothing yet, copied per number: keying it
    again per number is a third of a pseudonym's cost. It holds the key, never a number."""
    return hmac.new(key.encode(), digestmod=hashlib.sha256)


def event_subject(subscriber: Subscriber | None, session_id: str) -> str:
    """Who an event is about: the pseudonym once consented, else an id of this session only."""
    if subscriber is not None:
        return subscriber.id
    return _anonymous_subject(session_id)


@functools.lru_cache(maxsize=PSEUDONYMS_KEPT)
def _anonymous_subject(session_id: str) -> str:
    """The subject of an anonymous session's events (kept: each of its hops asks)."""
    return "anon-" + hashlib.sha256(session_id.encode()).hexdigest()[:16]


class Feedback(BaseModel):
    tip_id: str
    useful: bool
    at: dt.datetime


class Subscriber(BaseModel):
    """What we keep about a person who consented: nothing is stored for anyone else."""

    id: str = Field(description="the keyed pseudonym")
    language: str
    consent_at: dt.datetime
    consent_version: int = CONSENT_VERSION
    region: str | None = None
    age_group: str | None = None
    pregnant: bool | None = None
    child_under5: bool | None = None
    heard: dict[str, dt.datetime] = Field(default_factory=dict)  # a factory: not deep-copied
    feedback: list[Feedback] = Field(default_factory=list)
    sms_since: dt.datetime | None = None
    sms_number: str | None = None
    sms_day: int | None = Field(default=None, ge=0, le=6, description="0 = Monday; None: default")

    @property
    def sms_subscribed(self) -> bool:
        """True while the person takes the weekly SMS."""
        return self.sms_since is not None and self.sms_number is not None

    @property
    def audiences(self) -> set[Audience]:
        """The audiences whose tips fit this person."""
        found = {Audience.general}
        if self.pregnant:
            found.add(Audience.pregnant)
        if self.child_under5:
            found.add(Audience.child_under5)
        if self.age_group == "60+":
            found.add(Audience.older_adult)
        return found

    def mark_heard(self, tip_id: str, at: dt.datetime) -> None:
        """Remember that the tip was served, keeping the most recent `HEARD_LIMIT`."""
        self.heard[tip_id] = at
        if len(self.heard) > HEARD_LIMIT:
            oldest = sorted(self.heard, key=self.heard.__getitem__)[: len(self.heard) - HEARD_LIMIT]
            for old in oldest:
                del self.heard[old]


class PersonalKeys:
    """Keys holding something about one person, listed under `<prefix>:about:<pseudonym>`.

    A store that writes a key about a person who consented (a call's state, a call-back, an SMS
    record) notes it here, so erasure finds it whatever the channel; the list lives as long as
    the longest-lived key in it.
    """

    def __init__(self, kv: KeyValueStore, *, prefix: str) -> None:
        self._kv = kv
        self._prefix = f"{prefix}:about"

    async def note(self, subscriber_id: str, *keys: str, ttl: int) -> None:
        """Remember that `keys` (each expiring within `ttl` seconds) hold data about the person."""
        await self._kv.add_members(f"{self._prefix}:{subscriber_id}", *keys, ttl=ttl)

    async def erase(self, subscriber_id: str) -> None:
        """Delete every noted key about the person, and the list."""
        index = f"{self._prefix}:{subscriber_id}"
        await self._kv.delete(*await self._kv.members(index), index)


class SubscriberStore:
    """Profiles as JSON under `<prefix>:sub:<pseudonym>`, with no expiry.

    The pseudonyms of SMS subscribers are kept in a set under `<prefix>:sms:subscribers`, updated
    on every save and delete, so the weekly send need not scan every profile.
    """

    def __init__(self, kv: KeyValueStore, *, prefix: str) -> None:
        self._kv = kv
        self._prefix = prefix
        self._sms_index = f"{prefix}:sms:subscribers"

    @property
    def sms_index(self) -> str:
        """The key of the set of SMS subscribers' pseudonyms."""
        return self._sms_index

    def key(self, subscriber_id: str) -> str:
        """The key a profile is stored under."""
        return f"{self._prefix}:sub:{subscriber_id}"

    async def sms_subscribers(self) -> set[str]:
        """The pseudonyms of the people subscribed to the weekly SMS."""
        return await self._kv.members(self._sms_index)

    async def get(self, subscriber_id: str) -> Subscriber | None:
        """The profile, or None if the person never consented or deleted it."""
        raw = await self._kv.get(self.key(subscriber_id))
        return Subscriber.model_validate_json(raw) if raw else None

    async def save(self, subscriber: Subscriber) -> None:
        """Store the whole profile."""
        await self._kv.set(self.key(subscriber.id), subscriber.model_dump_json())
        if subscriber.sms_subscribed:
            await self._kv.add_members(self._sms_index, subscriber.id)
        else:
            await self._kv.remove_members(self._sms_index, subscriber.id)

    async def delete(self, subscriber_id: str) -> None:
        """Erase the profile, its place in the SMS index and every key noted about the person."""
        await self._kv.delete(self.key(subscriber_id))
        await self._kv.remove_members(self._sms_index, subscriber_id)
        await PersonalKeys(self._kv, prefix=self._prefix).erase(subscriber_id)
