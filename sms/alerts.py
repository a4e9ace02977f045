"""An alert by SMS to the subscribers of its region, once each, in bulk requests.

Like the weekly send (through the same `sms.delivery` steps): each person's attempt is claimed
in the store (`SET NX`) before the provider is called, and the provider's answer is recorded per
person (`sent`, `retry`, `failed`), so running it again (a retry from cron, two runs at once)
texts nobody twice. A request the provider failed leaves its people on `retry` for the next run;
a request that got no answer leaves them `pending`, counted as unconfirmed and not sent again
(at most once).
"""

from __future__ import annotations

from dataclasses import dataclass

from sms.delivery import Tally, settle_request
from sms.gateway import Receipt
from sms.message import SmsText, compose_alert
from sms.schedule import MAX_ATTEMPTS
from sms.services import Recipient, SmsServices
from sms.store import WeekRecord, WeekState
from willay.alerts import Alert, alert_data
from willay.events import EventKind

__all__ = ["AlertSendReport", "AlertTexter"]


@dataclass(kw_only=True)
class AlertSendReport(Tally):
    """What one run did for one alert."""

    alert_id: str
    region: str
    already: int = 0
    other_region: int = 0

    def summary(self) -> str:
        """One line, for scripts."""
        return (
            f"alert {self.alert_id} ({self.region}): {self.sent} sent in {self.requests} "
            f"requests; {self.failed} failed, {self.retry} to retry, {self.unconfirmed} "
            f"unconfirmed, {self.already} already texted, {self.other_region} in other regions"
        )


@dataclass(frozen=True)
class _Claimed:
    """A person whose attempt was claimed: kept so recording it reads nothing back."""

    recipient: Recipient
    attempt: int
    region: str | None


class AlertTexter:
    """Texts an alert to the SMS subscribers of its region."""

    def __init__(self, services: SmsServices) -> None:
        self.services = services

    async def _claim(self, alert: Alert, report: AlertSendReport) -> dict[str, list[_Claimed]]:
        """Claim each person still owed the alert; the claims grouped by message text."""
        services, now = self.services, self.services.clock()
        groups: dict[str, list[_Claimed]] = {}
        for subscriber_id in sorted(await services.subscribers.sms_subscribers()):
            subscriber = await services.subscribers.get(subscriber_id)
            if subscriber is None or subscriber.sms_number is None:
                continue
            if not alert.applies_to(subscriber.region):
                report.other_region += 1
                continue
            record = await services.store.alert(alert.id, subscriber_id)
            if record is not None and (record.state != "retry" or record.attempt >= MAX_ATTEMPTS):
                report.already += 1
                continue
            attempt = record.attempt + 1 if record is not None else 1
            claim = WeekRecord(state="pending", attempt=attempt, at=now)
            if not await services.store.claim_alert(alert.id, subscriber_id, record=claim):
                report.already += 1
                continue
            message = compose_alert(alert, subscriber.language)
            recipient = Recipient(subscriber_id, subscriber.sms_number, subscriber.language)
            claimed = _Claimed(recipient, attempt, subscriber.region)
            groups.setdefault(message.text, []).append(claimed)
        return groups

    async def send(self, alert: Alert) -> AlertSendReport:
        """Text `alert` to everyone of its region not texted yet, if within its window."""
        report = AlertSendReport(alert_id=alert.id, region=alert.region)
        if not alert.active(self.services.clock()):
            report.error = "outside its window: nothing sent"
            return report
        size = self.services.settings.sms_batch_size
        for text, people in (await self._claim(alert, report)).items():
            message = SmsText.of(text)
            for start in range(0, len(people), size):
                await self._deliver(
                    alert, message, people=people[start : start + size], report=report
                )
        return report

    async def _deliver(
        self, alert: Alert, message: SmsText, *, people: list[_Claimed], report: AlertSendReport
    ) -> None:
        claimed = {p.recipient.subscriber: p for p in people}

        async def record(
            subscriber_id: str, /, *, state: WeekState, receipt: Receipt | None = None
        ) -> None:
            at = self.services.clock()
            message_id = receipt.message_id if receipt is not None else None
            attempt = claimed[subscriber_id].attempt
            kept = WeekRecord(state=state, attempt=attempt, at=at, message_id=message_id)
            await self.services.store.put_alert(alert.id, subscriber_id, record=kept)

        request = self.services.deliver(message, [p.recipient for p in people], purpose="alert")
        receipts = await settle_request(request, people=list(claimed), tally=report, record=record)
        if receipts is None:
            return
        for person in people:
            receipt = receipts.get(person.recipient.subscriber)
            if receipt is not None and receipt.accepted:
                self.services.emit(
                    EventKind.alert_delivered,
                    subscriber=person.recipient.subscriber,
                    lang=person.recipient.lang,
                    **alert_data(alert, region=person.region),
                )
