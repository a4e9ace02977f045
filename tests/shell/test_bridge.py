"""`willay bridge`: help, and a user's mistake as one red line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shell.cli import app
from telemetry import Spool

runner = CliRunner()


def test_help_says_what_it_does() -> None:
    result = runner.invoke(app, ["bridge", "--help"])
    assert result.exit_code == 0, result.output
    assert "InfluxDB" in result.output and "--client-id" in result.output


def test_without_broker_or_influxdb_it_says_so() -> None:
    result = runner.invoke(app, ["bridge"], env={"WILLAY_MQTT_URL": "mqtt://127.0.0.1:1883"})
    assert result.exit_code == 1
    assert "needs WILLAY_MQTT_URL and WILLAY_INFLUX_URL" in result.output


def test_a_bad_broker_url_is_refused() -> None:
    result = runner.invoke(app, ["bridge"], env={"WILLAY_MQTT_URL": "http://broker"})
    assert result.exit_code == 1 and "invalid settings" in result.output


def test_two_bridges_with_one_client_id_are_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WILLAY_MQTT_URL", "mqtt://127.0.0.1:1883")
    monkeypatch.setenv("WILLAY_INFLUX_URL", "http://127.0.0.1:8086")
    monkeypatch.setenv("WILLAY_SPOOL_DIR", str(tmp_path))
    held = Spool(tmp_path / "bridge-twin" / "spool")
    try:
        result = runner.invoke(app, ["bridge", "--client-id", "twin"])
    finally:
        held.close()
    assert result.exit_code == 1
    assert "in use by another process" in result.output


@pytest.mark.parametrize(
    ("option", "setting"), [("--group", "bridge_group"), ("--client-id", "bridge_client_id")]
)
def test_options_take_names_only(option: str, setting: str) -> None:
    result = runner.invoke(app, ["bridge", option, "bad name!"])
    assert result.exit_code == 1
    # refused for the name itself, before the missing broker and InfluxDB could refuse it
    assert result.output.startswith("invalid settings") and f"\n{setting}\n" in result.output
