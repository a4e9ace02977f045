"""`willay menus`: check the USSD journey definitions."""

from __future__ import annotations

import typer

from shell.cli.terminal import out, settings_from, user_errors

__all__ = ["app"]

app = typer.Typer(help="The USSD journey definitions.", no_args_is_help=True)


@app.command("check")
def menus_check() -> None:
    """Validate the USSD journey: screens, languages, page budget, depth."""
    from ussd.actions import ACTIONS
    from ussd.menus import JOURNEY_FILE, load_journey

    settings = settings_from()
    with user_errors():
        journey = load_journey(JOURNEY_FILE, actions=set(ACTIONS), budget=settings.ussd_page_chars)
    out.print(f"{len(journey.screens)} screens; page budget {settings.ussd_page_chars} septets")
