"""The `willay` command line: serve the app and check content and menus."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from willay import __version__
from willay.config import Settings
from willay.errors import ProblemsError, WillayError

app = typer.Typer(
    name="willay",
    help="Willay: health tips in Spanish and Quechua over USSD, IVR and SMS.",
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
)
content_app = typer.Typer(help="The tip catalog in content/.", no_args_is_help=True)
menus_app = typer.Typer(help="The USSD journey definitions.", no_args_is_help=True)
app.add_typer(content_app, name="content")
app.add_typer(menus_app, name="menus")

err = Console(stderr=True)
out = Console(highlight=False)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{message}[/red]", highlight=False)
    return typer.Exit(code=1)


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except (ValidationError, WillayError) as exc:
        raise _fail(f"invalid settings: {exc}") from None


def _report(exc: ProblemsError) -> typer.Exit:
    for problem in exc.problems:
        err.print(f"[red]error:[/red] {problem}", highlight=False)
    return _fail(f"{len(exc.problems)} problem(s) found")


def _version(value: bool) -> None:
    if value:
        out.print(f"willay {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False,
) -> None:
    """Willay's command line."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on.", envvar="WILLAY_HOST")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on.", envvar="WILLAY_PORT")
    ] = None,
) -> None:
    """Serve the USSD endpoint, the simulator and the health checks."""
    import uvicorn

    from willay.app import create_app

    settings = _settings(host=host, port=port)
    try:
        application = create_app(settings)
    except ProblemsError as exc:
        raise _report(exc) from None
    base = f"http://{settings.host}:{settings.port}"
    out.print(f"USSD endpoint:  POST {base}/ussd/africastalking")
    out.print(f"Session notice: POST {base}/ussd/africastalking/events")
    if settings.simulator:
        out.print(f"Simulator:      {base}/simulator")
    out.print(f"Store: {'in-process (embedded)' if settings.embedded else 'Redis'}")
    # no access log: callback URLs carry the secret token
    uvicorn.run(
        application, host=settings.host, port=settings.port, log_level="info", access_log=False
    )


@content_app.command("check")
def content_check(
    content_dir: Annotated[
        Path | None,
        typer.Option(help="The content folder.", envvar="WILLAY_CONTENT_DIR", file_okay=False),
    ] = None,
) -> None:
    """Validate the catalog; the last line sums up tips, topics and languages."""
    from ussd.actions import ACTIONS
    from ussd.engine import tip_fit_problems
    from ussd.menus import JOURNEY_FILE, load_journey
    from willay.catalog import load_catalog

    settings = _settings(content_dir=content_dir)
    try:
        catalog = load_catalog(settings.content_dir)
        journey = load_journey(JOURNEY_FILE, actions=set(ACTIONS), budget=settings.ussd_page_chars)
    except ProblemsError as exc:
        raise _report(exc) from None
    today = dt.date.today()
    for tip in catalog.tips:
        if not tip.is_current(today):
            err.print(f"[yellow]warning:[/yellow] tip {tip.id}: expired on {tip.expires_on}")
    for tip in catalog.expiring(today, settings.expiry_warning_days):
        err.print(f"[yellow]warning:[/yellow] tip {tip.id}: expires on {tip.expires_on}")
    problems = tip_fit_problems(journey, catalog, page_chars=settings.ussd_page_chars)
    if problems:
        raise _report(ProblemsError(problems))
    out.print(catalog.summary())


@menus_app.command("check")
def menus_check() -> None:
    """Validate the USSD journey: screens, languages, page budget, depth."""
    from ussd.actions import ACTIONS
    from ussd.menus import JOURNEY_FILE, load_journey

    settings = _settings()
    try:
        journey = load_journey(JOURNEY_FILE, actions=set(ACTIONS), budget=settings.ussd_page_chars)
    except ProblemsError as exc:
        raise _report(exc) from None
    out.print(f"{len(journey.screens)} screens; page budget {settings.ussd_page_chars} septets")


def main() -> None:
    """Entry point of the `willay` script."""
    app()
