"""Willay's errors, one family per kind of failure.

    WillayError
    ├── ConfigurationError      settings or definitions that cannot run
    ├── ProblemsError           many problems found at once, one message each
    │   ├── ContentError        the tip catalog is invalid
    │   └── MenuDefinitionError a USSD menu definition is invalid
    ├── BadRequest              a provider request is malformed (HTTP 400)
    ├── Forbidden               a callback without the secret or from elsewhere (HTTP 403)
    └── ServiceUnavailable      a backing service (Redis, ...) cannot be reached
        ├── StoreUnavailable    the session or subscriber store failed
        └── ProviderError       Africa's Talking refused or failed a request

Foreign errors (redis, ...) are translated where they enter, chained with `from exc`.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "ConfigurationError",
    "ContentError",
    "Forbidden",
    "MenuDefinitionError",
    "ProblemsError",
    "ProviderError",
    "ServiceUnavailable",
    "StoreUnavailable",
    "WillayError",
]


class WillayError(Exception):
    """Base of every error Willay raises on purpose."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(WillayError):
    """Settings or definitions that cannot run."""


class ProblemsError(WillayError):
    """An error that gathers every problem found, one message each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class ContentError(ProblemsError):
    """The tip catalog is invalid."""


class MenuDefinitionError(ProblemsError):
    """A USSD menu definition is invalid."""


class BadRequest(WillayError):
    """A provider request is malformed."""

    status_code = 400


class Forbidden(WillayError):
    """A provider request lacks the secret or comes from a network not allowed."""

    status_code = 403


class ServiceUnavailable(WillayError):
    """A backing service cannot be reached."""

    status_code = 503


class StoreUnavailable(ServiceUnavailable):
    """The session or subscriber store failed."""


class ProviderError(ServiceUnavailable):
    """Africa's Talking refused or failed a request."""
