"""`willay sms`: the weekly SMS tips (send those due, see where the week stands)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shell.cli.terminal import err, fail, out, settings_from, user_errors
from willay.config import Settings

__all__ = ["app"]

app = typer.Typer(help="Weekly SMS tips through Africa's Talking.", no_args_is_help=True)


def _sms_settings(**overrides: Any) -> Settings:
    settings = settings_from(**overrides)
    if settings.redis_url is None:
        raise fail("WILLAY_REDIS_URL is not set: the SMS subscribers live in Redis")
    return settings


@app.command("send-due")
def sms_send_due(
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Phone numbers per provider request.",
            envvar="WILLAY_SMS_BATCH_SIZE",
            min=1,
            max=1000,
        ),
    ] = None,
) -> None:
    """Send each subscriber due this week one tip (run it daily from cron or a CronJob)."""
    import asyncio

    from rich.progress import Progress

    from shell.lifespan import open_sms_channel
    from sms import SendReport

    settings = _sms_settings(sms_batch_size=batch_size)
    if settings.at_api_key is None:
        raise fail("WILLAY_AT_API_KEY is not set: SMS cannot be sent")

    async def send() -> SendReport:
        async with open_sms_channel(settings) as channel:
            with Progress(console=err, transient=True) as progress:
                task = progress.add_task("Sending tips", total=None)
                return await channel.sender.send_due(
                    on_planned=lambda total: progress.update(task, total=total),
                    on_batch=lambda batch: progress.advance(task, len(batch.recipients)),
                )

    with user_errors():
        result = asyncio.run(send())
    out.print(result.summary(), soft_wrap=True)
    if result.error is not None:
        raise fail(f"stopped early, the rest is left for the next run: {result.error}")


@app.command("status")
def sms_status() -> None:
    """Where this week's send stands: subscribers sent, failed, pending, due, not yet due."""
    import asyncio
    from collections import Counter

    from shell.lifespan import open_sms_channel

    settings = _sms_settings()

    async def survey() -> tuple[str, Counter[str]]:
        async with open_sms_channel(settings) as channel:
            return await channel.sender.survey()

    with user_errors():
        week, counts = asyncio.run(survey())
    detail = ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in sorted(counts.items()))
    summary = f"{week}: {sum(counts.values())} subscribers" + (f"; {detail}" if detail else "")
    out.print(summary, soft_wrap=True)
