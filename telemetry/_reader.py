"""Events read back from InfluxDB, for training (`willay train --from-influx`) and audits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from telemetry._influx import InfluxClient, quote_ident, quote_string
from telemetry._points import EPOCH, MEASUREMENT, event_from_row
from willay.config import Settings
from willay.events import Event

__all__ = ["read_events"]

PAGE = 10_000


def _kinds_clause(kinds: Collection[str]) -> str:
    return "(" + " OR ".join(f'"kind" = {quote_string(k)}' for k in sorted(kinds)) + ")"


def read_events(
    settings: Settings,
    *,
    kinds: Collection[str],
    since: dt.datetime | None = None,
    client: InfluxClient | None = None,
) -> list[Event]:
    """Events of the given kinds (every kind if empty) from `since` on, oldest first, one per id.

    Reads `WILLAY_INFLUX_URL` and `WILLAY_INFLUX_DATABASE` (or uses `client`), 10,000 points
    a page; raises `InfluxUnavailable` or `InfluxRejected`, and `ConfigurationError` when no
    InfluxDB is configured.
    """
    influx = client or InfluxClient.from_settings(settings)
    start = 0
    if since is not None:
        since = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
        start = (since - EPOCH) // dt.timedelta(microseconds=1) * 1000
    kind_filter = f" AND {_kinds_clause(kinds)}" if kinds else ""
    found: dict[str, Event] = {}
    while True:
        statement = (
            f"SELECT * FROM {quote_ident(MEASUREMENT)} WHERE time >= {start}{kind_filter} "
            f"ORDER BY time ASC LIMIT {PAGE}"
        )
        rows = [
            dict(zip(series["columns"], values, strict=True))
            for series in influx.query(statement)
            for values in series["values"]
        ]
        before = len(found)
        for row in rows:
            event = event_from_row(row)
            found[event.id] = event
        if len(rows) < PAGE or len(found) == before:
            break
        start = int(rows[-1]["time"])
    return sorted(found.values(), key=lambda e: e.ts)
