"""The regional alerts dashboard, its queries run on a real InfluxDB filled through the real
broker and bridge: USSD sessions of callers in two regions reached by real alerts, plus SMS,
IVR and app events in those channels' shapes. Expectations are computed in plain Python."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shell.app import create_app
from telemetry import Bridge, InfluxClient, MqttEventSink
from tests.fixtures.alerts import NOW, make_alert
from tests.fixtures.environment import TEST_KEY
from tests.fixtures.telemetry import RecordingSink, point_ids, running, wait_until
from tests.fixtures.ussd import FixedClock, Phone
from tests.telemetry.test_dashboards import (
    GRAFANA,
    Filled,
    distinct,
    group,
    kind_is,
    reduce_series,
)
from willay.alerts import ALL_REGIONS, FileAlertBoard
from willay.config import Environment, Settings
from willay.events import Event
from willay.profiles import Subscriber, SubscriberStore, pseudonym

DASHBOARD = GRAFANA / "dashboards" / "regional-alerts.json"

pytestmark = pytest.mark.redis


def callers(client: TestClient, settings: Settings) -> None:
    """Three known callers in Puno and Lima dial (one twice), one answers the alert screen."""
    store = SubscriberStore(client.app_state["kv"], prefix=settings.redis_prefix)
    for number, region in (
        ("+51922000001", "puno"),
        ("+51922000002", "puno"),
        ("+51922000003", "lima"),
    ):
        subscriber = Subscriber(
            id=pseudonym(number, TEST_KEY), language="es", consent_at=NOW, region=region
        )
        client.portal.call(store.save, subscriber)
    first = Phone(client, number="+51922000001")
    first.dial()
    first.press("2")  # answers the screen the alert was on: seen
    first.dial()  # a second session: delivered again, still one person
    Phone(client, number="+51922000002").dial()
    Phone(client, number="+51922000003").dial()


def other_channels(alert_id: str) -> list[Event]:
    """What SMS, IVR and the app publish for the same alert, in their shapes."""
    data = {"alert_id": alert_id, "alert_region": "puno"}
    return [
        Event(
            channel="sms",
            kind="alert_delivered",
            subscriber="s" * 32,
            data=data | {"region": "puno"},
        ),
        Event(
            channel="sms",
            kind="alert_delivered",
            subscriber="t" * 32,
            data=data | {"region": "puno"},
        ),
        Event(
            channel="ivr",
            kind="alert_delivered",
            subscriber="s" * 32,
            data=data | {"region": "puno"},
        ),
        Event(
            channel="ivr",
            kind="alert_seen",
            subscriber="s" * 32,
            data={"alert_id": alert_id, "region": "puno"},
        ),
        Event(
            channel="app",
            kind="alert_delivered",
            subscriber="anon-1",
            data=data | {"region": "cusco"},
        ),
        Event(
            channel="app",
            kind="alert_seen",
            subscriber="anon-1",
            data={"alert_id": alert_id, "region": "cusco"},
        ),
    ]


@pytest.fixture(scope="module")
def filled(tmp_path_factory, mqtt_url: str, influx_url: str, redis_url: str) -> Iterator[Filled]:
    test_id = uuid.uuid4().hex[:10]
    influx = InfluxClient(influx_url, database=f"willay_test_{test_id}", timeout=5)
    folder = tmp_path_factory.mktemp("alerts")
    settings = Settings(
        environment=Environment.testing,
        pseudonym_key=TEST_KEY,
        events_file=folder / "events.jsonl",
        alerts_file=folder / "alerts.json",
        redis_url=redis_url,
        redis_prefix=f"willay_test_{test_id}",
        mqtt_url=mqtt_url,
        mqtt_topic_root=f"test-{test_id}",
        spool_dir=folder / "spool",
        bridge_group=f"g{test_id}",
        bridge_client_id=f"bridge-{test_id}",
        bridge_batch_seconds=0.05,
        bridge_session_expiry=60,
        influx_url=influx_url,
        influx_database=influx.database,
    )
    board = FileAlertBoard(settings.alerts_file)
    puno = make_alert(settings)
    board.publish(puno)
    board.publish(make_alert(settings, region=ALL_REGIONS, es="Vacunate: influenza."))
    start_ms = int(time.time() * 1000) - 60_000
    recorder = RecordingSink(MqttEventSink.from_settings(settings))
    bridge = Bridge.from_settings(settings)
    try:
        with running(bridge):
            wait_until(bridge.ready.is_set, what="the bridge to subscribe")
            app = create_app(settings, events=recorder, alert_board=board, clock=FixedClock(NOW))
            with TestClient(app) as client:
                callers(client, settings)
            for event in other_channels(puno.id):
                recorder.publish(event)
            recorder.close()
            everything = sorted(e.id for e in recorder.events)
            wait_until(lambda: sorted(point_ids(influx)) == everything, what="every event")
        yield Filled(influx, recorder.events, start_ms)
    finally:
        influx.drop_database()


def panel(panel_id: int) -> dict:
    dashboard = json.loads(Path(DASHBOARD).read_text())
    return next(p for p in dashboard["panels"] if p["id"] == panel_id)


@pytest.mark.parametrize(("panel_id", "kind"), [(1, "alert_delivered"), (2, "alert_seen")])
def test_reach_per_channel_and_region(filled: Filled, panel_id: int, kind: str) -> None:
    (target,) = panel(panel_id)["targets"]
    got = reduce_series(filled.run(target["query"]), daily=False)
    want = group(
        filled.events, where=kind_is(kind), by=("channel", "region"), value=distinct("subscriber")
    )
    assert got == pytest.approx(want)


def test_the_scenario_is_what_it_says(filled: Filled) -> None:
    reach = group(
        filled.events,
        where=kind_is("alert_delivered"),
        by=("channel", "region"),
        value=distinct("subscriber"),
    )
    # two Puno callers (one dialled twice) got Puno's alert, the Lima caller the one for all
    assert reach == {
        ("ussd", "puno"): 2,
        ("ussd", "lima"): 1,
        ("sms", "puno"): 2,
        ("ivr", "puno"): 1,
        ("app", "cusco"): 1,
    }


def test_dashboard_is_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "willay-regional-alerts" and dashboard["schemaVersion"] <= 42
    for each in dashboard["panels"]:
        assert each["gridPos"]["x"] + each["gridPos"]["w"] <= 24
        for target in each["targets"]:
            assert target["datasource"]["uid"] == "willay-influxdb"
            assert 'GROUP BY "subscriber"' not in target["query"]
