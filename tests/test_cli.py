import re

import pytest
from typer.testing import CliRunner

from tests.fixtures.catalog import raw_tip, write_content
from willay import __version__
from willay.catalog import load_catalog
from willay.cli import app
from willay.config import Settings

runner = CliRunner()


def test_content_check_ends_with_the_summary() -> None:
    result = runner.invoke(app, ["content", "check"])
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"\d+ tips in \d+ topics; es \d+/\d+(, [a-z]{2,3} \d+/\d+)+;"
        r" signed off es \d+/\d+(, [a-z]{2,3} \d+/\d+)+",
        last,
    )
    assert last == load_catalog(Settings().content_dir).summary()


def test_content_check_lists_each_problem_and_fails(tmp_path) -> None:
    tips = [raw_tip(), raw_tip(), raw_tip(id="anemia-2", text={"es": "Solo."})]
    result = runner.invoke(
        app, ["content", "check", "--content-dir", str(write_content(tmp_path, tips))]
    )
    assert result.exit_code == 1
    assert "error: tip anemia-1: duplicate id" in result.stderr
    assert "error: tip anemia-2: missing Quechua text (quy or quz)" in result.stderr
    assert "2 problem(s) found" in result.stderr


def test_content_check_refuses_tips_too_long_for_the_phone(tmp_path, monkeypatch) -> None:
    long = "Palabra " * 80
    tips = [raw_tip(text={"es": long, "quy": "Yawarchata mikuy."})]
    result = runner.invoke(
        app, ["content", "check", "--content-dir", str(write_content(tmp_path, tips))]
    )
    assert result.exit_code == 1
    assert re.search(
        r"tip anemia-1: es text takes \d+ pages of 160 septets \(at most 3\)", result.stderr
    )


def test_content_check_warns_of_near_expiry(tmp_path) -> None:
    tips = [raw_tip(expires_on="2000-01-02"), raw_tip(id="anemia-2")]
    result = runner.invoke(
        app, ["content", "check", "--content-dir", str(write_content(tmp_path, tips))]
    )
    assert result.exit_code == 0
    assert "tip anemia-1: expired on 2000-01-02" in result.stderr


def test_menus_check() -> None:
    result = runner.invoke(app, ["menus", "check"])
    assert result.exit_code == 0, result.output
    assert "page budget 160 septets" in result.stdout


def test_version_and_help_on_every_command() -> None:
    assert __version__ in runner.invoke(app, ["--version"]).stdout
    for command in (["serve"], ["content", "check"], ["menus", "check"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.stdout
    short = runner.invoke(app, ["-h"])
    assert short.exit_code == 0 and "Usage" in short.stdout


def test_serve_passes_host_and_port(monkeypatch) -> None:
    calls = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: calls.update(kw))
    result = runner.invoke(app, ["serve", "--host", "127.0.0.2", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert calls == {"host": "127.0.0.2", "port": 8123, "log_level": "info", "access_log": False}
    assert "POST http://127.0.0.2:8123/ussd/africastalking" in result.stdout
    assert "http://127.0.0.2:8123/simulator" in result.stdout


@pytest.mark.parametrize(
    ("port", "code", "reason"),
    [
        ("0", 1, "Input should be greater than or equal to 1"),
        ("70000", 1, "Input should be less than or equal to 65535"),
        ("x", 2, "Invalid value for '--port'"),
    ],
)
def test_serve_refuses_a_bad_port(port: str, code: int, reason: str) -> None:
    result = runner.invoke(app, ["serve", "--port", port])
    assert result.exit_code == code and reason in result.stderr
