"""Audio sizes and build times for the whole catalog and every IVR prompt.

Prints bytes per second of speech and bytes per tip for each format, the total cache size, and
the build time cold (empty cache), incremental with nothing changed, and incremental after one
tip's text changed. Renders into a temporary folder with the real TTS and encoder.

    .venv/bin/python -m bench.audio_sizes [--workers N]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from audio_cache import Manifest, Utterance, load_manifest, tip_utterances
from audio_cache.build import AudioBuild, BuildReport
from ivr import load_call_flow
from willay.catalog import load_catalog
from willay.config import PROJECT_ROOT, Settings


def utterances(content: Path) -> list[Utterance]:
    catalog = load_catalog(content)
    return [*tip_utterances(catalog), *load_call_flow(catalog).utterances()]


def timed(settings: Settings, content: Path) -> tuple[float, BuildReport]:
    start = time.perf_counter()
    report = AudioBuild(settings, utterances(content)).run()
    return time.perf_counter() - start, report


def edit_one_tip(content: Path) -> str:
    """Append a word to the first tip's Spanish text, as a content team would edit it."""
    path = sorted((content / "tips").glob("*.yaml"))[0]
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    tip = data["tips"][0]
    tip["text"]["es"] += " Gracias."
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return tip["id"]


def table(manifest: Manifest, audio_dir: Path) -> None:
    print(f"{'format':<6} {'clips':>5} {'speech s':>9} {'bytes':>10} {'B/s':>7} {'kbit/s':>7}"
          f" {'tip mean B':>10} {'median':>7} {'max':>7}")  # fmt: skip
    for fmt in manifest.formats:
        tips = [f[fmt] for langs in manifest.tips.values() for f in langs.values()]
        prompts = [f[fmt] for langs in manifest.prompts.values() for f in langs.values()]
        clips = tips + prompts
        size = sum(c.bytes for c in clips)
        seconds = sum(c.duration for c in clips)
        per_tip = [c.bytes for c in tips]
        print(
            f"{fmt:<6} {len(clips):>5} {seconds:>9.1f} {size:>10,} {size / seconds:>7.0f}"
            f" {size * 8 / seconds / 1000:>7.2f} {statistics.mean(per_tip):>10,.0f}"
            f" {statistics.median(per_tip):>7,.0f} {max(per_tip):>7,}"
        )
    tip_seconds = [f["call"].duration for langs in manifest.tips.values() for f in langs.values()]
    print(
        f"tip clips: {len(tip_seconds)} (tips x languages), "
        f"{statistics.mean(tip_seconds):.1f} s on average, longest {max(tip_seconds):.1f} s"
    )
    on_disk = sum(p.stat().st_size for p in audio_dir.iterdir())
    print(f"total cache size: {on_disk:,} bytes in {len(list(audio_dir.iterdir()))} files "
          f"(manifest included)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="willay-bench-") as tmp:
        root = Path(tmp)
        content = root / "content"
        shutil.copytree(PROJECT_ROOT / "content", content)
        settings = Settings(
            content_dir=content,
            audio_dir=root / "audio",
            recordings_dir=root / "recordings",
            audio_workers=args.workers,
        )
        cold, report = timed(settings, content)
        print(f"catalog: {report.total} clips (tips x languages + IVR prompts), "
              f"{args.workers} worker processes")  # fmt: skip
        print(f"cold build:        {cold:6.1f} s  ({report.summary()})")
        noop, report = timed(settings, content)
        print(f"incremental, none: {noop:6.1f} s  ({report.summary()})")
        tip = edit_one_tip(content)
        edit, report = timed(settings, content)
        print(f"incremental, 1 tip edited ({tip}.es): {edit:.1f} s  ({report.summary()})")
        manifest = load_manifest(settings.audio_dir)
        assert manifest is not None
        print()
        table(manifest, settings.audio_dir)


if __name__ == "__main__":
    main()
