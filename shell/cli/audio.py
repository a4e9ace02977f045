"""`willay audio`: render and encode every tip and IVR prompt into the audio cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shell.cli.terminal import CODES, err, fail, out, settings_from, user_errors

__all__ = ["app"]

app = typer.Typer(help="Pre-rendered audio for calls and the app.", no_args_is_help=True)


@app.command("build")
def audio_build(
    *,
    only: Annotated[
        list[str] | None,
        typer.Option(metavar="ID", help="Render only this tip id or IVR prompt; repeat for more."),
    ] = None,
    lang: Annotated[
        list[str] | None,
        typer.Option(
            metavar="CODE", help=f"Render only this language ({CODES}; mul: mixed prompts)."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Render again what is already in the cache.")
    ] = False,
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="Do nothing if the cache has a manifest.")
    ] = False,
    audio_dir: Annotated[
        Path | None,
        typer.Option(help="Where the cache lives.", envvar="WILLAY_AUDIO_DIR", file_okay=False),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Processes rendering in parallel.", envvar="WILLAY_AUDIO_WORKERS", min=1),
    ] = None,
) -> None:
    """Speak every tip and IVR prompt; encode for calls (MP3 8 kHz) and the app (Opus)."""
    from rich import filesize
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from audio_cache import load_manifest, tip_utterances
    from audio_cache.build import AudioBuild, ItemDone
    from ivr import load_call_flow
    from willay.catalog import load_catalog

    settings = settings_from(audio_dir=audio_dir, audio_workers=workers)
    if if_missing and load_manifest(settings.audio_dir) is not None:
        out.print(f"audio cache already in {settings.audio_dir}")
        return
    with user_errors():
        catalog = load_catalog(settings.content_dir)
        utterances = [*tip_utterances(catalog), *load_call_flow(catalog).utterances()]
        build = AudioBuild(settings, utterances, only=only or (), languages=lang or (), force=force)
    progress = Progress(
        TextColumn("{task.fields[item]:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[size]:>10}"),
        TimeRemainingColumn(),
        console=err,
    )
    written = 0

    def done(item: ItemDone) -> None:
        nonlocal written
        if item.error:
            progress.console.log(f"[red]failed[/red] {item.label}: {item.error}")
        elif item.rendered:
            written += item.bytes
            if item.source == "human":
                progress.console.log(f"{item.label}: human recording")
        progress.update(task, advance=1, item=item.label, size=filesize.decimal(written))

    with progress:
        task = progress.add_task("audio", total=build.total, item="", size="0 bytes")
        with user_errors():
            result = build.run(on_item=done)
    for path in result.unused_recordings:
        err.print(f"[yellow]warning:[/yellow] recording {path.name} names no tip or prompt")
    for label in result.stale_recordings:
        err.print(
            f"[yellow]warning:[/yellow] recording {label} is stale: its text changed since it "
            "was read; the synthetic voice plays until it is recorded again"
        )
    out.print(result.summary(), soft_wrap=True)
    if result.interrupted:
        err.print("[yellow]stopped: the manifest names only finished files; run again[/yellow]")
        raise typer.Exit(code=130)
    if result.failed:
        raise fail(f"{len(result.failed)} clip(s) failed: " + "; ".join(result.failed))
