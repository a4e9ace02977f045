"""`willay menus check-flow`: the call flow checked from the command line, every problem listed."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from shell.cli import app

FLOWS = Path(__file__).parent / "flows"

runner = CliRunner()


def test_the_shipped_flow_passes_with_its_size() -> None:
    result = runner.invoke(app, ["menus", "check-flow"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("prompts")
    nodes, prompts = (int(part.split()[0]) for part in result.stdout.strip().split(";"))
    assert nodes > 20 and prompts > 10


def test_a_broken_flow_lists_every_problem_and_fails() -> None:
    result = runner.invoke(app, ["menus", "check-flow", str(FLOWS / "invalid_many.yaml")])
    assert result.exit_code == 1
    assert "nodes.main: next node 'nowhere' does not exist" in result.stderr
    assert "prompts.main: missing language quy" in result.stderr
    assert "nodes.orphan: never reached from 'start'" in result.stderr
    assert "nodes.deep1: prompt 'missing_prompt' does not exist" in result.stderr
    assert "nodes.pick: no next for outcome 'unsigned' of pick_for_me" in result.stderr
    assert "18 problem(s) found" in result.stderr


def test_an_unreadable_flow_is_one_problem(tmp_path: Path) -> None:
    bad = tmp_path / "call.yaml"
    bad.write_text("nodes: [", encoding="utf-8")
    result = runner.invoke(app, ["menus", "check-flow", str(bad)])
    assert result.exit_code == 1
    assert "cannot read YAML" in result.stderr and "1 problem(s) found" in result.stderr
