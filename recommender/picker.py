"""How a channel asks for a tip: the `TipPicker` protocol and what it answers.

Every picker returns the tip with its score, the probability it had of being chosen (the
propensity, for off-policy evaluation) and the version of the model that chose it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from willay.catalog import Audience, Catalog, Tip
from willay.profiles import Subscriber

__all__ = ["PickContext", "PickedTip", "TipPicker", "feedback_data", "pick_for"]


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

    @property
    def log(self) -> dict[str, float | str]:
        """What every served tip is logged with, and its feedback later."""
        return {
            "score": self.score,
            "propensity": self.propensity,
            "model_version": self.model_version,
        }

    def served_data(self, *, language: str, region: str | None) -> dict[str, object]:
        """The data of the `tip_served` event."""
        return {
            "tip_id": self.tip.id,
            "topic": self.tip.topic,
            "text_lang": self.tip.text_for(language)[1],
            "region": region,
            **self.log,
        }


class TipPicker(Protocol):
    """Chooses the tip a person is most likely to find useful."""

    def pick(self, context: PickContext, catalog: Catalog) -> PickedTip | None: ...


def pick_for(
    subscriber: Subscriber | None,
    *,
    picker: TipPicker,
    catalog: Catalog,
    now: dt.datetime,
    channel: str,
    language: str,
    exclude: Collection[str] = (),
    topic: str | None = None,
) -> PickedTip | None:
    """Ask `picker` for this person's tip and mark it heard in their profile (if any)."""
    context = PickContext.for_subscriber(
        subscriber,
        today=now.date(),
        channel=channel,
        language=language,
        exclude=exclude,
        topic=topic,
    )
    picked = picker.pick(context, catalog)
    if picked is not None and subscriber is not None:
        subscriber.mark_heard(picked.tip.id, now)
    return picked


def feedback_data(
    catalog: Catalog, *, tip_id: str, useful: bool, log: Mapping[str, float | str]
) -> dict[str, object]:
    """The data of the `feedback` event, joined to how the tip was chosen."""
    tip = catalog.by_id.get(tip_id)
    return {"tip_id": tip_id, "topic": tip.topic if tip else None, "useful": useful, **log}
