"""Numbers the model reads: the person's context, the tip's own features, and how they cross.

Every row describes one (context, tip) pair, so one interpreter call scores a whole batch of
candidate tips, and a tip added to the catalog is scored without retraining. The only things a
model knows by name are the topics and regions (kept in its card); one it never saw lands in the
`topic=other` or `region=other` column.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from recommender.picker import PickContext
from willay.catalog import ALL_YEAR, Audience, Catalog, Tip, Zone
from willay.languages import LANGUAGES as SPOKEN

__all__ = ["FEATURES_VERSION", "FEATURES_VERSIONS", "FeatureEncoder", "FeatureSpec"]

FEATURES_VERSION = 2
# 1: seasons from `Tip.months` alone (models up to willay-recommender-v1), still built so a
# pin can roll back to them; 2: seasons per zone (`Tip.in_season(month, zone)`), as the
# candidate filter and the rule picker read them (dengue all year in the selva)
FEATURES_VERSIONS = (1, 2)
LANGUAGES = tuple(SPOKEN)  # the one list, in its order: the features' order
ZONES = tuple(Zone)
AGE_GROUPS = ("<18", "18-39", "40-59", "60+")
CHANNELS = ("ussd", "ivr", "sms")
PERSON_AUDIENCES = (Audience.pregnant, Audience.child_under5, Audience.older_adult)
TIP_AUDIENCES = tuple(Audience)
TEXT_LENGTH_SCALE = 160.0
HISTORY_CAP = 3
RECENT_TOPIC_DAYS = 14.0

CONTEXT_NAMES = (
    [f"lang={code}" for code in LANGUAGES]
    + [f"zone={zone}" for zone in ZONES]
    + ["zone=unknown"]
    + [f"month={m}" for m in range(1, 13)]
    + [f"age={group}" for group in AGE_GROUPS]
    + ["age=unknown"]
    + [f"person={a}" for a in PERSON_AUDIENCES]
    + [f"channel={c}" for c in CHANNELS]
    + ["history_rated", "history_useful_share", "position"]
)
CROSS_NAMES = (
    "audience_match",
    "audience_only_match",
    "audience_other",
    "place_match",
    "place_other",
    "place_unknown",
    "in_season",
    "out_of_season",
    "topic_liked",
    "topic_disliked",
    "topic_recent",
)


@dataclass(frozen=True)
class FeatureSpec:
    """The layout of a model's input row; saved in its card and checked when it loads."""

    topics: tuple[str, ...]
    regions: tuple[str, ...]
    version: int = FEATURES_VERSION

    @classmethod
    def for_catalog(cls, catalog: Catalog) -> FeatureSpec:
        """The layout that knows every topic and region of `catalog` by name."""
        return cls(
            topics=tuple(t.id for t in catalog.topics), regions=tuple(r.id for r in catalog.regions)
        )

    # the layout is fixed once the spec is: built on first use, not on every scored request
    @cached_property
    def context_names(self) -> tuple[str, ...]:
        return (*CONTEXT_NAMES, *(f"region={r}" for r in self.regions), "region=other")

    @cached_property
    def tip_names(self) -> tuple[str, ...]:
        return (
            *(f"topic={t}" for t in self.topics),
            "topic=other",
            *(f"tip_for={a}" for a in TIP_AUDIENCES),
            *(f"tip_zone={z}" for z in ZONES),
            "tip_has_regions",
            "tip_seasonal",
            "tip_length",
        )

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Every column's name, in order."""
        return (*self.context_names, *self.tip_names, *CROSS_NAMES)

    @cached_property
    def size(self) -> int:
        return len(self.names)

    def to_json(self) -> dict[str, object]:
        """What the model card keeps of the layout."""
        return {
            "version": self.version,
            "topics": list(self.topics),
            "regions": list(self.regions),
            "size": self.size,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> FeatureSpec:
        """The layout from a model card; `ValueError` if this code cannot build it."""
        version = data.get("version")
        if version not in FEATURES_VERSIONS:
            raise ValueError(f"features version {version}, this code builds {FEATURES_VERSIONS}")
        names = {}
        for key in ("topics", "regions"):
            found = data.get(key)
            if not isinstance(found, list) or not all(isinstance(t, str) for t in found):
                raise ValueError(f"features.{key} must be a list of ids")
            names[key] = tuple(found)
        spec = cls(**names, version=version)
        if data.get("size") != spec.size:
            raise ValueError(f"features.size {data.get('size')} but the layout has {spec.size}")
        return spec


def _seasonal_in(tip: Tip, zone: Zone | None) -> bool:
    """True when the tip has a season in `zone` (some months, not all year); any zone if unknown.

    Dengue, for instance, is seasonal on the coast (February to May) but not in the selva,
    where it is in season all year (`Tip.seasons`).
    """
    if zone is None:
        return tip.seasonal
    months = tip.seasons.get(zone, tip.months)
    return bool(months) and months != ALL_YEAR


def _one_hot(value: object, options: tuple[object, ...]) -> list[float]:
    return [1.0 if value == option else 0.0 for option in options]


class FeatureEncoder:
    """Builds the input rows of a spec; caches the per-tip part for the last catalog seen."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self._cache: tuple[Catalog, dict[str, np.ndarray]] | None = None

    def _tip_rows(self, catalog: Catalog) -> dict[str, np.ndarray]:
        if self._cache is None or self._cache[0] is not catalog:
            rows = {tip.id: self.tip_vector(tip) for tip in catalog.tips}
            self._cache = (catalog, rows)
        return self._cache[1]

    def tip_vector(self, tip: Tip) -> np.ndarray:
        """The tip's own features: topic, audiences, places, season, length."""
        topic = [1.0 if tip.topic == t else 0.0 for t in self.spec.topics]
        values = [
            *topic,
            0.0 if any(topic) else 1.0,
            *(1.0 if a in tip.audiences else 0.0 for a in TIP_AUDIENCES),
            *(1.0 if z in tip.zones else 0.0 for z in ZONES),
            1.0 if tip.regions else 0.0,
            1.0 if (tip.seasonal if self.spec.version >= 2 else tip.months) else 0.0,
            len(tip.text_for("es")[0]) / TEXT_LENGTH_SCALE,
        ]
        return np.asarray(values, dtype=np.float32)

    def context_vector(self, context: PickContext, catalog: Catalog) -> np.ndarray:
        """The person's and the moment's features, the same for every candidate.

        The position in the session is the number of tips already served in it (`exclude`),
        so serving and rows rebuilt from events read it from the same place.
        """
        region = catalog.region(context.region)
        zone = region.zone if region else None
        rated = len(context.rated)
        useful = sum(context.rated.values())
        values = [
            *_one_hot(context.language, LANGUAGES),
            *_one_hot(zone, ZONES),
            1.0 if zone is None else 0.0,
            *_one_hot(context.today.month, tuple(range(1, 13))),
            *_one_hot(context.age_group, AGE_GROUPS),
            0.0 if context.age_group in AGE_GROUPS else 1.0,
            *(1.0 if a in context.audiences else 0.0 for a in PERSON_AUDIENCES),
            *_one_hot(context.channel, CHANNELS),
            math.log1p(min(rated, 20)) / math.log1p(20),
            useful / rated if rated else 0.5,
            float(min(len(context.exclude), 3)),
            *_one_hot(context.region, self.spec.regions),
            0.0 if context.region in self.spec.regions else 1.0,
        ]
        return np.asarray(values, dtype=np.float32)

    def cross_matrix(self, context: PickContext, tips: list[Tip], catalog: Catalog) -> np.ndarray:
        """How each tip meets the person: audience, place, season, topics rated or heard."""
        region = catalog.region(context.region)
        zone = region.zone if region else None
        specific = context.audiences - {Audience.general}
        liked: dict[str, int] = {}
        disliked: dict[str, int] = {}
        for tip_id, useful in context.rated.items():
            rated_tip = catalog.by_id.get(tip_id)
            if rated_tip is not None:
                counts = liked if useful else disliked
                counts[rated_tip.topic] = counts.get(rated_tip.topic, 0) + 1
        now = dt.datetime.combine(context.today, dt.time(), tzinfo=dt.UTC)
        recent: dict[str, float] = {}
        for tip_id, at in context.heard.items():
            heard_tip = catalog.by_id.get(tip_id)
            if heard_tip is not None:
                days = max((now - at).total_seconds() / 86_400, 0.0)
                weight = math.exp(-days / RECENT_TOPIC_DAYS)
                recent[heard_tip.topic] = max(recent.get(heard_tip.topic, 0.0), weight)
        rows = []
        for tip in tips:
            match = bool(tip.audiences & specific)
            placed = bool(tip.regions or tip.zones)
            here = region is not None and (region.id in tip.regions or region.zone in tip.zones)
            if self.spec.version >= 2:
                seasonal = _seasonal_in(tip, zone)
                in_season = tip.in_season(context.today.month, zone)
            else:
                seasonal = bool(tip.months)
                in_season = context.today.month in tip.months
            rows.append(
                [
                    1.0 if match else 0.0,
                    1.0 if match and Audience.general not in tip.audiences else 0.0,
                    1.0 if not match and Audience.general not in tip.audiences else 0.0,
                    1.0 if here else 0.0,
                    1.0 if placed and region is not None and not here else 0.0,
                    1.0 if placed and region is None else 0.0,
                    1.0 if seasonal and in_season else 0.0,
                    1.0 if seasonal and not in_season else 0.0,
                    min(liked.get(tip.topic, 0), HISTORY_CAP) / HISTORY_CAP,
                    min(disliked.get(tip.topic, 0), HISTORY_CAP) / HISTORY_CAP,
                    recent.get(tip.topic, 0.0),
                ]
            )
        return np.asarray(rows, dtype=np.float32).reshape(len(tips), len(CROSS_NAMES))

    def encode(self, context: PickContext, tips: list[Tip], catalog: Catalog) -> np.ndarray:
        """One row per tip: context, tip and cross features, float32 `[len(tips), size]`."""
        cached = self._tip_rows(catalog)
        width = len(self.spec.tip_names)
        tip_part = np.empty((len(tips), width), dtype=np.float32)
        for i, tip in enumerate(tips):
            known = catalog.by_id.get(tip.id) is tip
            tip_part[i] = cached[tip.id] if known else self.tip_vector(tip)
        context_part = np.broadcast_to(
            self.context_vector(context, catalog),
            (len(tips), len(self.spec.context_names)),
        )
        return np.concatenate(
            [context_part, tip_part, self.cross_matrix(context, tips, catalog)], axis=1
        )
