"""Call state in the key-value store (Redis), under the provider's session id, with a TTL.

The missed-call call-back ledger lives here too: one short-lived key per person marks a call-back
in flight (set only if absent, so two missed calls a second apart give one call-back), and a
list of recent call-backs enforces the per-number limit.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum

from pydantic import BaseModel, Field

from willay.kv import KeyValueStore
from willay.profiles import PersonalKeys

__all__ = ["CallStore", "CallbackDecision", "CallbackLedger", "IvrCall"]


class IvrCall(BaseModel):
    """Where a caller is in the flow, and what this call has chosen so far."""

    id: str = Field(max_length=128)
    subscriber: str | None = Field(description="the pseudonym; None for a withheld number")
    direction: str = "Inbound"
    node: str
    lang: str | None = None
    consent: bool | None = None
    value: str | None = None
    topic: str | None = None
    tip_id: str | None = None
    tip_done: bool = False
    play_tip: bool = False
    pick: dict[str, float | str] = {}
    served: list[str] = []
    notices: list[str] = []
    alert: str | None = None  # the alert played, until the next notification says it was heard
    misses: int = 0
    steps: int = 0
    audio_bytes: int = 0  # of the cached clips played, for bytes-per-call
    rejected: bool = False  # answered <Reject/> for a call-back
    started_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))


class CallStore:
    """Calls under `<prefix>:ivr:call:<session id>`."""

    def __init__(self, kv: KeyValueStore, *, prefix: str, ttl: int) -> None:
        self._kv = kv
        self._prefix = f"{prefix}:ivr:call"
        self._ttl = ttl
        self._personal = PersonalKeys(kv, prefix=prefix)

    async def get(self, session_id: str) -> IvrCall | None:
        """The live call, or None if unknown or expired."""
        raw = await self._kv.get(f"{self._prefix}:{session_id}")
        return IvrCall.model_validate_json(raw) if raw else None

    async def save(self, call: IvrCall) -> None:
        """Store the call, renewing its TTL (noted as the caller's, if they consented)."""
        key = f"{self._prefix}:{call.id}"
        await self._kv.set(key, call.model_dump_json(), ttl=self._ttl)
        if call.consent and call.subscriber is not None:
            await self._personal.note(call.subscriber, key, ttl=self._ttl)

    async def delete(self, session_id: str) -> None:
        """Forget the call (after its final notification)."""
        await self._kv.delete(f"{self._prefix}:{session_id}")


class CallbackDecision(StrEnum):
    queued = "queued"  # call the person back now
    duplicate = "duplicate"  # a call-back is already on its way
    limited = "limited"  # too many call-backs lately: answer this call instead


class CallbackLedger:
    """Call-backs per person, under `<prefix>:ivr:callback:<pseudonym>` (and `...:inflight:`)."""

    def __init__(
        self, kv: KeyValueStore, *, prefix: str, dedup: int, limit: int, window: int
    ) -> None:
        self._kv = kv
        self._prefix = f"{prefix}:ivr:callback"
        self._personal = PersonalKeys(kv, prefix=prefix)
        self._dedup = dedup
        self._limit = limit
        self._window = window

    async def claim(self, subscriber: str, now: dt.datetime) -> CallbackDecision:
        """Decide whether this missed call earns a call-back, and record it if so."""
        history_key = f"{self._prefix}:{subscriber}"
        inflight_key = f"{self._prefix}:inflight:{subscriber}"
        if self._dedup and await self._kv.get(inflight_key) is not None:
            return CallbackDecision.duplicate
        raw = await self._kv.get(history_key)
        since = now - dt.timedelta(seconds=self._window)
        recent = [t for t in json.loads(raw or "[]") if dt.datetime.fromisoformat(t) > since]
        if len(recent) >= self._limit:
            return CallbackDecision.limited
        stamp = now.isoformat()
        if self._dedup and not await self._kv.set_new(inflight_key, stamp, ttl=self._dedup):
            return CallbackDecision.duplicate
        recent.append(stamp)
        await self._kv.set(history_key, json.dumps(recent), ttl=self._window)
        await self._personal.note(subscriber, history_key, inflight_key, ttl=self._window)
        return CallbackDecision.queued
