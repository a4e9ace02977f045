"""Telemetry's errors, in Willay's families.

    WillayError
    ├── ServiceUnavailable
    │   └── InfluxUnavailable   InfluxDB cannot be reached, times out, refuses the credentials
    │                           or answers 5xx: retry later, keep the data
    ├── InfluxRejected          InfluxDB refused a write or a query as malformed (HTTP 400)
    └── MalformedEvent          an MQTT message that is not a valid event on a valid topic

HTTP and socket errors are translated in `telemetry._influx`, chained with `from exc`.
"""

from __future__ import annotations

from willay.errors import ServiceUnavailable, WillayError

__all__ = ["InfluxRejected", "InfluxUnavailable", "MalformedEvent"]


class InfluxUnavailable(ServiceUnavailable):
    """InfluxDB cannot take the request now; the same request may succeed later."""


class InfluxRejected(WillayError):
    """InfluxDB refused the request itself: sending it again will not help."""

    status_code = 400


class MalformedEvent(WillayError):
    """An MQTT message that is not a valid event on a valid topic."""

    status_code = 400
