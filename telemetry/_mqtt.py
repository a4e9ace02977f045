"""Where the broker is and how to reach it: `WILLAY_MQTT_URL` and friends, and the paho client."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from willay.config import Settings
from willay.errors import ConfigurationError

__all__ = ["Broker", "MqttClient", "RawMessageHandler", "connect_properties", "make_client"]

log = logging.getLogger(__name__)

KEEPALIVE = 30
PUBACK_SUCCESS = ReasonCode(PacketTypes.PUBACK)  # a PUBACK of two bytes: success, no properties
NO_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]
RECV_CHUNK = 1 << 16


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


class RawMessageHandler(Protocol):
    """Takes an incoming PUBLISH as it came: its payload, topic, message id and QoS."""

    def __call__(self, payload: bytes, *, topic: bytes, mid: int, qos: int) -> None: ...


class MqttClient(mqtt.Client):
    """paho's client, reading and writing the socket in large chunks, optionally handing PUBLISH
    raw.

    paho asks for a packet's header a byte at a time, a system call each: three or four calls per
    message. This reads up to `RECV_CHUNK` bytes at once, hands paho the bytes it asks for, and
    keeps paho reading while bytes wait here (where `select()` cannot see them). Likewise paho
    writes packet by packet; here the packets one write turn has gathered (a batch's PUBACKs,
    what queued while the socket was full) go out in one call, and what the socket does not
    take waits for the next turn (`want_write`).

    With `on_raw_message` set, an incoming QoS 0 or 1 PUBLISH goes to it as
    `(payload, topic=, mid=, qos=)`, its MQTT 5 properties skipped: paho's message object and
    properties parsing cost more than everything else the bridge does with a message. It is
    acknowledged as paho would (`manual_ack`: by the caller). A plain successful PUBACK (two
    bytes) is taken without paho decoding a reason code and properties object for it.

    It is driven by `serve()` in its owner's thread, never by paho's own thread (`loop_start`),
    so it has no wake-up socket pair: a publish is one system call, not two.
    """

    _rbuf: bytes = b""
    _rpos: int = 0
    _gather: bytearray | None = None  # while `_packet_write` runs: where packets go
    _unsent: bytearray | None = None  # gathered, not yet taken by the socket
    on_raw_message: RawMessageHandler | None = None
    backoff: tuple[float, float] = (1.0, 60.0)  # seconds between reconnects: first, longest
    _backoff_delay: float = 0.0
    _backoff_until: float = 0.0

    def serve(self, timeout: float) -> None:
        """One turn of the network loop in the caller's thread (for use without paho's thread):
        reads, writes, keeps alive, and while there is no connection, reconnects with backoff."""
        if self.socket() is None:
            wait = self._backoff_until - time.monotonic()
            if wait > 0:
                time.sleep(min(timeout, wait))
                return
            try:
                self.reconnect()
            except OSError as exc:
                low, high = self.backoff
                self._backoff_delay = min(high, max(low, self._backoff_delay * 2))
                self._backoff_until = time.monotonic() + self._backoff_delay
                log.warning(
                    "broker %s:%s unreachable (%s); retrying in %.1f s",
                    self.host,
                    self.port,
                    exc,
                    self._backoff_delay,
                )
                return
        self._loop(timeout)  # not `loop()`: it makes the wake-up socket pair paho's thread needs
        if self.is_connected():
            self._backoff_delay = 0.0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            self._rbuf, self._rpos = super()._sock_recv(RECV_CHUNK), 0
        data = self._rbuf[self._rpos : self._rpos + bufsize]
        self._rpos += len(data)
        return data

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._rpos < len(self._rbuf):
            rc = super().loop_read(max_packets)
        return rc

    def _handle_publish(self) -> MQTTErrorCode:
        header, packet = self._in_packet["command"], self._in_packet["packet"]
        qos = (header & 0x06) >> 1
        handler = self.on_raw_message
        if handler is None or qos > 1 or self._protocol != mqtt.MQTTv5:
            return super()._handle_publish()
        pos = 2 + int.from_bytes(packet[:2], "big")
        topic = bytes(packet[2:pos])
        mid = 0
        if qos:
            mid = int.from_bytes(packet[pos : pos + 2], "big")
            pos += 2
        length, shift = 0, 0  # the properties' length, a variable byte integer
        while True:
            byte = packet[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        with self._in_callback_mutex:
            handler(bytes(packet[pos + length :]), topic=topic, mid=mid, qos=qos)
        if qos and not self._manual_ack:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_all(self, mids: Iterable[int]) -> None:
        """Acknowledge QoS 1 messages (`manual_ack`) with one write: PUBACKs back to back."""
        packet = b"".join(b"\x40\x02" + mid.to_bytes(2, "big") for mid in mids)
        if packet:
            self._packet_queue(mqtt.PUBACK, packet, 0, 0)

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        packet = self._in_packet["packet"]
        if cmd != "PUBACK" or len(packet) != 2:  # not a plain success: paho decodes it
            return super()._handle_pubackcomp(cmd)
        mid = int.from_bytes(packet, "big")
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, PUBACK_SUCCESS, NO_PROPERTIES)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _sock_send(self, buf: bytes | bytearray) -> int:
        if self._gather is None:
            return super()._sock_send(buf)
        self._gather += buf
        return len(buf)

    def _packet_write(self) -> MQTTErrorCode:
        unsent = self._unsent = self._unsent or bytearray()
        self._gather = unsent  # after what an earlier turn left, in order
        try:
            rc = super()._packet_write()
        finally:
            self._gather = None
        while unsent and self._sock is not None:
            try:
                sent = super()._sock_send(unsent)
            except BlockingIOError:
                return MQTTErrorCode.MQTT_ERR_AGAIN
            except OSError:
                return MQTTErrorCode.MQTT_ERR_CONN_LOST
            del unsent[:sent]
        return rc

    def want_write(self) -> bool:
        return bool(self._unsent) or super().want_write()

    def reconnect(self) -> MQTTErrorCode:
        self._unsent, self._rbuf, self._rpos = None, b"", 0  # bytes of the last connection
        return super().reconnect()

    def _sock_close(self) -> None:
        unsent, self._unsent = self._unsent, None
        sock = self._sock
        if unsent and isinstance(sock, socket.socket):  # e.g. a DISCONNECT gathered just before
            with contextlib.suppress(OSError):
                sock.settimeout(1.0)
                sock.sendall(unsent)
        self._rbuf, self._rpos = b"", 0
        super()._sock_close()


def make_client(
    broker: Broker,
    *,
    client_id: str,
    reconnect: tuple[float, float],
    manual_ack: bool = False,
    on_raw_message: RawMessageHandler | None = None,
) -> MqttClient:
    """A paho 2.x MQTT 5 client (callback API 2) with credentials, TLS and reconnect backoff."""
    client = MqttClient(
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
    client.on_raw_message = on_raw_message
    client.backoff = reconnect
    return client


def connect_properties(
    *, session_expiry: int = 0, receive_maximum: int | None = None
) -> Properties:
    """CONNECT properties: how long the broker keeps the session, how many messages in flight."""
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    if session_expiry:
        properties.SessionExpiryInterval = session_expiry
    if receive_maximum is not None:
        properties.ReceiveMaximum = receive_maximum
    return properties
