"""A TFLite recommender model run with LiteRT: load it, check it, score a batch of tips.

A model is a `.tflite` file and its card (`<same name>.json`): the card names the version and
the feature layout and holds the model's SHA-256, so a file that is incomplete or not the one
the card describes is refused before it serves. The interpreter is `ai_edge_litert`'s, or
`tflite_runtime`'s where only that is installed.

LiteRT interpreters are not thread-safe (`invoke` releases the GIL and nothing else may touch the
interpreter meanwhile). One call scores ~66 tips in ~15-20 us, far less than the Python around it
(candidates, features, policy: ~200 us) that holds the GIL anyway. bench/recommender.py measured
one interpreter per thread and one shared behind a lock equal within noise with 2 and 4 threads
(neither scales past one thread), so serving shares one behind a lock: it is built and checked
once, when the model loads, never lazily on a request thread after a swap. Batches are padded to
a multiple of `BATCH_STEP`, so tensors are re-allocated only when a batch larger than any before
comes in.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recommender.features import FeatureEncoder, FeatureSpec
from recommender.picker import PickContext
from willay.catalog import Catalog, Tip
from willay.errors import ModelError

__all__ = ["BATCH_STEP", "RecommenderModel", "card_path", "load_model", "sha256_hex"]

BATCH_STEP = 16


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError as exc:
            raise ModelError("no TFLite runtime: install ai-edge-litert") from exc
    return Interpreter


def sha256_hex(content: bytes) -> str:
    """The SHA-256 of a model's bytes, as its card records it."""
    return hashlib.sha256(content).hexdigest()


def card_path(model_path: Path) -> Path:
    """Where a model's card lives: beside it, same name, `.json`."""
    return model_path.with_suffix(".json")


@dataclass
class _Slot:
    interpreter: Any
    input_index: int
    output_index: int
    capacity: int = 0
    # the input, kept between calls: rows past a call's own keep an earlier call's (finite)
    # values, harmless since each row is scored on its own
    batch: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))


class RecommenderModel:
    """One loaded model: its version, its feature layout and its interpreter(s).

    LiteRT interpreters are not thread-safe, so calls either take turns on one interpreter
    behind a lock (the default) or each thread gets its own (`per_thread=True`).
    """

    def __init__(
        self,
        content: bytes,
        *,
        version: str,
        spec: FeatureSpec,
        source: str,
        per_thread: bool = False,
    ) -> None:
        self.version = version
        self.spec = spec
        self.encoder = FeatureEncoder(spec)
        self.size_bytes = len(content)
        self._content = content
        self._source = source
        self._local = threading.local() if per_thread else None
        self._lock = threading.Lock()
        self._shared = None if per_thread else self._new_slot()
        self._check()

    def _fail(self, message: str) -> ModelError:
        return ModelError(f"recommender model {self._source} refused: {message}")

    def _new_slot(self) -> _Slot:
        try:
            interpreter = _interpreter_class()(model_content=self._content, num_threads=1)
        except (ValueError, RuntimeError) as exc:
            raise self._fail(f"not a TFLite model ({exc})") from exc
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise self._fail(f"{len(inputs)} inputs and {len(outputs)} outputs, want 1 and 1")
        return _Slot(interpreter, inputs[0]["index"], outputs[0]["index"])

    def _slot(self) -> _Slot:
        if self._shared is not None:
            return self._shared
        assert self._local is not None  # one interpreter per thread when none is shared
        slot: _Slot | None = getattr(self._local, "slot", None)
        if slot is None:
            slot = self._local.slot = self._new_slot()
        return slot

    def _check(self) -> None:
        """Refuse a model whose signature or answers do not fit its card."""
        slot = self._slot()
        (given,) = slot.interpreter.get_input_details()
        (answer,) = slot.interpreter.get_output_details()
        signature = [int(d) for d in given["shape_signature"]]
        if signature != [-1, self.spec.size] or given["dtype"] is not np.float32:
            raise self._fail(
                f"input is {signature} {given['dtype'].__name__}, "
                f"the card's features need [-1, {self.spec.size}] float32"
            )
        if [int(d) for d in answer["shape_signature"]] != [-1, 1]:
            raise self._fail(f"output is {list(answer['shape_signature'])}, want [-1, 1]")
        probe = np.zeros((3, self.spec.size), dtype=np.float32)
        probe[1] = 1.0
        try:
            scores = self.score(probe)
        except RuntimeError as exc:
            raise self._fail(f"it does not run ({exc})") from exc
        if not np.all(np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1:
            raise self._fail(f"scores must be probabilities, got {scores.tolist()}")

    def score(self, rows: np.ndarray) -> np.ndarray:
        """The model's probability that each row's tip is found useful: float32 `[len(rows)]`."""
        if len(rows) == 0:
            return np.zeros(0, dtype=np.float32)
        if self._shared is None:
            return self._run(self._slot(), rows)
        with self._lock:
            return self._run(self._shared, rows)

    def _run(self, slot: _Slot, rows: np.ndarray) -> np.ndarray:
        count = len(rows)
        if count > slot.capacity:
            slot.capacity = -(-count // BATCH_STEP) * BATCH_STEP
            slot.interpreter.resize_tensor_input(
                slot.input_index, [slot.capacity, self.spec.size], strict=True
            )
            slot.interpreter.allocate_tensors()
            slot.batch = np.zeros((slot.capacity, self.spec.size), dtype=np.float32)
        slot.batch[:count] = rows
        slot.interpreter.set_tensor(slot.input_index, slot.batch)
        slot.interpreter.invoke()
        scores: np.ndarray = slot.interpreter.get_tensor(slot.output_index)[:count, 0]
        return scores

    def score_tips(self, context: PickContext, *, tips: list[Tip], catalog: Catalog) -> np.ndarray:
        """Score candidate tips for a context in one interpreter call."""
        return self.score(self.encoder.encode(context, tips=tips, catalog=catalog))


def _read_card(model_path: Path) -> dict[str, Any]:
    path = card_path(model_path)
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"recommender model {model_path} refused: no card {path.name}") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"recommender model {model_path} refused: bad card ({exc})") from exc
    if not isinstance(card, dict):
        raise ModelError(f"recommender model {model_path} refused: its card is not an object")
    return card


def load_model(model_path: Path) -> RecommenderModel:
    """Load and check a model and its card; `ModelError` saying why one is refused."""
    card = _read_card(model_path)
    try:
        content = model_path.read_bytes()
    except OSError as exc:
        raise ModelError(f"recommender model {model_path} refused: {exc.strerror}") from exc
    if card.get("sha256") != sha256_hex(content):
        raise ModelError(
            f"recommender model {model_path} refused: its SHA-256 does not match its card "
            "(an incomplete copy, or not the file the card describes)"
        )
    try:
        spec = FeatureSpec.from_json(card.get("features") or {})
    except ValueError as exc:
        raise ModelError(f"recommender model {model_path} refused: {exc}") from exc
    return RecommenderModel(
        content,
        version=str(card.get("version") or model_path.stem),
        spec=spec,
        source=str(model_path),
    )
