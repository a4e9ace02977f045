"""Training: interactions -> Keras -> quantized TFLite -> a versioned model file and its card.

TensorFlow is imported only inside these functions (it comes with the `train` extra); serving
needs LiteRT alone. The model is a small MLP over the rows `features.py` builds, trained with a
fixed seed on the answered interactions of some callers and checked on the others: held-out AUC
against popularity, and the quantized model against the float one (score differences and top-1
agreement over every candidate of every held-out request).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recommender.candidates import candidates
from recommender.features import FeatureEncoder, FeatureSpec
from recommender.offline.baselines import encode_served, popularity
from recommender.offline.card import write_atomically, write_card
from recommender.offline.gate import DEFAULT_MARGIN, GateResult, release_gate
from recommender.offline.interactions import Interaction
from recommender.offline.metrics import auc
from recommender.offline.progress import SILENT, Steps
from recommender.policy import ExplorationPolicy
from recommender.registry import CANDIDATES, MODEL_NAME, ModelRegistry, model_file, model_files
from recommender.runtime import RecommenderModel, card_path, sha256_hex
from willay.catalog import Catalog
from willay.errors import ConfigurationError, ModelError

__all__ = [
    "QUANTIZATIONS",
    "TRAIN_EXTRA",
    "QuantizationReport",
    "TrainingConfig",
    "TrainingResult",
    "compare_quantized",
    "architecture",
    "float_model_file",
    "parse_hidden",
    "recipe",
    "require_tensorflow",
    "train",
]

TRAIN_EXTRA = "pip install 'willay[train]'"


GATE_TEST = (
    "paired 95% bootstrap intervals over held-out callers of the clipped-DR (weights <= 10) "
    "helpful-rate of the "
    "candidate's policy minus the rule picker's (must lie above 0) and minus the serving "
    "model's (lower end above -margin)"
)


def float_model_file(model_path: Path) -> Path:
    """Where the float (unquantized) twin of a model is kept, for comparison and benchmarks."""
    return model_path.with_name(f"{model_path.stem}-float.tflite")


QUANTIZATIONS = {
    "dynamic": "post-training dynamic range: int8 weights (layers of 1,024 weights or more), "
    "float activations",
    "int8": "post-training full integer: int8 weights and activations, float32 input and "
    "output, calibrated on {rows} training rows",
}


@dataclass(frozen=True)
class TrainingConfig:
    seed: int = 7
    epochs: int = 12
    batch_size: int = 128
    learning_rate: float = 0.005
    hidden: tuple[int, ...] = (32, 16)
    l2: float = 1e-4
    heldout_share: float = 0.2
    representative_rows: int = 300
    quantization: str = "dynamic"
    repeat_days: int = 30

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> TrainingConfig:
        """The config a model card records (the defaults for what it does not)."""
        found = dict((card.get("training") or {}).get("config") or {})
        if "hidden" in found:
            found["hidden"] = tuple(found["hidden"])
        known = {k: v for k, v in found.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def __post_init__(self) -> None:
        if self.quantization not in QUANTIZATIONS:
            raise ConfigurationError(
                f"unknown quantization {self.quantization!r}: {' or '.join(QUANTIZATIONS)}"
            )


@dataclass(frozen=True)
class QuantizationReport:
    """The int8 model against the float one, on every candidate of held-out requests."""

    requests: int
    scores: int
    max_abs_diff: float
    mean_abs_diff: float
    top1_agreement: float
    top1_score_loss: float
    keras_vs_float_tflite_max_diff: float


@dataclass
class TrainingResult:
    model_path: Path
    card: dict[str, Any]
    quantization: QuantizationReport
    gate: GateResult
    published: bool
    heldout_auc: dict[str, float] = field(default_factory=dict)


def parse_hidden(text: str) -> tuple[int, ...]:
    """Hidden layer widths from `32,16`; `none` (or nothing) for a logistic regression."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise ConfigurationError(f"hidden layers {text!r}: widths like 32,16, or none")
    return widths


