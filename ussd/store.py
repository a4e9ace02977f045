"""USSD session state in the key-value store, under the provider's session id, with a TTL.

A hop is applied exactly once: `SessionStore.read_hop` reads the session, the person's profile
and their resume snapshot in one round trip; the engine works on copies; `commit_hop` writes the
result in one atomic compare-and-set, only if none of the three changed since the read (Redis: a
Lua script; embedded store: under a lock in the one process); a refused commit answers the three
as they are now, so the hop starts over without another read. The session remembers the reply it
gave to each of its last texts, so a retried hop is answered again without being applied twice.

A process remembers the state its own last commit of a session left (`RECENT_KEPT` sessions, for
at most the session TTL), and the session's next hop in that process starts from it without
reading: the compare-and-set checks it against the store all the same, so a hop that finds it
stale (another process moved the session or changed the profile) is computed again on what the
refusal answered. Hops of a session that reach the same process take one round trip, not two.

A session cut short (`Incomplete`) leaves a resume snapshot under the person's pseudonym, so the
next dial can offer to continue where they were.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import time
from collections import OrderedDict
from typing import NamedTuple, Protocol, cast

import hiredis
from pydantic import BaseModel, Field
from redis.asyncio import Connection, Redis
from redis.exceptions import RedisError

from ussd.wire import RedisLink
from willay.errors import StoreUnavailable
from willay.kv import KeyValueStore, RedisStore
from willay.profiles import Subscriber, SubscriberStore

__all__ = ["HopRead", "HopWrite", "SessionLocks", "SessionStore", "UssdSession"]

Stored = tuple[str | None, str | None, str | None]  # session, profile, resume (None: absent)

REPLIES_KEPT = 4  # a late retry of any of a session's last hops is answered as the first time
RECENT_KEPT = 4096  # sessions whose last committed state this process remembers, newest kept


class UssdSession(BaseModel):
    """Where a person is in the journey, and what this session has chosen so far.

    Mutable defaults are factories: a literal default is deep-copied on every new session.
    """

    id: str = Field(max_length=128)
    subscriber: str
    text: str = ""
    screen: str
    page: int = 0
    history: list[tuple[str, int]] = Field(default_factory=list)
    lang: str | None = None
    consent: bool | None = None
    value: str | None = None
    pending: dict[str, str] = Field(default_factory=dict)
    topic: str | None = None
    tip_id: str | None = None
    tip_done: bool = False
    pick: dict[str, float | str] = Field(default_factory=dict)
    served: list[str] = Field(default_factory=list)
    notice: str | None = None
    alert: str | None = None  # the alert shown on the previous screen, until the next hop
    hops: int = 0
    replies: dict[str, str] = Field(default_factory=dict)
    # the texts in `replies` whose reply showed a draft tip
    drafts: list[str] = Field(default_factory=list)
    started_at: dt.datetime = Field(default_factory=functools.partial(dt.datetime.now, dt.UTC))

    def remember(self, text: str, body: str, *, draft: bool = False) -> None:
        """Keep the reply to `text` (and whether it was a draft), for its retries; only the last
        `REPLIES_KEPT` are kept."""
        replies = self.replies
        replies.pop(text, None)
        replies[text] = body
        while len(replies) > REPLIES_KEPT:
            del replies[next(iter(replies))]
        if self.drafts:
            self.drafts = [t for t in self.drafts if t in replies and t != text]
        if draft:
            self.drafts.append(text)


class HopKeys(NamedTuple):
    session: str
    profile: str
    resume: str
    sms_index: str


class HopRead(NamedTuple):
    """What one hop read, as stored (None: absent); the commit expects it unchanged.

    `local`: taken from what this process itself last committed, not read from the store; then
    `session_model` (and `profile_model`, if the commit wrote the profile) are the objects that
    commit wrote, so the hop need not parse them again.
    """

    keys: HopKeys
    subscriber: str
    session: str | None
    profile: str | None
    resume: str | None
    local: bool = False
    session_model: UssdSession | None = None
    profile_model: Subscriber | None = None

    def after(self, write: HopWrite) -> HopRead:
        """What the store holds once `write` is committed on this read."""
        written = write.profile is not None
        return HopRead(
            self.keys,
            self.subscriber,
            session=write.session,
            profile=None if write.delete_profile else write.profile if written else self.profile,
            resume=None if write.drop_resume else self.resume,
            local=True,
            session_model=write.session_model,
            profile_model=write.profile_model if written else None,
        )


class HopWrite(NamedTuple):
    """What one hop changes: always the session; the profile and resume snapshot if touched.

    `session_model` and `profile_model`, if given, are what `session` and `profile` were dumped
    from; nothing may change them after the commit but the session's next hop in this process.
    """

    session: str
    profile: str | None = None  # the new profile JSON
    delete_profile: bool = False
    sms_subscribed: bool = False
    drop_resume: bool = False
    session_model: UssdSession | None = None
    profile_model: Subscriber | None = None


class _HopBackend(Protocol):
    async def read(self, keys: HopKeys) -> Stored: ...

    async def commit(self, read: HopRead, write: HopWrite, *, ttl: int) -> Stored | None: ...

    def close(self) -> None: ...


# KEYS: session, profile, resume, sms index. ARGV: the three values read ("" = absent), the new
# session, its TTL, the profile operation (keep | set | del), the new profile, "1" if subscribed
# to SMS, "1" to drop the resume snapshot, the pseudonym. Answers 1 if written; if refused, the
# three values as they are now (nil = absent), for the hop to start over from without a read.
_COMMIT = """
local now = redis.call('MGET', KEYS[1], KEYS[2], KEYS[3])
for i = 1, 3 do
  if (now[i] or '') ~= ARGV[i] then return now end
