"""`willay menus check`: the USSD journey validated, its page budget said."""

from typer.testing import CliRunner

from shell.cli import app

runner = CliRunner()


def test_menus_check() -> None:
    result = runner.invoke(app, ["menus", "check"])
    assert result.exit_code == 0, result.output
    assert "page budget 160 septets" in result.stdout
