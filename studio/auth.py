"""Who is asking: a browser session (cookie + CSRF token) or HTTP Basic for scripts.

- A browser logs in with a form and gets a random session token in a cookie that is `Secure`,
  `HttpOnly`, `SameSite=Strict` and scoped to `/studio`. The session (the account name and a
  CSRF token) lives in the key-value store under the token's SHA-256, for
  `WILLAY_STUDIO_SESSION_TTL` seconds; logging out deletes it.
- Every change a browser asks for (`POST`, `PUT`, `DELETE`) must carry the session's CSRF
  token, as the `X-CSRF-Token` header or a `csrf` form field; it is compared in constant time.
- Scripts send HTTP Basic with the same accounts; such a change coming from another site
  (an `Origin` that is not the studio's) is refused, since browsers replay Basic credentials.
- Ten wrong passwords for one name within 15 minutes lock that name for the rest of the window.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from fastapi import Request

from studio.accounts import Account, AccountBook
from studio.errors import Unauthorized
from willay.errors import Forbidden, WillayError
from willay.kv import KeyValueStore

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Caller",
    "Gatekeeper",
    "TooManyAttempts",
]

SESSION_COOKIE = "willay_studio"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_FAILURES = 10
FAILURE_WINDOW = 900  # seconds


class TooManyAttempts(WillayError):
    """Too many wrong passwords for one name: wait."""

    status_code = 429


@dataclass(frozen=True)
class Caller:
    """An authenticated request: the account, and the session's CSRF token (None for Basic)."""

    account: Account
    csrf: str | None = None
    session: str | None = None


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        name, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (name, password) if sep else None


class Gatekeeper:
    """Logs people in and out and says who a request comes from."""

    def __init__(
        self, accounts: AccountBook, kv: KeyValueStore, *, prefix: str, ttl: int, public_url: str
    ) -> None:
        self.accounts = accounts
        self._kv = kv
        self._prefix = prefix
        self.ttl = ttl
        self.public_origin = "/".join(public_url.split("/")[:3])

    def _key(self, token: str) -> str:
        return f"{self._prefix}:studio:session:{hashlib.sha256(token.encode()).hexdigest()}"

    async def check_password(self, name: str, password: str) -> Account:
        """The account, or `Unauthorized`; `TooManyAttempts` once a name is locked."""
        failures_key = f"{self._prefix}:studio:failures:{hashlib.sha256(name.encode()).hexdigest()}"
        failures = int(await self._kv.get(failures_key) or 0)
        if failures >= MAX_FAILURES:
            raise TooManyAttempts("too many wrong passwords: try again in 15 minutes")
        account = await asyncio.to_thread(self.accounts.verify, name, password)
        if account is None:
            await self._kv.set(failures_key, str(failures + 1), ttl=FAILURE_WINDOW)
            raise Unauthorized("wrong name or password", basic=True)
        return account

    async def log_in(self, account: Account) -> str:
        """Open a session for `account`; the token for the cookie."""
        token = secrets.token_urlsafe(32)
        session = {"user": account.name, "csrf": secrets.token_urlsafe(32)}
        await self._kv.set(self._key(token), json.dumps(session), ttl=self.ttl)
        return token

    async def log_out(self, token: str) -> None:
        """Forget the session."""
        await self._kv.delete(self._key(token))

    async def caller(self, request: Request) -> Caller | None:
        """Who sent `request`: Basic credentials first, then the session cookie; None if nobody.

        Wrong Basic credentials are `Unauthorized` (a script should hear why).
        """
        header = request.headers.get("authorization")
        if header:
            pair = _basic(header)
            if pair is None:
                raise Unauthorized("unreadable Authorization header: use HTTP Basic", basic=True)
            return Caller(account=await self.check_password(*pair))
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        raw = await self._kv.get(self._key(token))
        if raw is None:
            return None
        session = json.loads(raw)
        account = self.accounts.get(session["user"])
        if account is None:
            return None
        return Caller(account=account, csrf=session["csrf"], session=token)

    def foreign_origin(self, request: Request) -> str | None:
        """The request's `Origin` when it is another site's (neither this host nor PUBLIC_URL)."""
        origin = request.headers.get("origin")
        own = (f"{request.url.scheme}://{request.url.netloc}", self.public_origin)
        return origin if origin is not None and origin not in own else None

    async def check_csrf(self, request: Request, caller: Caller) -> None:
        """Refuse a change without the session's CSRF token, or a Basic one from another site."""
        if request.method not in UNSAFE:
            return
        origin = self.foreign_origin(request)
        if origin is not None:
            raise Forbidden(f"a change from another site ({origin[:80]}) is refused")
        if caller.csrf is None:
            return
        given = request.headers.get(CSRF_HEADER)
        if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            value = (await request.form()).get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
        if not given or not hmac.compare_digest(given.encode(), caller.csrf.encode()):
            raise Forbidden("missing or wrong CSRF token")
