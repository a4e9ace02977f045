"""MQTT topics: events on `<root>/v1/events/<channel>/<kind>` (lowercase ASCII), and the
bridges' notes to each other on `<root>/v1/bridges/<group>/seen`."""

from __future__ import annotations

import functools
import re

from willay.events import SCHEMA_VERSION, Event

__all__ = ["event_topic", "events_filter", "notes_topic", "parse_event_topic", "shared_filter"]

_LEVEL = re.compile(r"^[a-z0-9_-]+$")


def _events_prefix(root: str) -> str:
    return f"{root}/v{SCHEMA_VERSION}/events"


def event_topic(root: str, event: Event) -> str:
    """The topic an event is published on; channel and kind must be lowercase ASCII."""
    return _topic(root, channel=event.channel, kind=event.kind)  # a StrEnum: its value


@functools.lru_cache(maxsize=1024)
def _topic(root: str, *, channel: str, kind: str) -> str:
    for level in (channel, kind):
        if not _LEVEL.match(level):
            raise ValueError(f"topic level {level!r} is not lowercase ASCII")
    return f"{_events_prefix(root)}/{channel}/{kind}"


def events_filter(root: str) -> str:
    """The filter matching every event topic under `root`."""
    return f"{_events_prefix(root)}/#"


def shared_filter(group: str, root: str) -> str:
    """The shared subscription that spreads events over the bridges of `group`."""
    return f"$share/{group}/{events_filter(root)}"


def notes_topic(root: str, group: str) -> str:
    """Where the bridges of `group` tell each other which event numbers they stored."""
    return f"{root}/v{SCHEMA_VERSION}/bridges/{group}/seen"


@functools.lru_cache(maxsize=1024)
def parse_event_topic(root: str, topic: str) -> tuple[str, str] | None:
    """(channel, kind) of an event topic under `root`, or None if it is not one."""
    prefix = _events_prefix(root) + "/"
    if not topic.startswith(prefix):
        return None
    levels = topic[len(prefix) :].split("/")
    if len(levels) != 2 or not all(_LEVEL.match(level) for level in levels):
        return None
    return levels[0], levels[1]
