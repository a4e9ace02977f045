"""Clients of Africa's Talking's API (the official `africastalking` SDK), made in one place.

The services are built directly rather than through `africastalking.initialize()`, which sets
module globals and warns about products we do not use. SDK and network errors become
`ProviderError` where they enter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import requests
from africastalking.Service import AfricasTalkingException
from africastalking.SMS import SMSService
from africastalking.Voice import VoiceService

from willay.config import Settings
from willay.errors import ConfigurationError, ProviderError

__all__ = ["provider_errors", "sms_service", "voice_service"]


def _credentials(settings: Settings) -> tuple[str, str]:
    if settings.at_api_key is None:
        raise ConfigurationError("WILLAY_AT_API_KEY is not set: Africa's Talking cannot be used")
    return settings.at_username, settings.at_api_key.get_secret_value()


def sms_service(settings: Settings) -> SMSService:
    """The SMS API for the configured account (`sandbox` selects the sandbox)."""
    return SMSService(*_credentials(settings))


def voice_service(settings: Settings) -> VoiceService:
    """The voice API for the configured account (`sandbox` selects the sandbox)."""
    return VoiceService(*_credentials(settings))


@contextmanager
def provider_errors(action: str) -> Iterator[None]:
    """Turn the SDK's and the network's errors into `ProviderError`."""
    try:
        yield
    except (AfricasTalkingException, requests.RequestException, ValueError) as exc:
        raise ProviderError(f"Africa's Talking {action} failed: {exc}") from exc
