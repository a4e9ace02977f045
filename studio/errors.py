"""The studio's errors, under the kernel's families (rendered as `{"error", "detail"}`).

WillayError
├── Unauthorized        no account, or a wrong password (HTTP 401)
├── Conflict            the thing is busy or changed meanwhile (HTTP 409)
├── BadRequest
│   └── RecordingRefused audio that is not usable: not audio, empty, silent, ... (HTTP 422)
└── Forbidden           an account without the role, or a missing CSRF token (HTTP 403)

A body over WILLAY_STUDIO_MAX_UPLOAD is the kernel's `PayloadTooLarge` (HTTP 413).
"""

from __future__ import annotations

from willay.errors import BadRequest, WillayError

__all__ = ["Conflict", "RecordingRefused", "Unauthorized"]


class Unauthorized(WillayError):
    """No account, or a wrong name or password; `headers` ask scripts for HTTP Basic."""

    status_code = 401

    def __init__(self, message: str, *, basic: bool = False) -> None:
        super().__init__(message)
        self.headers = {"WWW-Authenticate": 'Basic realm="Willay Studio"'} if basic else None


class Conflict(WillayError):
    """The thing is busy (a rebuild runs) or changed since it was shown."""

    status_code = 409


class RecordingRefused(BadRequest):
    """Audio the studio will not use, with the reason."""

    status_code = 422
