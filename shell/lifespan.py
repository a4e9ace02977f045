"""The app's lifespan: open the stores, the event sink and the picker, wire the channels, close all.

What settings name is opened here (Redis or the in-process store, MQTT or a file, the model or the
rules); what a caller hands in (`Given`: a test, a benchmark) is used as is and left open.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TypedDict

from alerts import MqttAlertBoard
from app import LiteService
from audio_cache import AudioLibrary
from dialogue import Services
from ivr import IvrChannel
from ivr.flow import Flow
from recommender import ModelPicker, RuleBasedPicker, TipPicker
from sms import SmsChannel
from studio import Studio
from telemetry import MqttEventSink
from ussd import UssdChannel
from ussd.lane import HopLane
from ussd.menus import Journey
from willay.alerts import AlertBoard, AlertFeed, FileAlertBoard
from willay.catalog import Catalog, load_catalog
from willay.config import Environment, Settings
from willay.errors import ModelError
from willay.events import EventSink, FileEventSink
from willay.kv import KeyValueStore, MemoryStore, RedisStore, create_redis
from willay.languages import LANGUAGES
from willay.profiles import SubscriberStore
from willay.security import RequestRules

__all__ = [
    "AppState",
    "Clock",
    "Content",
    "Given",
    "open_alert_board",
    "open_sms_channel",
    "servable_counts",
    "served_catalog",
    "serving",
    "utcnow",
]

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    """The clock of a real process."""
    return dt.datetime.now(dt.UTC)


class AppState(TypedDict):
    """What the lifespan yields; each route reads its part from `request.state`."""

    settings: Settings
    kv: KeyValueStore
    ussd: UssdChannel
    sms: SmsChannel
    audio: AudioLibrary
    ivr: IvrChannel
    studio: Studio | None
    alerts: AlertFeed
    lite: LiteService
    hops: HopLane  # the provider's hops, answered from the HTTP parser (`willay serve`)


@dataclass(frozen=True)
class Given:
    """What the caller hands in instead of what the settings name; none of it is closed here."""

    store: KeyValueStore | None = None
    events: EventSink | None = None
    picker: TipPicker | None = None
    alert_board: AlertBoard | None = None


@dataclass(frozen=True)
class Content:
    """What the app serves, loaded and validated before it starts: a bad one never serves."""

    catalog: Catalog  # what callers get
    full_catalog: Catalog  # drafts too, for the studio
    journey: Journey
    flow: Flow


def open_alert_board(settings: Settings) -> AlertBoard:
    """Where alerts live: retained MQTT messages when `WILLAY_MQTT_URL` is set, else a file."""
    if settings.mqtt_url is not None:
        return MqttAlertBoard.from_settings(settings)
    return FileAlertBoard(settings.alerts_file)


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


@dataclass(frozen=True)
class _Services:
    """The store, the event sink and the picker every channel shares."""

    kv: KeyValueStore
    events: EventSink
    picker: TipPicker


def _open_services(settings: Settings, *, given: Given, stack: AsyncExitStack) -> _Services:
    """What `given` lacks, opened from the settings; `stack` closes what was opened here."""
    kv = given.store
    if kv is None:
        kv = _open_store(settings)
        stack.push_async_callback(kv.close)
    sink = given.events
    if sink is None:
        sink = _open_events(settings)
        stack.callback(sink.close)
    picker = given.picker
    if picker is None:
        picker = _open_picker(settings)
        stack.callback(_close_picker, picker)
    return _Services(kv=kv, events=sink, picker=picker)


def served_catalog(settings: Settings, *, catalog: Catalog, today: dt.date) -> Catalog:
    """What callers get: in production only signed-off texts; elsewhere drafts too."""
    production = settings.environment is Environment.production
    served = catalog.signed_only(today) if production else catalog
    counts = ", ".join(f"{code} {n}" for code, n in servable_counts(served).items())
    if production:
        log.info("serving signed-off tips only; servable tips per language: %s", counts)
    else:
        log.info("%s: serving drafts too; tips per language: %s", settings.environment, counts)
    return served


def servable_counts(catalog: Catalog) -> dict[str, int]:
    """Per language, how many tips the served catalog holds in that very language."""
    return {code: sum(1 for t in catalog.tips if code in t.text) for code in LANGUAGES}


@asynccontextmanager
async def serving(
    settings: Settings, *, content: Content, given: Given, clock: Clock, rules: RequestRules
) -> AsyncIterator[AppState]:
    """The app's state while it serves: every channel wired; closed in reverse on the way out.

    `rules` are what the app checks before reading a request's body; the hop lane checks them
    too.
    """
    catalog = content.catalog
    async with AsyncExitStack() as stack:
        shared = _open_services(settings, given=given, stack=stack)
        kv, sink, chooser = shared.kv, shared.events, shared.picker
        board = given.alert_board
        if board is None:
            board = open_alert_board(settings)
            stack.callback(board.close)
        feed = AlertFeed(board, signed_only=settings.environment is Environment.production)
        sms = SmsChannel.create(
            settings=settings, kv=kv, events=sink, catalog=catalog, picker=chooser, clock=clock
        )
        stack.push_async_callback(sms.close)
        services = Services(
            catalog=catalog,
            subscribers=SubscriberStore(kv, prefix=settings.redis_prefix),
            picker=chooser,
            events=sink,
            clock=clock,
            alerts=feed,
        )
        ussd = UssdChannel.create(
            settings=settings, journey=content.journey, kv=kv, services=services, texter=sms.texter
        )
        stack.callback(ussd.close)
        audio = AudioLibrary(settings.audio_dir, base_url=settings.public_url)
        ivr = IvrChannel.create(
            settings=settings, flow=content.flow, kv=kv, services=services, audio=audio
        )
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
        studio = None
        if settings.studio:
            studio = Studio.create(
                settings=settings,
                catalog=content.full_catalog,
                kv=kv,
                ussd=ussd.engine,
                ivr=ivr.engine,
                audio=audio,
                clock=clock,
            )
            stack.callback(studio.builder.close)
        yield AppState(
            settings=settings,
            kv=kv,
            ussd=ussd,
            sms=sms,
            audio=audio,
            ivr=ivr,
            studio=studio,
            alerts=feed,
            lite=lite,
            hops=HopLane(ussd.engine, rules=rules),
        )


@asynccontextmanager
async def open_sms_channel(settings: Settings) -> AsyncIterator[SmsChannel]:
    """The SMS channel on the configured store, event sink and picker, for `willay sms ...`."""
    catalog = load_catalog(settings.content_dir)
    served = served_catalog(settings, catalog=catalog, today=utcnow().date())
    async with AsyncExitStack() as stack:
        shared = _open_services(settings, given=Given(), stack=stack)
        yield SmsChannel.create(
            settings=settings,
            kv=shared.kv,
            events=shared.events,
            catalog=served,
            picker=shared.picker,
            clock=utcnow,
        )
