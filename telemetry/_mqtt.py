"""Where the broker is and how to reach it: `WILLAY_MQTT_URL` and friends, and the paho client."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from willay.config import Settings
from willay.errors import ConfigurationError

__all__ = ["Broker", "connect_properties", "make_client"]

KEEPALIVE = 30


@dataclass(frozen=True)
class Broker:
    """An MQTT broker address with its credentials; `tls` for `mqtts://`."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Broker:
        """The broker of `WILLAY_MQTT_URL`; user and password in the URL win over the settings."""
        if settings.mqtt_url is None:
            raise ConfigurationError("WILLAY_MQTT_URL is not set")
        parts = urlsplit(settings.mqtt_url)
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError as exc:
            raise ConfigurationError(f"WILLAY_MQTT_URL has an invalid port: {exc}") from exc
        if not parts.hostname:
            raise ConfigurationError("WILLAY_MQTT_URL names no host")
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        return cls(
            host=parts.hostname,
            port=port,
            tls=tls,
            username=unquote(parts.username) if parts.username else settings.mqtt_username,
            password=unquote(parts.password) if parts.password else password,
            ca_file=settings.mqtt_ca_file,
        )

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def make_client(
    broker: Broker,
    *,
    client_id: str,
    reconnect: tuple[float, float],
    manual_ack: bool = False,
) -> mqtt.Client:
    """A paho 2.x MQTT 5 client (callback API 2) with credentials, TLS and reconnect backoff."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if broker.username is not None:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        try:
            context = ssl.create_default_context(
                cafile=str(broker.ca_file) if broker.ca_file else None
            )
        except OSError as exc:
            raise ConfigurationError(
                f"WILLAY_MQTT_CA_FILE {broker.ca_file}: {exc.strerror}"
            ) from exc
        client.tls_set_context(context)
    low, high = reconnect
    client.reconnect_delay_set(min_delay=low, max_delay=high)  # type: ignore[arg-type]
    return client


def connect_properties(
    *, session_expiry: int = 0, receive_maximum: int | None = None
) -> Properties:
    """CONNECT properties: how long the broker keeps the session, how many messages in flight."""
    properties = Properties(PacketTypes.CONNECT)
    if session_expiry:
        properties.SessionExpiryInterval = session_expiry
    if receive_maximum is not None:
        properties.ReceiveMaximum = receive_maximum
    return properties
