"""Provider callbacks the provider retries: any failure is a 503 without internal detail."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from willay.errors import WillayError

__all__ = ["RetriedRoute"]

log = logging.getLogger(__name__)

RETRY_BODY = {"error": "ServiceUnavailable", "detail": "not recorded; please retry"}
RETRY_AFTER = {"Retry-After": "60"}


class RetriedRoute(APIRoute):
    """The one error path of notice and SMS callbacks: whatever fails, answer 503 to be retried.

    A refused request (4xx: malformed, forbidden, too large) keeps its answer; the provider
    should not retry it. Anything else is logged here (a traceback if unexpected) and answered
    503, so the provider sends the callback again and nothing is lost.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def retried(request: Request) -> Response:
            try:
                return await handler(request)
            except (RequestValidationError, HTTPException):
                raise
            except WillayError as exc:
                if exc.status_code < 500:
                    raise
                log.error("%s %s not recorded: %s", request.method, request.url.path, exc.message)
                body = {"error": type(exc).__name__, "detail": exc.public}
            except Exception:
                log.exception("%s %s failed unexpectedly", request.method, request.url.path)
                body = RETRY_BODY
            return JSONResponse(body, status_code=503, headers=RETRY_AFTER)

        return retried
