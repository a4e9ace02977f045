"""`willay alerts`: regional health alerts, published, signed off, withdrawn and texted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape

from shell.cli.terminal import err, fail, out, settings_from, user_errors
from willay.alerts import Alert, AlertBoard, AlertError, AlertFeed, draft_alert, sign_off
from willay.config import Environment, Settings
from willay.errors import WillayError

__all__ = ["app"]

app = typer.Typer(help="Regional health alerts on every channel.", no_args_is_help=True)


def _moment(value: str, *, settings: Settings, end: bool) -> dt.datetime:
    """An ISO date (a whole day in WILLAY_SMS_TIMEZONE: its start, or with `end` the next
    day's) or an ISO date and time (that moment; in WILLAY_SMS_TIMEZONE if it names no zone)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(settings.sms_timezone)
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise fail(f"not a date nor a date and time: {value!r}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)
    return dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(), zone)


@contextmanager
def _board(settings: Settings) -> Iterator[AlertBoard]:
    """The alert board, once it holds what the broker retained; closed when the block ends."""
    from alerts import MqttAlertBoard
    from shell.lifespan import open_alert_board

    board = open_alert_board(settings)
    try:
        if isinstance(board, MqttAlertBoard) and not board.wait_ready():
            raise fail(f"MQTT broker {board.broker} not reachable")
        with user_errors():
            yield board
    finally:
        board.close()


def _text_alert(settings: Settings, alert: Alert) -> None:
    """SMS the alert to its region's subscribers, once each; say why not when it cannot."""
    import asyncio

    from shell.lifespan import open_sms_channel
    from sms import AlertSendReport

    if settings.redis_url is None or settings.at_api_key is None:
        out.print("SMS: not sent (WILLAY_REDIS_URL and WILLAY_AT_API_KEY are needed)")
        return
    if not alert.active(dt.datetime.now(dt.UTC)):
        out.print("SMS: not yet; `willay alerts send-sms` (from cron) texts it once it starts")
        return
    if settings.environment is Environment.production:
        served = alert.servable(dt.datetime.now(dt.UTC).date())
        if served is None:
            out.print("SMS: not sent; in production an alert is texted once signed off")
            return
        alert = served

    async def send() -> AlertSendReport:
        async with open_sms_channel(settings) as channel:
            return await channel.alerts.send(alert)

    try:
        result = asyncio.run(send())
    except WillayError as exc:
        raise fail(f"SMS: {exc.message}") from None
    out.print(f"SMS: {result.summary()}", soft_wrap=True)
    if result.error is not None:
        raise fail(f"SMS stopped early, run `willay alerts send-sms` again: {result.error}")


@app.command("publish")
def alerts_publish(
    *,
    region: Annotated[str, typer.Option(help="Region id from content/regions.yaml, or `all`.")],
    starts: Annotated[
        str, typer.Option("--from", help="First day (YYYY-MM-DD) or ISO date and time.")
    ],
    ends: Annotated[
        str, typer.Option("--to", help="Last day, included (YYYY-MM-DD), or ISO date and time.")
    ],
    text_es: Annotated[str | None, typer.Option("--text-es", help="Spanish text.")] = None,
    text_quy: Annotated[str | None, typer.Option("--text-quy", help="Chanka Quechua.")] = None,
    text_quz: Annotated[str | None, typer.Option("--text-quz", help="Cusco Quechua.")] = None,
    signed_off_by: Annotated[
        str | None,
        typer.Option(help="Clinician approving the Spanish text (production serves only that)."),
    ] = None,
    role: Annotated[
        str | None, typer.Option(help="Their role and registration, e.g. 'Médica, CMP 12345'.")
    ] = None,
    sms: Annotated[
        bool, typer.Option(help="Also text the region's SMS subscribers (once each).")
    ] = True,
) -> None:
    """Publish an alert for a region (or `all`), valid from one day to another."""
    from ussd.actions import ACTIONS
    from ussd.menus import JOURNEY_FILE, alert_room, load_journey
    from willay.catalog import load_catalog

    settings = settings_from()
    try:
        with user_errors():
            catalog = load_catalog(settings.content_dir)
            journey = load_journey(JOURNEY_FILE, actions=ACTIONS, budget=settings.ussd_page_chars)
        alert = draft_alert(
            region=region,
            starts=_moment(starts, settings=settings, end=False),
            ends=_moment(ends, settings=settings, end=True),
            text={"es": text_es, "quy": text_quy, "quz": text_quz},
            catalog=catalog,
            room=lambda lang: alert_room(journey, page_chars=settings.ussd_page_chars, lang=lang),
            now=dt.datetime.now(dt.UTC),
        )
        if signed_off_by is not None:
            alert = sign_off(
                alert,
                language="es",
                reviewer=signed_off_by,
                role=role or "",
                now=dt.datetime.now(dt.UTC),
            )
    except AlertError as exc:
        for problem in exc.problems:
            err.print(f"[red]error:[/red] {escape(problem)}", highlight=False)
        raise fail("alert not published") from None
    with _board(settings) as board:
        board.publish(alert)
    out.print(f"published alert {alert.id} for {alert.region}: {alert.starts} to {alert.ends}")
    approved = alert.approved(dt.datetime.now(dt.UTC).date())
    if settings.environment is Environment.production and "es" not in approved:
        out.print("not served until its Spanish text is signed off: willay alerts sign-off")
    if sms:
        _text_alert(settings, alert)


@app.command("list")
def alerts_list() -> None:
    """The alerts on the board, one line each."""
    with _board(settings_from()) as board:
        found = sorted(board.alerts(), key=lambda a: a.region)
    for alert in found:
        approved = sorted(alert.approved(dt.datetime.now(dt.UTC).date()))
        signed = f"approved: {', '.join(approved)}" if approved else "not signed off"
        out.print(
            f"{alert.region}\t{alert.id}\t{alert.starts} to {alert.ends}\t{signed}\t"
            f"{alert.text_for('es')[0]}",
            soft_wrap=True,
        )
    out.print(f"{len(found)} alert(s)")


@app.command("sign-off")
def alerts_sign_off(
    *,
    region: Annotated[str, typer.Option(help="Region whose current alert to sign off, or `all`.")],
    lang: Annotated[str, typer.Option(help="The text signed off: es (clinical) or a Quechua.")],
    reviewer: Annotated[str, typer.Option(help="Who read it.")],
    role: Annotated[str, typer.Option(help="Their role, e.g. 'Hablante nativa, Ayacucho'.")],
    back_translation: Annotated[
        str, typer.Option(help="For a Quechua text: what it says, in Spanish.")
    ] = "",
    reject: Annotated[bool, typer.Option(help="Record a rejection instead.")] = False,
) -> None:
    """Sign off one language of a region's alert (the same records as tips), and republish it."""
    from willay.signoff import Decision

    settings = settings_from()
    with _board(settings) as board:
        alert = next((a for a in board.alerts() if a.region == region), None)
        if alert is None:
            raise fail(f"no alert for {region}")
        signed = sign_off(
            alert,
            language=lang,
            reviewer=reviewer,
            role=role,
            back_translation=back_translation,
            decision=Decision.reject if reject else Decision.approve,
            now=dt.datetime.now(dt.UTC),
        )
        board.publish(signed)
    approved = sorted(signed.approved(dt.datetime.now(dt.UTC).date()))
    out.print(f"alert {signed.id} ({region}): approved in {', '.join(approved) or 'no language'}")


@app.command("withdraw")
def alerts_withdraw(
    region: Annotated[str, typer.Option(help="Region whose alert to withdraw, or `all`.")],
) -> None:
    """Withdraw a region's alert: no channel serves it any more."""
    with _board(settings_from()) as board:
        board.withdraw(region)
    out.print(f"withdrew the alert of {region}")


@app.command("send-sms")
def alerts_send_sms() -> None:
    """Text every current alert to the subscribers of its region not texted yet (cron-safe)."""
    settings = settings_from()
    with _board(settings) as board:
        feed = AlertFeed(board, signed_only=settings.environment is Environment.production)
        current = feed.current(dt.datetime.now(dt.UTC))
    for alert in current:
        _text_alert(settings, alert)
    out.print(f"{len(current)} current alert(s)")
