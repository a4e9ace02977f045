"""`willay alerts publish`: `--to` a day, in any ISO form, includes that whole day."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from shell.cli import app
from willay.alerts import FileAlertBoard
from willay.config import Settings

runner = CliRunner()


@pytest.mark.parametrize(
    ("starts", "ends"), [("2030-06-18", "2030-06-18"), ("20300618", "20300618")]
)
def test_a_day_given_as_the_end_is_included(
    starts: str, ends: str, settings: Settings, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("WILLAY_ALERTS_FILE", str(tmp_path / "alerts.json"))
    result = runner.invoke(
        app,
        ["alerts", "publish", "--region", "all", "--from", starts, "--to", ends]
        + ["--text-es", "Vacunate contra la influenza.", "--no-sms"],
    )
    assert result.exit_code == 0 and "published alert" in result.stdout, result.output
    (alert,) = FileAlertBoard(tmp_path / "alerts.json").alerts()
    assert alert.starts == dt.datetime(2030, 6, 18, 5, tzinfo=dt.UTC)  # Lima is UTC-5
    assert alert.ends == dt.datetime(2030, 6, 19, 5, tzinfo=dt.UTC)


def test_an_end_with_a_time_is_that_moment(settings: Settings, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WILLAY_ALERTS_FILE", str(tmp_path / "alerts.json"))
    result = runner.invoke(
        app,
        ["alerts", "publish", "--region", "all", "--from", "2030-06-18", "--to", "2030-06-18T12:00"]
        + ["--text-es", "Vacunate contra la influenza.", "--no-sms"],
    )
    assert result.exit_code == 0, result.output
    (alert,) = FileAlertBoard(tmp_path / "alerts.json").alerts()
    assert alert.ends == dt.datetime(2030, 6, 18, 17, tzinfo=dt.UTC)
