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
from willay.alerts import Alert, AlertBoard, AlertError, AlertFeed, draft_alert, sign_off
from willay.config import Environment, Settings
from willay.errors import ProblemsError, WillayError
from willay.languages import DEFAULT_LANGUAGE, LANGUAGES

_CODES = ", ".join(LANGUAGES)
_VARIETIES = ", ".join(c for c in LANGUAGES if c != DEFAULT_LANGUAGE)

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
review_app = typer.Typer(help="Sign-offs through a spreadsheet (CSV).", no_args_is_help=True)
content_app.add_typer(review_app, name="review")
app.add_typer(menus_app, name="menus")
sms_app = typer.Typer(help="Weekly SMS tips through Africa's Talking.", no_args_is_help=True)
app.add_typer(sms_app, name="sms")
audio_app = typer.Typer(help="Pre-rendered audio for calls and the app.", no_args_is_help=True)
app.add_typer(audio_app, name="audio")
studio_app = typer.Typer(help="Willay Studio accounts (/studio).", no_args_is_help=True)
app.add_typer(studio_app, name="studio")
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
        err.print(f"[red]error:[/red] {escape(problem)}", highlight=False, soft_wrap=True)
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
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes on the one port (more than 1 needs WILLAY_REDIS_URL).",
            envvar="WILLAY_WORKERS",
        ),
    ] = 1,
) -> None:
    """Serve the USSD endpoint, the simulator and the health checks."""
    import uvicorn

    from willay.app import create_app, freeze_startup

    settings = _settings(host=host, port=port)
    if workers > 1 and settings.redis_url is None:
        raise _fail(
            f"--workers {workers} needs WILLAY_REDIS_URL: the in-process store cannot share "
            "sessions and profiles between processes"
        )
    try:
        application = create_app(settings)
    except ProblemsError as exc:
        raise _report(exc) from None
    except WillayError as exc:
        raise _fail(exc.message) from None
    base = f"http://{settings.host}:{settings.port}"
    out.print(f"USSD endpoint:  POST {base}/ussd/africastalking")
    out.print(f"Session notice: POST {base}/ussd/africastalking/events")
    out.print(f"IVR endpoint:   POST {base}/ivr/africastalking")
    if settings.simulator:
        out.print(f"Simulator:      {base}/simulator")
    if settings.studio:
        out.print(f"Studio:         {base}/studio")
    out.print(f"Store: {'in-process (embedded)' if settings.embedded else 'Redis'}")
    # no access log: callback URLs carry the secret token
    if workers > 1:  # each process builds its app from the environment, as this one did
        uvicorn.run(
            "willay.app:app_from_environment",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=False,
        )
        return
    freeze_startup()
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
    from willay.review import signoff_notices

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
    for notice in signoff_notices(catalog, today=today, within_days=settings.expiry_warning_days):
        err.print(f"[yellow]warning:[/yellow] {escape(notice)}", highlight=False, soft_wrap=True)
    problems = tip_fit_problems(journey, catalog, page_chars=settings.ussd_page_chars)
    if problems:
        raise _report(ProblemsError(problems))
    out.print(catalog.summary(today), soft_wrap=True)


ContentDirOption = Annotated[
    Path | None,
    typer.Option(help="The content folder.", envvar="WILLAY_CONTENT_DIR", file_okay=False),
]


@review_app.command("export")
def review_export(
    file: Annotated[Path, typer.Argument(help="The CSV file to write.", dir_okay=False)],
    lang: Annotated[
        str | None, typer.Option("--lang", help=f"Only this language ({_CODES}).")
    ] = None,
    content_dir: ContentDirOption = None,
) -> None:
    """Write one row per (tip, language) for reviewers: UTF-8 CSV with BOM."""
    from willay.catalog import load_catalog
    from willay.review import export_review

    settings = _settings(content_dir=content_dir)
    try:
        rows = export_review(load_catalog(settings.content_dir), file, language=lang)
    except ProblemsError as exc:
        raise _report(exc) from None
    except OSError as exc:
        raise _fail(f"cannot write {file}: {exc.strerror}") from None
    out.print(f"{rows} rows written to {file}")