end
redis.call('SET', KEYS[1], ARGV[4], 'EX', ARGV[5])
if ARGV[6] == 'set' then
  redis.call('SET', KEYS[2], ARGV[7])
  redis.call(ARGV[8] == '1' and 'SADD' or 'SREM', KEYS[4], ARGV[10])
elseif ARGV[6] == 'del' then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[4], ARGV[10])
end
if ARGV[9] == '1' then redis.call('DEL', KEYS[3]) end
return 1
"""


def _commit_args(read: HopRead, write: HopWrite, *, ttl: int) -> tuple[list[str], list[str | int]]:
    """The script's KEYS and ARGV for this hop."""
    keys = read.keys
    op = "del" if write.delete_profile else "set" if write.profile is not None else "keep"
    return [keys.session, keys.profile, keys.resume, keys.sms_index], [
        read.session or "",
        read.profile or "",
        read.resume or "",
        write.session,
        ttl,
        op,
        write.profile or "",
        "1" if write.sms_subscribed else "0",
        "1" if write.drop_resume else "0",
        read.subscriber,
    ]


class _WireHops:
    """One MGET to read, one script to compare and set, on the lean link: two round trips."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._sha = hashlib.sha1(_COMMIT.encode()).hexdigest()

    async def read(self, keys: HopKeys) -> Stored:
        found = await self._link.call("MGET", keys.session, keys.profile, keys.resume)
        if isinstance(found, hiredis.ReplyError):
            raise StoreUnavailable(f"Redis MGET failed: {found}")
        return found[0], found[1], found[2]

    async def commit(self, read: HopRead, write: HopWrite, *, ttl: int) -> Stored | None:
        keys, argv = _commit_args(read, write, ttl=ttl)
        done = await self._link.call("EVALSHA", self._sha, len(keys), *keys, *argv)
        if isinstance(done, hiredis.ReplyError) and str(done).startswith("NOSCRIPT"):
            done = await self._link.call("EVAL", _COMMIT, len(keys), *keys, *argv)
        if isinstance(done, hiredis.ReplyError):
            raise StoreUnavailable(f"Redis hop commit failed: {done}")
        return _refusal(done)

    def close(self) -> None:
        self._link.close()


class _RedisHops:
    """The same two round trips through redis-py, for Redis over TLS or a Unix socket."""

    def __init__(self, client: Redis) -> None:
        self._redis = client
        self._commit = client.register_script(_COMMIT)

    async def read(self, keys: HopKeys) -> Stored:
        try:
            found = await self._redis.mget(keys.session, keys.profile, keys.resume)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis MGET failed: {exc}") from exc
        session, profile, resume = cast(list[str | None], found)  # the app's client decodes
        return session, profile, resume

    async def commit(self, read: HopRead, write: HopWrite, *, ttl: int) -> Stored | None:
        keys, argv = _commit_args(read, write, ttl=ttl)
        try:
            done = await self._commit(keys=keys, args=argv)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis hop commit failed: {exc}") from exc
        return _refusal(done)

    def close(self) -> None:
        """The client is the app's; it closes it."""


