"""Numbers the model reads: the person's context, the tip's own features, and how they cross.

Every row describes one (context, tip) pair, so one interpreter call scores a whole batch of
candidate tips, and a tip added to the catalog is scored without retraining. The only things a
model knows by name are the topics and regions (kept in its card); one it never saw lands in the
`topic=other` or `region=other` column.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from recommender.picker import PickContext
from willay.catalog import ALL_YEAR, Audience, Catalog, Region, Tip, Zone
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


PLACEMENT_WIDTH = 8  # the cross features of who and where (audience, place, season)
NO_HISTORY = (0.0, 0.0, 0.0)


@dataclass
class _CatalogTable:
    """One catalog's tips as arrays, so encoding candidates is a few gathers.

    `tips` holds every tip's own features; `placement` the audience, place and season columns
    of every tip for one kind of person (region, audiences, month), built on first need.
    """

    catalog: Catalog
    row: dict[str, int]
    tips: np.ndarray
    topics: tuple[str, ...]
    topic_of: np.ndarray  # each tip's index in `topics`
    placement: dict[tuple[str | None, frozenset[Audience], int], np.ndarray] = field(
        default_factory=dict
    )

    def rows_of(self, tips: list[Tip]) -> np.ndarray | None:
        """The rows of `tips`; None unless every one is this catalog's own."""
        rows = [self.row.get(tip.id, -1) for tip in tips]
        known = self.catalog.tips
        if any(i < 0 or known[i] is not tip for i, tip in zip(rows, tips, strict=True)):
            return None
        return np.asarray(rows, dtype=np.intp)

    def topical(self, history: dict[str, tuple[float, float, float]]) -> np.ndarray:
        """The history columns of every tip, `[len(tips), 3]`."""
        if not history:
            return np.zeros((len(self.topic_of), len(NO_HISTORY)), dtype=np.float32)
        per_topic = [history.get(topic, NO_HISTORY) for topic in self.topics]
        columns: np.ndarray = np.asarray(per_topic, dtype=np.float32)[self.topic_of]
        return columns


class FeatureEncoder:
    """Builds the input rows of a spec; keeps the per-tip parts for the last catalog seen."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self._cache: _CatalogTable | None = None

    def _table(self, catalog: Catalog) -> _CatalogTable:
        table = self._cache
        if table is None or table.catalog is not catalog:
            topics = tuple(dict.fromkeys(tip.topic for tip in catalog.tips))
            table = self._cache = _CatalogTable(
                catalog=catalog,
                row={tip.id: i for i, tip in enumerate(catalog.tips)},
                tips=self._tip_matrix(list(catalog.tips)),
                topics=topics,
                topic_of=np.asarray([topics.index(t.topic) for t in catalog.tips], dtype=np.intp),
            )
        return table

    def _tip_matrix(self, tips: list[Tip]) -> np.ndarray:
        width = len(self.spec.tip_names)
        return np.asarray([self.tip_vector(t) for t in tips], dtype=np.float32).reshape(-1, width)

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

    def _placement(
        self, tips: list[Tip], *, region: Region | None, audiences: frozenset[Audience], month: int
    ) -> np.ndarray:
        """The audience, place and season columns of each tip, `[len(tips), PLACEMENT_WIDTH]`."""
        zone = region.zone if region else None
        specific = audiences - {Audience.general}
        rows = []
        for tip in tips:
            match = bool(tip.audiences & specific)
            placed = bool(tip.regions or tip.zones)
            here = region is not None and (region.id in tip.regions or region.zone in tip.zones)
            if self.spec.version >= 2:
                seasonal = _seasonal_in(tip, zone)
                in_season = tip.in_season(month, zone)
            else:
                seasonal = bool(tip.months)
                in_season = month in tip.months
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
                ]
            )
        return np.asarray(rows, dtype=np.float32).reshape(len(tips), PLACEMENT_WIDTH)

    @staticmethod
    def _history(context: PickContext, catalog: Catalog) -> dict[str, tuple[float, float, float]]:
        """Per topic the person rated or heard: liked and disliked (capped shares), and how
        recently a tip of it was heard; topics absent have none of the three."""
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
        return {
            topic: (
                min(liked.get(topic, 0), HISTORY_CAP) / HISTORY_CAP,
                min(disliked.get(topic, 0), HISTORY_CAP) / HISTORY_CAP,
                recent.get(topic, 0.0),
            )
            for topic in liked.keys() | disliked.keys() | recent.keys()
        }

    def cross_matrix(
        self, context: PickContext, *, tips: list[Tip], catalog: Catalog
    ) -> np.ndarray:
        """How each tip meets the person: audience, place, season, topics rated or heard."""
        placement = self._placement(
            tips,
            region=catalog.region(context.region),
            audiences=context.audiences,
            month=context.today.month,
        )
        history = self._history(context, catalog)
        topical = [history.get(tip.topic, NO_HISTORY) for tip in tips]
        return np.concatenate(
            [placement, np.asarray(topical, dtype=np.float32).reshape(len(tips), 3)], axis=1
        )

    def encode(self, context: PickContext, *, tips: list[Tip], catalog: Catalog) -> np.ndarray:
        """One row per tip: context, tip and cross features, float32 `[len(tips), size]`.

        The catalog's own tips are gathered from arrays kept per catalog (and per kind of
        person, for placement); any other tip is encoded on the spot, the same way.
        """
        table = self._table(catalog)
        rows = table.rows_of(tips)
        if rows is None:
            tip_part = self._tip_matrix(tips)
            cross = self.cross_matrix(context, tips=tips, catalog=catalog)
            context_part = np.broadcast_to(
                self.context_vector(context, catalog), (len(tips), len(self.spec.context_names))
            )
            return np.concatenate([context_part, tip_part, cross], axis=1)
        region = catalog.region(context.region)
        month = context.today.month
        key = (region.id if region else None, context.audiences, month)
        placement = table.placement.get(key)
        if placement is None:
            placement = table.placement[key] = self._placement(
                list(catalog.tips), region=region, audiences=context.audiences, month=month
            )
        out = np.empty((len(tips), self.spec.size), dtype=np.float32)
        tip_at = len(self.spec.context_names)
        cross_at = tip_at + len(self.spec.tip_names)
        history_at = cross_at + PLACEMENT_WIDTH
        out[:, :tip_at] = self.context_vector(context, catalog)
        out[:, tip_at:cross_at] = table.tips[rows]
        out[:, cross_at:history_at] = placement[rows]
        out[:, history_at:] = table.topical(self._history(context, catalog))[rows]
        return out
