"""No training-serving skew: a row rebuilt from events is the row the model scored."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

import numpy as np
from fastapi.testclient import TestClient

from recommender import ExplorationPolicy, FixedModel, ModelPicker, load_model
from recommender.features import FeatureEncoder
from recommender.offline.interactions import interactions_from_events
from recommender.offline.simulator import CallerSimulator, LoggingPolicy, log_events
from shell.app import create_app
from tests.fixtures.ussd import FixedClock, Phone
from willay.events import Event


def row_of(encoder: FeatureEncoder, item, catalog) -> np.ndarray:
    """The row of an interaction's served tip in its context."""
    return encoder.encode(item.context, tips=[catalog.by_id[item.tip_id]], catalog=catalog)[0]


class RecordingModel:
    """The shipped model, keeping every row it scores by (tip, tips served before it)."""

    def __init__(self, model) -> None:
        self.model = model
        self.version = model.version
        self.rows: dict[tuple[str, frozenset[str], dt.date], np.ndarray] = {}

    def score_tips(self, context, *, tips, catalog) -> np.ndarray:
        rows = self.model.encoder.encode(context, tips=tips, catalog=catalog)
        for tip, row in zip(tips, rows, strict=True):
            self.rows[(tip.id, context.exclude, context.today)] = row
        return self.model.score(rows)


def test_serving_and_events_build_identical_rows(
    settings, events, shipped_model, content_catalog
) -> None:
    # events are stamped by the wall clock, as in production: serve on the same day
    clock = FixedClock(dt.datetime.now(dt.UTC))
    recording = RecordingModel(load_model(shipped_model))
    picker = ModelPicker(FixedModel(recording), policy=ExplorationPolicy(epsilon=0.0))
    with TestClient(create_app(settings, events=events, clock=clock, picker=picker)) as client:
        ana = Phone(client, number="+51987650011")
        ana.dial()
        ana.press("1", "1", "3")  # Español, accept, my profile
        ana.press("1", "98", "8")  # region: Cusco
        ana.press("2", "2")  # age 18-39
        ana.press("3", "1")  # pregnant: yes
        ana.press("00", "1")  # a tip for me
        ana.press("1", "1")  # useful, another
        ana.press("2")  # not useful
        ana.hang_up("Success")
        ana.dial()  # later: the second call knows what the first heard and rated
        ana.press("1", "3")  # a tip for me, another
        ana.hang_up("Success")
        beto = Phone(client, number="+51987650012")
        beto.dial()
        beto.press("1", "2", "1", "3")  # Español, declines consent, a tip, another
        beto.hang_up("Success")

    rebuilt = interactions_from_events(events.events)
    assert len(rebuilt) == 6
    served = [e.data for e in events.events if e.kind == "tip_served"]
    assert served[0]["audiences"] == "pregnant" and served[0]["age_group"] == "18-39"
    assert served[-1]["consented"] is False and "audiences" not in served[-1]
    encoder = FeatureEncoder(recording.model.spec)
    for item in rebuilt:
        row = row_of(encoder, item, content_catalog)
        key = (item.tip_id, item.context.exclude, item.context.today)
        assert row.tolist() == recording.rows[key].tolist(), item
    names = recording.model.spec.names
    first = row_of(encoder, rebuilt[0], content_catalog)
    assert first[names.index("person=pregnant")] == 1.0
    assert first[names.index("age=18-39")] == 1.0
    later = row_of(encoder, rebuilt[3], content_catalog)
    assert later[names.index("history_rated")] > 0, "the second call knows the first's answers"


