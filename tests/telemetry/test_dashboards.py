"""Every Grafana panel query and alert query, run on a real InfluxDB filled through the real
broker and bridge by real USSD sessions (plus IVR and SMS events published as those channels
do), must give the numbers the events say it should.

Expectations are computed here in plain Python from the events the app published; Grafana's
macros are replaced the way Grafana does (`$timeFilter`, `$__interval`), its math expressions
(`$A / $B`), reducers and thresholds are evaluated here.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion

from shell.app import create_app
from telemetry import Bridge, InfluxClient, MqttEventSink
from telemetry._points import DATA_TAGS, numbered_json
from tests.fixtures.environment import TEST_KEY
from tests.fixtures.telemetry import RecordingSink, point_ids, running, wait_until
from tests.fixtures.ussd import Phone
from willay.config import Environment, Settings
from willay.events import Event
from willay.profiles import event_subject

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
# the regional alerts dashboard has its own scenario: tests/alerts/test_reach_dashboard.py
DASHBOARDS = sorted(
    p for p in (GRAFANA / "dashboards").glob("*.json") if p.stem != "regional-alerts"
)
ALERTS = GRAFANA / "provisioning" / "alerting" / "willay.yaml"
CHECKED_ELSEWHERE = {"recommender"}  # on its own events: tests/recommender/test_monitoring.py
DAY_NS = 86_400 * 10**9
ONE_BUCKET = "10000d"  # `$__interval` for the tests: the whole window in one bucket

Expected = dict[tuple[str, ...], float]


# -- the scenario -------------------------------------------------------------------------------


def read_to_end(phone: Phone, reply) -> None:
    while "1 Util" not in reply.screen:
        reply = phone.press("98")


def play_sessions(client: TestClient) -> None:
    """Five USSD sessions through the HTTP API, each ending as the network reports it."""
    ana = Phone(client, number="+51987650001", network="71610")
    ana.dial()
    ana.press("1", "1")  # Español, Acepto
    assert "Region" in ana.press("3").screen  # Mi perfil
    ana.press("1", "1")  # Región: Amazonas
    ana.press("00")
    read_to_end(ana, ana.press("1"))  # a tip for me, to its last page
    ana.press("1")  # useful
    ana.hang_up("Success")

    ana.dial()  # back again: consented, region known
    read_to_end(ana, ana.press("2", "1"))  # a topic
    ana.press("2")  # not useful
    ana.hang_up("Incomplete")

    beto = Phone(client, number="+51987650002", network="71606")
    beto.dial()
    beto.press("2", "2")  # Runasimi Chanka, declines consent
    beto.press("2", "3")  # a topic: a tip, left before its end if it has more pages
    beto.hang_up("Incomplete")

    caro = Phone(client, number="+51987650003", network="71606")
    caro.dial()
    caro.press("1")  # Español; leaves at the consent screen
    caro.hang_up("Incomplete")

    dora = Phone(client, number="+51987650004", network="71610")
    dora.dial()
    assert dora.press("1", "1", "4", "1").end  # accepts, subscribes to the weekly SMS
    dora.hang_up("Success")


def other_channels() -> list[Event]:
    """What the IVR and SMS channels publish, in their shapes."""
    person = "b" * 32
    return [
        Event(
            channel="ivr",
            kind="session_start",
            subscriber=person,
            session="ATVId_1",
            lang="quy",
            data={"network": "71606", "elapsed_ms": 12.5, "region": "puno"},
        ),
        Event(
            channel="ivr",
            kind="call_end",
            subscriber=person,
            session="ATVId_1",
            lang="quy",
            data={"duration": 95, "cost": 0.12, "bytes": 48_000},
        ),
        Event(
            channel="ivr",
            kind="call_end",
            subscriber=person,
            session="ATVId_2",
            data={"duration": 40, "cost": 0.05, "bytes": 30_000},
        ),
        *[
            Event(channel="sms", kind=kind, subscriber=person, lang="es", data={"kind": "weekly"})
            for kind in ("sms_sent", "sms_sent", "sms_sent", "sms_delivered", "sms_delivered")
        ],
        Event(channel="sms", kind="sms_failed", subscriber=person, data={"status": "Failed"}),
        Event(channel="sms", kind="unsubscribe", subscriber=person, data={"medium": "sms"}),
        Event(channel="ussd", kind="error", subscriber="unknown", data={"error": "X"}),
        Event(channel="ussd", kind="error", subscriber="unknown", data={"error": "Y"}),
        Event(
            channel="ussd",
            kind="error",
            subscriber=event_subject(None, "ATUid_9"),
            session="ATUid_9",
            data={"error": "Z"},
        ),
    ]


class Filled:
    """A database filled through the real path, and the events that went into it."""

    def __init__(self, influx: InfluxClient, events: list[Event], start_ms: int) -> None:
        self.influx = influx
        self.events = events
        self.start_ms = start_ms

    def run(self, query: str) -> list[dict[str, Any]]:
        """A panel query with Grafana's macros replaced for the test's window."""
        end_ms = int(time.time() * 1000) + 60_000
        window = f"time >= {self.start_ms}ms and time <= {end_ms}ms"
        return self.influx.query(
            query.replace("$timeFilter", window).replace("$__interval", ONE_BUCKET)
        )


@pytest.fixture(scope="module")
def filled(tmp_path_factory, mqtt_url: str, influx_url: str) -> Iterator[Filled]:
    test_id = uuid.uuid4().hex[:10]
    influx = InfluxClient(influx_url, database=f"willay_test_{test_id}", timeout=5)
    settings = Settings(
        environment=Environment.testing,
        pseudonym_key=TEST_KEY,
        events_file=tmp_path_factory.mktemp("events") / "events.jsonl",
        mqtt_url=mqtt_url,
        mqtt_topic_root=f"test-{test_id}",
        spool_dir=tmp_path_factory.mktemp("spool"),
        bridge_group=f"g{test_id}",
        bridge_client_id=f"bridge-{test_id}",
        bridge_batch_seconds=0.05,
        bridge_health_seconds=0.1,
        bridge_session_expiry=60,
        influx_url=influx_url,
        influx_database=influx.database,
    )
    start_ms = int(time.time() * 1000) - 60_000
    recorder = RecordingSink(MqttEventSink.from_settings(settings))
    bridge = Bridge.from_settings(settings)
    try:
        with running(bridge):
            wait_until(bridge.ready.is_set, what="the bridge to subscribe")
            with TestClient(create_app(settings, events=recorder)) as client:
                play_sessions(client)
            for event in other_channels():
                recorder.publish(event)
            publish_garbage(mqtt_url, settings.mqtt_topic_root)
            recorder.events += publish_with_gap(mqtt_url, settings.mqtt_topic_root)
            recorder.close()
            everything = sorted(e.id for e in recorder.events)
            wait_until(lambda: sorted(point_ids(influx)) == everything, what="every event")
            wait_until(lambda: bridge.stats.malformed == 1, what="the garbage to be counted")
            wait_until(lambda: _gap_counted(influx), what="the gappy publisher's hole counted")
            settled = time.time_ns()
            wait_until(lambda: _health_since(influx, settled), what="a health point after that")
        yield Filled(influx, recorder.events, start_ms)
    finally:
        influx.drop_database()


def publish_garbage(url: str, root: str) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    host, port = url.removeprefix("mqtt://").split(":")
    client.connect(host, int(port))
    client.loop_start()
    client.publish(f"{root}/v1/events/ussd/hop", b"garbage", qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


GAPPY = "gappy-publisher"


def publish_with_gap(url: str, root: str) -> list[Event]:
    """Numbers 1, 2, 5 and 5 again from one publisher: 2 missing, 1 duplicate; the events."""
    events = [Event(channel="ussd", kind="hop", subscriber="anon-gap") for _ in range(3)]
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    host, port = url.removeprefix("mqtt://").split(":")
    client.connect(host, int(port))
    client.loop_start()
    for seq, event in ((1, events[0]), (2, events[1]), (5, events[2]), (5, events[2])):
        payload = numbered_json(event, publisher=GAPPY, seq=seq)
        client.publish(f"{root}/v1/events/ussd/hop", payload, qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
    return events


def _gap_counted(influx: InfluxClient) -> bool:
    series = influx.query(
        f"""SELECT last("missing") FROM "sequence" WHERE "publisher" = '{GAPPY}'"""
    )
    return bool(series) and series[0]["values"][0][1] == 2


def _health_since(influx: InfluxClient, since_ns: int) -> bool:
    return bool(influx.query(f'SELECT last("spool") FROM "bridge" WHERE time > {since_ns}'))


# -- expectations in plain Python ---------------------------------------------------------------


def tag(event: Event, key: str) -> str:
    """The tag value InfluxDB groups the event's point under ('' when it has none)."""
    if key in ("channel", "kind", "lang"):
        value = getattr(event, key)
        return str(value.value if hasattr(value, "value") else value or "")
    assert key in DATA_TAGS
    value = event.data.get(key)
    return "" if value is None else str(value)


