"""The app's API on real Redis: pack and its deltas, the ranked queue under the consent rules,
events sent again and again counting once, as the events every channel sends."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid

import pytest
from fastapi.testclient import TestClient

from app import pack as app_pack
from shell.app import create_app
from tests.fixtures.alerts import NOW
from willay.languages import LANGUAGES
from willay.profiles import SubscriberStore

pytestmark = pytest.mark.redis


@pytest.fixture
def client(redis_settings, events, clock):
    with TestClient(create_app(redis_settings, events=events, clock=clock)) as c:
        yield c


def event(kind: str, **fields) -> dict:
    return {
        "id": uuid.uuid4().hex,
        "ts": NOW.isoformat(),
        "kind": kind,
        "session": "sess-0001",
        "lang": "es",
    } | fields


def profile(client, settings, install):
    lite = client.app_state["lite"]
    store = SubscriberStore(client.app_state["kv"], prefix=settings.redis_prefix)
    return client.portal.call(store.get, lite.pseudonym(install))


class TestPack:
    def test_unknown_language_is_a_404(self, client):
        response = client.get("/app/pack/xx")
        assert response.status_code == 404 and "xx" in response.json()["detail"]

    def test_a_malformed_have_is_a_400(self, client):
        response = client.get("/app/pack/es?have=zz;drop")
        assert response.status_code == 400 and "have" in response.json()["detail"]

    def test_304_when_nothing_changed_and_a_delta_otherwise(self, client):
        full = client.get("/app/pack/quy").json()
        assert full["lang"] == "quy" and all(set(t) >= {"id", "x", "s", "h"} for t in full["tips"])
        have = [t["h"] for t in full["tips"]]
        asked = client.get(
            f"/app/pack/quy?have={'.'.join(have)}", headers={"If-None-Match": f'"{full["v"]}"'}
        )
        assert asked.status_code == 304 and asked.content == b""
        # an app missing two tips (and holding an old one) gets exactly those two back
        stale = [*have[2:], "0badc0de"]
        delta = client.get(f"/app/pack/quy?have={'.'.join(stale)}").json()
        assert [t["h"] for t in delta["tips"]] == have[:2]
        assert delta["keep"] == have and delta["v"] == full["v"]

    def test_built_once_a_day_not_per_request(self, client, clock, monkeypatch):
        builds = []
        real = app_pack.build_pack
        monkeypatch.setattr(
            app_pack, "build_pack", lambda *a, **kw: builds.append(1) or real(*a, **kw)
        )
        first = client.get("/app/pack/es", headers={"Accept-Encoding": "gzip"})
        again = client.get("/app/pack/es", headers={"Accept-Encoding": "gzip"})
        plain = client.get("/app/pack/es", headers={"Accept-Encoding": "identity"})
        assert (
            first.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
        )
        assert first.content == again.content == plain.content and len(builds) == 1
        have = ".".join(t["h"] for t in first.json()["tips"][1:])
        assert len(client.get(f"/app/pack/es?have={have}").json()["tips"]) == 1
        clock.now += dt.timedelta(days=1)
        client.get("/app/pack/es")
        assert len(builds) == 2  # a new day: tips may have come into or gone out of season


class TestQueue:
    def test_malformed_is_a_400_with_the_reason(self, client):
        response = client.post("/app/queue", json={"install": "short", "lang": "es"})
        assert response.status_code == 400 and response.json()["detail"].startswith("install")

    def test_ranked_tips_of_a_topic_and_nothing_stored_before_consent(
        self, client, redis_settings, raw_redis
    ):
        install = secrets.token_hex(16)
        body = {"install": install, "lang": "es", "topic": "dengue", "n": 4}
        tips = client.post("/app/queue", json=body).json()["tips"]
        assert len(tips) == 4 and len({t["id"] for t in tips}) == 4
        assert all(t["id"].startswith("dengue") for t in tips)
        assert all(0 < t["pick"]["propensity"] <= 1 and t["pick"]["model_version"] for t in tips)
        assert list(raw_redis.scan_iter(f"{redis_settings.redis_prefix}:sub:*")) == []
        again = client.post("/app/queue", json=body | {"exclude": [t["id"] for t in tips]})
        assert not {t["id"] for t in again.json()["tips"]} & {t["id"] for t in tips}


class TestEvents:
    def test_sent_twice_counts_once(self, client, redis_settings, events):
        install = secrets.token_hex(16)
        pick = {"score": 0.6, "propensity": 0.5, "model_version": "willay-recommender-v1"}
        batch = {
            "install": install,
            "events": [
                event("consent", accepted=True),
                event("profile_update", region="puno"),
                event("tip_served", tip_id="heladas-abrigo-capas", pick=pick),
                event("feedback", tip_id="heladas-abrigo-capas", useful=True, pick=pick),
            ],
        }
        first = client.post("/app/events", json=batch)
        assert first.json() == {"accepted": 4, "duplicates": 0, "refused": []}
        second = client.post("/app/events", json=batch)  # the app never saw the answer
        assert second.json() == {"accepted": 0, "duplicates": 4, "refused": []}
        published = [e for e in events.events if e.channel == "app"]
        assert [e.id for e in published] == [e["id"] for e in batch["events"]]
        assert [e.kind for e in published] == [
            "consent",
            "profile_update",
            "tip_served",
            "feedback",
        ]
        pseudonym = client.app_state["lite"].pseudonym(install)
        assert {e.subscriber for e in published} == {pseudonym} and install not in pseudonym
        assert (
            published[3].data
            == {
                "tip_id": "heladas-abrigo-capas",
                "topic": "heladas",
                "useful": True,
                "reward": 1.0,  # the recommender's reward of a useful tip
                "arm": "model",  # a pick without its arm was the model's (`PickedTip.arm`)
            }
            | pick
        )
        assert published[2].data["region"] == "puno"
        served = published[2].data  # what the model reads of a consenting person (served_profile)
        assert (served["consented"], served["audiences"], served["age_group"]) == (True, "", None)
        kept = profile(client, redis_settings, install)
        assert kept.region == "puno" and "heladas-abrigo-capas" in kept.heard
        assert [(f.tip_id, f.useful) for f in kept.feedback] == [("heladas-abrigo-capas", True)]

    def test_without_consent_nothing_is_kept_and_events_are_anonymous(
        self, client, redis_settings, events
    ):
        install = secrets.token_hex(16)
        batch = {
            "install": install,
            "events": [
                event("consent", accepted=False),
                event("feedback", tip_id="heladas-abrigo-capas", useful=False),
            ],
        }
        assert client.post("/app/events", json=batch).json()["accepted"] == 2
        assert profile(client, redis_settings, install) is None
        assert all(e.subscriber.startswith("anon-") for e in events.events)

    def test_a_tip_served_without_consent_says_so_and_nothing_of_the_person(self, client, events):
        served = event("tip_served", tip_id="heladas-abrigo-capas")
        batch = {"install": secrets.token_hex(16), "events": [served]}
        assert client.post("/app/events", json=batch).json()["accepted"] == 1
        [published] = events.events
        assert published.data["consented"] is False
        assert not {"audiences", "age_group"} & set(published.data)

    def test_a_bad_event_is_refused_with_the_reason_and_the_rest_kept(self, client, events):
        bad = event("feedback", tip_id="no-such-tip", useful=True)
        good = event("consent", accepted=False)
        batch = {"install": secrets.token_hex(16), "events": [bad, good]}
        response = client.post("/app/events", json=batch)
        assert response.json() == {
            "accepted": 1,
            "duplicates": 0,
            "refused": [{"id": bad["id"], "reason": "tip_id: unknown tip 'no-such-tip'"}],
        }
        assert [e.id for e in events.events] == [good["id"]]
        malformed = {"install": batch["install"], "events": [event("hop")]}
        response = client.post("/app/events", json=malformed)
        assert response.status_code == 400 and "kind" in response.json()["detail"]


def test_alerts_found_on_opening(client, redis_settings, events):
    from tests.fixtures.alerts import make_alert
    from willay.alerts import FileAlertBoard

    alert = make_alert(redis_settings)
    FileAlertBoard(redis_settings.alerts_file).publish(alert)
    found = client.get("/app/alerts?session=sess-0002&region=puno&lang=quy").json()
    assert found == [
        {
            "id": alert.id,
            "region": "puno",
            "text": alert.text["quy"],
            "ends": alert.ends.isoformat(),
        }
    ]
    assert client.get("/app/alerts?session=sess-0003&region=lima").json() == []
    client.get("/app/alerts?session=sess-0002&region=puno")  # opened again: still one delivery
    delivered = [e for e in events.events if e.kind == "alert_delivered"]
    assert len(delivered) == 1 and delivered[0].channel == "app"
    assert delivered[0].subscriber.startswith("anon-")


class TestTheOneListOfLanguages:
    """The app's picker, its schema and its checks all come from `willay/languages.py`."""

    def test_the_picker_lists_every_language_by_its_own_name(self, client):
        script = client.get("/app/app.js").text
        assert "{{LANGUAGES}}" not in script
        for code, (name, _) in LANGUAGES.items():
            assert json.dumps([code, name]) in script

    def test_an_unknown_language_is_refused_with_the_list(self, client):
        install = secrets.token_hex(8)
        response = client.post("/app/queue", json={"install": install, "lang": "en"})
        assert response.status_code == 400
        assert "not a language Willay speaks; one of es, quy, quz" in response.json()["detail"]
        assert client.post("/app/queue", json={"install": install, "lang": "quz"}).is_success

    def test_the_schema_names_each_language(self, client):
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
        assert schemas["QueueRequest"]["properties"]["lang"]["enum"] == list(LANGUAGES)
