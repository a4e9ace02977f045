"""Guards for provider callbacks: a shared secret in the URL and an optional network allow-list.

Africa's Talking does not sign callbacks, so the callback URL carries `?token=<secret>`; it is
compared in constant time. Rejections are 403 and logged (without the token).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from fastapi import Request

from willay.config import Settings
from willay.errors import Forbidden

__all__ = ["check_callback"]

log = logging.getLogger(__name__)


def check_callback(request: Request, settings: Settings) -> None:
    """Raise `Forbidden` unless the request carries the secret and comes from an allowed network."""
    client = request.client.host if request.client else ""
    if settings.callback_networks:
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            address = None
        if address is None or not any(address in net for net in settings.callback_networks):
            log.warning("callback refused: %s is not in an allowed network", client)
            raise Forbidden("callback from a network that is not allowed")
    expected = settings.callback_token
    if expected is None:
        return
    given = request.query_params.get("token", "")
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        log.warning("callback refused from %s: missing or wrong token", client)
        raise Forbidden("missing or wrong callback token")
