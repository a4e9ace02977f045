"""How a channel asks for a tip: the `TipPicker` protocol and what it answers.

Every picker returns the tip with its score, the probability it had of being chosen (the
propensity, for off-policy evaluation) and the version of the model that chose it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol, TypedDict

from willay.catalog import Audience, Catalog, Tip
from willay.profiles import Subscriber

__all__ = [
    "EventProfile",
    "PickContext",
    "PickedTip",
    "TipPicker",
    "context_from_event",
    "feedback_data",
    "pick_for",
    "served_profile",
]


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

    @property
    def profile(self) -> dict[str, object]:
        """The coarse context a model reads, as `tip_served` carries it (with consent only).

        Audience and age bands, never the answers behind them; with the tips heard and rated
        before (other events), this rebuilds the very row the model scored.
        """
        return _bands(self.audiences, self.age_group)


def served_profile(subscriber: Subscriber | None) -> dict[str, object]:
    """What a `tip_served` event says of the person: `consented` and, only if they did, the
    coarse context a model reads (`PickContext.profile`). For channels that log a tip served
    apart from its pick (the light app), by the rule `PickedTip.served_data` follows."""
    if subscriber is None:
        return {"consented": False}
    return {"consented": True, **_bands(subscriber.audiences, subscriber.age_group)}


def _bands(audiences: Collection[Audience], age_group: str | None) -> dict[str, object]:
    specific = sorted(a.value for a in set(audiences) - {Audience.general})
    return {"audiences": ",".join(specific), "age_group": age_group}


class EventProfile(TypedDict):
    """The coarse context of a `tip_served` event, as `PickContext` fields."""

    audiences: frozenset[Audience]
    age_group: str | None


def context_from_event(data: Mapping[str, object]) -> EventProfile:
    """What `PickedTip.served_data` put in a `tip_served` event of a known person, read back."""
    bands = set(str(data.get("audiences") or "").split(","))
    age = data.get("age_group")
    return {
        "audiences": frozenset({Audience.general, *(a for a in Audience if a.value in bands)}),
        "age_group": str(age) if age else None,
    }


@dataclass(frozen=True)
class PickedTip:
    """A tip a picker chose, how (score, propensity, model version, arm) and for whom.

    `arm` is `model` (the model's policy), `holdout` (the rule picker standing in for it on a
    small permanent share of picks, to compare against) or `rules` (the rule picker serving).
    """

    tip: Tip
    score: float
    propensity: float
    model_version: str
    arm: str = "model"
    context: PickContext | None = None
    consented: bool = False

    @property
    def log(self) -> dict[str, float | str]:
        """What every served tip is logged with, and its feedback later."""
        return {
            "score": self.score,
            "propensity": self.propensity,
            "model_version": self.model_version,
            "arm": self.arm,
        }

    def served_data(self, *, language: str, region: str | None) -> dict[str, object]:
        """The data of the `tip_served` event: the tip, how it was chosen and, for a person
        who consented, the coarse context the model read (`PickContext.profile`)."""
        known = self.consented and self.context is not None
        return {
            "tip_id": self.tip.id,
            "topic": self.tip.topic,
            "text_lang": self.tip.text_for(language)[1],
            "region": region,
            **self.log,
            "consented": known,
            **(self.context.profile if known and self.context else {}),
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
    if picked is None:
        return None
    if subscriber is not None:
        subscriber.mark_heard(picked.tip.id, now)
    return replace(picked, context=context, consented=subscriber is not None)


def feedback_data(
    catalog: Catalog, *, tip_id: str, useful: bool, log: Mapping[str, float | str]
) -> dict[str, object]:
    """The data of the `feedback` event, joined to how the tip was chosen."""
    tip = catalog.by_id.get(tip_id)
    return {
        "tip_id": tip_id,
        "topic": tip.topic if tip else None,
        "useful": useful,
        "reward": 1.0 if useful else 0.0,
        **log,
    }
