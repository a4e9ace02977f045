"""The recommender dashboard's queries and its alert, on a real InfluxDB filled with the events
the serving path publishes (model picks with a holdout, answers from simulated callers)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from recommender import FixedModel, ModelPicker, feedback_data, load_model
from recommender.offline.simulator import CallerSimulator, LoggingPolicy
from telemetry import InfluxClient, event_to_line
from tests.telemetry.test_dashboards import (
    ONE_BUCKET,
    evaluate_rule,
    group,
    percentile,
    reduce_series,
)
from willay.events import Event, EventKind

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "recommender.json"
ALERTS = GRAFANA / "provisioning" / "alerting" / "recommender.yaml"


def served_events(catalog, model, *, callers: int, now: dt.datetime) -> list[Event]:
    """`tip_served` and `feedback` as the channels publish them, for simulated first tips."""
    picker = ModelPicker(FixedModel(model), holdout=0.3, rng=np.random.default_rng(3))
    sim = CallerSimulator(catalog, seed=21, purpose="heldout")
    log = sim.run(sim.callers(callers), LoggingPolicy(epsilon=0.3))
    events = []
    for number, item in enumerate(i for i in log.interactions if i.position == 0):
        picked = replace(picker.pick(item.context, catalog), context=item.context, consented=True)
        common = {
            "channel": item.context.channel,
            "subscriber": item.caller,
            "session": item.session,
            "lang": item.context.language,
        }
        at = now - dt.timedelta(seconds=number + 1)
        data = picked.served_data(language=item.context.language, region=item.context.region)
        events.append(Event(ts=at, kind=EventKind.tip_served, data=data, **common))
        odds = sim.useful_probabilities(
            log.callers[item.caller], tips=[picked.tip], context=item.context
        )[0]
        if number % 5:  # some never answer
            useful = bool(np.random.default_rng(number).random() < odds)
            answer = feedback_data(catalog, tip_id=picked.tip.id, useful=useful, log=picked.log)
            events.append(Event(ts=at, kind=EventKind.feedback, data=answer, **common))
    return events


@pytest.fixture(scope="module")
def filled(influx_url, content_catalog, shipped_model):
    influx = InfluxClient(influx_url, database=f"willay_test_{uuid.uuid4().hex[:10]}", timeout=5)
    influx.create_database()
    # noon UTC today, so every event falls in one day's bucket
    now = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0)
    events = served_events(content_catalog, load_model(shipped_model), callers=400, now=now)
    influx.write([event_to_line(e) for e in events])
    yield influx, events
    influx.drop_database()


def run(influx, query: str):
    window = "time >= now() - 30d and time <= now() + 1d"
    return influx.query(query.replace("$timeFilter", window).replace("$__interval", ONE_BUCKET))


def arm(name: str):
    return lambda e: e.data.get("arm") == name


def mean_of(key: str):
    return lambda es: float(np.mean([e.data[key] for e in es]))


def expectations(events: list[Event]) -> dict[tuple[int, str], dict]:
    feedback = [e for e in events if e.kind == EventKind.feedback]
    served = [e for e in events if e.kind == EventKind.tip_served]
    model_served = [e for e in served if e.data["arm"] == "model"]
    scores = {
        column: group(model_served, by=("model_version",), daily=True, value=fn, column=column)
        for column, fn in (
            ("p10", percentile("score", 10)),
            ("p50", lambda es: float(np.median([e.data["score"] for e in es]))),
            ("p90", percentile("score", 90)),
            ("mean", mean_of("score")),
        )
    }
    return {
        (1, "A"): group(
            feedback, where=arm("model"), by=("model_version",), daily=True, value=mean_of("reward")
        ),
        (1, "B"): group(feedback, where=arm("holdout"), daily=True, value=mean_of("reward")),
        (2, "A"): group(feedback, by=("model_version",), daily=True),
        (3, "A"): {k: v for part in scores.values() for k, v in part.items()},
        (4, "A"): group(
            served,
            by=("model_version",),
            daily=True,
            value=lambda es: min(e.data["propensity"] for e in es),
        ),
    }


def test_events_carry_version_score_arm_and_propensity(filled) -> None:
    _, events = filled
    served = [e.data for e in events if e.kind == EventKind.tip_served]
    arms = {d["arm"] for d in served}
    assert arms == {"model", "holdout"}
    holdout = [d for d in served if d["arm"] == "holdout"]
    assert 0.2 < len(holdout) / len(served) < 0.4
    assert {d["model_version"] for d in holdout} == {"rules-1"}
    assert all(0 < d["propensity"] <= 1 and 0 <= d["score"] <= 1 for d in served)


def panels():
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield pytest.param(panel, target, id=f"{panel['title']}:{target['refId']}")


@pytest.mark.parametrize(("panel", "target"), list(panels()))
def test_panel_query_returns_what_the_events_say(filled, panel, target) -> None:
    influx, events = filled
    got = reduce_series(run(influx, target["query"]), daily="time(1d)" in target["query"])
    want = expectations(events)[(panel["id"], target["refId"])]
    assert want, "the scenario gives this panel nothing to show"
    assert got == pytest.approx(want)


def test_alert_fires_only_when_the_model_falls_below_the_holdout(filled) -> None:
    influx, events = filled
    [rule] = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    feedback = [e for e in events if e.kind == EventKind.feedback]
    model = np.mean([e.data["reward"] for e in feedback if e.data["arm"] == "model"])
    holdout = np.mean([e.data["reward"] for e in feedback if e.data["arm"] == "holdout"])
    steps, firing = evaluate_rule(rule, influx)
    assert steps["C"] == pytest.approx(model) and steps["D"] == pytest.approx(holdout)
    assert firing is bool(model / holdout < 0.9)
    # a model that stops helping: a day of its picks all rated not useful
    worse = [
        Event(
            ts=e.ts + dt.timedelta(microseconds=1),
            kind=e.kind,
            channel=e.channel,
            subscriber=e.subscriber,
            session=e.session,
            data={
                **e.data,
                "useful": False,
                "reward": 0.0,
                "model_version": "willay-recommender-v9",
            },
        )
        for e in feedback
        if e.data["arm"] == "model"
    ]
    influx.write([event_to_line(e) for e in worse * 3])
    steps, firing = evaluate_rule(rule, influx)
    assert steps["E"] < 0.9 and firing
