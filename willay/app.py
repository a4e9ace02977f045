"""The app factory: settings in, a FastAPI app out, services opened and closed by its lifespan."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import TypedDict

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from alerts import MqttAlertBoard
from app import LiteService
from app import router as app_router
from audio_cache import AudioLibrary
from audio_cache.routes import router as audio_router
from dialogue import Services
from ivr import IvrChannel, load_call_flow
from ivr import router as ivr_router
from recommender import ModelPicker, RuleBasedPicker, TipPicker
from sms import SmsChannel
from sms import router as sms_router
from studio import Studio
from studio.routes import router as studio_router
from telemetry import MqttEventSink
from ussd import UssdChannel
from ussd.actions import ACTIONS
from ussd.menus import JOURNEY_FILE, load_journey
from ussd.routes import SCHEMA_COMPONENTS as USSD_SCHEMA_COMPONENTS
from ussd.routes import provider_hop_route, simulator_router
from ussd.routes import router as ussd_router
from willay import __version__
from willay.alerts import AlertBoard, AlertFeed, FileAlertBoard
from willay.catalog import Catalog, load_catalog
from willay.config import Environment, Settings
from willay.deps import StoreDep, guard_callback
from willay.errors import ConfigurationError, ModelError, ServiceUnavailable, WillayError
from willay.events import EventSink, FileEventSink
from willay.kv import KeyValueStore, MemoryStore, RedisStore, create_redis
from willay.languages import LANGUAGES
from willay.openapi import install_openapi
from willay.profiles import SubscriberStore
from willay.security import RequestGuard

__all__ = [
    "app_from_environment",
    "create_app",
    "freeze_startup",
    "open_alert_board",
    "open_sms_channel",
]


class AppState(TypedDict):
    """What the lifespan yields; each route reads its part from `request.state`."""

    settings: Settings
    kv: KeyValueStore
    events: EventSink
    catalog: Catalog
    ussd: UssdChannel
    sms: SmsChannel
    audio: AudioLibrary
    ivr: IvrChannel
    studio: Studio | None
    alerts: AlertFeed
    lite: LiteService


log = logging.getLogger(__name__)

CALLBACK_BODY_BYTES = 64 * 1024  # callbacks are a few KB; the largest the schema allows fits
DEFAULT_BODY_BYTES = 1024 * 1024  # any other route without its own `max_body_size`


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _open_store(settings: Settings) -> KeyValueStore:
    if settings.redis_url is None:
        log.warning("WILLAY_REDIS_URL is unset: sessions and profiles live in this process only")
        return MemoryStore()
    return RedisStore(create_redis(settings.redis_url, name="willay-app"))


def _open_events(settings: Settings) -> EventSink:
    """Where events go: the MQTT broker when `WILLAY_MQTT_URL` is set, else a local file."""
    if settings.mqtt_url is not None:
        return MqttEventSink.from_settings(settings)
    return FileEventSink(settings.events_file)


def open_alert_board(settings: Settings) -> AlertBoard:
    """Where alerts live: retained MQTT messages when `WILLAY_MQTT_URL` is set, else a file."""
    if settings.mqtt_url is not None:
        return MqttAlertBoard.from_settings(settings)
    return FileAlertBoard(settings.alerts_file)


def _open_picker(settings: Settings) -> TipPicker:
    """What chooses tips: the newest TFLite model, or the rule-based picker if none loads."""
    rules = RuleBasedPicker(repeat_days=settings.repeat_days)
    if settings.recommender == "rules":
        return rules
    try:
        return ModelPicker.from_settings(settings)
    except ModelError as exc:
        log.warning("%s; choosing tips with the rule-based picker", exc.message)
        return rules


def _close_picker(picker: TipPicker) -> None:
    """Stop what the picker runs in the background (the model folder watch)."""
    if isinstance(picker, ModelPicker):
        picker.close()


def _served_catalog(settings: Settings, catalog: Catalog, today: dt.date) -> Catalog:
    """What callers get: in production only signed-off texts; elsewhere drafts too."""
    production = settings.environment is Environment.production
    served = catalog.signed_only(today) if production else catalog
    counts = ", ".join(f"{code} {n}" for code, n in _servable_counts(served).items())
    if production:
        log.info("serving signed-off tips only; servable tips per language: %s", counts)
    else:
        log.info("%s: serving drafts too; tips per language: %s", settings.environment, counts)
    return served


def _servable_counts(catalog: Catalog) -> dict[str, int]:
    """Per language, how many tips the served catalog holds in that very language."""
    return {code: sum(1 for t in catalog.tips if code in t.text) for code in LANGUAGES}


def create_app(
    settings: Settings,
    *,
    store: KeyValueStore | None = None,
    events: EventSink | None = None,
    picker: TipPicker | None = None,
    alert_board: AlertBoard | None = None,
    clock: Callable[[], dt.datetime] = _utcnow,
) -> FastAPI:
    """Build the app; catalog and menus are validated now, so an invalid one never serves."""
    if problems := settings.serving_problems():
        raise ConfigurationError("; ".join(problems))
    full_catalog = load_catalog(settings.content_dir)  # the studio shows drafts too
    catalog = _served_catalog(settings, full_catalog, clock().date())
    journey = load_journey(JOURNEY_FILE, actions=set(ACTIONS), budget=settings.ussd_page_chars)
    flow = load_call_flow(catalog)
    if settings.callback_token is None:
        log.warning("WILLAY_CALLBACK_TOKEN is unset: provider callbacks are not authenticated")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[AppState]:
        kv = store if store is not None else _open_store(settings)
        sink = events if events is not None else _open_events(settings)
        chooser = picker or _open_picker(settings)
        board = alert_board if alert_board is not None else open_alert_board(settings)
        feed = AlertFeed(board, signed_only=settings.environment is Environment.production)
        sms = SmsChannel.create(
            settings=settings, kv=kv, events=sink, catalog=catalog, picker=chooser, clock=clock
        )
        services = Services(
            catalog=catalog,
            subscribers=SubscriberStore(kv, prefix=settings.redis_prefix),
            picker=chooser,
            events=sink,
            clock=clock,
            alerts=feed,
        )
        ussd = UssdChannel.create(
            settings=settings, journey=journey, kv=kv, services=services, texter=sms.texter
        )
        audio = AudioLibrary(settings.audio_dir, base_url=settings.public_url)
        ivr = IvrChannel.create(settings=settings, flow=flow, kv=kv, services=services, audio=audio)
        lite = LiteService(
            catalog=catalog,
            kv=kv,
            subscribers=services.subscribers,
            picker=chooser,
            events=sink,
            alerts=feed,
            clock=clock,
            pseudonym_key=settings.pseudonym_key.get_secret_value(),
            prefix=settings.redis_prefix,
        )
        studio = (
            Studio.create(
                settings=settings,
                catalog=full_catalog,
                kv=kv,
                ussd=ussd.engine,
                ivr=ivr.engine,
                audio=audio,
                clock=clock,
            )
            if settings.studio
            else None
        )
        try:
            yield AppState(
                settings=settings,
                kv=kv,
                events=sink,
                catalog=catalog,
                ussd=ussd,
                sms=sms,
                audio=audio,
                ivr=ivr,
                studio=studio,
                alerts=feed,
                lite=lite,
            )
        finally:
            ussd.close()
            if studio is not None:
                studio.builder.close()
            await sms.close()
            if alert_board is None:
                board.close()
            if picker is None:
                _close_picker(chooser)
            if events is None:
                sink.close()
            if store is None:
                await kv.close()

    # FastAPI's built-in OpenTelemetry looks for providers on every request; Willay's telemetry
    # is its own events, so it is off (a third of the framework's cost on a USSD hop)
    off = {"tracing": False, "metrics": False, "logs": False}
    app = FastAPI(title="Willay", version=__version__, lifespan=lifespan, telemetry=off)
    app.router.routes.append(provider_hop_route)  # before ussd_router: the provider's hops
    app.include_router(ussd_router)
    app.include_router(sms_router)
    app.include_router(ivr_router)
    app.include_router(audio_router)
    app.include_router(app_router)
    if settings.simulator:
        app.include_router(simulator_router)
    if settings.studio:
        app.include_router(studio_router)

    @app.exception_handler(WillayError)
    async def willay_error(request: Request, exc: WillayError) -> JSONResponse:
        if isinstance(exc, ServiceUnavailable):
            log.error("%s %s: %s", request.method, request.url.path, exc.message)
        return _error(
            type(exc).__name__, exc.public, exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        log.info("malformed request to %s: %s", request.url.path, detail)
        return _error("BadRequest", detail, 400)

    @app.exception_handler(StarletteHTTPException)
    async def framework_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        name = "".join(HTTPStatus(exc.status_code).phrase.title().split())
        detail = f"{exc.detail}: {request.method} {request.url.path}"
        headers = exc.headers
        if exc.status_code == 405:
            # Starlette's 405 names the methods of the first route on the path alone; the path's
            # methods are those of every route on it (e.g. GET and POST /studio/api/rebuild)
            headers = {**(headers or {}), "Allow": _allowed(app, request.url.path)}
        return _error(name, detail, exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error("InternalServerError", "unexpected error; it has been logged", 500)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

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
                "servable_tips": _servable_counts(catalog),
            }
        )

    # last: it reads every route
    callbacks = _guard_requests(
        app, settings, uploads={"/studio/api/recordings/": settings.studio_max_upload}
    )
    topics = [t.id for t in catalog.topics]  # any other topic is refused: the schema says so
    install_openapi(
        app,
        callbacks=callbacks,
        enums={("QueueRequest", "topic"): topics},
        components=USSD_SCHEMA_COMPONENTS,
    )
    return app


def app_from_environment() -> FastAPI:
    """The app on settings from the environment: what each `willay serve --workers` process runs."""
    app = create_app(Settings())
    freeze_startup()
    return app


def freeze_startup() -> None:
    """Keep what startup built (modules, schemas, catalog) out of the garbage collector's way.

    It lives as long as a server process; left in, every full collection walks it, a pause of
    ~100 ms on whichever request triggers it. For server processes, not for tests' many apps.
    """
    gc.collect()
    gc.freeze()


def _allowed(app: FastAPI, path: str) -> str:
    """The `Allow` of a path: the methods of every route whose path matches it."""
    methods: set[str] = set()
    for route in iter_route_contexts(app.routes):
        regex = getattr(route.original_route, "path_regex", None)
        if route.methods and regex is not None and regex.match(path):
            methods |= set(route.methods)
    return ", ".join(sorted(methods))


def _error(
    name: str, detail: str, status: int, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The one error shape of every HTTP error."""
    return JSONResponse({"error": name, "detail": detail}, status_code=status, headers=headers)


