"""`willay content`: check the tip catalog, and sign-offs through a spreadsheet."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from shell.cli.terminal import (
    CODES,
    ContentDirOption,
    err,
    fail,
    out,
    report,
    settings_from,
    user_errors,
)
from willay.errors import ProblemsError

__all__ = ["app"]

app = typer.Typer(help="The tip catalog in content/.", no_args_is_help=True)
review_app = typer.Typer(help="Sign-offs through a spreadsheet (CSV).", no_args_is_help=True)
app.add_typer(review_app, name="review")


@app.command("check")
def content_check(content_dir: ContentDirOption = None) -> None:
    """Validate the catalog; the last line sums up tips, topics and languages."""
    from ussd.actions import ACTIONS
    from ussd.menus import JOURNEY_FILE, load_journey, tip_fit_problems
    from willay.catalog import load_catalog
    from willay.review import signoff_notices

    settings = settings_from(content_dir=content_dir)
    with user_errors():
        catalog = load_catalog(settings.content_dir)
        journey = load_journey(JOURNEY_FILE, actions=ACTIONS, budget=settings.ussd_page_chars)
    today = dt.date.today()
    for tip in catalog.tips:
        if not tip.is_current(today):
            err.print(f"[yellow]warning:[/yellow] tip {tip.id}: expired on {tip.expires_on}")
    for tip in catalog.expiring(today, settings.expiry_warning_days):
        err.print(f"[yellow]warning:[/yellow] tip {tip.id}: expires on {tip.expires_on}")
    for notice in signoff_notices(catalog, today=today, within_days=settings.expiry_warning_days):
        err.print(f"[yellow]warning:[/yellow] {escape(notice)}", highlight=False, soft_wrap=True)
    problems = tip_fit_problems(journey, catalog, page_chars=settings.ussd_page_chars)
    if problems:
        raise report(ProblemsError(problems))
    out.print(catalog.summary(today), soft_wrap=True)


@review_app.command("export")
def review_export(
    file: Annotated[Path, typer.Argument(help="The CSV file to write.", dir_okay=False)],
    *,
    lang: Annotated[
        str | None, typer.Option("--lang", help=f"Only this language ({CODES}).")
    ] = None,
    content_dir: ContentDirOption = None,
) -> None:
    """Write one row per (tip, language) for reviewers: UTF-8 CSV with BOM."""
    from willay.catalog import load_catalog
    from willay.review import export_review

    settings = settings_from(content_dir=content_dir)
    try:
        with user_errors():
            rows = export_review(load_catalog(settings.content_dir), file, language=lang)
    except OSError as exc:
        raise fail(f"cannot write {file}: {exc.strerror}") from None
    out.print(f"{rows} rows written to {file}")


@review_app.command("import")
def review_import(
    file: Annotated[Path, typer.Argument(help="The filled CSV file.", dir_okay=False)],
    content_dir: ContentDirOption = None,
) -> None:
    """Record the filled rows as sign-offs; rows whose text changed are refused by id."""
    from willay.catalog import load_catalog
    from willay.review import import_review

    settings = settings_from(content_dir=content_dir)
    with user_errors():
        catalog = load_catalog(settings.content_dir)
        result = import_review(file, content_dir=settings.content_dir, catalog=catalog)
    for record in result.recorded:
        what = f"{record.tip_id}/{record.language}: {record.decision} by {record.reviewer}"
        out.print(f"recorded {escape(what)}", soft_wrap=True)
    for row_id, reason in result.refused:
        err.print(
            f"[red]refused[/red] {escape(row_id)}: {escape(reason)}",
            highlight=False,
            soft_wrap=True,
        )
    out.print(result.summary(), soft_wrap=True)
    if result.refused:
        raise typer.Exit(code=1)
