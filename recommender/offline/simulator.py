"""Simulated Peruvian callers whose hidden preferences depend on where, when and who they are.

The preferences follow the facts in the design reference and the catalog: dengue matters on the
coast from February to May, in the Amazon all year, and hardly in the high Andes; frost
(heladas) from May to August above 3,500 m (Puno, Cusco, Huancavelica, ...), the friaje in the
Amazon in the same months; UV in the sierra in the rainy summer; TB in Lima and Callao; child
anemia highest in Puno, Loreto, Ucayali, Apurimac and Huancavelica; diarrhoea highest in the
selva and in the warm season; vaccination lowest in the selva. A tip for an audience the person
is not in is rarely useful.
On top: a taste per person and topic, a habit of saying "useful" more or less readily, topics
liked or disliked before, habituation to a topic heard recently, fatigue later in a session,
answers that are often missing (more so for later tips: position bias) and sometimes mistyped.

The model never sees these rules, only the answers they produce; some of what drives them
(the home region of a caller who gave none, a chronic illness) is never in a profile.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import numpy as np

from recommender.candidates import candidates
from recommender.offline.interactions import Interaction
from recommender.offline.progress import SILENT, Steps
from recommender.picker import PickContext, PickedTip
from recommender.rules import RuleBasedPicker
from willay.catalog import Audience, Catalog, Tip, Zone
from willay.events import Event, EventKind

__all__ = [
    "WORLDS",
    "CallerSimulator",
    "HabitsSimulator",
    "LoggingPolicy",
    "Policy",
    "SimulatedCaller",
    "SimulatedLog",
    "log_events",
    "TipDistribution",
    "training_log",
]

# rough population in millions; callers are drawn by its square root (the service aims at
# the regions, not only at Lima)
POPULATION = {
    "lima": 10.0, "piura": 2.1, "la_libertad": 2.0, "arequipa": 1.5, "cajamarca": 1.4,
    "junin": 1.4, "cusco": 1.4, "lambayeque": 1.3, "puno": 1.2, "ancash": 1.2, "callao": 1.1,
    "loreto": 1.0, "ica": 1.0, "san_martin": 0.9, "huanuco": 0.8, "ayacucho": 0.7,
    "ucayali": 0.6, "apurimac": 0.4, "amazonas": 0.4, "huancavelica": 0.4, "tacna": 0.4,
    "pasco": 0.3, "tumbes": 0.3, "moquegua": 0.2, "madre_de_dios": 0.2,
}  # fmt: skip
DENGUE_REGIONS = frozenset(
    {"tumbes", "piura", "lambayeque", "la_libertad", "lima", "callao", "ica", "loreto",
     "ucayali", "san_martin", "amazonas", "madre_de_dios"}
)  # fmt: skip
FROST_REGIONS = frozenset(
    {"puno", "cusco", "huancavelica", "ayacucho", "junin", "pasco", "arequipa", "moquegua"}
)
ANEMIA_REGIONS = frozenset({"puno", "loreto", "ucayali", "apurimac", "huancavelica"})
TB_REGIONS = frozenset({"lima", "callao"})
CHANKA_REGIONS = frozenset({"ayacucho", "apurimac", "huancavelica"})
COLLAO_REGIONS = frozenset({"cusco", "puno"})
DENGUE_SEASON = frozenset({2, 3, 4, 5})
COLD_SEASON = frozenset({5, 6, 7, 8})
WARM_SEASON = frozenset({12, 1, 2, 3})
TOPIC_BASE = {
    "manos": -0.4, "agua": -0.4, "mente": -0.6, "tbc": -0.7, "vacunas": -0.8, "anemia": -0.8,
    "cronicas": -0.9, "sol": -0.9, "embarazo": -0.9, "heladas": -1.3, "dengue": -1.3,
}  # fmt: skip
UNKNOWN_TOPIC_BASE = -0.8
AGE_GROUPS = ("<18", "18-39", "40-59", "60+")
AGE_SHARES = (0.08, 0.45, 0.30, 0.17)
CHANNEL_SHARES = {"ussd": 0.75, "ivr": 0.15, "sms": 0.10}
ANSWER_RATE = 0.8  # share of first tips that get an answer
ANSWER_DECAY = 0.65  # each later tip in a session is answered this much less often
MISTYPE_RATE = 0.05  # answers that come out the other way
FATIGUE = 0.3  # logit lost per tip already served in the session
ANOTHER_TIP = 0.35  # chance of asking for one more tip
MAX_TIPS = 4
RAINY_TOPICS = frozenset({"agua", "manos"})  # the second world's hidden rainy-season term
RAINY_BONUS, RAINY_PENALTY = 2.0, 0.8
TRAINING_EPSILON = 0.3  # exploration of the policy that logged the training data


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@dataclass(frozen=True)
class SimulatedCaller:
    """A person: what their profile says and what only the simulator knows."""

    id: str
    home: str
    zone: Zone
    region: str | None  # as given in the profile; None if never given
    language: str
    age: str
    age_given: bool
    pregnant: bool
    child_under5: bool
    audiences_given: bool
    chronic: bool
    channel: str
    eagerness: float
    taste: dict[str, float] = field(default_factory=dict)

    @property
    def true_audiences(self) -> frozenset[Audience]:
        found = {Audience.general}
        if self.pregnant:
            found.add(Audience.pregnant)
        if self.child_under5:
            found.add(Audience.child_under5)
        if self.age == "60+":
            found.add(Audience.older_adult)
        if self.chronic:
            found.add(Audience.chronic)
        return frozenset(found)

    @property
    def profile_audiences(self) -> frozenset[Audience]:
        """The audiences a picker can know: from the answers the person gave."""
        found = {Audience.general}
        if self.audiences_given and self.pregnant:
            found.add(Audience.pregnant)
        if self.audiences_given and self.child_under5:
            found.add(Audience.child_under5)
        if self.age_given and self.age == "60+":
            found.add(Audience.older_adult)
        return frozenset(found)


TipDistribution = list[tuple[Tip, float]]
# topics the person rated useful, rated not useful (counts), and heard in the last 14 days
History = tuple[dict[str, int], dict[str, int], set[str]]


class Policy(Protocol):
    """Anything that can say how likely it is to serve each tip."""

    def distribution(self, context: PickContext, catalog: Catalog) -> TipDistribution: ...


class LoggingPolicy:
    """The policy behind simulated logs: the rule-based picker, exploring with `epsilon`.

    With probability `epsilon` any candidate a model could serve (uniformly), otherwise one of
    the rule-based picker's best; each tip's probability is known exactly, for IPS.
    """

    def __init__(self, *, epsilon: float, repeat_days: int = 30) -> None:
        self.epsilon = epsilon
        self._rules = RuleBasedPicker(repeat_days=repeat_days)
        self._repeat_days = repeat_days

    def distribution(self, context: PickContext, catalog: Catalog) -> TipDistribution:
        """Each tip that may be served with its probability (they sum to 1)."""
        return self.mixture(context, catalog=catalog, epsilon=self.epsilon)

    def mixture(self, context: PickContext, *, catalog: Catalog, epsilon: float) -> TipDistribution:
        """The distribution of this policy had it explored with `epsilon` instead."""
        allowed = candidates(context, catalog, repeat_days=self._repeat_days)
        top, _ = self._rules.best(context, catalog)
        if not top:
            return [(t, 1 / len(allowed)) for t in allowed]
        if not allowed:
            return [(t, 1 / len(top)) for t in top]
        probability: dict[str, float] = {}
        tips = {t.id: t for t in (*allowed, *top)}
        for tip in allowed:
            probability[tip.id] = epsilon / len(allowed)
        for tip in top:
            probability[tip.id] = probability.get(tip.id, 0.0) + (1 - epsilon) / len(top)
        return [(tips[tip_id], p) for tip_id, p in probability.items() if p > 0]


@dataclass
class SimulatedLog:
    """What a policy served simulated callers, with their answers and hidden odds."""

    interactions: list[Interaction]
    callers: dict[str, SimulatedCaller]


class CallerSimulator:
    """Draws callers and their answers; the same seed and purpose give the same people."""

    PURPOSES = ("train", "heldout", "logged")

    def __init__(self, catalog: Catalog, *, seed: int, purpose: str = "train") -> None:
        self.catalog = catalog
        self._rng = np.random.default_rng([seed, self.PURPOSES.index(purpose)])
        self._purpose = purpose
        self._zones = {r.id: r.zone for r in catalog.regions}
        regions = [r for r in sorted(self._zones) if r in POPULATION] or sorted(self._zones)
        weights = np.sqrt([POPULATION.get(r, 0.5) for r in regions])
        self._regions = regions
        self._region_p = weights / weights.sum()
        self._topics = sorted({t.topic for t in catalog.tips})

    def _language(self, home: str) -> str:
        zone = self._zones[home]
        if home in COLLAO_REGIONS:
            options = {"es": 0.6, "quz": 0.3, "quy": 0.1}
        elif home in CHANKA_REGIONS:
            options = {"es": 0.55, "quy": 0.4, "quz": 0.05}
        elif zone is Zone.sierra:
            options = {"es": 0.8, "quy": 0.15, "quz": 0.05}
        else:
            options = {"es": 0.96, "quy": 0.04}
        return str(self._rng.choice(list(options), p=list(options.values())))

    def caller(self, number: int) -> SimulatedCaller:
        """One person, drawn from the population."""
        rng = self._rng
        home = str(rng.choice(self._regions, p=self._region_p))
        age = str(rng.choice(AGE_GROUPS, p=AGE_SHARES))
        woman = rng.random() < 0.6
        pregnant_odds = {"<18": 0.05, "18-39": 0.22, "40-59": 0.02, "60+": 0.0}[age]
        child_odds = {"<18": 0.05, "18-39": 0.45, "40-59": 0.15, "60+": 0.1}[age]
        chronic_odds = {"<18": 0.02, "18-39": 0.06, "40-59": 0.25, "60+": 0.45}[age]
        return SimulatedCaller(
            id=f"sim-{self._purpose}-{number}",
            home=home,
            zone=self._zones[home],
            region=home if rng.random() < 0.85 else None,
            language=self._language(home),
            age=age,
            age_given=bool(rng.random() < 0.7),
            pregnant=bool(woman and rng.random() < pregnant_odds),
            child_under5=bool(rng.random() < child_odds),
            audiences_given=bool(rng.random() < 0.7),
            chronic=bool(rng.random() < chronic_odds),
            channel=str(rng.choice(list(CHANNEL_SHARES), p=list(CHANNEL_SHARES.values()))),
            eagerness=float(rng.normal(-0.2, 0.6)),
            taste={t: float(rng.normal(0, 0.35)) for t in self._topics},
        )

    def callers(self, count: int) -> list[SimulatedCaller]:
        """`count` people."""
        return [self.caller(i) for i in range(count)]

    @staticmethod
    def affinity(caller: SimulatedCaller, tip: Tip, *, month: int) -> float:
        """How much the person cares about the tip this month (a logit), before history."""
        home, zone, topic = caller.home, caller.zone, tip.topic
        u = TOPIC_BASE.get(topic, UNKNOWN_TOPIC_BASE) + caller.taste.get(topic, 0.0)
        if tip.audiences & (caller.true_audiences - {Audience.general}):
            # a tip written for the person's situation matters more than a broad one
            u += 0.8 if Audience.general in tip.audiences else 1.6
        elif Audience.general not in tip.audiences:
            u -= 2.0
        if tip.zones or tip.regions:
            u += 0.4 if home in tip.regions or zone in tip.zones else -1.2
        if topic == "dengue":
            if home in DENGUE_REGIONS:
                # all year in the selva (active transmission in November too), the coast's peak
                u += 2.0 if month in DENGUE_SEASON or zone is Zone.selva else 0.3
            elif zone is Zone.sierra:
                u -= 1.0
        elif topic == "heladas":
            if home in FROST_REGIONS:
                u += 2.2 if month in COLD_SEASON else 1.2 if month == 4 else -0.6
                u += 0.3 if caller.pregnant or caller.child_under5 else 0.0
            elif zone is not Zone.costa:
                u += 1.4 if month in COLD_SEASON else -0.6
            else:
                u -= 1.0
        elif topic == "sol":
            if zone is Zone.sierra:
                u += 1.2 if month in WARM_SEASON else 0.3
            elif month in WARM_SEASON:
                u += 0.5
        elif topic == "tbc":
            u += 1.0 if home in TB_REGIONS else 0.0
        elif topic == "anemia":
            u += 0.8 if home in ANEMIA_REGIONS else 0.0
        elif topic == "agua":
            u += (0.8 if zone is Zone.selva else 0.0) + (0.4 if month in WARM_SEASON else 0.0)
        elif topic == "embarazo":
            u += 0.4 if caller.pregnant and zone is Zone.sierra else 0.0
        elif topic == "vacunas":
            u += 0.6 if caller.child_under5 and zone is Zone.selva else 0.0
        elif topic == "cronicas":
            u += 0.6 if caller.age in ("40-59", "60+") else 0.0
        return u

    def _history(self, context: PickContext) -> History:
        """Topics the person rated useful or not (counts) and topics heard in the last 14 days."""
        liked: dict[str, int] = {}
        disliked: dict[str, int] = {}
        for tip_id, useful in context.rated.items():
            topic = _topic(self.catalog.by_id, tip_id)
            if topic is not None:
                counts = liked if useful else disliked
                counts[topic] = counts.get(topic, 0) + 1
        since = dt.datetime.combine(context.today, dt.time(), tzinfo=dt.UTC) - dt.timedelta(14)
        recent = {
            topic
            for tip_id, at in context.heard.items()
            if at > since and (topic := _topic(self.catalog.by_id, tip_id)) is not None
        }
        return liked, disliked, recent

    def useful_probabilities(
        self, caller: SimulatedCaller, *, tips: list[Tip], context: PickContext, position: int = 0
    ) -> np.ndarray:
        """The chance the person finds each tip useful, given what they heard and rated."""
        history = self._history(context)
        return np.asarray(
            [
                _sigmoid(
                    self.logit(caller, tip=tip, context=context, history=history, position=position)
                )
                for tip in tips
            ]
        )

    def logit(
        self,
        caller: SimulatedCaller,
        *,
        tip: Tip,
        context: PickContext,
        history: History,
        position: int,
    ) -> float:
        """The log-odds of "useful": affinity, eagerness, fatigue, topics rated and heard."""
        liked, disliked, recent = history
        u = (
            self.affinity(caller, tip, month=context.today.month)
            + caller.eagerness
            - FATIGUE * position
        )
        u += 0.3 * min(liked.get(tip.topic, 0), 2) - 0.6 * min(disliked.get(tip.topic, 0), 2)
        return u - (0.4 if tip.topic in recent else 0.0)

    def useful_answer_probabilities(
        self, caller: SimulatedCaller, *, tips: list[Tip], context: PickContext
    ) -> np.ndarray:
        """The chance each tip, served first, gets a "useful" answer (answer rate, mistypes)."""
        odds = self.useful_probabilities(caller, tips=tips, context=context)
        return ANSWER_RATE * (odds * (1 - MISTYPE_RATE) + (1 - odds) * MISTYPE_RATE)

    def context_for(
        self,
        caller: SimulatedCaller,
        today: dt.date,
        *,
        heard: dict[str, dt.datetime],
        rated: dict[str, bool],
        exclude: frozenset[str] = frozenset(),
    ) -> PickContext:
        """What a picker knows of the person on `today`."""
        return PickContext(
            today=today,
            channel=caller.channel,
            language=caller.language,
            region=caller.region,
            audiences=caller.profile_audiences,
            heard=dict(heard),
            exclude=exclude,
            age_group=caller.age if caller.age_given else None,
            rated=dict(rated),
        )

    def _days(self, year: int) -> list[dt.date]:
        count = 1 + int(self._rng.poisson(2.5))
        offsets = sorted(int(d) for d in self._rng.integers(0, 365, size=count))
        return [dt.date(year, 1, 1) + dt.timedelta(days=d) for d in offsets]

    def run(
        self,
        callers: list[SimulatedCaller],
        policy: Policy,
        *,
        year: int = 2026,
        progress: Callable[[int], None] | None = None,
    ) -> SimulatedLog:
        """Each caller dials a few times in `year`; `policy` serves; their answers are logged."""
        rng = self._rng
        log: list[Interaction] = []
        for caller in callers:
            heard: dict[str, dt.datetime] = {}
            rated: dict[str, bool] = {}
            for day_number, today in enumerate(self._days(year)):
                session = f"{caller.id}-s{day_number}"
                served: list[str] = []
                tips = 1 if caller.channel == "sms" else MAX_TIPS
                for position in range(tips):
                    if position and rng.random() >= ANOTHER_TIP:
                        break
                    context = self.context_for(
                        caller, today, heard=heard, rated=rated, exclude=frozenset(served)
                    )
                    choices = policy.distribution(context, self.catalog)
                    if not choices:
                        break
                    index = int(rng.choice(len(choices), p=_normalised(choices)))
                    tip, propensity = choices[index]
                    useful = self._answer(caller, tip=tip, context=context, position=position)
                    log.append(
                        Interaction(
                            context=context,
                            tip_id=tip.id,
                            useful=useful,
                            caller=caller.id,
                            session=session,
                            position=position,
                            propensity=propensity,
                        )
                    )
                    served.append(tip.id)
                    at = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
                    heard[tip.id] = at
                    if useful is not None:
                        rated[tip.id] = useful
            if progress is not None:
                progress(1)
        return SimulatedLog(interactions=log, callers={c.id: c for c in callers})

    def _answer(
        self, caller: SimulatedCaller, *, tip: Tip, context: PickContext, position: int
    ) -> bool | None:
        """The person's answer, or None when they hang up without one."""
        if self._rng.random() >= ANSWER_RATE * ANSWER_DECAY**position:
            return None
        odds = self.useful_probabilities(caller, tips=[tip], context=context, position=position)[0]
        useful = bool(self._rng.random() < odds)
        return useful if self._rng.random() >= MISTYPE_RATE else not useful

    def labels(
        self, caller: SimulatedCaller, *, tips: list[Tip], context: PickContext
    ) -> np.ndarray:
        """What the person would answer about each tip if it came first (for ranking metrics)."""
        odds = self.useful_probabilities(caller, tips=tips, context=context)
        return (self._rng.random(len(tips)) < odds).astype(np.float32)


