"""The weekly send: each due subscriber gets one tip, at most once a week, in bulk requests.

A run plans, then delivers. Planning claims each due person's week as `pending` (recorded before
the provider is called) and groups people by identical message; delivering sends each group in
requests of `WILLAY_SMS_BATCH_SIZE` numbers and records the provider's answer per person: `sent`
with its message id, `failed` for good (invalid number, opted out with the provider), or `retry`
(the provider refused for now: balance, gateway) for the next run.

Delivery guarantee: at most one tip per person per week, with bounded retries. A crash (or a
provider timeout) after the claim leaves the week `pending`; a later run retries it only once it
is older than `WILLAY_SMS_PENDING_SECONDS` and was never confirmed, neither by the provider's
answer nor by a delivery report for that person (see `sms.inbox`). The one duplicate still
possible: the provider accepted the message, the process died before recording it, and no
delivery report arrived within that window. A lost tip is retried, never silently dropped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial

from recommender import PickContext, PickedTip
from sms.delivery import Tally, settle_request
from sms.gateway import BLACKLISTED, Receipt
from sms.message import SmsText, compose_tip
from sms.schedule import MAX_ATTEMPTS, Verdict
from sms.services import Recipient, SmsServices
from sms.store import WeekRecord, WeekState
from willay.events import EventKind
from willay.profiles import Subscriber

__all__ = ["Batch", "SendReport", "WeeklySender"]


@dataclass(frozen=True)
class Batch:
    """One provider request: the same message to up to `WILLAY_SMS_BATCH_SIZE` people."""

    week: str
    message: SmsText
    tip_id: str
    recipients: tuple[Recipient, ...]
    picks: dict[str, PickedTip]
    attempts: dict[str, int]


@dataclass
class SendReport(Tally):
    """What a run did, for the command's summary and for tests."""

    week: str = ""
    subscribers: int = 0
    due: int = 0
    segments: int = 0
    no_tip: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        """One line: sent, segments, requests, failures and why the others were skipped."""
        skipped = ", ".join(
            f"{n} {why.replace('_', ' ')}" for why, n in sorted(self.skipped.items())
        )
        return (
            f"{self.week}: {self.sent} sent ({self.segments} segments) in {self.requests} "
            f"requests; {self.failed} failed, {self.retry} to retry, {self.unconfirmed} "
            f"unconfirmed, {self.no_tip} without a fitting tip; of {self.subscribers} "
            f"subscribers{'; skipped: ' + skipped if skipped else ''}"
        )


