"""The studio as the app holds it: accounts, sessions, audit, recordings, builds, views."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from audio_cache import AudioFile, AudioLibrary, Utterance, tip_utterances
from ivr import IvrEngine
from studio.accounts import Account, AccountBook
from studio.audit import AuditLog
from studio.auth import Gatekeeper
from studio.builds import Builder
from studio.catalog_view import CatalogView
from studio.recordings import Recorder, check_take
from studio.review import ReviewBook
from ussd.engine import UssdEngine
from willay.catalog import Catalog
from willay.config import Settings
from willay.errors import Forbidden, NotFound
from willay.kv import KeyValueStore
from willay.languages import LANGUAGES
from willay.signoff import SignOff

__all__ = ["Studio"]


@dataclass
class Studio:
    """Everything the studio's routes need, built once in the app's lifespan."""

    settings: Settings
    catalog: Catalog
    gate: Gatekeeper
    audit: AuditLog
    recorder: Recorder
    builder: Builder
    view: CatalogView
    reviews: ReviewBook
    ivr: IvrEngine
    audio: AudioLibrary
    clock: Callable[[], dt.datetime]

    @classmethod
    def create(
        cls,
        *,
        settings: Settings,
        catalog: Catalog,
        kv: KeyValueStore,
        ussd: UssdEngine,
        ivr: IvrEngine,
        audio: AudioLibrary,
        clock: Callable[[], dt.datetime],
    ) -> Studio:
        """Wire the studio to the app's catalog, engines, audio library and store."""
        utterances = [*tip_utterances(catalog), *ivr.flow.utterances()]
        reviews = ReviewBook(settings.content_dir, catalog)
        return cls(
            settings=settings,
            catalog=catalog,
            gate=Gatekeeper(
                AccountBook(settings.studio_dir),
                kv,
                prefix=settings.redis_prefix,
                ttl=settings.studio_session_ttl,
                public_url=settings.public_url,
            ),
            audit=AuditLog(settings.studio_dir),
            recorder=Recorder(settings.recordings_dir),
            builder=Builder(settings, lambda: utterances),
            view=CatalogView(
                catalog=catalog,
                ussd=ussd,
                audio=audio,
                reviews=reviews,
                recordings_dir=settings.recordings_dir,
                expiry_warning_days=settings.expiry_warning_days,
            ),
            reviews=reviews,
            ivr=ivr,
            audio=audio,
            clock=clock,
        )

    def utterance(self, kind: str, item_id: str, *, lang: str) -> Utterance:
        """The tip or prompt to record, in a language it has its own text in; else `NotFound`."""
        if kind == "tip":
            tip = self.catalog.by_id.get(item_id)
            if tip is None:
                raise NotFound(f"no tip {item_id[:64]!r}")
            if lang not in LANGUAGES:
                raise NotFound(f"no language {lang[:16]!r} (known: {', '.join(LANGUAGES)})")
            if lang not in tip.text:
                used = tip.text_for(lang)[1]
                raise NotFound(f"tip {item_id} has no {lang} text (it plays {used}): record {used}")
            return Utterance.of_tip(tip, lang)
        found = [u for u in self.ivr.flow.utterances() if u.id == item_id]
        if not found:
            raise NotFound(f"no IVR prompt {item_id[:64]!r}")
        for utterance in found:
            if utterance.lang == lang:
                return utterance
        langs = ", ".join(u.lang for u in found)
        raise NotFound(f"IVR prompt {item_id} has no {lang[:16]!r} text (it has {langs})")

    async def record(
        self, account: Account, utterance: Utterance, *, body: bytes
    ) -> dict[str, AudioFile]:
        """Check, store and render a recording; the files now served for it, by format."""
        if not account.may_record(utterance.lang):
            raise Forbidden(f"{account.title} may not record {utterance.lang}")
        take = await asyncio.to_thread(
            check_take, body, text=utterance.text, loudness=self.settings.audio_loudness
        )
        provenance = self.recorder.store(utterance, take, speaker=account.name, at=self.clock())
        files = await asyncio.to_thread(self.builder.build_one, utterance)
        self.audit.record(
            account,
            "record",
            target=f"{utterance.kind}:{utterance.label}",
            text_sha256=provenance.text_sha256,
            seconds=provenance.duration,
            files=sorted(f.file for f in files.values()),
        )
        return files

    def sign_off(
        self,
        account: Account,
        *,
        tip_id: str,
        lang: str,
        text_sha256: str,
        decision: str,
        comment: str = "",
        back_translation: str = "",
    ) -> SignOff:
        """Record a reviewer's decision on the text they saw, and who made it."""
        signoff = self.reviews.record(
            account,
            tip_id=tip_id,
            lang=lang,
            text_sha256=text_sha256,
            decision=decision,
            comment=comment,
            back_translation=back_translation,
            now=self.clock(),
        )
        self.audit.record(
            account,
            signoff.decision.value,
            target=f"tip:{tip_id}.{lang}",
            kind=signoff.kind.value,
            text_sha256=text_sha256,
        )
        return signoff

    def start_rebuild(self, account: Account) -> None:
        """Start the full rebuild (editors and admins); `Conflict` while one runs."""
        if not account.may_rebuild():
            raise Forbidden(f"{account.title} may not start a rebuild")
        self.builder.start(account.name)
        self.audit.record(account, "rebuild", target="audio:all")
