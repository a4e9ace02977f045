"""The steps the weekly and alert sends share: one request's answers recorded and counted."""

from __future__ import annotations

import asyncio

import pytest

from sms.delivery import Tally, settle_request
from sms.gateway import Receipt
from sms.store import WeekState
from willay.errors import ProviderError, ProviderTimeout

PEOPLE = ["p-sent", "p-busy", "p-bad", "p-lost"]
RECEIPTS: dict[str, Receipt | None] = {
    "p-sent": Receipt(number="+51900000001", status_code=101, status="Success", message_id="m1"),
    "p-busy": Receipt(
        number="+51900000002", status_code=405, status="InsufficientBalance", message_id=None
    ),
    "p-bad": Receipt(
        number="+51900000003", status_code=403, status="InvalidPhoneNumber", message_id=None
    ),
    "p-lost": None,
}


class Recorded:
    def __init__(self) -> None:
        self.states: dict[str, tuple[WeekState, str | None]] = {}

    async def __call__(
        self, subscriber_id: str, /, *, state: WeekState, receipt: Receipt | None = None
    ) -> None:
        self.states[subscriber_id] = (state, receipt.message_id if receipt else None)


async def answer() -> dict[str, Receipt | None]:
    return dict(RECEIPTS)


def settle(request, tally: Tally, record: Recorded):
    return asyncio.run(settle_request(request, people=PEOPLE, tally=tally, record=record))


def test_each_answer_is_recorded_and_counted() -> None:
    tally, record = Tally(), Recorded()
    assert settle(answer(), tally, record) == RECEIPTS
    assert record.states == {
        "p-sent": ("sent", "m1"),
        "p-busy": ("retry", None),
        "p-bad": ("failed", None),
    }  # nobody missing from the answer is recorded: they stay pending
    assert tally == Tally(sent=1, failed=1, retry=1, unconfirmed=1, requests=1)


@pytest.mark.parametrize(
    ("error", "recorded", "counted"),
    [
        (ProviderTimeout("no answer"), {}, Tally(unconfirmed=4, requests=1, error="no answer")),
        (
            ProviderError("refused"),
            {p: ("retry", None) for p in PEOPLE},
            Tally(retry=4, requests=1, error="refused"),
        ),
    ],
)
def test_a_failed_request_leaves_everyone_pending_or_to_retry(error, recorded, counted) -> None:
    async def failing() -> dict[str, Receipt | None]:
        raise error

    tally, record = Tally(), Recorded()
    assert settle(failing(), tally, record) is None
    assert record.states == recorded
    assert tally == counted