@review_app.command("import")
def review_import(
    file: Annotated[Path, typer.Argument(help="The filled CSV file.", dir_okay=False)],
    content_dir: ContentDirOption = None,
) -> None:
    """Record the filled rows as sign-offs; rows whose text changed are refused by id."""
    from willay.catalog import load_catalog
    from willay.review import import_review

    settings = _settings(content_dir=content_dir)
    try:
        catalog = load_catalog(settings.content_dir)
        report = import_review(file, content_dir=settings.content_dir, catalog=catalog)
    except ProblemsError as exc:
        raise _report(exc) from None
    for record in report.recorded:
        what = f"{record.tip_id}/{record.language}: {record.decision} by {record.reviewer}"
        out.print(f"recorded {escape(what)}", soft_wrap=True)
    for row_id, reason in report.refused:
        err.print(
            f"[red]refused[/red] {escape(row_id)}: {escape(reason)}",
            highlight=False,
            soft_wrap=True,
        )
    out.print(report.summary(), soft_wrap=True)
    if report.refused:
        raise typer.Exit(code=1)


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
    hidden: Annotated[
        str,
        typer.Option(
            help="Hidden layer widths, comma-separated (32,16: an MLP); none: a logistic "
            "regression (one dense layer and a sigmoid)."
        ),
    ] = "32,16",
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
    from recommender.offline.training import require_tensorflow

    if events is not None and from_influx:
        raise _fail("choose one source: --events or --from-influx")
    try:
        require_tensorflow()
    except WillayError as exc:
        raise _fail(exc.message) from None
    from recommender import ExplorationPolicy
    from recommender.offline.interactions import interactions_from_events, read_event_lines
    from recommender.offline.simulator import training_log
    from recommender.offline.training import TrainingConfig, parse_hidden
    from recommender.offline.training import train as train_model
    from willay.catalog import load_catalog

    settings = _settings(model_dir=out_dir)
    try:
        config = TrainingConfig(
            seed=seed,
            epochs=epochs,
            hidden=parse_hidden(hidden),
            quantization=quantization,
            repeat_days=settings.repeat_days,
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

    from recommender import FixedModel, ModelPicker, load_model
    from recommender.offline.card import read_card, update_card
    from recommender.offline.evaluation import evaluate as run_evaluation
    from recommender.offline.training import TrainingConfig, recipe, require_tensorflow
    from recommender.registry import model_files
    from willay.catalog import load_catalog

    settings = _settings()
    newest = model_files(settings.model_dir)
    path = model or (newest[0][1] if newest else None)
    if path is None:
        raise _fail(f"no model in {settings.model_dir}: run `willay train` first")
    try:
        catalog = load_catalog(settings.content_dir)
        picker = ModelPicker.from_settings(
            settings, FixedModel(load_model(path)), rng=np.random.default_rng(seed)
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
        update_card(path, section="evaluation", figures=result.to_json())
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
            metavar="CODE", help=f"Render only this language ({_CODES}; mul: mixed prompts)."
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
    for label in report.stale_recordings:
        err.print(
            f"[yellow]warning:[/yellow] recording {label} is stale: its text changed since it "
            "was read; the synthetic voice plays until it is recorded again"
        )
    out.print(report.summary(), soft_wrap=True)
    if report.interrupted:
        err.print("[yellow]stopped: the manifest names only finished files; run again[/yellow]")
        raise typer.Exit(code=130)
    if report.failed:
        raise _fail(f"{len(report.failed)} clip(s) failed: " + "; ".join(report.failed))


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
            raise _fail("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


@studio_app.command("add-user")
def studio_add_user(
    name: Annotated[str, typer.Argument(help="Account name: 2 to 32 of a-z 0-9 . _ -")],
    role: Annotated[
        str,
        typer.Option(help="editor, clinical-reviewer, language-reviewer or admin."),
    ],
    lang: Annotated[
        str | None,
        typer.Option(
            metavar="CODE", help=f"The variety a language reviewer reviews ({_VARIETIES})."
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

    settings = _settings(studio_dir=studio_dir)
    try:
        chosen = Role(role)
    except ValueError:
        raise _fail(f"unknown role {role!r}: one of {', '.join(r.value for r in Role)}") from None
    password = _read_password()
    try:
        account = AccountBook(settings.studio_dir).add(
            name,
            role=chosen,
            password=password,
            lang=lang,
            full_name=full_name,
            credential=credential,
            replace=replace,
        )
    except WillayError as exc:
        raise _fail(exc.message) from None
    out.print(f"account {account.title} saved in {settings.studio_dir}")


@studio_app.command("users")
def studio_users(
    studio_dir: StudioDirOption = None,
) -> None:
    """List the studio's accounts and their roles."""
    from studio import AccountBook

    settings = _settings(studio_dir=studio_dir)
    for account in AccountBook(settings.studio_dir).all():
        out.print(f"{account.title} since {account.created_at:%Y-%m-%d}")


def main() -> None:
    """Entry point of the `willay` script."""
    app()


# -- regional alerts ------------------------------------------------------------------------------

alerts_app = typer.Typer(help="Regional health alerts on every channel.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


def _moment(value: str, *, settings: Settings, end: bool) -> dt.datetime:
    """`YYYY-MM-DD` (a whole day in WILLAY_SMS_TIMEZONE) or an ISO date and time."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(settings.sms_timezone)
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise _fail(f"not a date nor a date and time: {value!r}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=zone)
    start = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(), zone)
    return start


def _board_ready(settings: Settings) -> AlertBoard:
    """The alert board, once it holds what the broker retained."""
    from alerts import MqttAlertBoard
    from willay.app import open_alert_board

    board = open_alert_board(settings)
    if isinstance(board, MqttAlertBoard) and not board.wait_ready():
        board.close()
        raise _fail(f"MQTT broker {board.broker} not reachable")
    return board


def _text_alert(settings: Settings, alert: Alert) -> None:
    """SMS the alert to its region's subscribers, once each; say why not when it cannot."""
    import asyncio

    from sms import AlertSendReport
    from willay.app import open_sms_channel

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
        report = asyncio.run(send())
    except WillayError as exc:
        raise _fail(f"SMS: {exc.message}") from None
    out.print(f"SMS: {report.summary()}", soft_wrap=True)
    if report.error is not None:
        raise _fail(f"SMS stopped early, run `willay alerts send-sms` again: {report.error}")


@alerts_app.command("publish")
def alerts_publish(
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
    from ussd.engine import alert_room
    from ussd.menus import JOURNEY_FILE, load_journey
    from willay.catalog import load_catalog

    settings = _settings()
    try:
        catalog = load_catalog(settings.content_dir)
        journey = load_journey(JOURNEY_FILE, actions=set(ACTIONS), budget=settings.ussd_page_chars)
        alert = draft_alert(
            region=region,
            starts=_moment(starts, settings=settings, end=False),
            ends=_moment(ends, settings=settings, end=len(ends) == 10),
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
        raise _fail("alert not published") from None
    except ProblemsError as exc:
        raise _report(exc) from None
    board = _board_ready(settings)
    try:
        board.publish(alert)
    except WillayError as exc:
        raise _fail(exc.message) from None
    finally:
        board.close()
    out.print(f"published alert {alert.id} for {alert.region}: {alert.starts} to {alert.ends}")
    approved = alert.approved(dt.datetime.now(dt.UTC).date())
    if settings.environment is Environment.production and "es" not in approved:
        out.print("not served until its Spanish text is signed off: willay alerts sign-off")
    if sms:
        _text_alert(settings, alert)


@alerts_app.command("list")
def alerts_list() -> None:
    """The alerts on the board, one line each."""
    board = _board_ready(_settings())
    try:
        found = sorted(board.alerts(), key=lambda a: a.region)
    finally:
        board.close()
    for alert in found:
        approved = sorted(alert.approved(dt.datetime.now(dt.UTC).date()))
        signed = f"approved: {', '.join(approved)}" if approved else "not signed off"
        out.print(
            f"{alert.region}\t{alert.id}\t{alert.starts} to {alert.ends}\t{signed}\t"
            f"{alert.text_for('es')[0]}",
            soft_wrap=True,
        )
    out.print(f"{len(found)} alert(s)")


@alerts_app.command("sign-off")
def alerts_sign_off(
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

    settings = _settings()
    board = _board_ready(settings)
    try:
        alert = next((a for a in board.alerts() if a.region == region), None)
        if alert is None:
            raise _fail(f"no alert for {region}")
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
    except AlertError as exc:
        raise _report(exc) from None
    except WillayError as exc:
        raise _fail(exc.message) from None
    finally:
        board.close()
    approved = sorted(signed.approved(dt.datetime.now(dt.UTC).date()))
    out.print(f"alert {signed.id} ({region}): approved in {', '.join(approved) or 'no language'}")


@alerts_app.command("withdraw")
def alerts_withdraw(
    region: Annotated[str, typer.Option(help="Region whose alert to withdraw, or `all`.")],
) -> None:
    """Withdraw a region's alert: no channel serves it any more."""
    board = _board_ready(_settings())
    try:
        board.withdraw(region)
    except WillayError as exc:
        raise _fail(exc.message) from None
    finally:
        board.close()
    out.print(f"withdrew the alert of {region}")


@alerts_app.command("send-sms")
def alerts_send_sms() -> None:
    """Text every current alert to the subscribers of its region not texted yet (cron-safe)."""
    settings = _settings()
    board = _board_ready(settings)
    try:
        feed = AlertFeed(board, signed_only=settings.environment is Environment.production)
        current = feed.current(dt.datetime.now(dt.UTC))
    finally:
        board.close()
    for alert in current:
        _text_alert(settings, alert)
    out.print(f"{len(current)} current alert(s)")
