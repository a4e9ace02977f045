import datetime as dt
import random

from recommender import PickContext, RuleBasedPicker
from tests.fixtures.catalog import make_tip
from willay.catalog import Audience, Catalog, Region, Topic, Zone
from willay.profiles import Subscriber

JUNE = dt.date(2026, 6, 15)
FEBRUARY = dt.date(2026, 2, 15)


def catalog_of(*tips) -> Catalog:
    topics = tuple(Topic(id=t, name={"es": t}) for t in sorted({tip.topic for tip in tips}))
    regions = (
        Region(id="puno", name="Puno", zone=Zone.sierra),
        Region(id="loreto", name="Loreto", zone=Zone.selva),
    )
    return Catalog(topics=topics, regions=regions, tips=tuple(tips))


CATALOG = catalog_of(
    make_tip(id="general-1", topic="manos"),
    make_tip(id="helada-1", topic="heladas", zones=frozenset({Zone.sierra}), months={5, 6, 7, 8}),
    make_tip(id="dengue-1", topic="dengue", zones=frozenset({Zone.selva}), months={2, 3, 4, 5}),
    make_tip(id="embarazo-1", topic="embarazo", audiences=frozenset({Audience.pregnant})),
    make_tip(id="viejo-1", topic="manos", expires_on=dt.date(2026, 3, 1)),
)


def context(today=JUNE, **fields) -> PickContext:
    return PickContext(today=today, channel="ussd", **fields)


def picker() -> RuleBasedPicker:
    return RuleBasedPicker(repeat_days=30, rng=random.Random(7))


def test_region_and_season_win() -> None:
    picked = picker().pick(context(region="puno"), CATALOG)
    assert picked is not None and picked.tip.id == "helada-1"
    assert picked.propensity == 1.0 and picked.model_version == "rules-1"
    selva = picker().pick(context(today=FEBRUARY, region="loreto"), CATALOG)
    assert selva is not None and selva.tip.id == "dengue-1"


def test_out_of_place_and_season_tips_are_not_pushed() -> None:
    ids = {picker().pick(context(region="loreto"), CATALOG).tip.id for _ in range(20)}
    assert ids == {"general-1"}


def test_audience_only_tips_go_to_their_audience() -> None:
    pregnant = context(audiences=frozenset({Audience.general, Audience.pregnant}))
    assert picker().pick(pregnant, CATALOG).tip.id == "embarazo-1"
    assert picker().pick(context(), CATALOG).tip.id == "general-1"


def test_expired_tips_are_never_served() -> None:
    late = context(today=dt.date(2026, 4, 1))
    assert all(picker().pick(late, CATALOG).tip.id != "viejo-1" for _ in range(20))


def test_no_repeat_within_the_window_until_exhausted() -> None:
    now = dt.datetime(2026, 6, 10, tzinfo=dt.UTC)
    heard = {"general-1": now}
    assert picker().pick(context(heard=heard), CATALOG) is not None
    assert picker().pick(context(heard=heard), CATALOG).tip.id == "general-1", (
        "the only fitting tip is served again once the catalog is exhausted"
    )
    puno = context(region="puno", heard={"helada-1": now})
    assert picker().pick(puno, CATALOG).tip.id == "general-1"
    long_ago = context(region="puno", heard={"helada-1": now - dt.timedelta(days=40)})
    assert picker().pick(long_ago, CATALOG).tip.id == "helada-1"


def test_ties_are_uniform_with_logged_propensity() -> None:
    tips = [make_tip(id=f"manos-{i}", topic="manos") for i in range(4)]
    assert picker().pick(context(), catalog_of(*tips)).propensity == 0.25
    rng_picker = RuleBasedPicker(rng=random.Random(1))
    seen = {rng_picker.pick(context(), catalog_of(*tips)).tip.id for _ in range(200)}
    assert seen == {t.id for t in tips}


def test_topic_browsing_relaxes_place_and_season() -> None:
    picked = picker().pick(context(region="puno", topic="dengue"), CATALOG)
    assert picked is not None and picked.tip.id == "dengue-1"


def test_context_from_subscriber() -> None:
    subscriber = Subscriber(
        id="x",
        language="quy",
        consent_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        region="puno",
        pregnant=True,
        age_group="60+",
    )
    ctx = PickContext.for_subscriber(
        subscriber, today=JUNE, channel="ussd", language="quy", exclude=["a"]
    )
    assert ctx.region == "puno" and ctx.exclude == frozenset({"a"})
    assert ctx.audiences == {Audience.general, Audience.pregnant, Audience.older_adult}
