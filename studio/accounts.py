"""Studio accounts: named people with one role each, passwords hashed with Argon2id.

Accounts live in `<WILLAY_STUDIO_DIR>/users.json` (mode 0600), replaced atomically on every
change; a password is never stored or logged, only its Argon2id hash (argon2-cffi defaults).

Every account may look (catalog, players, call simulator). Besides:

- `editor`: record any language, start a full rebuild;
- `clinical-reviewer`: approve or reject Spanish texts (the clinical sign-off);
- `language-reviewer` of a variety (`quy`, `quz`): record that variety, approve or reject its
  texts (the language sign-off, with a back-translation);
- `admin`: record any language, start a full rebuild (accounts: `willay studio add-user`).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import threading
import uuid
from enum import StrEnum
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field

from willay.errors import ConfigurationError
from willay.languages import DEFAULT_LANGUAGE, LANGUAGES

__all__ = ["MIN_PASSWORD", "Account", "AccountBook", "Role"]

USERS_FILE = "users.json"
MIN_PASSWORD = 10
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,31}$"
VARIETIES = tuple(code for code in LANGUAGES if code != DEFAULT_LANGUAGE)

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verifying an unknown name costs as much as a known one, so timing does not tell names
    apart; hashed at the first check (not at import: the CLI and a studio-less app never pay)."""
    return _hasher.hash(uuid.uuid4().hex)


class Role(StrEnum):
    """What a studio account may do."""

    editor = "editor"
    clinical_reviewer = "clinical-reviewer"
    language_reviewer = "language-reviewer"
    admin = "admin"


class Account(BaseModel):
    """One person's account: a name, a role (a variety for language reviewers), the hash."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    role: Role
    lang: str | None = None
    full_name: str = Field(default="", max_length=120)
    credential: str = Field(default="", max_length=160, description="role and registration")
    password_hash: str = Field(repr=False)
    created_at: dt.datetime

    @property
    def reviewer(self) -> str:
        """The name a sign-off records."""
        return self.full_name or self.name

    @property
    def title(self) -> str:
        """`nurse1 (clinical-reviewer)`, `maria (language-reviewer quy)`."""
        return f"{self.name} ({self.role.value}{' ' + self.lang if self.lang else ''})"

    def may_record(self, lang: str) -> bool:
        """Editors and admins record any language; a language reviewer records their variety."""
        if self.role is Role.language_reviewer:
            return lang == self.lang
        return self.role in (Role.editor, Role.admin)

    def may_rebuild(self) -> bool:
        """Editors and admins start a full audio rebuild."""
        return self.role in (Role.editor, Role.admin)

    def review_kind(self, lang: str) -> str | None:
        """The sign-off this account may give on a text in `lang`: clinical (Spanish texts),
        language (their variety), or none."""
        if self.role is Role.clinical_reviewer and lang == DEFAULT_LANGUAGE:
            return "clinical"
        if self.role is Role.language_reviewer and lang == self.lang:
            return "language"
        return None


class _Book(BaseModel):
    users: dict[str, Account] = {}


class AccountBook:
    """The accounts file: add or replace an account, check a password.

    The file is parsed again only when it changed (another process, e.g. `willay studio
    add-user`, replaces it), not on every request that asks who is calling.
    """

    def __init__(self, studio_dir: Path) -> None:
        self._path = studio_dir / USERS_FILE
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._book = _Book()

    def _read(self) -> _Book:
        try:
            stat = self._path.stat()
            stamp: tuple[int, int, int] | None = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            try:
                book = _Book.model_validate_json(self._path.read_bytes()) if stamp else _Book()
            except FileNotFoundError:
                book, stamp = _Book(), None
            self._book, self._stamp = book, stamp
        return self._book

    def _write(self, book: _Book) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        partial = self._path.with_name(f".tmp-{uuid.uuid4().hex}.json")
        data = json.dumps(book.model_dump(mode="json"), indent=1, ensure_ascii=False)
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(data)
            os.replace(partial, self._path)
        finally:
            partial.unlink(missing_ok=True)

    def get(self, name: str) -> Account | None:
        """The account with this name, if any."""
        return self._read().users.get(name)

    def all(self) -> list[Account]:
        """Every account, by name."""
        return sorted(self._read().users.values(), key=lambda a: a.name)

    def add(
        self,
        name: str,
        *,
        role: Role,
        password: str,
        lang: str | None = None,
        full_name: str = "",
        credential: str = "",
        replace: bool = False,
    ) -> Account:
        """Create an account (or replace it, with `replace`); `ConfigurationError` if refused.

        Reviewers need a `credential` (role and registration, e.g. "Obstetra, COP 12345", or
        "Hablante nativa, Ayacucho"): every sign-off they give records it.
        """
        if role in (Role.clinical_reviewer, Role.language_reviewer) and len(credential) < 2:
            raise ConfigurationError(
                "a reviewer needs --credential: their role and registration, e.g. "
                "'Obstetra, COP 12345' or 'Hablante nativa, Ayacucho'"
            )
        if role is Role.language_reviewer and lang not in VARIETIES:
            raise ConfigurationError(
                f"a language reviewer needs --lang, one of {', '.join(VARIETIES)}"
            )
        if role is not Role.language_reviewer and lang is not None:
            raise ConfigurationError("--lang is only for a language reviewer")
        if len(password) < MIN_PASSWORD:
            raise ConfigurationError(f"the password must have at least {MIN_PASSWORD} characters")
        try:
            account = Account(
                name=name,
                role=role,
                lang=lang,
                full_name=full_name.strip(),
                credential=credential.strip(),
                password_hash=_hasher.hash(password),
                created_at=dt.datetime.now(dt.UTC),
            )
        except ValueError:
            raise ConfigurationError(
                f"invalid name {name[:40]!r}: 2 to 32 of a-z 0-9 . _ -, starting with a letter "
                "or digit"
            ) from None
        with self._lock:
            book = self._read()
            if name in book.users and not replace:
                raise ConfigurationError(f"{name} already has an account (--replace to change it)")
            self._write(_Book(users={**book.users, name: account}))
        return account

    def verify(self, name: str, password: str) -> Account | None:
        """The account if `password` is its password; None otherwise (same cost either way)."""
        dummy = _dummy_hash()  # before the lookup: the first check costs the same either way
        account = self.get(name)
        try:
            _hasher.verify(account.password_hash if account else dummy, password)
        except (VerificationError, InvalidHashError):
            return None
        return account