def _guard_requests(
    app: FastAPI, settings: Settings, *, uploads: Mapping[str, int]
) -> frozenset[str]:
    """Callbacks authenticated before their body is read, every body capped (`RequestGuard`).

    A route guarded by `CallbackGuard` is a callback, capped at `CALLBACK_BODY_BYTES`; a route
    under one of `uploads`' path prefixes gets that prefix's cap; a route with its own
    `max_body_size` keeps it; any other gets `DEFAULT_BODY_BYTES`. Answers the callbacks' paths.
    """
    callbacks: set[str] = set()
    limits: dict[str, int] = {}
    patterns: list[tuple[re.Pattern[str], int]] = []
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        callback = any(d.dependency is guard_callback for d in route.dependencies)
        if callback:
            callbacks.add(route.path)
        upload = next((n for prefix, n in uploads.items() if route.path.startswith(prefix)), None)
        default = CALLBACK_BODY_BYTES if callback else DEFAULT_BODY_BYTES
        limit = upload or getattr(route, "max_body_size", None) or default
        if "{" in route.path:
            patterns.append((route.original_route.path_regex, limit))
        else:
            limits[route.path] = limit
    app.add_middleware(
        RequestGuard,
        settings=settings,
        callbacks=frozenset(callbacks),
        limits=limits,
        patterns=patterns,
        default_limit=DEFAULT_BODY_BYTES,
        body_timeout=settings.body_timeout,
    )
    return frozenset(callbacks)


@asynccontextmanager
async def open_sms_channel(settings: Settings) -> AsyncIterator[SmsChannel]:
    """The SMS channel on the configured store, event sink and picker, for `willay sms ...`."""
    catalog = _served_catalog(settings, load_catalog(settings.content_dir), _utcnow().date())
    kv = _open_store(settings)
    sink = _open_events(settings)
    chooser = _open_picker(settings)
    try:
        yield SmsChannel.create(
            settings=settings, kv=kv, events=sink, catalog=catalog, picker=chooser, clock=_utcnow
        )
    finally:
        _close_picker(chooser)
        sink.close()
        await kv.close()
