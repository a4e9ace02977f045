from pathlib import Path

import pytest

from ussd.actions import ACTIONS
from ussd.menus import JOURNEY_FILE, MAX_DEPTH, _menu_depths, load_journey
from willay.errors import MenuDefinitionError

HERE = Path(__file__).parent / "menus"


def load(name: str, budget: int = 160):
    return load_journey(HERE / name, actions=ACTIONS, budget=budget)


def test_valid_journey_loads_with_shorthand_normalised() -> None:
    journey = load("valid_small.yaml")
    assert journey.screens["pick"].next == {"ok": "tip", "none": "main", "unsigned": "danger"}
    assert journey.targets("main") == ["pick"]


def test_invalid_journey_reports_every_problem() -> None:
    with pytest.raises(MenuDefinitionError) as caught:
        load("invalid_many.yaml")
    assert caught.value.problems == [
        "danger_screen: no screen named 'peligro'",
        "screens.start: unknown action 'fly_away'",
        "screens.gate: no next for outcome 'missing' of need_consent",
        "screens.gate: need_consent never answers 'maybe'",
        "screens.main: next screen 'nowhere' does not exist",
        "screens.main.text: missing language quy",
        "screens.main.options[2]: option does not fit a 160-septet page (es)",
        "tip_screen: 'main' is not a tip screen",
        "screens.level5: menu level 5, deeper than 4",
    ]


def test_unknown_screen_type_is_named() -> None:
    with pytest.raises(MenuDefinitionError, match="screens.main: Input tag 'carousel'"):
        load("invalid_type.yaml")


def test_shipped_journey_is_valid_at_every_budget_and_shallow() -> None:
    for budget in (120, 160, 182):
        journey = load_journey(JOURNEY_FILE, actions=ACTIONS, budget=budget)
    assert max(_menu_depths(journey).values()) <= MAX_DEPTH
