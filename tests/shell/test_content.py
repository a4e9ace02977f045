"""`willay content check`: the catalog's problems, one line each, and its summary."""

import re

from typer.testing import CliRunner

from shell.cli import app
from tests.fixtures.catalog import raw_tip, write_content
from willay.catalog import load_catalog
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