def test_the_light_app_serving_and_its_events_build_identical_rows(
    settings, events, shipped_model, content_catalog
) -> None:
    """The app ranks (`/app/queue`) apart from telling what it served (`/app/events`): its
    `tip_served` carries the same coarse context as the USSD's, with consent only."""
    clock = FixedClock(dt.datetime.now(dt.UTC))
    recording = RecordingModel(load_model(shipped_model))
    picker = ModelPicker(FixedModel(recording), policy=ExplorationPolicy(epsilon=0.0))
    with TestClient(create_app(settings, events=events, clock=clock, picker=picker)) as client:
        lite = client.app_state["lite"]

        def send(install: str, *batch: dict) -> None:
            accepted = client.post("/app/events", json={"install": install, "events": batch})
            assert accepted.json()["accepted"] == len(batch), accepted.json()

        def app_event(kind: str, **fields) -> dict:
            ts = clock().isoformat()
            known = {"id": uuid.uuid4().hex, "ts": ts, "kind": kind, "session": "sess-0000"}
            return known | {"lang": "es"} | fields

        def serve(install: str, session: str, *, exclude: list[str], useful: bool) -> str:
            body = {"install": install, "lang": "es", "n": 1, "exclude": exclude}
            [tip] = client.post("/app/queue", json=body).json()["tips"]
            served = {"tip_id": tip["id"], "pick": tip["pick"], "session": session}
            send(install, app_event("tip_served", **served))
            send(install, app_event("feedback", useful=useful, **served))
            return tip["id"]

        carla, dina = secrets.token_hex(16), secrets.token_hex(16)
        send(carla, app_event("consent", accepted=True))
        send(carla, app_event("profile_update", region="cusco"))
        # the answers a profile screen would store (the app has none yet; USSD's does)
        store = lite.subscribers
        person = client.portal.call(store.get, lite.pseudonym(carla))
        person.pregnant, person.age_group = True, "18-39"
        client.portal.call(store.save, person)
        first = serve(carla, "sess-0001", exclude=[], useful=True)
        serve(carla, "sess-0001", exclude=[first], useful=False)
        serve(dina, "sess-0002", exclude=[], useful=True)  # never consented

    served = [e.data for e in events.events if e.kind == "tip_served"]
    assert served[0]["consented"] is True
    assert (served[0]["audiences"], served[0]["age_group"]) == ("pregnant", "18-39")
    assert served[-1]["consented"] is False and "audiences" not in served[-1]
    rebuilt = interactions_from_events(events.events)
    assert len(rebuilt) == 3
    encoder = FeatureEncoder(recording.model.spec)
    for item in rebuilt:
        key = (item.tip_id, item.context.exclude, item.context.today)
        assert row_of(encoder, item, content_catalog).tolist() == recording.rows[key].tolist()
    names = recording.model.spec.names
    second = row_of(encoder, rebuilt[1], content_catalog)
    assert second[names.index("person=pregnant")] == 1.0
    assert second[names.index("history_rated")] > 0, "the second tip knows the first's answer"


def test_simulated_logs_and_their_events_give_the_same_rows(content_catalog, shipped_model) -> None:
    sim = CallerSimulator(content_catalog, seed=5)
    log = sim.run(sim.callers(60), LoggingPolicy(epsilon=0.3))
    rebuilt = interactions_from_events(log_events(log.interactions, content_catalog))
    encoder = FeatureEncoder(load_model(shipped_model).spec)
    assert len(rebuilt) == len(log.interactions)

    def rows(items):
        return np.stack([row_of(encoder, i, content_catalog) for i in items])

    by_key = {(i.session, i.tip_id): i for i in rebuilt}
    again = [by_key[(i.session, i.tip_id)] for i in log.interactions]
    differ = np.any(rows(again) != rows(log.interactions), axis=1)
    assert not differ.any(), f"{differ.mean():.1%} of rows differ"
    assert any(len(i.context.audiences) > 1 for i in again)
    assert any(i.context.age_group for i in again)


def test_a_weekly_sms_tip_counts_as_heard_in_rows_from_events(content_catalog) -> None:
    tip = content_catalog.tips[0]
    at = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)
    person = "c" * 32
    events = [
        Event(ts=at, channel="sms", kind="sms_sent", subscriber=person, data={"tip_id": tip.id}),
        Event(
            ts=at + dt.timedelta(days=2),
            channel="ussd",
            kind="tip_served",
            subscriber=person,
            session="s1",
            data={"tip_id": content_catalog.tips[1].id, "consented": True},
        ),
    ]
    [item] = interactions_from_events(events)
    assert item.context.heard == {tip.id: at}