def require_tensorflow() -> Any:
    """The `tensorflow` module; `ConfigurationError` naming the `train` extra if it is missing."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ConfigurationError(
            f"training needs TensorFlow ({exc}); install the train extra: {TRAIN_EXTRA}"
        ) from exc
    tf.get_logger().setLevel("ERROR")  # the converter logs each temporary SavedModel it writes
    return tf


def _split(
    interactions: list[Interaction], *, share: float, seed: int
) -> tuple[list[Interaction], list[Interaction]]:
    """Split by caller: nobody is in both parts."""
    callers = sorted({i.caller for i in interactions})
    order = np.random.default_rng([seed, 7]).permutation(len(callers))
    heldout = {callers[k] for k in order[: int(round(len(callers) * share))]}
    return (
        [i for i in interactions if i.caller not in heldout],
        [i for i in interactions if i.caller in heldout],
    )


def _build(tf: Any, *, size: int, config: TrainingConfig) -> Any:
    keras = tf.keras
    keras.utils.set_random_seed(config.seed)
    inputs = keras.Input(shape=(size,), name="features")
    hidden = inputs
    for width in config.hidden:
        hidden = keras.layers.Dense(
            width, activation="relu", kernel_regularizer=keras.regularizers.l2(config.l2)
        )(hidden)
    score = keras.layers.Dense(1, activation="sigmoid", name="score")(hidden)
    model = keras.Model(inputs, score, name=MODEL_NAME)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="binary_crossentropy",
    )
    return model


def _fit(
    tf: Any,
    config: TrainingConfig,
    *,
    data: tuple[np.ndarray, np.ndarray],
    heldout: tuple[np.ndarray, np.ndarray],
    steps: Steps = SILENT,
) -> Any:
    """The Keras model of `config` fitted on `data`, its held-out loss logged per epoch."""
    keras_model = _build(tf, size=data[0].shape[1], config=config)
    steps.stage("training", total=config.epochs)

    class _Epochs(tf.keras.callbacks.Callback):  # type: ignore[misc]  # TensorFlow is untyped
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            logs = logs or {}
            steps.advance()
            steps.log(
                f"epoch {epoch + 1}: loss {logs.get('loss', 0):.4f}, "
                f"held-out loss {logs.get('val_loss', 0):.4f}"
            )

    keras_model.fit(
        *data,
        epochs=config.epochs,
        batch_size=config.batch_size,
        validation_data=heldout,
        shuffle=True,
        verbose=0,
        callbacks=[_Epochs()],
    )
    return keras_model


def recipe(config: TrainingConfig, catalog: Catalog) -> Callable[[list[Interaction]], Any]:
    """Train `config`'s model (float TFLite, not written anywhere) on other interactions: the
    same recipe on another simulated world, for evaluation."""

    def fit(interactions: list[Interaction]) -> RecommenderModel:
        usable = [i for i in interactions if i.useful is not None and i.tip_id in catalog.by_id]
        train_items, heldout = _split(usable, share=config.heldout_share, seed=config.seed)
        spec = FeatureSpec.for_catalog(catalog)
        encoder = FeatureEncoder(spec)
        tf = require_tensorflow()
        keras_model = _fit(
            tf,
            config,
            data=encode_served(encoder, train_items, catalog=catalog),
            heldout=encode_served(encoder, heldout, catalog=catalog),
        )
        content = _convert(tf, keras_model, quantization=None, representative=np.zeros(0))
        version = f"{MODEL_NAME} recipe ({architecture(spec, config)}) trained on these logs"
        return RecommenderModel(content, version=version, spec=spec, source=version)

    return fit


def architecture(spec: FeatureSpec, config: TrainingConfig) -> str:
    """The model in words, as its card says it."""
    if not config.hidden:
        return f"logistic regression on {spec.size} features"
    return f"MLP {spec.size}-{'-'.join(map(str, config.hidden))}-1 (relu, sigmoid)"


def _convert(tf: Any, model: Any, *, quantization: str | None, representative: np.ndarray) -> bytes:
    """The Keras model as TFLite: float (`None`), dynamic range or full-integer int8."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantization is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "int8":

        def rows() -> Any:
            for row in representative:
                yield [row[None, :]]

        converter.representative_dataset = rows
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # the converter prints the SavedModel it exports and warns about input statistics it
    # does not need (inputs stay float32); neither is ours to show
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return bytes(converter.convert())


