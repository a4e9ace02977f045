"""The `willay` command line: serve the app and check content and menus."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

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
sms_app = typer.Typer(help="Weekly SMS tips through Africa's Talking.", no_args_is_help=True)
app.add_typer(sms_app, name="sms")
audio_app = typer.Typer(help="Pre-rendered audio for calls and the app.", no_args_is_help=True)
app.add_typer(audio_app, name="audio")
model_app = typer.Typer(
    help="Which recommender model every replica serves (pin, unpin, status).",
    no_args_is_help=True,
)
app.add_typer(model_app, name="model")

err = Console(stderr=True)
out = Console(highlight=False)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{escape(message)}[/red]", highlight=False)
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
    out.print(f"IVR endpoint:   POST {base}/ivr/africastalking")
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


@app.command()
def bridge(
    group: Annotated[
        str | None,
        typer.Option(
            help="Shared-subscription group: the bridges of one group share the events.",
            envvar="WILLAY_BRIDGE_GROUP",
        ),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            help="Fixed MQTT client id; the broker keeps this bridge's session under it.",
            envvar="WILLAY_BRIDGE_CLIENT_ID",
        ),
    ] = None,
) -> None:
    """Move events from the MQTT broker into InfluxDB until stopped (Ctrl-C or SIGTERM)."""
    import signal
    import threading

    from telemetry import Bridge

    settings = _settings(bridge_group=group, bridge_client_id=client_id)
    if settings.mqtt_url is None or settings.influx_url is None:
        raise _fail("the bridge needs WILLAY_MQTT_URL and WILLAY_INFLUX_URL")
    try:
        worker = Bridge.from_settings(settings)
    except WillayError as exc:
        raise _fail(exc.message) from None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    out.print(f"Bridge {worker.client_id}: {worker.broker} (group {worker.group})")
    out.print(f"  -> InfluxDB {worker.influx}; spool {worker.spool.directory}")
    worker.run(stop)
    out.print(f"Stopped: {worker.stats}")


def _sms_settings(**overrides: object) -> Settings:
    settings = _settings(**overrides)
    if settings.redis_url is None:
        raise _fail("WILLAY_REDIS_URL is not set: the SMS subscribers live in Redis")
    return settings


@sms_app.command("send-due")
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

    from sms import SendReport
    from willay.app import open_sms_channel

    settings = _sms_settings(sms_batch_size=batch_size)
    if settings.at_api_key is None:
        raise _fail("WILLAY_AT_API_KEY is not set: SMS cannot be sent")

    async def send() -> SendReport:
        async with open_sms_channel(settings) as channel:
            with Progress(console=err, transient=True) as progress:
                task = progress.add_task("Sending tips", total=None)
                return await channel.sender.send_due(
                    on_planned=lambda total: progress.update(task, total=total),
                    on_batch=lambda batch: progress.advance(task, len(batch.recipients)),
                )

    try:
        report = asyncio.run(send())
    except ProblemsError as exc:
        raise _report(exc) from None
    except WillayError as exc:
        raise _fail(exc.message) from None
    out.print(report.summary(), soft_wrap=True)
    if report.error is not None:
        raise _fail(f"stopped early, the rest is left for the next run: {report.error}")


@sms_app.command("status")
def sms_status() -> None:
    """Where this week's send stands: subscribers sent, failed, pending, due, not yet due."""
    import asyncio
    from collections import Counter

    from willay.app import open_sms_channel

    settings = _sms_settings()

    async def survey() -> tuple[str, Counter[str]]:
        async with open_sms_channel(settings) as channel:
            return await channel.sender.survey()

    try:
        week, counts = asyncio.run(survey())
    except ProblemsError as exc:
        raise _report(exc) from None
    except WillayError as exc:
        raise _fail(exc.message) from None
    detail = ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in sorted(counts.items()))
    summary = f"{week}: {sum(counts.values())} subscribers" + (f"; {detail}" if detail else "")
    out.print(summary, soft_wrap=True)


