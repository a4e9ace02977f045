"""The MQTT alert board: `<root>/v1/alerts/<region>`, one retained message per region.

Publishing an alert sets its region topic's retained message (QoS 1); withdrawing it sets an
empty one, which the broker takes as "no retained message". Each app process subscribes to
`<root>/v1/alerts/+`: the broker sends every retained alert at once and each new one as it is
published, so a process started later, or reconnected, knows the current alerts without asking
anyone. The broker must keep retained messages across restarts (`persistence true`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError

from telemetry import Broker
from telemetry._mqtt import KEEPALIVE, connect_properties, make_client
from willay.alerts import Alert
from willay.config import Settings
from willay.errors import ServiceUnavailable

__all__ = ["MqttAlertBoard", "alert_topic", "alerts_filter"]

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 10.0
RETAINED_SETTLE = 0.3  # seconds


def alert_topic(root: str, region: str) -> str:
    """The retained topic of a region's alert."""
    return f"{root}/v1/alerts/{region}"


def alerts_filter(root: str) -> str:
    """The filter matching every region's alert topic."""
    return alert_topic(root, "+")


class MqttAlertBoard:
    """Keeps the retained alert of every region, as the broker sends them; publishes new ones."""

    def __init__(
        self,
        broker: Broker,
        *,
        topic_root: str = "willay",
        client_id: str | None = None,
        reconnect: tuple[float, float] = (1.0, 60.0),
    ) -> None:
        self.broker = broker
        self.topic_root = topic_root
        self._lock = threading.Lock()
        self._alerts: dict[str, Alert] = {}
        self._version = 0
        self.subscribed = threading.Event()
        suffix = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._client = make_client(
            broker, client_id=client_id or f"willay-alerts-{suffix}", reconnect=reconnect
        )
        self._client.on_connect = lambda _c, _u, _f, reason, _p: self._on_connect(reason)
        self._client.on_subscribe = lambda *_: self.subscribed.set()
        self._client.on_message = lambda _c, _u, message: self._on_message(message)
        self._client.connect_async(
            broker.host, broker.port, keepalive=KEEPALIVE, properties=connect_properties()
        )
        self._client.loop_start()

    @classmethod
    def from_settings(cls, settings: Settings) -> MqttAlertBoard:
        """The board on the broker `WILLAY_MQTT_*` describe."""
        return cls(
            Broker.from_settings(settings),
            topic_root=settings.mqtt_topic_root,
            reconnect=(settings.mqtt_reconnect_min, settings.mqtt_reconnect_max),
        )

    def wait_ready(self, timeout: float = PUBLISH_TIMEOUT) -> bool:
        """Wait until subscribed and the retained alerts have arrived; False if no broker."""
        if not self.subscribed.wait(timeout):
            return False
        time.sleep(RETAINED_SETTLE)  # the retained messages follow the SUBACK at once
        return True

    # -- paho callbacks (network thread) ------------------------------------------------------

    def _on_connect(self, reason: ReasonCode) -> None:
        if reason.is_failure:
            log.warning("broker %s refused the alert board: %s", self.broker, reason)
            return
        self._client.subscribe(alerts_filter(self.topic_root), qos=1)

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        region = message.topic.rsplit("/", 1)[-1]
        if not message.payload:
            alert = None
        else:
            try:
                alert = Alert.model_validate_json(message.payload)
            except ValidationError as exc:
                log.error("alert on %s is not an alert, ignored: %s", message.topic, exc)
                return
        with self._lock:
            if alert is None:
                self._alerts.pop(region, None)
            else:
                self._alerts[region] = alert
            self._version += 1
        log.info("alert board: %s %s", region, alert.id if alert else "withdrawn")

    # -- the board ----------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Grows with every alert received or withdrawn."""
        return self._version

    def alerts(self) -> list[Alert]:
        """Every alert the broker holds, active or not."""
        with self._lock:
            return list(self._alerts.values())

    def _retain(self, region: str, payload: bytes) -> None:
        if not self.subscribed.wait(PUBLISH_TIMEOUT):
            raise ServiceUnavailable(f"MQTT broker {self.broker} not reachable for alerts")
        info = self._client.publish(
            alert_topic(self.topic_root, region), payload, qos=1, retain=True
        )
        try:
            info.wait_for_publish(timeout=PUBLISH_TIMEOUT)
        except (RuntimeError, ValueError) as exc:
            raise ServiceUnavailable(f"alert not published to {self.broker}: {exc}") from exc
        if not info.is_published():
            raise ServiceUnavailable(f"the broker {self.broker} did not acknowledge the alert")

    def publish(self, alert: Alert) -> None:
        """Retain `alert` on its region's topic; `ServiceUnavailable` unless the broker acks it."""
        self._retain(alert.region, alert.model_dump_json().encode())

    def withdraw(self, region: str) -> None:
        """Clear the region's retained alert."""
        self._retain(region, b"")

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()
