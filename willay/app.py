"""The app factory: settings in, a FastAPI app out, services opened and closed by its lifespan."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from recommender import RuleBasedPicker, TipPicker
from ussd.actions import ACTIONS
from ussd.engine import UssdEngine
from ussd.menus import JOURNEY_FILE, load_journey
from ussd.routes import router as ussd_router
from ussd.routes import simulator_router
from ussd.store import SessionStore
from ussd.turn import Services
from willay import __version__
from willay.catalog import load_catalog
from willay.config import Settings
from willay.deps import AppState, StoreDep
from willay.errors import ServiceUnavailable, WillayError
from willay.events import EventSink, FileEventSink
from willay.kv import KeyValueStore, MemoryStore, RedisStore, create_redis
from willay.profiles import SubscriberStore

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _open_store(settings: Settings) -> KeyValueStore:
    if settings.redis_url is None:
        log.warning("WILLAY_REDIS_URL is unset: sessions and profiles live in this process only")
        return MemoryStore()
    return RedisStore(create_redis(settings.redis_url, name="willay-app"))


def _open_events(settings: Settings) -> EventSink:
    """Where events go: a local file by default."""
    return FileEventSink(settings.events_file)


def _open_picker(settings: Settings) -> TipPicker:
    """What chooses tips: the rule-based picker by default."""
    return RuleBasedPicker(repeat_days=settings.repeat_days)


def create_app(
    settings: Settings,
    *,
    store: KeyValueStore | None = None,
    events: EventSink | None = None,
    picker: TipPicker | None = None,
    clock: Callable[[], dt.datetime] = _utcnow,
) -> FastAPI:
    """Build the app; catalog and menus are validated now, so an invalid one never serves."""
    catalog = load_catalog(settings.content_dir)
    journey = load_journey(JOURNEY_FILE, actions=set(ACTIONS), budget=settings.ussd_page_chars)
    if settings.callback_token is None:
        log.warning("WILLAY_CALLBACK_TOKEN is unset: provider callbacks are not authenticated")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[AppState]:
        kv = store if store is not None else _open_store(settings)
        sink = events if events is not None else _open_events(settings)
        services = Services(
            catalog=catalog,
            sessions=SessionStore(
                kv,
                prefix=settings.redis_prefix,
                ttl=settings.ussd_session_ttl,
                resume_ttl=settings.ussd_resume_ttl,
            ),
            subscribers=SubscriberStore(kv, prefix=settings.redis_prefix),
            picker=picker or _open_picker(settings),
            events=sink,
            clock=clock,
        )
        engine = UssdEngine(
            journey=journey,
            services=services,
            page_chars=settings.ussd_page_chars,
            pseudonym_key=settings.pseudonym_key.get_secret_value(),
        )
        try:
            yield AppState(settings=settings, kv=kv, events=sink, catalog=catalog, ussd=engine)
        finally:
            if events is None:
                sink.close()
            if store is None:
                await kv.close()

    app = FastAPI(title="Willay", version=__version__, lifespan=lifespan)
    app.include_router(ussd_router)
    if settings.simulator:
        app.include_router(simulator_router)

    @app.exception_handler(WillayError)
    async def willay_error(request: Request, exc: WillayError) -> JSONResponse:
        return JSONResponse(
            {"error": type(exc).__name__, "detail": exc.message}, status_code=exc.status_code
        )

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        log.info("malformed request to %s: %s", request.url.path, detail)
        return JSONResponse({"error": "BadRequest", "detail": detail}, status_code=400)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz(kv: StoreDep) -> JSONResponse:
        """Ready to serve: the session store answers (Redis, when configured)."""
        try:
            await kv.ping()
        except ServiceUnavailable as exc:
            return JSONResponse(
                {"status": "unavailable", "redis": "down", "detail": exc.message}, status_code=503
            )
        backend = "memory" if isinstance(kv, MemoryStore) else "redis"
        return JSONResponse({"status": "ok", "store": backend})

    return app