class _RichSteps:
    """Training and evaluation stages as rich progress bars, log lines above them."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None
        self._total = 1

    def finish(self) -> None:
        """Show the last stage as complete."""
        if self._task is not None:
            self._progress.update(self._task, total=self._total, completed=self._total)

    def stage(self, description: str, total: int | None = None) -> None:
        self.finish()
        self._total = total or 1
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def log(self, message: str) -> None:
        self._progress.console.log(message)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )


def _events_from_influx(settings: Settings, since_days: int) -> list:
    """`tip_served` and `feedback` events of the last `since_days` days, from InfluxDB."""
    try:
        from telemetry import read_events
    except ImportError:
        raise _fail("--from-influx needs telemetry.read_events, not installed here") from None
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=since_days)
    return read_events(settings, kinds=["tip_served", "feedback"], since=since)


@app.command()
def train(
    events: Annotated[
        Path | None,
        typer.Option(
            "--events",
            help="Train on exported events (JSON lines: tip_served joined to feedback by "
            "session and tip) instead of simulated callers.",
            dir_okay=False,
        ),
    ] = None,
    from_influx: Annotated[
        bool,
        typer.Option("--from-influx", help="Train on the events in InfluxDB (WILLAY_INFLUX_URL)."),
    ] = False,
    since_days: Annotated[
        int, typer.Option(help="With --from-influx: the events of the last N days.", min=1)
    ] = 365,
    callers: Annotated[
        int, typer.Option(help="Simulated callers to train on (the default source).", min=100)
    ] = 8000,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed and data give the same model.")
    ] = 7,
    epochs: Annotated[int, typer.Option(help="Passes over the data.", min=1, max=200)] = 6,
    quantization: Annotated[
        str,
        typer.Option(help="dynamic (int8 weights) or int8 (int8 weights and activations)."),
    ] = "dynamic",
    out_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder of versioned model files.", envvar="WILLAY_MODEL_DIR", file_okay=False
        ),
    ] = None,
    margin: Annotated[
        float,
        typer.Option(
            help="Release gate: how far below the serving model the lower end of the interval "
            "may go.",
            min=0,
            max=0.2,
        ),
    ] = 0.01,
) -> None:
    """Train the recommender, quantize it to TFLite, check it against the float model, and
    publish it only if it passes the release gate (else keep it in candidates/, exit 1)."""
    from recommender.training import require_tensorflow

    if events is not None and from_influx:
        raise _fail("choose one source: --events or --from-influx")
    try:
        require_tensorflow()
    except WillayError as exc:
        raise _fail(exc.message) from None
    from recommender import ExplorationPolicy
    from recommender.interactions import interactions_from_events, read_event_lines
    from recommender.simulator import training_log
    from recommender.training import TrainingConfig
    from recommender.training import train as train_model
    from willay.catalog import load_catalog

    settings = _settings(model_dir=out_dir)
    try:
        config = TrainingConfig(
            seed=seed, epochs=epochs, quantization=quantization, repeat_days=settings.repeat_days
        )
        catalog = load_catalog(settings.content_dir)
        with _progress() as progress:
            steps = _RichSteps(progress)
            if events is not None:
                found = interactions_from_events(read_event_lines(events))
                source: dict[str, object] = {"source": f"events file {events.name}"}
            elif from_influx:
                found = interactions_from_events(_events_from_influx(settings, since_days))
                source = {"source": f"InfluxDB, events of the last {since_days} days"}
            else:
                found, source = training_log(catalog, seed=seed, callers=callers, steps=steps)
            source.setdefault("interactions", len(found))
            result = train_model(
                found,
                catalog,
                out_dir=settings.model_dir,
                source=source,
                config=config,
                policy=ExplorationPolicy.from_settings(settings),
                margin=margin,
                steps=steps,
            )
            steps.finish()
    except ProblemsError as exc:
        raise _report(exc) from None
    except WillayError as exc:
        raise _fail(exc.message) from None
    q, card = result.quantization, result.card
    out.print(
        f"wrote {result.model_path} ({card['size_bytes']} bytes; float model "
        f"{card['float_model']['size_bytes']} bytes) and its card",
        soft_wrap=True,
    )
    for line in result.gate.lines():
        out.print(line, soft_wrap=True)
    out.print(
        "held-out AUC: "
        + ", ".join(f"{name} {value:.3f}" for name, value in result.heldout_auc.items()),
        soft_wrap=True,
    )
    out.print(
        f"quantized vs float, {q.scores} scores of {q.requests} held-out requests: "
        f"max |diff| {q.max_abs_diff:.4f}, mean |diff| {q.mean_abs_diff:.5f}, "
        f"top-1 agreement {q.top1_agreement:.3f}",
        soft_wrap=True,
    )
    if not result.published:
        raise _fail(
            f"not published: {'; '.join(result.gate.reasons)}. The candidate stays in "
            f"{result.model_path.parent}; the serving model is unchanged"
        )


@app.command()
def evaluate(
    model: Annotated[
        Path | None,
        typer.Option(
            help="A .tflite model beside its card; default: the newest in WILLAY_MODEL_DIR.",
            dir_okay=False,
        ),
    ] = None,
    callers: Annotated[
        int, typer.Option(help="Held-out simulated callers to rank tips for.", min=50)
    ] = 1000,
    train_callers: Annotated[
        int, typer.Option(help="Simulated training callers, for the popularity baseline.", min=50)
    ] = 8000,
    logged_callers: Annotated[
        int, typer.Option(help="Simulated callers whose logs feed the IPS estimate.", min=50)
    ] = 3000,
    logging_epsilon: Annotated[
        float,
        typer.Option(
            help="Exploration of the rule picker logging the off-policy data.", min=0.01, max=1
        ),
    ] = 0.05,
    seed: Annotated[int, typer.Option(help="Random seed of the simulated callers.")] = 7,
    card: Annotated[
        bool, typer.Option("--card", help="Also record the figures in the model's card.")
    ] = False,
) -> None:
    """Rank tips for held-out simulated callers in two simulated worlds: the model against the
    rule picker, rules + popularity, a logistic regression, popularity and random, with 95%
    intervals; calibration; the policy's helpful-rate off-policy (DR) at production's epsilon."""
    import numpy as np

    from recommender import ExplorationPolicy, FixedModel, ModelPicker, load_model
    from recommender.card import read_card, update_card
    from recommender.evaluation import evaluate as run_evaluation
    from recommender.registry import model_files
    from recommender.training import TrainingConfig, recipe, require_tensorflow
    from willay.catalog import load_catalog

    settings = _settings()
    newest = model_files(settings.model_dir)
    path = model or (newest[0][1] if newest else None)
    if path is None:
        raise _fail(f"no model in {settings.model_dir}: run `willay train` first")
    try:
        catalog = load_catalog(settings.content_dir)
        picker = ModelPicker(
            FixedModel(load_model(path)),
            policy=ExplorationPolicy.from_settings(settings),
            repeat_days=settings.repeat_days,
            holdout=settings.recommender_holdout,
            rng=np.random.default_rng(seed),
        )
    except ProblemsError as exc:
        raise _report(exc) from None
    except WillayError as exc:
        raise _fail(exc.message) from None
    try:
        require_tensorflow()
        refit = recipe(TrainingConfig.from_card(read_card(path)), catalog)
    except WillayError as exc:
        err.print(f"the second world has no model: {exc.message}", soft_wrap=True)
        refit = None
    with _progress() as progress:
        steps = _RichSteps(progress)
        result = run_evaluation(
            picker,
            catalog,
            seed=seed,
            callers=callers,
            train_callers=train_callers,
            logged_callers=logged_callers,
            logging_epsilon=logging_epsilon,
            repeat_days=settings.repeat_days,
            refit=refit,
            steps=steps,
        )
        steps.finish()
    if card:
        update_card(path, "evaluation", result.to_json())
        err.print(f"recorded in {path.with_suffix('.json').name}")
    for line in result.lines():
        out.print(line, soft_wrap=True)


ModelDir = Annotated[
    Path | None,
    typer.Option(
        help="Folder of versioned model files.", envvar="WILLAY_MODEL_DIR", file_okay=False
    ),
]


@model_app.command("pin")
def model_pin(
    version: Annotated[str, typer.Argument(help="The version every replica serves, e.g. v1.")],
    model_dir: ModelDir = None,
) -> None:
    """Serve this version on every replica (rollback), whatever is newer, until `unpin`."""
    from recommender.registry import model_file, parse_version, write_pin
    from recommender.runtime import load_model

    folder = _settings(model_dir=model_dir).model_dir
    try:
        number = parse_version(version)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        model = load_model(model_file(folder, number))
    except WillayError as exc:
        raise _fail(f"not pinned: {exc.message}") from None
    write_pin(folder, number)
    out.print(
        f"pinned {model.version}: every replica watching {folder} serves it within "
        "WILLAY_MODEL_POLL_SECONDS",
        soft_wrap=True,
    )


@model_app.command("unpin")
def model_unpin(model_dir: ModelDir = None) -> None:
    """Serve the newest version again."""
    from recommender.registry import clear_pin

    folder = _settings(model_dir=model_dir).model_dir
    said = "unpinned" if clear_pin(folder) else "nothing was pinned"
    out.print(f"{said}: replicas serve the newest version in {folder}", soft_wrap=True)


@model_app.command("status")
def model_status(model_dir: ModelDir = None) -> None:
    """The versions published and set aside, and the one replicas serve."""
    from recommender.registry import CANDIDATES, ModelRegistry, model_files, read_pin

    folder = _settings(model_dir=model_dir).model_dir
    try:
        pinned = read_pin(folder)
    except ValueError as exc:
        raise _fail(f"bad pin file: {exc}") from None
    registry = ModelRegistry(folder, poll_seconds=0)
    try:
        serving = registry.start().version
    except WillayError as exc:
        serving = f"none ({exc.message}); the rule picker serves"
    for number, _ in model_files(folder):
        out.print(f"v{number} published{'  (pinned)' if number == pinned else ''}")
    for number, path in model_files(folder / CANDIDATES):
        out.print(f"v{number} candidate, refused by the release gate (see {path.stem}.md)")
    out.print(f"serving: {serving}", soft_wrap=True)


@audio_app.command("build")
def audio_build(
    only: Annotated[
        list[str] | None,
        typer.Option(metavar="ID", help="Render only this tip id or IVR prompt; repeat for more."),
    ] = None,
    lang: Annotated[
        list[str] | None,
        typer.Option(
            metavar="CODE", help="Render only this language (es, quy, quz; mul: mixed prompts)."
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

    from audio_cache import AudioBuild, ItemDone, load_manifest, tip_utterances
    from ivr import load_call_flow
    from willay.catalog import load_catalog

    settings = _settings(audio_dir=audio_dir, audio_workers=workers)
    if if_missing and load_manifest(settings.audio_dir) is not None:
        out.print(f"audio cache already in {settings.audio_dir}")
        return
    try:
        catalog = load_catalog(settings.content_dir)
        utterances = [*tip_utterances(catalog), *load_call_flow(catalog).utterances()]
    except ProblemsError as exc:
        raise _report(exc) from None
    try:
        build = AudioBuild(settings, utterances, only=only or (), languages=lang or (), force=force)
    except WillayError as exc:
        raise _fail(exc.message) from None
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
        try:
            report = build.run(on_item=done)
        except WillayError as exc:
            raise _fail(exc.message) from None
    for path in report.unused_recordings:
        err.print(f"[yellow]warning:[/yellow] recording {path.name} names no tip or prompt")
    out.print(report.summary())
    if report.interrupted:
        err.print("[yellow]stopped: the manifest names only finished files; run again[/yellow]")
        raise typer.Exit(code=130)
    if report.failed:
        raise _fail(f"{len(report.failed)} clip(s) failed: " + "; ".join(report.failed))


def main() -> None:
    """Entry point of the `willay` script."""
    app()