def _refusal(answer: object) -> Stored | None:
    """None for the script's 1 (written); the values it found for a refusal."""
    if answer == 1:
        return None
    session, profile, resume = cast(list[str | None], answer)
    return session, profile, resume


def _redis_hops(client: Redis) -> _WireHops | _RedisHops:
    """The lean link for Redis over plain TCP, redis-py for anything else."""
    pool = client.connection_pool
    if pool.connection_class is not Connection:
        return _RedisHops(client)
    options = pool.connection_kwargs
    link = RedisLink(
        host=options.get("host", "localhost"),
        port=int(options.get("port", 6379)),
        db=int(options.get("db", 0)),
        username=options.get("username"),
        password=options.get("password"),
        timeout=options.get("socket_timeout") or 1.0,
    )
    return _WireHops(link)


class _LocalHops:
    """The embedded store: one process, so a lock makes the compare-and-set atomic."""

    def __init__(self, kv: KeyValueStore) -> None:
        self._kv = kv
        self._lock = asyncio.Lock()

    async def read(self, keys: HopKeys) -> Stored:
        kv = self._kv
        return await kv.get(keys.session), await kv.get(keys.profile), await kv.get(keys.resume)

    async def commit(self, read: HopRead, write: HopWrite, *, ttl: int) -> Stored | None:
        kv, keys = self._kv, read.keys
        async with self._lock:
            now = await self.read(keys)
            if now != (read.session, read.profile, read.resume):
                return now
            await kv.set(keys.session, write.session, ttl=ttl)
            if write.delete_profile:
                await kv.delete(keys.profile)
            elif write.profile is not None:
                await kv.set(keys.profile, write.profile)
            if write.delete_profile or (write.profile is not None and not write.sms_subscribed):
                await kv.remove_members(keys.sms_index, read.subscriber)
            elif write.profile is not None:
                await kv.add_members(keys.sms_index, read.subscriber)
            if write.drop_resume:
                await kv.delete(keys.resume)
        return None

    def close(self) -> None:
        """The store is the app's; it closes it."""


class SessionLocks:
    """One lock per session id in this process, kept while a hop holds or waits for it.

    Not what makes hops exactly-once (the compare-and-set does, across processes): it only
    queues the hops of one session that reach the same process, so a retry waits for the first
    and is answered from its stored reply instead of being computed in vain.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def hold(self, session_id: str) -> _Held:
        """`async with` this: the session's turn, once the hops before it are done."""
        return _Held(self._locks, session_id)


class _Held:
    """One hop's hold on its session's lock (a class: cheaper than a generator-based one)."""

    __slots__ = ("_locks", "_session", "_lock")

    def __init__(self, locks: dict[str, tuple[asyncio.Lock, int]], session_id: str) -> None:
        self._locks = locks
        self._session = session_id

    async def __aenter__(self) -> None:
        lock, users = self._locks.get(self._session) or (asyncio.Lock(), 0)
        self._locks[self._session] = (lock, users + 1)
        self._lock = lock
        try:
            await lock.acquire()
        except BaseException:
            self._leave()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._lock.release()
        self._leave()

    def _leave(self) -> None:
        lock, users = self._locks[self._session]
        if users == 1:
            del self._locks[self._session]
        else:
            self._locks[self._session] = (lock, users - 1)


