"""One provider request's answers recorded per person: the steps the weekly and alert sends share.

The request is awaited once. No answer at all (`ProviderTimeout`): everyone stays `pending`,
counted unconfirmed, never sent again by this run. The request refused as a whole
(`ProviderError`): everyone is recorded `retry`. Otherwise each person's receipt is recorded
`sent`, `retry` (the provider refused for now) or `failed` (for good); a person missing from the
answer stays `pending`, counted unconfirmed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sms.gateway import RETRYABLE, Receipt
from sms.store import WeekState
from willay.errors import ProviderError, ProviderTimeout

__all__ = ["Record", "Tally", "settle_request"]

Receipts = dict[str, Receipt | None]


@dataclass
class Tally:
    """What a run counted per person and per request (the weekly and alert reports extend it)."""

    sent: int = 0
    failed: int = 0
    retry: int = 0
    unconfirmed: int = 0
    requests: int = 0
    error: str | None = None


class Record(Protocol):
    """Stores one person's state after the request (with their receipt, if one came)."""

    def __call__(
        self, subscriber_id: str, /, *, state: WeekState, receipt: Receipt | None = None
    ) -> Awaitable[None]: ...


def _state(receipt: Receipt) -> WeekState:
    if receipt.accepted:
        return "sent"
    return "retry" if receipt.status_code in RETRYABLE else "failed"


async def settle_request(
    request: Awaitable[Receipts], *, people: Sequence[str], tally: Tally, record: Record
) -> Receipts | None:
    """Await `request` to `people` (pseudonyms), record and count each answer; the receipts by
    pseudonym, or None when the request as a whole failed (`tally.error` says why)."""
    tally.requests += 1
    try:
        receipts = await request
    except ProviderTimeout as exc:
        tally.unconfirmed += len(people)
        tally.error = exc.message
        return None
    except ProviderError as exc:
        for subscriber_id in people:
            await record(subscriber_id, state="retry")
        tally.retry += len(people)
        tally.error = exc.message
        return None
    for subscriber_id in people:
        receipt = receipts.get(subscriber_id)
        if receipt is None:
            tally.unconfirmed += 1
            continue
        state = _state(receipt)
        await record(subscriber_id, state=state, receipt=receipt)
        if state == "sent":
            tally.sent += 1
        elif state == "retry":
            tally.retry += 1
        else:
            tally.failed += 1
    return receipts
