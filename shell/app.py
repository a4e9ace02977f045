"""The app factory: settings in, a FastAPI app out, services opened and closed by its lifespan."""

from __future__ import annotations

import functools
import gc
import logging
import os
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.telemetry import TelemetryConfig
from starlette.types import ASGIApp

from app import router as app_router
from audio_cache.routes import router as audio_router
from ivr import load_call_flow
from ivr import router as ivr_router
from recommender import TipPicker
from shell.affinity import PIN_FOLDER, pin_worker
from shell.errors import install_error_handlers
from shell.lifespan import (
    AppState,
    Clock,
    Content,
    Given,
    servable_counts,
    served_catalog,
    serving,
    utcnow,
)
from shell.logs import configure_logging
from sms import router as sms_router
from studio.routes import router as studio_router
from ussd.actions import ACTIONS
from ussd.menus import JOURNEY_FILE, load_journey
from ussd.routes import SCHEMA_COMPONENTS as USSD_SCHEMA_COMPONENTS
from ussd.routes import ProviderHops, simulator_router
from ussd.routes import router as ussd_router
from willay import __version__
from willay.alerts import AlertBoard
from willay.catalog import load_catalog
from willay.config import Settings
from willay.deps import StoreDep
from willay.errors import ConfigurationError, ServiceUnavailable
from willay.events import EventSink
from willay.kv import KeyValueStore, MemoryStore
from willay.openapi import install_openapi
from willay.security import CALLBACK_TAG, RequestGuard, RequestRules

__all__ = [
    "CALLBACK_BODY_BYTES",
    "DEFAULT_BODY_BYTES",
    "app_from_environment",
    "create_app",
    "freeze_startup",
]

log = logging.getLogger(__name__)

CALLBACK_BODY_BYTES = 64 * 1024  # callbacks are a few KB; the largest the schema allows fits
DEFAULT_BODY_BYTES = 1024 * 1024  # any other route without its own `max_body_size`
YOUNG_OBJECTS = 10_000  # the garbage collector's first threshold in a server process


