"""`willay menus`: check the USSD journey and the IVR call flow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shell.cli.terminal import out, settings_from, user_errors

__all__ = ["app"]

app = typer.Typer(help="The USSD journey and the IVR call flow.", no_args_is_help=True)

DefinitionFile = Annotated[
    Path | None, typer.Argument(help="The file to check (default: the shipped one).")
]


@app.command("check")
def menus_check(file: DefinitionFile = None) -> None:
    """Validate the USSD journey: screens, actions' outcomes, languages, page budget, depth."""
    from ussd.actions import ACTIONS
    from ussd.menus import JOURNEY_FILE, load_journey

    settings = settings_from()
    with user_errors():
        journey = load_journey(
            file or JOURNEY_FILE, actions=ACTIONS, budget=settings.ussd_page_chars
        )
    out.print(f"{len(journey.screens)} screens; page budget {settings.ussd_page_chars} septets")


@app.command("check-flow")
def menus_check_flow(file: DefinitionFile = None) -> None:
    """Validate the IVR call flow: nodes, actions' outcomes, prompts per language, keys, reach,
    depth."""
    from ivr import FLOW_FILE, load_call_flow
    from willay.catalog import load_catalog

    settings = settings_from()
    with user_errors():
        flow = load_call_flow(load_catalog(settings.content_dir), path=file or FLOW_FILE)
    out.print(f"{len(flow.nodes)} nodes; {len(flow.prompts)} prompts")
