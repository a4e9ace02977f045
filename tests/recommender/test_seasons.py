"""Seasons are per zone: the candidate filter and the rules honour a tip's own months per zone."""

import datetime as dt
import random

from recommender import PickContext, RuleBasedPicker
from recommender.candidates import candidates
from recommender.features import CROSS_NAMES, FeatureEncoder, FeatureSpec
from tests.fixtures.catalog import make_tip
from willay.catalog import Catalog, Region, Topic, Zone

NOVEMBER = dt.date(2026, 11, 20)
MARCH = dt.date(2026, 3, 10)
DENGUE = make_tip(
    id="dengue-1",
    topic="dengue",
    zones=frozenset({Zone.costa, Zone.selva}),
    months={2, 3, 4, 5},
    seasons={"selva": "all"},
)
CATALOG = Catalog(
    topics=(Topic(id="dengue", name={"es": "Dengue"}), Topic(id="manos", name={"es": "Manos"})),
    regions=(
        Region(id="piura", name="Piura", zone=Zone.costa),
        Region(id="loreto", name="Loreto", zone=Zone.selva),
    ),
    tips=(DENGUE, make_tip(id="manos-1", topic="manos")),
)


def ids(today: dt.date, **fields: object) -> set[str]:
    context = PickContext(today=today, channel="ussd", **fields)
    return {t.id for t in candidates(context, CATALOG, repeat_days=30)}


def test_dengue_is_a_candidate_all_year_in_the_selva() -> None:
    assert ids(NOVEMBER, region="loreto") == {"dengue-1", "manos-1"}


def test_dengue_on_the_coast_only_in_its_peak() -> None:
    assert ids(NOVEMBER, region="piura") == {"manos-1"}
    assert ids(MARCH, region="piura") == {"dengue-1", "manos-1"}


def test_unknown_zone_takes_any_zone_in_season_and_browsing_ignores_seasons() -> None:
    assert "dengue-1" in ids(NOVEMBER)
    assert ids(NOVEMBER, region="piura", topic="dengue") == {"dengue-1"}


def test_the_rules_picker_honours_the_zone_season() -> None:
    rules = RuleBasedPicker(repeat_days=30, rng=random.Random(3))
    selva = PickContext(today=NOVEMBER, channel="ussd", region="loreto")
    assert rules.pick(selva, CATALOG).tip.id == "dengue-1"  # place and season beat a general tip
    coast = PickContext(today=NOVEMBER, channel="ussd", region="piura")
    assert rules.pick(coast, CATALOG).tip.id == "manos-1"


def test_the_model_reads_the_zone_season_like_the_candidates() -> None:
    """Features version 2 read `in_season(month, zone)`; version 1 (v1's) read `months`."""
    spec = FeatureSpec.for_catalog(CATALOG)
    season = CROSS_NAMES.index("in_season"), CROSS_NAMES.index("out_of_season")

    def crosses(spec: FeatureSpec, region: str | None) -> tuple[float, float]:
        context = PickContext(today=NOVEMBER, channel="ussd", region=region)
        row = FeatureEncoder(spec).cross_matrix(context, tips=[DENGUE], catalog=CATALOG)[0]
        return float(row[season[0]]), float(row[season[1]])

    assert spec.version == 2
    assert crosses(spec, "loreto") == (0.0, 0.0), "all year in the selva: not seasonal there"
    assert crosses(spec, "piura") == (0.0, 1.0), "out of the coast's peak"
    v1 = FeatureSpec.from_json({**spec.to_json(), "version": 1})
    assert crosses(v1, "loreto") == (0.0, 1.0), "version 1 read the coast's months everywhere"


def test_the_tips_own_seasonal_flag_follows_the_features_version() -> None:
    """Version 2 counts a season of one zone alone (`Tip.seasonal`); version 1 read `months`."""
    frost = make_tip(id="heladas-1", topic="heladas", seasons={"sierra": {6, 7, 8}})
    spec = FeatureSpec.for_catalog(CATALOG)
    column = spec.tip_names.index("tip_seasonal")
    v1 = FeatureSpec.from_json({**spec.to_json(), "version": 1})
    assert FeatureEncoder(spec).tip_vector(frost)[column] == 1.0
    assert FeatureEncoder(v1).tip_vector(frost)[column] == 0.0
    for layout in (spec, v1):
        assert FeatureEncoder(layout).tip_vector(DENGUE)[column] == 1.0
        assert FeatureEncoder(layout).tip_vector(CATALOG.by_id["manos-1"])[column] == 0.0
