"""`willay bridge`: events from the MQTT broker into InfluxDB."""

from __future__ import annotations

from typing import Annotated

import typer

from shell.cli.terminal import fail, out, settings_from, user_errors

__all__ = ["bridge"]


def bridge(
    group: Annotated[
        str | None,
        typer.Option(
            help="Shared-subscription group: the bridges of one group share the events.",
            envvar="WILLAY_BRIDGE_GROUP",
        ),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            help="Fixed MQTT client id; the broker keeps this bridge's session under it.",
            envvar="WILLAY_BRIDGE_CLIENT_ID",
        ),
    ] = None,
) -> None:
    """Move events from the MQTT broker into InfluxDB until stopped (Ctrl-C or SIGTERM)."""
    import signal
    import threading

    from telemetry import Bridge

    settings = settings_from(bridge_group=group, bridge_client_id=client_id)
    if settings.mqtt_url is None or settings.influx_url is None:
        raise fail("the bridge needs WILLAY_MQTT_URL and WILLAY_INFLUX_URL")
    with user_errors():
        worker = Bridge.from_settings(settings)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    out.print(f"Bridge {worker.client_id}: {worker.broker} (group {worker.group})")
    out.print(f"  -> InfluxDB {worker.influx}; spool {worker.spool.directory}")
    worker.run(stop)
    out.print(f"Stopped: {worker.stats}")