def compare_quantized(
    quantized: RecommenderModel,
    floating: RecommenderModel,
    *,
    items: list[Interaction],
    catalog: Catalog,
    repeat_days: int = 30,
) -> tuple[int, int, float, float, float, float]:
    """Requests, scores, max and mean |difference|, top-1 agreement over held-out requests,
    and the mean float score given up when the int8 model's top tip is not the float one's."""
    diffs, agree, requests, loss = [], 0, 0, 0.0
    for item in items:
        tips = candidates(item.context, catalog, repeat_days=repeat_days)
        if not tips:
            continue
        rows = quantized.encoder.encode(item.context, tips=tips, catalog=catalog)
        q, f = quantized.score(rows), floating.score(rows)
        diffs.append(np.abs(q - f))
        agree += int(np.argmax(q) == np.argmax(f))
        loss += float(f.max() - f[np.argmax(q)])
        requests += 1
    flat = np.concatenate(diffs)
    return (
        requests,
        len(flat),
        float(flat.max()),
        float(flat.mean()),
        agree / requests,
        loss / requests,
    )


def _next_number(folder: Path) -> int:
    """One more than any version published or set aside as a candidate."""
    found = model_files(folder) + model_files(folder / CANDIDATES)
    return max(number for number, _ in found) + 1 if found else 1


def _serving(folder: Path) -> RecommenderModel | None:
    """The model replicas watching `folder` serve now (pinned, else newest), if any."""
    registry = ModelRegistry(folder, poll_seconds=0)
    try:
        return registry.start()
    except ModelError:
        return None


def _publish(candidate: Path, folder: Path) -> Path:
    """Move a candidate's files beside the served ones, the model file last."""
    target = folder / candidate.name
    for companion in (
        float_model_file(candidate),
        candidate.with_suffix(".md"),
        card_path(candidate),
    ):
        os.replace(companion, folder / companion.name)
    os.replace(candidate, target)
    return target


