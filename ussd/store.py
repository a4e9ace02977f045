"""USSD session state in the key-value store, under the provider's session id, with a TTL.

A session cut short (`Incomplete`) leaves a resume snapshot under the person's pseudonym, so the
next dial can offer to continue where they were.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from willay.kv import KeyValueStore

__all__ = ["SessionStore", "UssdSession"]


class UssdSession(BaseModel):
    """Where a person is in the journey, and what this session has chosen so far."""

    id: str = Field(max_length=128)
    subscriber: str
    text: str = ""
    screen: str
    page: int = 0
    history: list[tuple[str, int]] = []
    lang: str | None = None
    consent: bool | None = None
    value: str | None = None
    pending: dict[str, str] = {}
    topic: str | None = None
    tip_id: str | None = None
    tip_done: bool = False
    pick: dict[str, float | str] = {}
    served: list[str] = []
    notice: str | None = None
    hops: int = 0
    started_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))


class SessionStore:
    """Sessions under `<prefix>:ussd:session:<id>`; resume snapshots under `...:resume:<who>`."""

    def __init__(self, kv: KeyValueStore, *, prefix: str, ttl: int, resume_ttl: int) -> None:
        self._kv = kv
        self._prefix = f"{prefix}:ussd"
        self._ttl = ttl
        self._resume_ttl = resume_ttl

    async def get(self, session_id: str) -> UssdSession | None:
        """The live session, or None if unknown or expired."""
        raw = await self._kv.get(f"{self._prefix}:session:{session_id}")
        return UssdSession.model_validate_json(raw) if raw else None

    async def save(self, session: UssdSession) -> None:
        """Store the session, renewing its TTL."""
        await self._kv.set(
            f"{self._prefix}:session:{session.id}", session.model_dump_json(), ttl=self._ttl
        )

    async def save_resume(self, session: UssdSession) -> None:
        """Keep a snapshot of a session cut short, for the person's next dial."""
        await self._kv.set(
            f"{self._prefix}:resume:{session.subscriber}",
            session.model_dump_json(),
            ttl=self._resume_ttl,
        )

    async def peek_resume(self, subscriber: str) -> UssdSession | None:
        """The snapshot waiting for this person, if any."""
        raw = await self._kv.get(f"{self._prefix}:resume:{subscriber}")
        return UssdSession.model_validate_json(raw) if raw else None

    async def drop(self, session_id: str) -> None:
        """Forget a session's state now rather than at its TTL."""
        await self._kv.delete(f"{self._prefix}:session:{session_id}")

    async def drop_resume(self, subscriber: str) -> None:
        """Forget the snapshot."""
        await self._kv.delete(f"{self._prefix}:resume:{subscriber}")