class SessionStore:
    """Sessions under `<prefix>:ussd:session:<id>`; resume snapshots under `...:resume:<who>`."""

    def __init__(
        self,
        kv: KeyValueStore,
        *,
        prefix: str,
        ttl: int,
        resume_ttl: int,
        profiles: SubscriberStore,
    ) -> None:
        self._kv = kv
        self._prefix = f"{prefix}:ussd"
        self._ttl = ttl
        self._resume_ttl = resume_ttl
        self._profiles = profiles
        self._hops: _HopBackend = (
            _redis_hops(kv.client) if isinstance(kv, RedisStore) else _LocalHops(kv)
        )
        self._recent: OrderedDict[str, tuple[float, HopRead]] = OrderedDict()  # oldest first

    async def read_hop(self, session_id: str, subscriber: str, *, stored: bool = False) -> HopRead:
        """The session, the person's profile and resume snapshot, as stored, in one read; or,
        unless `stored` is asked for, if this process committed the session's last hop it knows
        of within the session's TTL, what that commit left (`HopRead.local`), without a round
        trip. Either way it is taken once."""
        key = f"{self._prefix}:session:{session_id}"
        recent = self._recent.pop(key, None)
        if recent is not None and not stored:
            at, read = recent
            if read.subscriber == subscriber and time.monotonic() - at < self._ttl:
                return read
        keys = HopKeys(
            session=key,
            profile=self._profiles.key(subscriber),
            resume=f"{self._prefix}:resume:{subscriber}",
            sms_index=self._profiles.sms_index,
        )
        session, profile, resume = await self._hops.read(keys)
        return HopRead(keys, subscriber, session, profile, resume)

    async def commit_hop(
        self, read: HopRead, write: HopWrite, *, last: bool = False
    ) -> HopRead | None:
        """Write the hop's changes if nothing it read has changed since, and answer None; if
        something has, write nothing and answer what the store holds now (a read to start the
        hop over from, without another round trip).

        The state written is remembered for the session's next hop, unless this is its `last`.
        """
        now = await self._hops.commit(read, write, ttl=self._ttl)
        if now is not None:
            return HopRead(read.keys, read.subscriber, *now)
        self._forget_expired()
        if write.delete_profile:  # erased: no copy of the profile stays in this process
            self._forget_subscriber(read.subscriber)
        if not last:
            if len(self._recent) >= RECENT_KEPT:
                self._recent.popitem(last=False)
            self._recent[read.keys.session] = (time.monotonic(), read.after(write))
        return None

    def _forget_expired(self) -> None:
        """Drop what is older than a session's TTL (the store has let it go by then)."""
        recent, oldest = self._recent, time.monotonic() - self._ttl
        while recent and next(iter(recent.values()))[0] <= oldest:
            recent.popitem(last=False)

    def _forget_subscriber(self, subscriber: str) -> None:
        for key in [k for k, (_, read) in self._recent.items() if read.subscriber == subscriber]:
            del self._recent[key]

    def close(self) -> None:
        """Close what the hops use of their own (the lean Redis link)."""
        self._hops.close()

    async def get(self, session_id: str) -> UssdSession | None:
        """The live session, or None if unknown or expired."""
        raw = await self._kv.get(f"{self._prefix}:session:{session_id}")
        return UssdSession.model_validate_json(raw) if raw else None

    async def save_resume(self, session: UssdSession) -> None:
        """Keep a snapshot of a session cut short, for the person's next dial."""
        await self._kv.set(
            f"{self._prefix}:resume:{session.subscriber}",
            session.model_dump_json(exclude={"replies", "drafts"}),
            ttl=self._resume_ttl,
        )

    async def drop(self, session_id: str) -> None:
        """Forget a session's state now rather than at its TTL."""
        key = f"{self._prefix}:session:{session_id}"
        self._recent.pop(key, None)
        await self._kv.delete(key)