class HabitsSimulator(CallerSimulator):
    """A second world, so evaluation does not only measure how well a model recovers the
    first world's hand-written logit (which the cross features copy).

    The same people, but what they find useful follows other terms and coefficients, most of
    them interactions no single feature or cross expresses: language by topic (Quechua
    speakers value frost, anemia and pregnancy tips more, mental health less), channel by
    tip length (a long tip tires a caller and overflows an SMS), age by topic, taste scaled by
    eagerness, a quality of each tip of its own, seasons of its own (frost in July only; dengue
    all year in the Amazon, which the corrected catalog now says too, so that term is no longer
    hidden from the features), the rainy season (`_rainy_season`: water and hand-washing tips
    in the sierra and the selva from December to March, a product of month, zone and topic that
    no feature or cross holds), place mattering less, and a dislike that grows with each tip of
    a topic heard in the same session. Only the broad facts stay: a tip for another audience is
    rarely useful.
    """

    def logit(
        self,
        caller: SimulatedCaller,
        *,
        tip: Tip,
        context: PickContext,
        history: History,
        position: int,
    ) -> float:
        liked, disliked, recent = history
        topic, month, zone = tip.topic, context.today.month, caller.zone
        u = 0.5 * TOPIC_BASE.get(topic, UNKNOWN_TOPIC_BASE) - 0.3
        u += caller.taste.get(topic, 0.0) * (1.0 + caller.eagerness)
        u += 0.5 * caller.eagerness + _tip_quality(tip)
        if tip.audiences & (caller.true_audiences - {Audience.general}):
            u += 1.1 if zone is not Zone.costa else 0.5
        elif Audience.general not in tip.audiences:
            u -= 2.0
        if tip.zones or tip.regions:
            u += 0.2 if caller.home in tip.regions or zone in tip.zones else -0.5
        quechua = caller.language != "es"
        u += {"heladas": 1.0, "anemia": 0.9, "embarazo": 0.7, "mente": -0.8}.get(topic, 0.0) * (
            1.0 if quechua else 0.0
        )
        length = len(tip.text_for("es")[0]) / 160.0
        u -= {"ivr": 1.6, "sms": 1.2, "ussd": 0.2}[caller.channel] * max(length - 0.8, 0.0)
        u += {
            ("<18", "mente"): 1.2, ("<18", "cronicas"): -1.0, ("60+", "cronicas"): 1.4,
            ("60+", "sol"): -0.7, ("18-39", "vacunas"): 0.6, ("40-59", "tbc"): 0.5,
        }.get((caller.age, topic), 0.0)  # fmt: skip
        if topic == "dengue":
            u += (
                1.5
                if zone is Zone.selva
                else 0.8
                if month in {2, 3, 4} and zone is Zone.costa
                else -0.8
            )
        elif topic == "heladas":
            u += 1.6 if month == 7 and zone is Zone.sierra else -0.4
        elif topic == "agua":
            u += 0.6 if caller.channel == "ivr" else 0.0
        u += _rainy_season(topic, month=month, zone=zone)
        same_session = sum(_topic(self.catalog.by_id, t) == topic for t in context.exclude)
        u -= 0.8 * same_session + FATIGUE * 0.5 * position
        u += 0.5 * min(liked.get(topic, 0), 1) - 0.3 * min(disliked.get(topic, 0), 3)
        return u - (0.7 if topic in recent and caller.age in ("40-59", "60+") else 0.1)


