"""How fast the recommender chooses a tip, and how big its model is, quantized and float.

    .venv/bin/python bench/recommender.py [--picks 3000] [--threads 2] [--card]

For the newest model in WILLAY_MODEL_DIR (recommender/models/) and its float twin: p50/p99 of
choosing a tip among all candidates of a simulated caller's request (candidates, features, one
batched interpreter call, exploration), of the interpreter call alone (every tip in the catalog
as one batch), and the model sizes. Then threads: one interpreter per thread against one shared
interpreter behind a lock (what serving does). `--card` records the figures in the model's card.
"""

# ruff: noqa: E402 (the path fix below must come before importing the recommender package)

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

# run as a file, this script's folder comes first on sys.path and its name would shadow the
# `recommender` package: put the project root there instead
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import numpy as np

from recommender import ExplorationPolicy, FixedModel, ModelPicker, RecommenderModel, load_model
from recommender.offline.card import update_card
from recommender.offline.simulator import CallerSimulator, LoggingPolicy
from recommender.offline.training import float_model_file
from recommender.picker import PickContext
from recommender.registry import model_files
from willay.catalog import Catalog, load_catalog
from willay.config import Settings


def contexts(catalog: Catalog, count: int) -> list[PickContext]:
    """First-tip requests of simulated callers, with their history."""
    sim = CallerSimulator(catalog, seed=1234, purpose="heldout")
    log = sim.run(sim.callers(count), LoggingPolicy(epsilon=0.3))
    return [i.context for i in log.interactions if i.position == 0][:count]


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in microseconds."""
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49] * 1e6, cuts[98] * 1e6


def time_picks(
    model: RecommenderModel, catalog: Catalog, requests: list[PickContext], picks: int
) -> tuple[float, float]:
    """p50 and p99 of one pick."""
    picker = ModelPicker(
        FixedModel(model), policy=ExplorationPolicy(), rng=np.random.default_rng(1)
    )
    for context in requests[:50]:
        picker.pick(context, catalog)
    samples = []
    for i in range(picks):
        context = requests[i % len(requests)]
        start = time.perf_counter()
        picker.pick(context, catalog)
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


def time_invoke(model: RecommenderModel, rows: np.ndarray, count: int) -> tuple[float, float]:
    """p50, p99 of scoring `rows` in one interpreter call."""
    model.score(rows)
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        model.score(rows)
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


def throughput(score, rows: np.ndarray, *, threads: int, calls: int) -> float:
    """Scoring calls per second with `threads` threads sharing `calls` calls."""
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        for _ in range(calls // threads):
            score(rows)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    return calls / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picks", type=int, default=3000, help="picks timed per model")
    parser.add_argument("--threads", type=int, default=2, help="threads for the lock comparison")
    parser.add_argument("--card", action="store_true", help="record the figures in the card")
    args = parser.parse_args()

    settings = Settings()
    catalog = load_catalog(settings.content_dir)
    found = model_files(settings.model_dir)
    if not found:
        raise SystemExit(f"no model in {settings.model_dir}: run `willay train`")
    path = found[0][1]
    quantized = load_model(path)
    floating = RecommenderModel(
        float_model_file(path).read_bytes(),
        version=f"{quantized.version}-float",
        spec=quantized.spec,
        source=str(float_model_file(path)),
    )
    requests = contexts(catalog, 600)
    everything = quantized.encoder.encode(requests[0], tips=list(catalog.tips), catalog=catalog)
    candidates = statistics.mean(
        len(ModelPicker(FixedModel(quantized)).distribution(c, catalog)) for c in requests[:200]
    )

    figures: dict[str, object] = {
        "machine": "2 cores, Python 3.11, ai-edge-litert, one interpreter thread",
        "candidates_mean": round(candidates, 1),
    }
    print(f"{path.name}: {quantized.size_bytes} bytes; float twin {floating.size_bytes} bytes")
    print(f"choosing a tip among all candidates (mean {candidates:.1f}), {args.picks} picks:")
    for name, model in (("quantized", quantized), ("float", floating)):
        p50, p99 = time_picks(model, catalog, requests, args.picks)
        i50, i99 = time_invoke(model, everything, args.picks)
        figures[name] = {
            "size_bytes": model.size_bytes,
            "pick_p50_us": round(p50, 1),
            "pick_p99_us": round(p99, 1),
            f"score_{len(everything)}_tips_p50_us": round(i50, 1),
            f"score_{len(everything)}_tips_p99_us": round(i99, 1),
        }
        print(
            f"  {name:<9} {model.size_bytes:>6} bytes  pick p50 {p50:7.1f} us  p99 {p99:7.1f} us"
            f"  | score {len(everything)} tips in one invoke: p50 {i50:6.1f} us  p99 {i99:6.1f} us"
        )

    calls = args.picks * 2
    per_thread = RecommenderModel(
        path.read_bytes(),
        version=quantized.version,
        spec=quantized.spec,
        source=str(path),
        per_thread=True,
    )
    rounds: dict[str, list[float]] = {"own": [], "shared": [], "single": []}
    for _ in range(5):  # interleaved, medians: other work on the machine hits all alike
        rounds["own"].append(
            throughput(per_thread.score, everything, threads=args.threads, calls=calls)
        )
        rounds["shared"].append(
            throughput(quantized.score, everything, threads=args.threads, calls=calls)
        )
        rounds["single"].append(throughput(quantized.score, everything, threads=1, calls=calls))
    own, shared, single = (statistics.median(rounds[k]) for k in ("own", "shared", "single"))
    figures["threads"] = {
        "threads": args.threads,
        "one_interpreter_per_thread_calls_per_s": round(own),
        "one_shared_interpreter_with_lock_calls_per_s": round(shared),
        "one_thread_calls_per_s": round(single),
    }
    print(
        f"{args.threads} threads scoring {len(everything)} tips, {calls} calls (median of 5): "
        "one interpreter "
        f"per thread {own:,.0f} calls/s, one shared behind a lock {shared:,.0f} calls/s "
        f"(1 thread: {single:,.0f} calls/s)"
    )
    if args.card:
        update_card(path, section="bench", figures=figures)
        print(f"recorded in {path.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