def train(
    interactions: list[Interaction],
    catalog: Catalog,
    *,
    out_dir: Path,
    source: dict[str, Any],
    config: TrainingConfig | None = None,
    number: int | None = None,
    policy: ExplorationPolicy | None = None,
    margin: float = DEFAULT_MARGIN,
    steps: Steps = SILENT,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> TrainingResult:
    """Train, convert, check, and gate `willay-recommender-v<N>.tflite` with its card.

    The model is written to `out_dir/candidates/` and moved beside the served models only if
    it passes the release gate (`gate.py`) against the serving model and the rule picker
    under `policy`; otherwise it stays aside, its card saying why. `source` describes the
    data for the card. Interactions without an answer, or whose tip is
    no longer in the catalog, are left out. `ConfigurationError` if too few remain.
    """
    config = config or TrainingConfig()
    usable = [i for i in interactions if i.useful is not None and i.tip_id in catalog.by_id]
    train_items, heldout = _split(usable, share=config.heldout_share, seed=config.seed)
    if len(train_items) < 50 or len(heldout) < 10:
        raise ConfigurationError(
            f"too little data to train: {len(usable)} answered interactions "
            f"of {len(interactions)}; need at least 60"
        )
    spec = FeatureSpec.for_catalog(catalog)
    encoder = FeatureEncoder(spec)
    steps.stage("building features", total=2)
    x_train, y_train = encode_served(encoder, train_items, catalog=catalog)
    steps.advance()
    x_held, y_held = encode_served(encoder, heldout, catalog=catalog)
    steps.advance()

    tf = require_tensorflow()
    keras_model = _fit(tf, config, data=(x_train, y_train), heldout=(x_held, y_held), steps=steps)

    steps.stage(f"converting to TFLite (float, then {config.quantization})", total=2)
    pick = np.random.default_rng([config.seed, 11]).permutation(len(x_train))
    representative = x_train[pick[: config.representative_rows]]
    float_bytes = _convert(tf, keras_model, quantization=None, representative=representative)
    steps.advance()
    quant_bytes = _convert(
        tf, keras_model, quantization=config.quantization, representative=representative
    )
    steps.advance()

    number = number or _next_number(out_dir)
    version = f"{MODEL_NAME}-v{number}"
    quantized = RecommenderModel(quant_bytes, version=version, spec=spec, source=version)
    floating = RecommenderModel(float_bytes, version=version, spec=spec, source=f"{version}-float")

    steps.stage("checking the quantized model against the float one", total=None)
    keras_scores = keras_model.predict(x_held, verbose=0)[:, 0]
    requests, count, max_diff, mean_diff, agreement, score_loss = compare_quantized(
        quantized, floating, items=heldout, catalog=catalog, repeat_days=config.repeat_days
    )
    report = QuantizationReport(
        requests=requests,
        scores=count,
        max_abs_diff=max_diff,
        mean_abs_diff=mean_diff,
        top1_agreement=agreement,
        top1_score_loss=score_loss,
        keras_vs_float_tflite_max_diff=float(np.abs(floating.score(x_held) - keras_scores).max()),
    )
    popular = popularity(train_items)
    heldout_auc = {
        "model_quantized": auc(quantized.score(x_held), y_held),
        "model_float": auc(floating.score(x_held), y_held),
        "popularity": auc(np.array([popular.get(i.tip_id, 0.5) for i in heldout]), y_held),
    }

    steps.stage("release gate: the candidate against the rules and the serving model", total=None)
    # every pick of the held-out callers, answered or not: the reward is a useful answer
    held = {i.caller for i in heldout}
    served = [i for i in interactions if i.tip_id in catalog.by_id]
    gate = release_gate(
        quantized,
        _serving(out_dir),
        trained=[i for i in served if i.caller not in held],
        heldout=[i for i in served if i.caller in held],
        catalog=catalog,
        policy=policy or ExplorationPolicy(),
        repeat_days=config.repeat_days,
        seed=config.seed,
        margin=margin,
    )
    aside = out_dir / CANDIDATES
    aside.mkdir(parents=True, exist_ok=True)
    model_path = model_file(aside, number)
    card = {
        "name": MODEL_NAME,
        "version": version,
        "created": clock().isoformat(timespec="seconds"),
        "file": model_path.name,
        "size_bytes": len(quant_bytes),
        "sha256": sha256_hex(quant_bytes),
        "float_model": {
            "file": float_model_file(model_path).name,
            "size_bytes": len(float_bytes),
            "sha256": sha256_hex(float_bytes),
        },
        "signature": {
            "input": {"dtype": "float32", "shape": [None, spec.size], "meaning": "features.py"},
            "output": {
                "dtype": "float32",
                "shape": [None, 1],
                "meaning": "probability the person answers that the tip was useful",
            },
            "batch": "one row per candidate tip; one invoke scores them all",
        },
        "architecture": (
            f"{architecture(spec, config)}, {keras_model.count_params()} parameters; "
            "binary cross-entropy, Adam"
        ),
        "quantization": {
            "method": QUANTIZATIONS[config.quantization].format(rows=len(representative)),
            **asdict(report),
        },
        "features": {**spec.to_json(), "names": list(spec.names)},
        "training": {
            **source,
            "answered_interactions": len(usable),
            "train_rows": len(train_items),
            "heldout_rows": len(heldout),
            "heldout": f"{config.heldout_share:.0%} of callers, none of them trained on",
            "useful_share": round(float(y_train.mean()), 3),
            "config": asdict(config),
            "tensorflow": tf.__version__,
        },
        "metrics": {"heldout_auc": {k: round(v, 4) for k, v in heldout_auc.items()}},
        "gate": {"test": GATE_TEST, **gate.to_json()},
    }
    write_atomically(float_model_file(model_path), float_bytes)
    write_card(model_path, card)
    write_atomically(model_path, quant_bytes)
    if gate.passed:
        model_path = _publish(model_path, out_dir)
    return TrainingResult(
        model_path=model_path,
        card=card,
        quantization=report,
        gate=gate,
        published=gate.passed,
        heldout_auc=heldout_auc,
    )
