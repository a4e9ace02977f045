"""The app's server side: ranking the next tips, taking the events it queued, serving alerts.

The rules are the USSD's: a person is their pseudonym (an HMAC of the app's install id under
`WILLAY_PSEUDONYM_KEY`, never the id itself); nothing is stored about them before they accept
the consent; the same `TipPicker` ranks their tips. Events arrive in batches, maybe long after
they happened offline, each with an id the app chose: an id seen before is acknowledged and
skipped (claimed with `SET NX` before it is applied), so a batch sent twice counts once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.pack import Packs
from app.schemas import AppEvent, AppEvents, QueueRequest
from app.watch import AlertWatch
from recommender import PickContext, TipPicker, feedback_data, served_profile
from willay.alerts import Alert, AlertFeed, alert_data
from willay.catalog import Catalog
from willay.errors import BadRequest
from willay.events import Event, EventKind, EventSink
from willay.kv import KeyValueStore
from willay.profiles import Feedback, Subscriber, SubscriberStore, event_subject

__all__ = ["CHANNEL", "LiteService"]

CHANNEL = "app"
EVENT_TTL = 90 * 86_400  # an event id is remembered this long (an app offline longer resends)
ALERT_SEEN_TTL = 86_400
FUTURE_SLACK = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class LiteService:
    """Built once by the app factory."""

    catalog: Catalog
    kv: KeyValueStore
    subscribers: SubscriberStore
    picker: TipPicker
    events: EventSink
    alerts: AlertFeed
    clock: Callable[[], dt.datetime]
    pseudonym_key: str
    prefix: str
    watch: AlertWatch = field(init=False, repr=False)
    packs: Packs = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "watch", AlertWatch(self.alerts.board))
        object.__setattr__(self, "packs", Packs(self.catalog))

    def pseudonym(self, install: str) -> str:
        """The person behind an install id, as every event and key names them."""
        digest = hmac.new(self.pseudonym_key.encode(), f"app:{install}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    # -- the next tips --------------------------------------------------------------------------

    async def queue(self, request: QueueRequest) -> list[dict[str, Any]]:
        """The next tips for this person, best first, each with how it was chosen."""
        if request.topic is not None and request.topic not in {t.id for t in self.catalog.topics}:
            raise BadRequest(f"topic: unknown topic {request.topic!r}")
        subscriber = await self.subscribers.get(self.pseudonym(request.install))
        today = self.clock().date()
        chosen: list[dict[str, Any]] = []
        exclude = set(request.exclude)
        for _ in range(request.n):
            context = PickContext.for_subscriber(
                subscriber,
                today=today,
                channel=CHANNEL,
                language=request.lang,
                exclude=exclude,
                topic=request.topic,
            )
            picked = self.picker.pick(context, self.catalog)
            if picked is None:
                break
            exclude.add(picked.tip.id)
            chosen.append({"id": picked.tip.id, "pick": picked.log})
        return chosen

    # -- events -----------------------------------------------------------------------------------

    async def record(self, batch: AppEvents) -> dict[str, Any]:
        """Apply each event not seen before, in order: how many were new, how many repeats, and
        which were refused (with the reason; sending those again changes nothing)."""
        pseudonym = self.pseudonym(batch.install)
        accepted, duplicates, refused = 0, 0, []
        for event in batch.events:
            key = f"{self.prefix}:app:event:{event.id}"
            if not await self.kv.set_new(key, "1", ttl=EVENT_TTL):
                duplicates += 1
                continue
            try:
                await self._apply(pseudonym, event)
            except BadRequest as exc:
                refused.append({"id": event.id, "reason": exc.message})
                continue
            except BaseException:
                await self.kv.delete(key)  # not applied: the app's next try must count
                raise
            accepted += 1
        return {"accepted": accepted, "duplicates": duplicates, "refused": refused}

    def _when(self, event: AppEvent) -> dt.datetime:
        now = self.clock()
        ts = event.ts if event.ts.tzinfo else event.ts.replace(tzinfo=dt.UTC)
        return ts if now - dt.timedelta(seconds=EVENT_TTL) < ts <= now + FUTURE_SLACK else now

    async def _apply(self, pseudonym: str, event: AppEvent) -> None:
        subscriber = await self.subscribers.get(pseudonym)
        at = self._when(event)
        data: dict[str, Any] = {}
        if event.kind == "consent":
            data = {"accepted": bool(event.accepted)}
            if event.accepted and subscriber is None:
                subscriber = Subscriber(id=pseudonym, language=event.lang, consent_at=at)
                await self.subscribers.save(subscriber)
        elif event.kind == "profile_update":
            if subscriber is None:
                return  # nothing is kept before consent
            if event.region is not None and self.catalog.region(event.region) is None:
                raise BadRequest(f"region: unknown region {event.region!r}")
            subscriber.region = event.region
            await self.subscribers.save(subscriber)
            data = {"field": "region", "region": event.region}
        elif event.kind in ("tip_served", "feedback"):
            tip = self.catalog.by_id.get(event.tip_id or "")
            if tip is None:
                raise BadRequest(f"tip_id: unknown tip {event.tip_id!r}")
            log = event.pick.model_dump() if event.pick else {}
            if event.kind == "tip_served":
                if subscriber is not None:
                    subscriber.mark_heard(tip.id, at)
                region = subscriber.region if subscriber else None
                text_lang = tip.text_for(event.lang)[1]
                data = {"tip_id": tip.id, "topic": tip.topic, "text_lang": text_lang}
                data |= {"region": region, **log, **served_profile(subscriber)}
            else:
                if event.useful is None:
                    raise BadRequest("useful: required for feedback")
                if subscriber is not None:
                    subscriber.feedback.append(Feedback(tip_id=tip.id, useful=event.useful, at=at))
                data = feedback_data(self.catalog, tip_id=tip.id, useful=event.useful, log=log)
            if subscriber is not None:
                await self.subscribers.save(subscriber)
        elif event.kind == "alert_seen":
            region = subscriber.region if subscriber else event.region
            data = {"alert_id": event.alert_id, "region": region}
        self._emit(event, subscriber=subscriber, kind=EventKind(event.kind), at=at, data=data)

    def _emit(
        self,
        event: AppEvent,
        *,
        subscriber: Subscriber | None,
        kind: EventKind,
        at: dt.datetime,
        data: dict[str, Any],
    ) -> None:
        self.events.publish(
            Event(
                id=event.id,
                ts=at,
                channel=CHANNEL,
                kind=kind,
                subscriber=event_subject(subscriber, event.session),
                session=event.session,
                lang=event.lang,
                data=data,
            )
        )

    # -- alerts -------------------------------------------------------------------------------

    def current_alerts(self, region: str | None) -> list[Alert]:
        """The alerts a person of `region` gets now: their region's and those for all."""
        now = self.clock()
        return [a for a in self.alerts.current(now) if a.applies_to(region)]

    async def delivered(
        self, alerts: list[Alert], *, session: str, lang: str, region: str | None
    ) -> None:
        """One `alert_delivered` per alert and page session, however often it is sent."""
        for alert in alerts:
            key = f"{self.prefix}:app:alert:{alert.id}:{session}"
            if await self.kv.set_new(key, "1", ttl=ALERT_SEEN_TTL):
                self.events.publish(
                    Event(
                        channel=CHANNEL,
                        kind=EventKind.alert_delivered,
                        subscriber=event_subject(None, session),
                        session=session,
                        lang=lang,
                        data=dict(alert_data(alert, region=region)),
                    )
                )
