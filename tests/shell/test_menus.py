"""`willay menus check` and `check-flow`: the shipped journey and call flow pass with their size;
a broken one fails with every problem listed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shell.cli import app

TESTS = Path(__file__).parents[1]
JOURNEY = TESTS / "ussd" / "menus" / "invalid_many.yaml"
FLOW = TESTS / "ivr" / "flows" / "invalid_many.yaml"

runner = CliRunner()


def test_menus_check() -> None:
    result = runner.invoke(app, ["menus", "check"])
    assert result.exit_code == 0, result.output
    assert "page budget 160 septets" in result.stdout


def test_the_shipped_flow_passes_with_its_size() -> None:
    result = runner.invoke(app, ["menus", "check-flow"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("prompts")
    nodes, prompts = (int(part.split()[0]) for part in result.stdout.strip().split(";"))
    assert nodes > 20 and prompts > 10


@pytest.mark.parametrize(
    ("command", "file", "expected", "count"),
    [
        (
            "check",
            JOURNEY,
            [
                "screens.gate: no next for outcome 'missing' of need_consent",
                "screens.gate: need_consent never answers 'maybe'",
                "screens.main: next screen 'nowhere' does not exist",
            ],
            9,
        ),
        (
            "check-flow",
            FLOW,
            [
                "nodes.pick: no next for outcome 'unsigned' of pick_for_me",
                "nodes.main: next node 'nowhere' does not exist",
                "prompts.main: missing language quy",
                "nodes.orphan: never reached from 'start'",
                "nodes.deep1: prompt 'missing_prompt' does not exist",
            ],
            18,
        ),
    ],
)
def test_a_broken_definition_lists_every_problem_and_fails(
    command: str, file: Path, expected: list[str], count: int
) -> None:
    result = runner.invoke(app, ["menus", command, str(file)])
    assert result.exit_code == 1
    for problem in expected:
        assert problem in result.stderr
    assert f"{count} problem(s) found" in result.stderr


@pytest.mark.parametrize("command", ["check", "check-flow"])
def test_an_unreadable_definition_is_one_problem(command: str, tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("nodes: [", encoding="utf-8")
    result = runner.invoke(app, ["menus", command, str(bad)])
    assert result.exit_code == 1
    assert "cannot read YAML" in result.stderr and "1 problem(s) found" in result.stderr
