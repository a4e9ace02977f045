"""`willay menus check`: the USSD journey validated, its page budget said; a broken one listed."""

from pathlib import Path

from typer.testing import CliRunner

from shell.cli import app

MENUS = Path(__file__).parents[1] / "ussd" / "menus"

runner = CliRunner()


def test_menus_check() -> None:
    result = runner.invoke(app, ["menus", "check"])
    assert result.exit_code == 0, result.output
    assert "page budget 160 septets" in result.stdout


def test_a_journey_missing_an_outcome_fails_with_every_problem() -> None:
    result = runner.invoke(app, ["menus", "check", str(MENUS / "invalid_many.yaml")])
    assert result.exit_code == 1
    assert "screens.gate: no next for outcome 'missing' of need_consent" in result.stderr
    assert "screens.gate: need_consent never answers 'maybe'" in result.stderr
    assert "9 problem(s) found" in result.stderr