def day(event: Event) -> str:
    return str(int(event.ts.timestamp() * 10**9) // DAY_NS * DAY_NS)


def group(
    events: Iterable[Event],
    *,
    where: Callable[[Event], bool] = lambda e: True,
    by: tuple[str, ...] = (),
    daily: bool = False,
    value: Callable[[list[Event]], float] = len,
    column: str = "",
) -> Expected:
    """Group matching events by tags (and by UTC day), then reduce each group to a number."""
    groups: dict[tuple[str, ...], list[Event]] = defaultdict(list)
    for event in events:
        if where(event):
            key = tuple(tag(event, k) for k in by) + ((day(event),) if daily else ())
            groups[key + ((column,) if column else ())].append(event)
    return {key: value(members) for key, members in groups.items()}


def distinct(attribute: str) -> Callable[[list[Event]], float]:
    return lambda events: len({getattr(e, attribute) for e in events} - {None})


def percentile(key: str, p: float) -> Callable[[list[Event]], float]:
    """InfluxDB 1.x's nearest-rank percentile."""

    def compute(events: list[Event]) -> float:
        values = sorted(float(e.data[key]) for e in events)
        index = min(len(values) - 1, max(0, int(math.floor(len(values) * p / 100 + 0.5)) - 1))
        return values[index]

    return compute


def kind_is(*kinds: str) -> Callable[[Event], bool]:
    return lambda e: e.kind.value in kinds


def ratio(a: Expected, b: Expected) -> Expected:
    """Grafana's math on two series sets: one result per label set present in both."""
    return {key: a[key] / b[key] for key in a.keys() & b.keys()}


def expectations(events: list[Event]) -> dict[tuple[str, int, str], Expected]:
    """What each dashboard target must return, by (dashboard uid, panel id, refId)."""
    ussd_incomplete = lambda e: (  # noqa: E731
        e.kind.value == "session_end" and tag(e, "status") == "Incomplete" and e.channel == "ussd"
    )
    useful = group(
        events, where=lambda e: kind_is("feedback")(e) and e.data["useful"], by=("topic",)
    )
    answers = group(events, where=kind_is("feedback"), by=("topic",))
    errors = group(events, where=kind_is("error"))
    requests = group(events, where=lambda e: "elapsed_ms" in e.data)
    ussd_bytes = group(
        events,
        where=lambda e: e.channel == "ussd" and "bytes" in e.data,
        value=lambda es: sum(e.data["bytes"] for e in es),
    )
    ussd_sessions = group(
        events, where=lambda e: e.channel == "ussd" and kind_is("session_start")(e)
    )
    timed = lambda e: "elapsed_ms" in e.data  # noqa: E731
    return {
        ("willay-uptake", 1, "A"): group(
            events,
            where=kind_is("session_start"),
            by=("channel",),
            daily=True,
            value=distinct("session"),
        ),
        ("willay-uptake", 1, "B"): group(
            events,
            where=lambda e: e.subscriber != "unknown" and not e.subscriber.startswith("anon-"),
            by=("channel",),
            daily=True,
            value=distinct("subscriber"),
        ),
        ("willay-uptake", 2, "A"): group(
            events,
            where=lambda e: bool(e.lang),
            by=("lang",),
            daily=True,
            value=distinct("session"),
        ),
        ("willay-uptake", 2, "B"): group(
            events,
            where=lambda e: bool(e.lang),
            by=("lang",),
            daily=True,
            value=distinct("subscriber"),
        ),
        ("willay-uptake", 3, "A"): group(
            events,
            where=lambda e: bool(tag(e, "region")),
            by=("region",),
            daily=True,
            value=distinct("session"),
        ),
        ("willay-uptake", 3, "B"): group(
            events,
            where=lambda e: bool(tag(e, "region")),
            by=("region",),
            daily=True,
            value=distinct("subscriber"),
        ),
        ("willay-uptake", 4, "A"): group(events, where=kind_is("tip_served"), by=("topic",)),
        ("willay-uptake", 5, "A"): useful,
        ("willay-uptake", 5, "B"): answers,
        ("willay-uptake", 5, "C"): ratio(useful, answers),
        ("willay-uptake", 6, "A"): group(
            events, where=kind_is("session_start"), value=distinct("session")
        ),
        ("willay-uptake", 6, "B"): group(
            events,
            where=lambda e: kind_is("session_start", "hop")(e) and tag(e, "screen") == "main",
            value=distinct("session"),
        ),
        ("willay-uptake", 6, "C"): group(
            events, where=kind_is("tip_served"), value=distinct("session")
        ),
        ("willay-uptake", 6, "D"): group(
            events, where=kind_is("tip_completed"), value=distinct("session")
        ),
        ("willay-uptake", 7, "A"): group(events, where=ussd_incomplete, by=("screen",)),
        ("willay-uptake", 8, "A"): group(events, where=ussd_incomplete, by=("network",)),
        ("willay-uptake", 9, "A"): group(
            events,
            where=lambda e: kind_is("subscribe")(e) and tag(e, "medium") == "sms",
            daily=True,
        ),
        ("willay-uptake", 9, "B"): group(
            events,
            where=lambda e: kind_is("unsubscribe")(e) and tag(e, "medium") == "sms",
            daily=True,
        ),
        ("willay-uptake", 10, "A"): group(
            events,
            where=kind_is("sms_sent", "sms_delivered", "sms_failed"),
            by=("kind",),
            daily=True,
        ),
        ("willay-operations", 1, "A"): group(
            events, where=timed, by=("channel",), value=percentile("elapsed_ms", 50), column="p50"
        )
        | group(
            events, where=timed, by=("channel",), value=percentile("elapsed_ms", 95), column="p95"
        ),
        ("willay-operations", 2, "A"): group(events, where=kind_is("error"), by=("channel",)),
        ("willay-operations", 3, "A"): errors,
        ("willay-operations", 3, "B"): requests,
        ("willay-operations", 3, "C"): ratio(errors, requests),
        ("willay-operations", 4, "A"): group(events),
        ("willay-operations", 8, "A"): ussd_bytes,
        ("willay-operations", 8, "B"): ussd_sessions,
        ("willay-operations", 8, "C"): ratio(ussd_bytes, ussd_sessions),
        ("willay-operations", 9, "A"): group(
            events,
            where=kind_is("call_end"),
            value=lambda es: sum(e.data["bytes"] for e in es) / len(es),
        ),
    }


# the bridge's own points: exact where the scenario fixes them, bounded where time decides
BRIDGE_CHECKS: dict[tuple[str, int, str], Callable[[Expected], bool]] = {
    ("willay-operations", 5, "A"): lambda r: bool(r) and all(0 < v < 60_000 for v in r.values()),
    ("willay-operations", 6, "A"): lambda r: bool(r) and set(r.values()) == {0.0},
    ("willay-operations", 7, "A"): lambda r: bool(r) and set(r.values()) == {1.0},
    # the app's publisher lost nothing; the gappy one misses 3 and 4 and sent 5 twice
    ("willay-operations", 10, "A"): lambda r: (
        len(r) == 2 and r[(GAPPY,)] == 2.0 and set(r.values()) == {0.0, 2.0}
    ),
    ("willay-operations", 10, "B"): lambda r: (
        len(r) == 2 and r[(GAPPY,)] == 1.0 and set(r.values()) == {0.0, 1.0}
    ),
    ("willay-operations", 11, "A"): lambda r: len(r) == 2 and sorted(r.values()) == [0.0, 2.0],
}


# -- running the dashboards' queries ------------------------------------------------------------


def reduce_series(series: list[dict[str, Any]], *, daily: bool) -> Expected:
    """Query results as {(tag values..., [day], [column]): value}, leaving out empty buckets."""
    found: Expected = {}
    for one in series:
        labels = tuple(v for _, v in sorted(one.get("tags", {}).items()))
        columns = one["columns"][1:]
        for row in one["values"]:
            for column, number in zip(columns, row[1:], strict=True):
                if number is None or (daily and number == 0):
                    continue
                key = labels + ((str(row[0]),) if daily else ())
                found[key + ((column,) if len(columns) > 1 else ())] = float(number)
    return found


def math_expression(expression: str, values: dict[str, Expected]) -> Expected:
    """Grafana's `$A / $B` on series matched by their labels."""
    match = re.fullmatch(r"\$\$?(\w+) / \$\$?(\w+)", expression)
    assert match, f"unsupported expression {expression!r}"
    return ratio(values[match[1]], values[match[2]])


def targets() -> Iterator[Any]:
    for path in DASHBOARDS:
        if path.stem in CHECKED_ELSEWHERE:
            continue
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                key = (dashboard["uid"], panel["id"], target["refId"])
                yield pytest.param(key, panel, target, id=f"{path.stem}:{panel['title']}:{key[2]}")


@pytest.mark.parametrize(("key", "panel", "target"), list(targets()))
def test_panel_query_returns_what_the_events_say(filled: Filled, key, panel, target) -> None:
    values: dict[str, Expected] = {}
    for each in panel["targets"]:
        if "query" in each:
            daily = "time(1d)" in each["query"]
            values[each["refId"]] = reduce_series(filled.run(each["query"]), daily=daily)
    if "query" in target:
        got = values[target["refId"]]
    else:
        got = math_expression(target["expression"], values)
    if key in BRIDGE_CHECKS:
        assert BRIDGE_CHECKS[key](got), got
        return
    want = expectations(filled.events)[key]
    assert want, f"the scenario gives {key} nothing to show"
    assert got == pytest.approx(want)


def test_every_panel_target_has_an_expectation(filled: Filled) -> None:
    keys = {param.values[0] for param in targets()}
    assert keys == set(expectations(filled.events)) | set(BRIDGE_CHECKS)


def test_the_scenario_is_what_it_says(filled: Filled) -> None:
    want = expectations(filled.events)
    assert want[("willay-uptake", 6, "A")] == {(): 6}  # five dials and one call
    assert sum(want[("willay-uptake", 8, "A")].values()) == 3  # three sessions cut short
    assert {key[0] for key in want[("willay-uptake", 3, "A")]} == {"amazonas", "puno"}
    assert want[("willay-operations", 9, "A")] == {(): 39_000.0}


# -- alert rules --------------------------------------------------------------------------------


def evaluate_rule(rule: dict[str, Any], influx: InfluxClient) -> tuple[dict[str, Any], bool]:
    """Every step of a rule (queries, reduce, math, threshold); True if it would fire."""
    steps: dict[str, Any] = {}
    for step in rule["data"]:
        model = step["model"]
        if step["datasourceUid"] != "__expr__":
            series = influx.query(model["query"])
            steps[step["refId"]] = [v for s in series for row in s["values"] for v in row[1:]]
        elif model["type"] == "reduce":
            values = [v for v in steps[model["expression"]] if v is not None]
            steps[step["refId"]] = (
                {"sum": sum, "max": max}[model["reducer"]](values) if values else None
            )
        elif model["type"] == "math":
            a, b = re.findall(r"\$\$(\w+)", model["expression"])
            steps[step["refId"]] = (
                steps[a] / steps[b] if steps[a] is not None and steps[b] else None
            )
        elif model["type"] == "threshold":
            [condition] = model["conditions"]
            kind, [limit] = condition["evaluator"]["type"], condition["evaluator"]["params"]
            value = steps[model["expression"]]
            steps[step["refId"]] = (
                None if value is None else {"gt": value > limit, "lt": value < limit}[kind]
            )
    verdict = steps[rule["condition"]]
    firing = rule["noDataState"] == "Alerting" if verdict is None else verdict
    return steps, firing


def rules() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {rule["uid"]: rule for group in groups for rule in group["rules"]}


def test_error_rate_alert(filled: Filled) -> None:
    steps, firing = evaluate_rule(rules()["willay-error-rate"], filled.influx)
    errors = sum(1 for e in filled.events if e.kind.value == "error")
    requests = sum(1 for e in filled.events if "elapsed_ms" in e.data)
    assert (steps["C"], steps["D"]) == (errors, requests)
    assert steps["E"] == pytest.approx(errors / requests)
    assert firing is (errors / requests > 0.05)


def test_bridge_lag_alert(filled: Filled) -> None:
    steps, firing = evaluate_rule(rules()["willay-bridge-lag"], filled.influx)
    assert 0 < steps["B"] < 60_000 and not firing


def test_no_events_alert_fires_only_without_events(filled: Filled, influx: InfluxClient) -> None:
    steps, firing = evaluate_rule(rules()["willay-no-events"], filled.influx)
    assert steps["B"] == len(filled.events) and not firing
    steps, firing = evaluate_rule(rules()["willay-no-events"], influx)  # an empty database
    assert steps["B"] is None and firing


def test_events_missing_alert(filled: Filled, influx: InfluxClient) -> None:
    steps, firing = evaluate_rule(rules()["willay-events-missing"], filled.influx)
    assert steps["B"] == 2 and firing  # the gappy publisher's 3 and 4
    steps, firing = evaluate_rule(rules()["willay-events-missing"], influx)  # nothing numbered
    assert steps["B"] is None and not firing


# -- provisioning as Grafana reads it -----------------------------------------------------------


def test_dashboards_are_well_formed() -> None:
    datasource = yaml.safe_load((GRAFANA / "provisioning/datasources/influxdb.yaml").read_text())
    [source] = datasource["datasources"]
    assert source["type"] == "influxdb" and source["jsonData"]["dbName"]
    uids = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert len(dashboard["uid"]) <= 40 and dashboard["schemaVersion"] <= 42
        uids.add(dashboard["uid"])
        titles = [panel["title"] for panel in dashboard["panels"]]
        assert len(titles) == len(set(titles))
        for panel in dashboard["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]
            for target in panel["targets"]:
                uid = target["datasource"]["uid"]
                assert uid in (source["uid"], "__expr__")
                assert ("query" in target) == (uid == source["uid"])
    assert len(uids) == len(DASHBOARDS)
    for rule in rules().values():
        assert {step["datasourceUid"] for step in rule["data"]} <= {source["uid"], "__expr__"}


def test_queries_never_name_an_id_as_a_tag() -> None:
    text = "".join(path.read_text() for path in DASHBOARDS) + ALERTS.read_text()
    for name in ("subscriber", "session", "id", "tip_id"):
        assert f'GROUP BY \\"{name}\\"' not in text and f'GROUP BY "{name}"' not in text
