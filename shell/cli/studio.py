"""`willay studio`: Willay Studio accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shell.cli.terminal import VARIETIES, fail, out, settings_from, user_errors

__all__ = ["app"]

app = typer.Typer(help="Willay Studio accounts (/studio).", no_args_is_help=True)

StudioDirOption = Annotated[
    Path | None,
    typer.Option(help="Where accounts live.", envvar="WILLAY_STUDIO_DIR", file_okay=False),
]


def _read_password() -> str:
    """The password from stdin: asked twice on a terminal, else the first line of input."""
    import getpass
    import sys

    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise fail("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


@app.command("add-user")
def studio_add_user(
    name: Annotated[str, typer.Argument(help="Account name: 2 to 32 of a-z 0-9 . _ -")],
    *,
    role: Annotated[
        str,
        typer.Option(help="editor, clinical-reviewer, language-reviewer or admin."),
    ],
    lang: Annotated[
        str | None,
        typer.Option(
            metavar="CODE", help=f"The variety a language reviewer reviews ({VARIETIES})."
        ),
    ] = None,
    full_name: Annotated[
        str, typer.Option(help="The person's name, as their sign-offs record it.")
    ] = "",
    credential: Annotated[
        str,
        typer.Option(
            help="Reviewers: role and registration, e.g. 'Obstetra, COP 12345' (sign-offs "
            "record it)."
        ),
    ] = "",
    replace: Annotated[
        bool, typer.Option("--replace", help="Change the role and password of an existing account.")
    ] = False,
    studio_dir: StudioDirOption = None,
) -> None:
    """Create a studio account; the password is read from stdin (never from the command line)."""
    from studio import AccountBook, Role

    settings = settings_from(studio_dir=studio_dir)
    try:
        chosen = Role(role)
    except ValueError:
        raise fail(f"unknown role {role!r}: one of {', '.join(r.value for r in Role)}") from None
    password = _read_password()
    with user_errors():
        account = AccountBook(settings.studio_dir).add(
            name,
            role=chosen,
            password=password,
            lang=lang,
            full_name=full_name,
            credential=credential,
            replace=replace,
        )
    out.print(f"account {account.title} saved in {settings.studio_dir}")


@app.command("users")
def studio_users(studio_dir: StudioDirOption = None) -> None:
    """List the studio's accounts and their roles."""
    from studio import AccountBook

    settings = settings_from(studio_dir=studio_dir)
    for account in AccountBook(settings.studio_dir).all():
        out.print(f"{account.title} since {account.created_at:%Y-%m-%d}")
