"""`create_app`: a journey whose action step misses an outcome never serves."""

from __future__ import annotations

from pathlib import Path

import pytest

import shell.app
from shell.app import create_app
from ussd.menus import JOURNEY_FILE
from willay.config import Settings
from willay.errors import MenuDefinitionError

PICK = (
    "pick_for_me: {type: action, run: pick_for_me, next: {ok: tip, none: main, unsigned: danger}}"
)


def test_the_app_refuses_to_start_without_a_branch_for_an_outcome(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = JOURNEY_FILE.read_text(encoding="utf-8")
    assert PICK in shipped
    broken = tmp_path / "journey.yaml"
    broken.write_text(shipped.replace(PICK, PICK.replace(", unsigned: danger", "")), "utf-8")
    monkeypatch.setattr(shell.app, "JOURNEY_FILE", broken)
    with pytest.raises(MenuDefinitionError) as caught:
        create_app(settings)
    assert caught.value.problems == [
        "screens.pick_for_me: no next for outcome 'unsigned' of pick_for_me"
    ]