class WeeklySender:
    """Plans and delivers the weekly tips."""

    def __init__(self, services: SmsServices) -> None:
        self.services = services

    async def plan(self, report: SendReport) -> list[Batch]:
        """Claim every due person's week (recorded as pending) and group them into batches."""
        services, now = self.services, self.services.clock()
        schedule = services.schedule
        report.week = week = schedule.week(now)
        today = now.astimezone(schedule.timezone).date()
        groups: dict[str, list[tuple[Recipient, PickedTip, int]]] = {}
        messages: dict[str, SmsText] = {}
        async for subscriber_id, subscriber, record in self._subscribers(week):
            report.subscribers += 1
            if subscriber is None or subscriber.sms_number is None:
                report.skipped[Verdict.not_subscribed] += 1
                continue
            verdict, attempt = schedule.verdict(subscriber, record, now=now)
            if verdict is Verdict.gave_up and record is not None:
                await self._give_up(week, subscriber_id, record=record, lang=subscriber.language)
                report.failed += 1
            if verdict is not Verdict.due:
                report.skipped[verdict] += 1
                continue
            context = PickContext.for_subscriber(
                subscriber, today=today, channel="sms", language=subscriber.language
            )
            picked = services.picker.pick(context, services.catalog)
            if picked is None:
                report.no_tip += 1
                continue
            claim = WeekRecord(state="pending", attempt=attempt, at=now, tip_id=picked.tip.id)
            if not await services.store.claim(week, subscriber_id, record=claim):
                report.skipped[Verdict.in_flight] += 1
                continue
            report.due += 1
            message = compose_tip(picked.tip, subscriber.language)
            messages[message.text] = message
            recipient = Recipient(subscriber_id, subscriber.sms_number, subscriber.language)
            groups.setdefault(message.text, []).append((recipient, picked, attempt))
        size = services.settings.sms_batch_size
        return [
            Batch(
                week=week,
                message=messages[text],
                tip_id=members[0][1].tip.id,
                recipients=tuple(r for r, _, _ in chunk),
                picks={r.subscriber: p for r, p, _ in chunk},
                attempts={r.subscriber: a for r, _, a in chunk},
            )
            for text, members in groups.items()
            for chunk in (members[i : i + size] for i in range(0, len(members), size))
        ]

    async def _subscribers(
        self, week: str
    ) -> AsyncIterator[tuple[str, Subscriber | None, WeekRecord | None]]:
        """Every indexed SMS subscriber, in a stable order, with their record for `week`."""
        services = self.services
        for subscriber_id in sorted(await services.subscribers.sms_subscribers()):
            subscriber = await services.subscribers.get(subscriber_id)
            yield subscriber_id, subscriber, await services.store.week(week, subscriber_id)

    async def survey(self) -> tuple[str, Counter[str]]:
        """This week and where each subscriber stands in it, without sending anything.

        Counts are by verdict (`due`, `not_yet`, `in_flight`, ...), with `done` split into the
        record's state (`sent` or `failed`).
        """
        now = self.services.clock()
        week = self.services.schedule.week(now)
        counts: Counter[str] = Counter()
        async for _, subscriber, record in self._subscribers(week):
            if subscriber is None:
                counts[Verdict.not_subscribed] += 1
                continue
            verdict, _ = self.services.schedule.verdict(subscriber, record, now=now)
            if verdict is Verdict.done and record is not None:
                counts[record.state] += 1
            else:
                counts[verdict.value] += 1
        return week, counts

    async def _give_up(
        self, week: str, subscriber_id: str, *, record: WeekRecord, lang: str
    ) -> None:
        failed = record.model_copy(update={"state": "failed", "status": "Unconfirmed"})
        await self.services.store.put_week(week, subscriber_id, record=failed)
        self.services.emit(
            EventKind.sms_failed,
            subscriber=subscriber_id,
            lang=lang,
            purpose="weekly",
            tip_id=record.tip_id,
            status="Unconfirmed",
            attempts=MAX_ATTEMPTS,
        )

    async def deliver(self, batch: Batch, report: SendReport) -> bool:
        """Send one batch and record each answer; False if the provider failed the request."""
        picks = {sid: p.log for sid, p in batch.picks.items()}
        request = self.services.deliver(
            batch.message,
            batch.recipients,
            purpose="weekly",
            week=batch.week,
            tip_id=batch.tip_id,
            per_recipient=picks,
        )
        people = [r.subscriber for r in batch.recipients]
        receipts = await settle_request(
            request, people=people, tally=report, record=partial(self._record, batch)
        )
        if receipts is None:
            return False
        for subscriber_id, receipt in receipts.items():
            if receipt is not None and receipt.accepted:
                await self._mark_heard(subscriber_id, batch.tip_id)
                report.segments += batch.message.segments
            elif receipt is not None and receipt.status_code == BLACKLISTED:
                report.skipped["opted_out_with_provider"] += 1
        return True

    async def _record(
        self, batch: Batch, subscriber_id: str, *, state: WeekState, receipt: Receipt | None = None
    ) -> None:
        record = WeekRecord(
            state=state,
            attempt=batch.attempts[subscriber_id],
            at=self.services.clock(),
            tip_id=batch.tip_id,
            message_id=receipt.message_id if receipt else None,
            status=receipt.status if receipt else None,
        )
        await self.services.store.put_week(batch.week, subscriber_id, record=record)

    async def _mark_heard(self, subscriber_id: str, tip_id: str) -> None:
        subscriber = await self.services.subscribers.get(subscriber_id)
        if subscriber is not None:
            subscriber.mark_heard(tip_id, self.services.clock())
            await self.services.subscribers.save(subscriber)

    async def send_due(
        self,
        *,
        on_planned: Callable[[int], None] | None = None,
        on_batch: Callable[[Batch], None] | None = None,
    ) -> SendReport:
        """Plan, then deliver batch by batch; stops at the first request the provider fails.

        The batches not tried after such a failure are set to `retry` for the next run.
        """
        report = SendReport()
        batches = await self.plan(report)
        if on_planned is not None:
            on_planned(sum(len(b.recipients) for b in batches))
        for index, batch in enumerate(batches):
            delivered = await self.deliver(batch, report)
            if on_batch is not None:
                on_batch(batch)
            if not delivered:
                for rest in batches[index + 1 :]:
                    for recipient in rest.recipients:
                        await self._record(rest, recipient.subscriber, state="retry")
                    report.retry += len(rest.recipients)
                break
        return report
