"""How a channel asks for a tip: the `TipPicker` protocol and what it answers.

Every picker returns the tip with its score, the probability it had of being chosen (the
propensity, for off-policy evaluation) and the version of the model that chose it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from willay.catalog import Audience, Catalog, Tip
from willay.profiles import Subscriber

__all__ = ["PickContext", "PickedTip", "TipPicker"]


@dataclass(frozen=True)
class PickContext:
    """What is known of the person and the moment, for choosing a tip.

    `heard` maps tip ids to when they were served; `rated` maps tip ids to the person's latest
    answer (useful or not); `exclude` holds the tips already served in this session.
    """

    today: dt.date
    channel: str
    language: str = "es"
    region: str | None = None
    audiences: frozenset[Audience] = frozenset({Audience.general})
    heard: dict[str, dt.datetime] = field(default_factory=dict)
    exclude: frozenset[str] = frozenset()
    topic: str | None = None
    age_group: str | None = None
    rated: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def for_subscriber(
        cls,
        subscriber: Subscriber | None,
        *,
        today: dt.date,
        channel: str,
        language: str,
        exclude: Collection[str] = (),
        topic: str | None = None,
    ) -> PickContext:
        """The context of a person with a profile, or of an anonymous one when None."""
        if subscriber is None:
            return cls(
                today=today,
                channel=channel,
                language=language,
                exclude=frozenset(exclude),
                topic=topic,
            )
        return cls(
            today=today,
            channel=channel,
            language=language,
            region=subscriber.region,
            audiences=frozenset(subscriber.audiences),
            heard=dict(subscriber.heard),
            exclude=frozenset(exclude),
            topic=topic,
            age_group=subscriber.age_group,
            rated={f.tip_id: f.useful for f in sorted(subscriber.feedback, key=lambda f: f.at)},
        )


@dataclass(frozen=True)
class PickedTip:
    tip: Tip
    score: float
    propensity: float
    model_version: str


class TipPicker(Protocol):
    """Chooses the tip a person is most likely to find useful."""

    def pick(self, context: PickContext, catalog: Catalog) -> PickedTip | None: ...
