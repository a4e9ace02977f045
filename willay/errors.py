"""Willay's errors, one family per kind of failure.

    WillayError
    ├── ConfigurationError      settings or definitions that cannot run
    │   └── ModelError          a recommender model file is refused (missing, corrupt, mismatched)
    ├── ProblemsError           many problems found at once, one message each
    │   ├── ContentError        the tip catalog is invalid
    │   └── MenuDefinitionError a USSD menu or IVR flow definition is invalid
    ├── AudioError              text to speech or encoding failed for a clip
    ├── BadRequest              a provider request is malformed (HTTP 400)
    │   └── SignOffRefused      a sign-off that cannot be recorded (the text changed, ...)
    ├── Forbidden               a callback without the secret or from elsewhere (HTTP 403)
    ├── NotFound                no such resource (HTTP 404)
    ├── RequestTimeout          a request body did not arrive in time (HTTP 408)
    ├── PayloadTooLarge         a request body over its route's cap (HTTP 413)
    └── ServiceUnavailable      a backing service (Redis, ...) cannot be reached
        ├── StoreUnavailable    the session or subscriber store failed
        └── ProviderError       Africa's Talking refused or failed a request
            └── ProviderTimeout no answer in time: the request may or may not have been applied

Foreign errors (redis, ...) are translated where they enter, chained with `from exc`. `message`
is for logs; `public` is what an HTTP answer may say (a service error names no host or port).
"""

from __future__ import annotations

__all__ = [
    "AudioError",
    "BadRequest",
    "ConfigurationError",
    "ContentError",
    "Forbidden",
    "MenuDefinitionError",
    "ModelError",
    "NotFound",
    "PayloadTooLarge",
    "ProblemsError",
    "ProviderError",
    "ProviderTimeout",
    "RequestTimeout",
    "ServiceUnavailable",
    "SignOffRefused",
    "StoreUnavailable",
    "WillayError",
]


class WillayError(Exception):
    """Base of every error Willay raises on purpose."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def public(self) -> str:
        """What an HTTP answer may say about this error."""
        return self.message


class ConfigurationError(WillayError):
    """Settings or definitions that cannot run."""


class ModelError(ConfigurationError):
    """A recommender model file cannot serve: missing, corrupt, or not what its card says."""


class ProblemsError(WillayError):
    """An error that gathers every problem found, one message each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class ContentError(ProblemsError):
    """The tip catalog is invalid."""


class MenuDefinitionError(ProblemsError):
    """A USSD menu or IVR flow definition is invalid."""


class BadRequest(WillayError):
    """A provider request is malformed."""

    status_code = 400


class SignOffRefused(BadRequest):
    """A sign-off that cannot be recorded: unknown tip, text changed since it was read, ..."""


class Forbidden(WillayError):
    """A provider request lacks the secret or comes from a network not allowed."""

    status_code = 403


class NotFound(WillayError):
    """No such resource."""

    status_code = 404


class RequestTimeout(WillayError):
    """A request body did not arrive in time."""

    status_code = 408


class PayloadTooLarge(WillayError):
    """A request body over its route's cap."""

    status_code = 413


class AudioError(WillayError):
    """Text to speech or encoding failed for a clip."""


class ServiceUnavailable(WillayError):
    """A backing service cannot be reached."""

    status_code = 503

    @property
    def public(self) -> str:
        return "a backing service is unavailable; try again shortly"


class StoreUnavailable(ServiceUnavailable):
    """The session or subscriber store failed."""

    @property
    def public(self) -> str:
        return "the session store is unavailable; try again shortly"


class ProviderError(ServiceUnavailable):
    """Africa's Talking refused or failed a request."""


class ProviderTimeout(ProviderError):
    """Africa's Talking did not answer in time: the request may or may not have been applied."""
