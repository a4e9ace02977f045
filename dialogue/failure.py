"""The failure of a turn, as every channel records it before answering its own apology."""

from __future__ import annotations

import logging

from willay.errors import ServiceUnavailable
from willay.events import Event, EventKind, EventSink
from willay.profiles import event_subject

__all__ = ["record_failure"]

log = logging.getLogger(__name__)


def record_failure(
    events: EventSink, *, channel: str, what: str, session_id: str, exc: Exception, **data: object
) -> None:
    """Log the failed `what` (a backing service down as such, anything else with its traceback)
    and publish it as an `error` event carrying `data` (what the person sent), no internal detail.
    """
    if isinstance(exc, ServiceUnavailable):
        log.error("%s %s failed: %s", what, session_id, exc)
    else:
        log.error("%s %s failed unexpectedly", what, session_id, exc_info=exc)
    events.publish(
        Event(
            channel=channel,
            kind=EventKind.error,
            subscriber=event_subject(None, session_id),
            session=session_id,
            data={"error": type(exc).__name__, **data},
        )
    )