def create_app(
    settings: Settings,
    *,
    store: KeyValueStore | None = None,
    events: EventSink | None = None,
    picker: TipPicker | None = None,
    alert_board: AlertBoard | None = None,
    clock: Clock = utcnow,
) -> FastAPI:
    """Build the app; catalog and menus are validated now, so an invalid one never serves."""
    if problems := settings.serving_problems():
        raise ConfigurationError("; ".join(problems))
    full_catalog = load_catalog(settings.content_dir)  # the studio shows drafts too
    catalog = served_catalog(settings, catalog=full_catalog, today=clock().date())
    content = Content(
        catalog=catalog,
        full_catalog=full_catalog,
        journey=load_journey(JOURNEY_FILE, actions=ACTIONS, budget=settings.ussd_page_chars),
        flow=load_call_flow(catalog),
    )
    given = Given(store=store, events=events, picker=picker, alert_board=alert_board)
    if settings.callback_token is None:
        log.warning("WILLAY_CALLBACK_TOKEN is unset: provider callbacks are not authenticated")

    def lifespan(app: FastAPI) -> AbstractAsyncContextManager[AppState]:
        return serving(settings, content=content, given=given, clock=clock, rules=rules)

    # FastAPI's built-in OpenTelemetry looks for providers on every request; Willay's telemetry
    # is its own events, so it is off (a third of the framework's cost on a USSD hop)
    off: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
    app = _HopsFirst(title="Willay", version=__version__, lifespan=lifespan, telemetry=off)
    app.include_router(ussd_router)
    app.include_router(sms_router)
    app.include_router(ivr_router)
    app.include_router(audio_router)
    app.include_router(app_router)
    if settings.simulator:
        app.include_router(simulator_router)
    if settings.studio:
        app.include_router(studio_router)
    install_error_handlers(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    servable = servable_counts(catalog)  # the catalog is fixed while the app serves

    @app.get("/readyz", tags=["health"])
    async def readyz(kv: StoreDep) -> JSONResponse:
        """Ready to serve: the session store answers; how many tips are servable per language."""
        try:
            await kv.ping()
        except ServiceUnavailable as exc:
            log.error("readiness: %s", exc.message)
            return JSONResponse(
                {"status": "unavailable", "redis": "down", "detail": exc.public}, status_code=503
            )
        backend = "memory" if isinstance(kv, MemoryStore) else "redis"
        return JSONResponse(
            {
                "status": "ok",
                "store": backend,
                "environment": settings.environment,
                "servable_tips": servable,
            }
        )

    # last: it reads every route
    rules = _guard_requests(
        app, settings=settings, uploads={"/studio/api/recordings/": settings.studio_max_upload}
    )
    topics = [t.id for t in catalog.topics]  # any other topic is refused: the schema says so
    install_openapi(
        app,
        callbacks=rules.callbacks,
        enums={("QueueRequest", "topic"): topics},
        components=USSD_SCHEMA_COMPONENTS,
    )
    return app


class _HopsFirst(FastAPI):
    """FastAPI with `ProviderHops` in front of its whole middleware stack.

    The provider's hops then pass through `RequestGuard` (`hop_guard`, the app's own guard) and
    are answered, without the framework's outer layers; any other request meets the stack as
    FastAPI builds it, `RequestGuard` included.
    """

    hop_guard: Callable[[ASGIApp], ASGIApp]  # set by `_guard_requests`

    def build_middleware_stack(self) -> ASGIApp:
        """The framework's stack, behind the provider's hops."""
        return ProviderHops(super().build_middleware_stack(), guard=self.hop_guard)


def app_from_environment() -> FastAPI:
    """The app on settings from the environment: what each `willay serve --workers` process runs
    (pinned to a CPU of its own with `--pin-workers`), logging as the command line does."""
    configure_logging()
    app = create_app(Settings())
    freeze_startup()
    if folder := os.environ.get(PIN_FOLDER):
        pin_worker(Path(folder))
    return app


def freeze_startup() -> None:
    """Keep what startup built (modules, schemas, catalog) out of the garbage collector's way.

    It lives as long as a server process; left in, every full collection walks it, a pause of
    ~100 ms on whichever request triggers it. For server processes, not for tests' many apps.

    The youngest generation is then collected after `YOUNG_OBJECTS` more live objects, not 700:
    the hops in flight hold more than 700 between them, so the default collected every ~70
    hops for next to nothing (~2% of a hop's CPU); the garbage waiting stays bounded by it.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])


def _guard_requests(
    app: _HopsFirst, *, settings: Settings, uploads: Mapping[str, int]
) -> RequestRules:
    """Callbacks authenticated before their body is read, every body capped (`RequestGuard`).

    A route tagged `CALLBACK_TAG` is a callback, capped at `CALLBACK_BODY_BYTES`; a route
    under one of `uploads`' path prefixes gets that prefix's cap; a route with its own
    `max_body_size` keeps it; any other gets `DEFAULT_BODY_BYTES`. Answers the rules.
    """
    callbacks: set[str] = set()
    limits: dict[str, int] = {}
    patterns: list[tuple[re.Pattern[str], int]] = []
    for route in iter_route_contexts(app.routes):
        original, path = route.original_route, route.path
        if not isinstance(original, APIRoute) or path is None:
            continue
        callback = CALLBACK_TAG in original.tags
        if callback:
            callbacks.add(path)
        upload = next((n for prefix, n in uploads.items() if path.startswith(prefix)), None)
        default = CALLBACK_BODY_BYTES if callback else DEFAULT_BODY_BYTES
        limit = upload or getattr(route, "max_body_size", None) or default
        if "{" in path:
            patterns.append((original.path_regex, limit))
        else:
            limits[path] = limit
    rules = RequestRules(
        settings=settings,
        callbacks=frozenset(callbacks),
        limits=limits,
        patterns=patterns,
        default_limit=DEFAULT_BODY_BYTES,
    )
    guard = functools.partial(RequestGuard, rules=rules, body_timeout=settings.body_timeout)
    app.add_middleware(RequestGuard, **guard.keywords)
    app.hop_guard = guard
    return rules
