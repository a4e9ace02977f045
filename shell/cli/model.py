"""`willay train`, `evaluate` and `model`: the recommender model, made and served."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from shell.cli.terminal import err, fail, out, settings_from, user_errors
from willay.config import Settings
from willay.errors import WillayError
from willay.events import Event

__all__ = ["app", "evaluate", "train"]

app = typer.Typer(
    help="Which recommender model every replica serves (pin, unpin, status).",
    no_args_is_help=True,
)

ModelDir = Annotated[
    Path | None,
    typer.Option(
        help="Folder of versioned model files.", envvar="WILLAY_MODEL_DIR", file_okay=False
    ),
]


def _callers(help_text: str, *, least: int) -> Any:
    """The option of a number of simulated callers."""
    return typer.Option(help=help_text, min=least)


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


@contextmanager
def _steps() -> Iterator[_RichSteps]:
    """Progress bars on stderr while the block runs; the last stage shown complete at its end."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )
    with progress:
        steps = _RichSteps(progress)
        yield steps
        steps.finish()


def _events_from_influx(settings: Settings, since_days: int) -> list[Event]:
    """`tip_served` and `feedback` events of the last `since_days` days, from InfluxDB."""
    from telemetry import read_events

    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=since_days)
    return read_events(settings, kinds=["tip_served", "feedback"], since=since)


def train(
    *,
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
        int, _callers("Simulated callers to train on (the default source).", least=100)
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
    out_dir: ModelDir = None,
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
        raise fail("choose one source: --events or --from-influx")
    with user_errors():
        require_tensorflow()
    from recommender import ExplorationPolicy
    from recommender.offline.interactions import interactions_from_events, read_event_lines
    from recommender.offline.simulator import training_log
    from recommender.offline.training import TrainingConfig, parse_hidden
    from recommender.offline.training import train as train_model
    from willay.catalog import load_catalog

    settings = settings_from(model_dir=out_dir)
    with user_errors(), _steps() as steps:
        config = TrainingConfig(
            seed=seed,
            epochs=epochs,
            hidden=parse_hidden(hidden),
            quantization=quantization,
            repeat_days=settings.repeat_days,
        )
        catalog = load_catalog(settings.content_dir)
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
        raise fail(
            f"not published: {'; '.join(result.gate.reasons)}. The candidate stays in "
            f"{result.model_path.parent}; the serving model is unchanged"
        )


def evaluate(
    *,
    model: Annotated[
        Path | None,
        typer.Option(
            help="A .tflite model beside its card; default: the newest in WILLAY_MODEL_DIR.",
            dir_okay=False,
        ),
    ] = None,
    callers: Annotated[
        int, _callers("Held-out simulated callers to rank tips for.", least=50)
    ] = 1000,
    train_callers: Annotated[
        int, _callers("Simulated training callers, for the popularity baseline.", least=50)
    ] = 8000,
    logged_callers: Annotated[
        int, _callers("Simulated callers whose logs feed the IPS estimate.", least=50)
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

    settings = settings_from()
    newest = model_files(settings.model_dir)
    path = model or (newest[0][1] if newest else None)
    if path is None:
        raise fail(f"no model in {settings.model_dir}: run `willay train` first")
    with user_errors():
        catalog = load_catalog(settings.content_dir)
        picker = ModelPicker.from_settings(
            settings, FixedModel(load_model(path)), rng=np.random.default_rng(seed)
        )
    try:
        require_tensorflow()
        refit = recipe(TrainingConfig.from_card(read_card(path)), catalog)
    except WillayError as exc:
        err.print(f"the second world has no model: {exc.message}", soft_wrap=True)
        refit = None
    with _steps() as steps:
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
    if card:
        update_card(path, section="evaluation", figures=result.to_json())
        err.print(f"recorded in {path.with_suffix('.json').name}")
    for line in result.lines():
        out.print(line, soft_wrap=True)


@app.command("pin")
def model_pin(
    version: Annotated[str, typer.Argument(help="The version every replica serves, e.g. v1.")],
    model_dir: ModelDir = None,
) -> None:
    """Serve this version on every replica (rollback), whatever is newer, until `unpin`."""
    from recommender.registry import model_file, parse_version, write_pin
    from recommender.runtime import load_model

    folder = settings_from(model_dir=model_dir).model_dir
    try:
        number = parse_version(version)
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        model = load_model(model_file(folder, number))
    except WillayError as exc:
        raise fail(f"not pinned: {exc.message}") from None
    write_pin(folder, number)
    out.print(
        f"pinned {model.version}: every replica watching {folder} serves it within "
        "WILLAY_MODEL_POLL_SECONDS",
        soft_wrap=True,
    )


@app.command("unpin")
def model_unpin(model_dir: ModelDir = None) -> None:
    """Serve the newest version again."""
    from recommender.registry import clear_pin

    folder = settings_from(model_dir=model_dir).model_dir
    said = "unpinned" if clear_pin(folder) else "nothing was pinned"
    out.print(f"{said}: replicas serve the newest version in {folder}", soft_wrap=True)


@app.command("status")
def model_status(model_dir: ModelDir = None) -> None:
    """The versions published and set aside, and the one replicas serve."""
    from recommender.registry import CANDIDATES, ModelRegistry, model_files, read_pin

    folder = settings_from(model_dir=model_dir).model_dir
    try:
        pinned = read_pin(folder)
    except ValueError as exc:
        raise fail(f"bad pin file: {exc}") from None
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
