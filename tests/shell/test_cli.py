"""The `willay` command as a whole: its version, and help on every command of every group."""

import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from shell.cli import app
from willay import __version__

runner = CliRunner()


def every_command(group: TyperGroup, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every command and group under `group`."""
    found = []
    for name, command in group.commands.items():
        found.append((*path, name))
        if isinstance(command, TyperGroup):
            found += every_command(command, (*path, name))
    return found


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"willay {__version__}\n"


def test_help_alias_and_no_arguments_show_the_commands() -> None:
    for arguments in (["-h"], []):
        result = runner.invoke(app, arguments)
        assert "Usage: willay [OPTIONS] COMMAND [ARGS]..." in result.output
        assert "Serve the USSD endpoint" in result.output


def test_every_group_and_command_answers_help_with_its_usage() -> None:
    commands = every_command(typer.main.get_group(app))
    groups = {c[0] for c in commands if len(c) > 1}
    assert groups == {"alerts", "audio", "content", "menus", "model", "sms", "studio"}
    assert {"serve", "bridge", "train", "evaluate"} <= {c[0] for c in commands}
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        assert f"Usage: willay {' '.join(command)} " in result.stdout