WORLDS: dict[str, type[CallerSimulator]] = {"regions": CallerSimulator, "habits": HabitsSimulator}


def _rainy_season(topic: str, *, month: int, zone: Zone) -> float:
    """The second world's hidden term: in the Andes' and the Amazon's rainy months water and
    hand-washing tips matter far more (floods, turbid water, diarrhoea), in the dry months less.

    A product of the month, the zone and the topic: no tip of these topics has a season or a
    zone in the catalog, so no cross feature (in season, place match) moves with it, and a
    model linear in the features ranks a request's candidates as if it were not there.
    """
    if topic not in RAINY_TOPICS or zone is Zone.costa:
        return 0.0
    return RAINY_BONUS if month in WARM_SEASON else -RAINY_PENALTY


def _tip_quality(tip: Tip) -> float:
    """A tip's own appeal in the second world: fixed per tip id, sd 0.5."""
    rng = np.random.default_rng(zlib.crc32(tip.id.encode()))
    return float(rng.normal(0.0, 0.5))


def _topic(by_id: dict[str, Tip], tip_id: str) -> str | None:
    tip = by_id.get(tip_id)
    return tip.topic if tip else None


def _normalised(choices: TipDistribution) -> np.ndarray:
    p = np.array([prob for _, prob in choices], dtype=np.float64)
    normalised: np.ndarray = p / p.sum()
    return normalised


