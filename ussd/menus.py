"""Menu definitions: the journey YAML as typed screens, validated as a whole before serving.

Shorthand is normalised on load (`next: x` becomes `{ok: x}`), so the engine handles one shape.
`load_journey` gathers every problem (unknown type, dangling next screen, missing language,
unknown action or an outcome of it with no branch, a line over the page budget, a menu deeper
than 4 levels) and raises `MenuDefinitionError` with all of them. `tip_fit_problems` and
`alert_room` check content against the journey's screens: tips that a phone cannot show well,
the room an alert line has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dialogue import MAX_DEPTH, Action, ActionStep, menu_depths, read_definition
from ussd.paging import Page, PageLayout, paginate
from willay.catalog import Catalog, Tip
from willay.errors import MenuDefinitionError
from willay.gsm7 import septets, to_gsm7
from willay.languages import REQUIRED_LANGUAGES, pick_text

__all__ = [
    "JOURNEY_FILE",
    "ActionScreen",
    "EndScreen",
    "Journey",
    "MenuScreen",
    "Option",
    "Screen",
    "TipScreen",
    "alert_room",
    "load_journey",
    "option_lines",
    "tip_fit_problems",
    "tip_pages",
    "tip_text",
]

JOURNEY_FILE = Path(__file__).parent / "menus" / "journey.yaml"
MAX_TIP_PAGES = 3

Texts = dict[str, str]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Model):
    label: Texts
    next: str
    value: str | None = None


def option_lines(options: Sequence[Option], lang: str) -> list[str]:
    """Numbered option lines in `lang` (or its fallback)."""
    return [f"{i} {pick_text(o.label, lang)[0]}" for i, o in enumerate(options, start=1)]


class MenuScreen(_Model):
    """A text with numbered options; `source` fills the options from the catalog."""

    type: Literal["menu"]
    text: Texts
    options: list[Option] = []
    source: Literal["topics", "regions", "languages"] | None = None
    field: Literal["region", "age_group", "pregnant", "child_under5"] | None = None
    next: str | None = None

    def targets(self) -> list[str]:
        """The screens one step away."""
        return [o.next for o in self.options] + ([self.next] if self.next else [])


class TipScreen(_Model):
    """The tip in the session, paginated, then its feedback options."""

    type: Literal["tip"]
    options: list[Option]

    def targets(self) -> list[str]:
        """The screens one step away."""
        return [o.next for o in self.options]


class EndScreen(_Model):
    """A last screen: the session ends."""

    type: Literal["end"]
    text: Texts

    def targets(self) -> list[str]:
        """None: the session ends here."""
        return []


class ActionScreen(ActionStep):
    """Runs an action (ussd/actions.py) and goes on to `next[outcome]`; never displayed."""


Screen = Annotated[MenuScreen | TipScreen | EndScreen | ActionScreen, Field(discriminator="type")]


class NavKey(_Model):
    key: str = Field(pattern=r"^\d{1,2}$")
    label: Texts

    def line(self, lang: str) -> str:
        """The key and its label in `lang`, as a screen shows it."""
        return f"{self.key} {pick_text(self.label, lang)[0]}"


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
        return self.screens[name].targets()

    def layout(self, lang: str, *, budget: int) -> PageLayout:
        """Pages of `budget` septets, with the "more" line in `lang`."""
        return PageLayout(budget=budget, more_line=self.navigation.more.line(lang))

    def footers(self, lang: str, *, back: bool, home: bool, danger: bool) -> list[list[str]]:
        """Navigation footers for a screen, fullest first: home goes first, then back."""
        nav = self.navigation
        back_keys = [nav.back] if back else []
        home_keys = [nav.home] if home else []
        danger_keys = [nav.danger] if danger else []
        choices = [back_keys + home_keys + danger_keys, back_keys + danger_keys, danger_keys]
        return [[k.line(lang) for k in keys] for keys in choices]


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
        targets=journey.targets,
        counts=lambda screen: not isinstance(screen, ActionScreen),
        stop={journey.danger_screen},
    )


def _problems(journey: Journey, *, actions: Mapping[str, Action[Any]], budget: int) -> list[str]:
    problems: list[str] = []
    for field in ("initial_screen", "home_screen", "danger_screen", "tip_screen"):
        if getattr(journey, field) not in journey.screens:
            problems.append(f"{field}: no screen named {getattr(journey, field)!r}")
    for name, screen in journey.screens.items():
        for target in journey.targets(name):
            if target not in journey.screens:
                problems.append(f"screens.{name}: next screen {target!r} does not exist")
        if isinstance(screen, ActionScreen):
            problems += screen.action_problems(f"screens.{name}", actions)
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


def load_journey(path: Path, *, actions: Mapping[str, Action[Any]], budget: int) -> Journey:
    """Parse and validate a journey file; raise `MenuDefinitionError` listing every problem."""
    journey = read_definition(path, Journey)
    problems = _problems(journey, actions=actions, budget=budget)
    if problems:
        raise MenuDefinitionError(problems)
    return journey


def tip_text(journey: Journey, tip: Tip, *, lang: str) -> str:
    """What a tip screen says: the tip in `lang` (or its fallback) and its source."""
    source = pick_text(journey.notices["source"], lang)[0]
    return f"{tip.text_for(lang)[0]} {source} {tip.source.short}"


def tip_pages(journey: Journey, tip: Tip, *, lang: str, budget: int) -> list[Page]:
    """A tip's screen page by page, as a phone shows it when the tip is picked from a menu."""
    screen = journey.screens[journey.tip_screen]
    options = option_lines(screen.options if isinstance(screen, TipScreen) else [], lang)
    footers = journey.footers(lang, back=True, home=True, danger=True)
    layout = journey.layout(lang, budget=budget)
    return paginate(
        tip_text(journey, tip, lang=lang), options=options, nav_choices=footers, layout=layout
    )


def tip_fit_problems(journey: Journey, catalog: Catalog, *, page_chars: int) -> list[str]:
    """Tips whose text cannot be shown well on a phone: odd characters or too many pages."""
    problems = []
    for tip in catalog.tips:
        for lang, raw in tip.text.items():
            if to_gsm7(raw).count("?") > raw.count("?"):
                problems.append(f"tip {tip.id}: {lang} text has characters a phone cannot show")
            pages = tip_pages(journey, tip, lang=lang, budget=page_chars)
            if len(pages) > MAX_TIP_PAGES:
                problems.append(
                    f"tip {tip.id}: {lang} text takes {len(pages)} pages of {page_chars} "
                    f"septets (at most {MAX_TIP_PAGES})"
                )
    return problems


def alert_room(journey: Journey, *, page_chars: int, lang: str) -> int:
    """Septets an alert line may take above a known caller's first screen (home) in `lang`.

    The screen's options and navigation always stay; its title gives way to a longer alert.
    """
    screen = journey.screens[journey.home_screen]
    if not isinstance(screen, MenuScreen):
        raise MenuDefinitionError([f"home_screen: {journey.home_screen!r} is not a menu"])
    options = option_lines(screen.options, lang)
    danger = [journey.navigation.danger.line(lang)]
    layout = journey.layout(lang, budget=page_chars)
    text = pick_text(screen.text, lang)[0]
    page = paginate(text, options=options, nav_choices=[danger], layout=layout)[0]
    return page_chars - septets("\n".join(page.tail)) - 1
