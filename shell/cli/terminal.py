"""What every command shares: the two consoles, settings from options, one red line per failure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from willay.config import Settings
from willay.errors import ProblemsError, WillayError
from willay.languages import DEFAULT_LANGUAGE, LANGUAGES

__all__ = [
    "CODES",
    "VARIETIES",
    "ContentDirOption",
    "err",
    "fail",
    "out",
    "report",
    "settings_from",
    "user_errors",
]

CODES = ", ".join(LANGUAGES)
VARIETIES = ", ".join(c for c in LANGUAGES if c != DEFAULT_LANGUAGE)

ContentDirOption = Annotated[
    Path | None,
    typer.Option(help="The content folder.", envvar="WILLAY_CONTENT_DIR", file_okay=False),
]

err = Console(stderr=True)
out = Console(highlight=False)


def fail(message: str) -> typer.Exit:
    """Print `message` as one red line; raise what this answers to exit 1."""
    err.print(f"[red]{escape(message)}[/red]", highlight=False)
    return typer.Exit(code=1)


def settings_from(**overrides: Any) -> Settings:
    """The settings of the environment, with the options the user gave (those not `None`)."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except (ValidationError, WillayError) as exc:
        raise fail(f"invalid settings: {exc}") from None


def report(exc: ProblemsError) -> typer.Exit:
    """Print every problem, then the count as the failure line."""
    for problem in exc.problems:
        err.print(f"[red]error:[/red] {escape(problem)}", highlight=False, soft_wrap=True)
    return fail(f"{len(exc.problems)} problem(s) found")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a `ProblemsError` into its list and any other `WillayError` into one red line."""
    try:
        yield
    except ProblemsError as exc:
        raise report(exc) from None
    except WillayError as exc:
        raise fail(exc.message) from None
