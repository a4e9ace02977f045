"""The IVR channel as the app holds it: engine, XML writer and call-backs, built in one place."""

from __future__ import annotations

import logging
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from audio_cache import AudioLibrary
from dialogue import Services
from ivr.actions import ACTIONS
from ivr.callback import CallBacker
from ivr.engine import NOTICES, IvrEngine
from ivr.flow import FLOW_FILE, Flow, load_flow
from ivr.store import CallbackLedger, CallStore
from ivr.turn import IvrServices
from ivr.voicexml import VoiceXml
from willay.catalog import Catalog
from willay.config import Settings
from willay.errors import ConfigurationError
from willay.kv import KeyValueStore
from willay.languages import LANGUAGES
from willay.provider import voice_service

__all__ = ["IvrChannel", "callback_url", "load_call_flow"]

ROUTE = "/ivr/africastalking"

log = logging.getLogger(__name__)


def load_call_flow(catalog: Catalog, *, path: Path = FLOW_FILE) -> Flow:
    """The call flow at `path` (the shipped one by default), validated as a whole against the
    actions, the catalog's topics, the languages and the prompts the engine plays."""
    return load_flow(
        path,
        actions=ACTIONS,
        choices={"set_language": set(LANGUAGES), "pick_in_topic": {t.id for t in catalog.topics}},
        notices=NOTICES,
    )


def callback_url(settings: Settings) -> str:
    """Where the provider posts the call's next notification (with the secret, if set)."""
    url = settings.public_url.rstrip("/") + ROUTE
    if settings.callback_token is not None:
        query = urllib.parse.urlencode({"token": settings.callback_token.get_secret_value()})
        url += "?" + query
    return url


@dataclass(frozen=True)
class IvrChannel:
    engine: IvrEngine
    xml: VoiceXml
    callbacks: CallBacker | None

    @classmethod
    def create(
        cls,
        *,
        settings: Settings,
        flow: Flow,
        kv: KeyValueStore,
        services: Services,
        audio: AudioLibrary,
    ) -> IvrChannel:
        """Build the channel on the app's services; call-backs need the service's voice number
        and an API key."""
        callbacks = ledger = None
        if settings.ivr_callback:
            if settings.ivr_voice_number is None:
                raise ConfigurationError("WILLAY_IVR_CALLBACK needs WILLAY_IVR_VOICE_NUMBER")
            callbacks = CallBacker(
                voice_service(settings),
                from_number=settings.ivr_voice_number,
                events=services.events,
            )
            ledger = CallbackLedger(
                kv,
                prefix=settings.redis_prefix,
                dedup=settings.ivr_callback_dedup,
                limit=settings.ivr_callback_limit,
                window=settings.ivr_callback_window,
            )
        calls = CallStore(kv, prefix=settings.redis_prefix, ttl=settings.ivr_call_ttl)
        engine = IvrEngine(
            flow=flow,
            services=IvrServices(**services.shared(), calls=calls),
            pseudonym_key=settings.pseudonym_key.get_secret_value(),
            service_number=settings.ivr_voice_number,
            callbacks=ledger,
            audio=audio,
        )
        if not audio.ready:
            log.warning(
                "no audio in %s: callers hear the provider's voice (run `willay audio build`)",
                settings.audio_dir,
            )
        xml = VoiceXml(
            audio=audio, callback_url=callback_url(settings), timeout=settings.ivr_digit_timeout
        )
        return cls(engine=engine, xml=xml, callbacks=callbacks)
