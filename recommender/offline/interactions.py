"""Served tips and the answers they got: what training learns from, whatever the source.

`interactions_from_events` rebuilds them from Willay's own events (a `tip_served` joined to its
`feedback` by session and tip id), as they come from a JSON-lines export or from InfluxDB.
A `tip_served` of a person who consented carries the coarse context the model read (audience
and age bands, never the answers), so a context rebuilt from events is the one the picker saw:
language, region, month, channel, bands, and the tips heard and rated before. Events of people
who did not consent carry none of it, and their picks were made without any (anonymous).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from recommender.picker import EventProfile, PickContext, context_from_event
from willay.catalog import Audience
from willay.errors import ConfigurationError
from willay.events import Event, EventKind

__all__ = ["Interaction", "interactions_from_events", "read_event_lines"]

# what the events of a person who did not consent say of them: nothing
ANONYMOUS: EventProfile = {"audiences": frozenset({Audience.general}), "age_group": None}


@dataclass(frozen=True)
class Interaction:
    """One served tip, what was known when it was chosen, and the answer if one came."""

    context: PickContext
    tip_id: str
    useful: bool | None
    caller: str
    session: str
    position: int = 0
    propensity: float = 1.0
    model_version: str = ""


def read_event_lines(path: Path) -> list[Event]:
    """Events from a JSON-lines file; `ConfigurationError` naming the first bad line."""
    events = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigurationError(f"cannot read events from {path}: {exc.strerror}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(Event.model_validate(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{path}:{number}: not JSON: {exc.msg}") from exc
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigurationError(f"{path}:{number}: not an event: {problems}") from exc
    return events


def interactions_from_events(events: Iterable[Event]) -> list[Interaction]:
    """Every `tip_served` with the `feedback` it got in the same session (None if none came).

    Each context holds the tips the same person heard and rated before it, and the tips
    already served in that session, so training sees what the picker saw.
    """
    ordered = sorted(events, key=lambda e: e.ts)
    answers: dict[tuple[str, str], bool] = {}
    for event in ordered:
        if event.kind == EventKind.feedback and event.session and "tip_id" in event.data:
            answers[(event.session, str(event.data["tip_id"]))] = bool(event.data.get("useful"))
    heard: dict[str, dict[str, dt.datetime]] = {}
    rated: dict[str, dict[str, bool]] = {}
    served_in: dict[str, list[str]] = {}
    found = []
    for event in ordered:
        tip_id = str(event.data.get("tip_id", ""))
        if tip_id and event.kind == EventKind.sms_sent:  # the weekly tip is heard, as served
            heard.setdefault(event.subscriber, {})[tip_id] = event.ts
            continue
        if not tip_id or not event.session:
            continue
        if event.kind == EventKind.feedback:
            rated.setdefault(event.subscriber, {})[tip_id] = bool(event.data.get("useful"))
            continue
        if event.kind != EventKind.tip_served:
            continue
        earlier = served_in.setdefault(event.session, [])
        known = bool(event.data.get("consented", True))
        context = PickContext(
            today=event.ts.date(),
            channel=event.channel,
            language=event.lang or str(event.data.get("text_lang") or "es"),
            region=event.data.get("region"),
            heard=dict(heard.get(event.subscriber, {})) if known else {},
            exclude=frozenset(earlier),
            rated=dict(rated.get(event.subscriber, {})) if known else {},
            **(context_from_event(event.data) if known else ANONYMOUS),
        )
        found.append(
            Interaction(
                context=context,
                tip_id=tip_id,
                useful=answers.get((event.session, tip_id)),
                caller=event.subscriber,
                session=event.session,
                position=len(earlier),
                propensity=float(event.data.get("propensity") or 1.0),
                model_version=str(event.data.get("model_version") or ""),
            )
        )
        earlier.append(tip_id)
        heard.setdefault(event.subscriber, {})[tip_id] = event.ts
    return found
