"""Telemetry: numbered events over MQTT, the MQTT -> InfluxDB bridge that counts what went
missing, and events read back from InfluxDB."""

from telemetry._bridge import Bridge, BridgeStats
from telemetry._errors import InfluxRejected, InfluxUnavailable, MalformedEvent
from telemetry._influx import InfluxClient
from telemetry._mqtt import Broker
from telemetry._points import (
    NumberedEvent,
    decode_batch,
    decode_message,
    event_from_row,
    event_to_line,
    numbered_json,
)
from telemetry._publisher import MqttEventSink
from telemetry._reader import read_events
from telemetry._sequence import PublisherNumbers, SequenceTracker
from telemetry._spool import Spool
from telemetry._topics import event_topic, events_filter, shared_filter

__all__ = [
    "Bridge",
    "BridgeStats",
    "Broker",
    "InfluxClient",
    "InfluxRejected",
    "InfluxUnavailable",
    "MalformedEvent",
    "MqttEventSink",
    "NumberedEvent",
    "PublisherNumbers",
    "SequenceTracker",
    "Spool",
    "decode_batch",
    "decode_message",
    "event_from_row",
    "event_to_line",
    "event_topic",
    "events_filter",
    "numbered_json",
    "read_events",
    "shared_filter",
]
