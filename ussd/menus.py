"""Menu definitions: the journey YAML as typed screens, validated as a whole before serving.

Shorthand is normalised on load (`next: x` becomes `{ok: x}`), so the engine handles one shape.
`load_journey` gathers every problem (unknown type, dangling next screen, missing language,
unknown action, a line over the page budget, a menu deeper than 4 levels) and raises
`MenuDefinitionError` with all of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from willay.errors import MenuDefinitionError
from willay.gsm7 import septets, to_gsm7
from willay.journeys import MAX_DEPTH, ActionStep, menu_depths, read_definition
from willay.languages import REQUIRED_LANGUAGES

__all__ = [
    "JOURNEY_FILE",
    "ActionScreen",
    "EndScreen",
    "Journey",
    "MenuScreen",
    "Option",
    "Screen",
    "TipScreen",
    "load_journey",
]

JOURNEY_FILE = Path(__file__).parent / "menus" / "journey.yaml"

Texts = dict[str, str]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Model):
    label: Texts
    next: str
    value: str | None = None


class MenuScreen(_Model):
    """A text with numbered options; `source` fills the options from the catalog."""

    type: Literal["menu"]
    text: Texts
    options: list[Option] = []
    source: Literal["topics", "regions", "languages"] | None = None
    field: Literal["region", "age_group", "pregnant", "child_under5"] | None = None
    next: str | None = None


class TipScreen(_Model):
    """The tip in the session, paginated, then its feedback options."""

    type: Literal["tip"]
    options: list[Option]


class EndScreen(_Model):
    """A last screen: the session ends."""

    type: Literal["end"]
    text: Texts


class ActionScreen(ActionStep):
    """Runs an action (ussd/actions.py) and goes on to `next[outcome]`; never displayed."""


Screen = Annotated[MenuScreen | TipScreen | EndScreen | ActionScreen, Field(discriminator="type")]


class NavKey(_Model):
    key: str = Field(pattern=r"^\d{1,2}$")
    label: Texts


class Navigation(_Model):
    back: NavKey
    more: NavKey
    home: NavKey
    danger: NavKey


class Journey(_Model):
    initial_screen: str
    home_screen: str
    danger_screen: str
    tip_screen: str
    navigation: Navigation
    notices: dict[str, Texts]
    screens: dict[str, Screen]

    def targets(self, name: str) -> list[str]:
        """The screens reachable in one step from screen `name`."""
        screen = self.screens[name]
        found = [o.next for o in getattr(screen, "options", [])]
        if isinstance(screen, ActionScreen):
            found += screen.next.values()
        elif isinstance(screen, MenuScreen) and screen.next:
            found.append(screen.next)
        return found


def _texts_of(journey: Journey) -> list[tuple[str, Texts]]:
    found: list[tuple[str, Texts]] = [
        (f"navigation.{k}", getattr(journey.navigation, k).label)
        for k in ("back", "more", "home", "danger")
    ]
    found += [(f"notices.{k}", v) for k, v in journey.notices.items()]
    for name, screen in journey.screens.items():
        if isinstance(screen, MenuScreen | EndScreen):
            found.append((f"screens.{name}.text", screen.text))
        for i, option in enumerate(getattr(screen, "options", [])):
            found.append((f"screens.{name}.options[{i}]", option.label))
    return found


def _menu_depths(journey: Journey) -> dict[str, int]:
    """Menu levels from the home screen: action screens pass through without a level."""
    return menu_depths(
        journey.screens,
        journey.home_screen,
        journey.targets,
        counts=lambda screen: not isinstance(screen, ActionScreen),
        stop={journey.danger_screen},
    )


def _problems(journey: Journey, actions: set[str], budget: int) -> list[str]:
    problems: list[str] = []
    for field in ("initial_screen", "home_screen", "danger_screen", "tip_screen"):
        if getattr(journey, field) not in journey.screens:
            problems.append(f"{field}: no screen named {getattr(journey, field)!r}")
    for name, screen in journey.screens.items():
        for target in journey.targets(name):
            if target not in journey.screens:
                problems.append(f"screens.{name}: next screen {target!r} does not exist")
        if isinstance(screen, ActionScreen) and screen.run not in actions:
            problems.append(f"screens.{name}: unknown action {screen.run!r}")
        if isinstance(screen, EndScreen):
            for code in REQUIRED_LANGUAGES:
                if septets(to_gsm7(screen.text.get(code, ""))) > budget:
                    problems.append(f"screens.{name}.text: longer than {budget} septets ({code})")
        if isinstance(screen, MenuScreen) and screen.source and not screen.next:
            problems.append(f"screens.{name}: a menu with a source needs 'next'")
    for where, texts in _texts_of(journey):
        missing = [code for code in REQUIRED_LANGUAGES if not texts.get(code)]
        if missing and not (where.endswith("language.text") and texts.get("es")):
            problems.append(f"{where}: missing language {', '.join(missing)}")
    nav = journey.navigation
    for code in REQUIRED_LANGUAGES:
        # the tightest page: the re-prompt line, one option, the "more" line
        more = f"{nav.more.key} {nav.more.label.get(code, '')}"
        invalid = journey.notices.get("invalid", {}).get(code, "")
        for where, texts in _texts_of(journey):
            if ".options[" in where:
                lines = [invalid, f"99 {texts.get(code, '')}", more]
                if septets(to_gsm7("\n".join(lines))) > budget:
                    problems.append(f"{where}: option does not fit a {budget}-septet page ({code})")
    if not isinstance(journey.screens.get(journey.tip_screen), TipScreen):
        problems.append(f"tip_screen: {journey.tip_screen!r} is not a tip screen")
    for name, level in _menu_depths(journey).items():
        if level > MAX_DEPTH:
            problems.append(f"screens.{name}: menu level {level}, deeper than {MAX_DEPTH}")
    return problems


def load_journey(path: Path, *, actions: set[str], budget: int) -> Journey:
    """Parse and validate a journey file; raise `MenuDefinitionError` listing every problem."""
    journey = read_definition(path, Journey)
    problems = _problems(journey, actions, budget)
    if problems:
        raise MenuDefinitionError(problems)
    return journey
