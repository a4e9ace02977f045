"""The `willay` command line: one module per command group, gathered here into one Typer app."""

from __future__ import annotations

from typing import Annotated

import typer

from shell.cli import alerts, audio, bridge, content, menus, model, serve, sms, studio
from shell.cli.terminal import out
from shell.logs import configure_logging
from willay import __version__

__all__ = ["app", "main"]

app = typer.Typer(
    name="willay",
    help="Willay: health tips in Spanish and Quechua over USSD, IVR and SMS.",
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
)
app.command()(serve.serve)
app.command()(bridge.bridge)
app.command()(model.train)
app.command()(model.evaluate)
app.add_typer(content.app, name="content")
app.add_typer(menus.app, name="menus")
app.add_typer(sms.app, name="sms")
app.add_typer(audio.app, name="audio")
app.add_typer(studio.app, name="studio")
app.add_typer(model.app, name="model")
app.add_typer(alerts.app, name="alerts")


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
    configure_logging(verbose=verbose)


def main() -> None:
    """Entry point of the `willay` script."""
    app()
