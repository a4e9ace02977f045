"""Every HTTP error in one shape, `{"error": <name>, "detail": <reason>}`: the handlers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from willay.errors import ServiceUnavailable, WillayError

__all__ = ["install_error_handlers"]

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    """Answer Willay's errors, malformed requests, the framework's errors and any other."""

    @app.exception_handler(WillayError)
    async def willay_error(request: Request, exc: WillayError) -> JSONResponse:
        if isinstance(exc, ServiceUnavailable):
            log.error("%s %s: %s", request.method, request.url.path, exc.message)
        headers = getattr(exc, "headers", None)
        return _error(type(exc).__name__, exc.public, status=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        log.info("malformed request to %s: %s", request.url.path, detail)
        return _error("BadRequest", detail, status=400)

    @app.exception_handler(StarletteHTTPException)
    async def framework_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        name = "".join(HTTPStatus(exc.status_code).phrase.title().split())
        detail = f"{exc.detail}: {request.method} {request.url.path}"
        headers = exc.headers
        if exc.status_code == 405:
            # Starlette's 405 names the methods of the first route on the path alone; the path's
            # methods are those of every route on it (e.g. GET and POST /studio/api/rebuild)
            headers = {**(headers or {}), "Allow": _allowed(app, request.url.path)}
        return _error(name, detail, status=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error("InternalServerError", "unexpected error; it has been logged", status=500)


def _allowed(app: FastAPI, path: str) -> str:
    """The `Allow` of a path: the methods of every route whose path matches it."""
    methods: set[str] = set()
    for route in iter_route_contexts(app.routes):
        regex = getattr(route.original_route, "path_regex", None)
        if route.methods and regex is not None and regex.match(path):
            methods |= set(route.methods)
    return ", ".join(sorted(methods))


def _error(
    name: str, detail: str, *, status: int, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The one error shape of every HTTP error."""
    return JSONResponse({"error": name, "detail": detail}, status_code=status, headers=headers)