def training_log(
    catalog: Catalog,
    *,
    seed: int,
    callers: int,
    epsilon: float = TRAINING_EPSILON,
    world: str = "regions",
    steps: Steps = SILENT,
) -> tuple[list[Interaction], dict[str, object]]:
    """Simulated interactions to train on, and how they were made (for the model card)."""
    sim = WORLDS[world](catalog, seed=seed, purpose="train")
    steps.stage(f"simulating {callers} callers", total=callers)
    log = sim.run(sim.callers(callers), LoggingPolicy(epsilon=epsilon), progress=steps.advance)
    return log.interactions, {
        "source": f"simulated callers, world {world} (recommender/offline/simulator.py)",
        "seed": seed,
        "callers": callers,
        "logging_policy": f"rule-based picker, uniform exploration with epsilon {epsilon:g}",
        "interactions": len(log.interactions),
    }


def log_events(interactions: list[Interaction], catalog: Catalog) -> list[Event]:
    """The `tip_served` and `feedback` events the channels would have published for a log
    (everyone consented), as `willay train --events` reads them."""
    events = []
    for number, item in enumerate(interactions):
        # noon, as the simulator marks tips heard, plus a microsecond of its own for every
        # event (InfluxDB keeps one point per series and time; the order stays the log's)
        served = dt.datetime.combine(item.context.today, dt.time(12), tzinfo=dt.UTC)
        served += dt.timedelta(microseconds=2 * number)
        event = partial(
            Event,
            channel=item.context.channel,
            subscriber=item.caller,
            session=item.session,
            lang=item.context.language,
        )
        picked = PickedTip(
            tip=catalog.by_id[item.tip_id],
            score=0.5,
            propensity=item.propensity,
            model_version="rules-1",
            context=item.context,
            consented=True,
        )
        data = picked.served_data(language=item.context.language, region=item.context.region)
        events.append(event(ts=served, kind=EventKind.tip_served, data=data))
        if item.useful is not None:
            events.append(
                event(
                    ts=served + dt.timedelta(microseconds=1),
                    kind=EventKind.feedback,
                    data={"tip_id": item.tip_id, "useful": item.useful},
                )
            )
    return events
