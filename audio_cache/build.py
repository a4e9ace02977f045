"""Building the cache: render what changed, keep what did not, remove what nothing names.

A file's name is a hash of everything that produced it (the text as spoken, the voice, the rate,
or the bytes of a human recording; the loudness target; the encoder settings), so a rebuild
renders only clips whose inputs changed. Clips render in a pool of spawned worker processes, one
TTS engine each (pyttsx3 cannot be shared between threads). After each finished clip the
manifest is replaced atomically; files no entry names are removed only when a build completes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from audio_cache.encode import probe_duration
from audio_cache.formats import AudioFormat, audio_formats
from audio_cache.manifest import FILE_NAME, AudioFile, Manifest, load_manifest, save_manifest
from audio_cache.render import Rendered, RenderJob, ignore_interrupts, render
from audio_cache.tts import TTS_ENGINE, resolve_voice, speakable
from audio_cache.utterances import (
    Kind,
    Utterance,
    recording_for,
    stale_recordings,
    unused_recordings,
)
from willay.config import Settings
from willay.errors import AudioError, ConfigurationError

__all__ = ["RENDER_VERSION", "AudioBuild", "BuildReport", "ItemDone"]

RENDER_VERSION = 1  # bump when the pipeline changes how a clip sounds
_TEMPORARY = re.compile(r"^\.tmp-[0-9a-f]{32}\.\w+$")

log = logging.getLogger(__name__)

Source = Literal["tts", "human"]


@dataclass(frozen=True)
class ItemDone:
    """Progress: one clip (all its formats) is ready, was already there, or failed."""

    label: str
    bytes: int
    source: Source
    rendered: bool
    error: str | None = None


@dataclass
class BuildReport:
    total: int
    rendered: int = 0
    reused: int = 0
    removed: int = 0
    files: int = 0
    bytes: int = 0
    interrupted: bool = False
    failed: list[str] = field(default_factory=list)
    human: list[str] = field(default_factory=list)
    unused_recordings: list[Path] = field(default_factory=list)
    stale_recordings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people and scripts."""
        line = (
            f"{self.rendered} rendered, {self.reused} unchanged, {self.removed} removed; "
            f"cache: {self.files} files, {self.bytes:,} bytes; human recordings: {len(self.human)}"
        )
        if self.interrupted:
            line += f"; stopped after {self.rendered + self.reused} of {self.total}"
        return line


@dataclass(frozen=True)
class _Item:
    utterance: Utterance
    source: Source
    recording: Path | None
    speech: tuple[tuple[str, int, str], ...]
    files: dict[str, str]  # format name -> file name


def _put(manifest: Manifest, utterance: Utterance, *, files: dict[str, AudioFile]) -> None:
    """Record `files` as what plays `utterance`."""
    manifest.put(utterance.kind, item_id=utterance.id, lang=utterance.lang, files=files)


def _select(
    utterances: Sequence[Utterance], *, only: Iterable[str], languages: Iterable[str]
) -> list[Utterance]:
    only, languages = set(only), set(languages)
    ids, known = {u.id for u in utterances}, sorted({u.lang for u in utterances})
    problems = [f"no tip or prompt named {name!r}" for name in sorted(only - ids)]
    problems += [
        f"no language {code!r} (known: {', '.join(known)})"
        for code in sorted(languages - set(known))
    ]
    if problems:
        raise ConfigurationError("; ".join(problems))
    return [
        u
        for u in utterances
        if (not only or u.id in only) and (not languages or u.lang in languages)
    ]


class AudioBuild:
    """A planned build: which clips are selected, and which of them must be rendered."""

    def __init__(
        self,
        settings: Settings,
        utterances: Sequence[Utterance],
        *,
        only: Iterable[str] = (),
        languages: Iterable[str] = (),
        force: bool = False,
    ) -> None:
        self._dir = settings.audio_dir
        self._workers = settings.audio_workers
        self._loudness = settings.audio_loudness
        self._formats = audio_formats(settings)
        self._universe = {(u.kind, u.id, u.lang) for u in utterances}
        self._recordings = settings.recordings_dir
        self._unused = unused_recordings(settings.recordings_dir, utterances)
        selected = _select(utterances, only=only, languages=languages)
        self._stale = stale_recordings(settings.recordings_dir, selected)
        voices = self._voices(settings, selected)
        self._old = load_manifest(self._dir) or Manifest()
        self._known = self._old.files()
        self._items = [self._plan(u, voices=voices, rate=settings.audio_rate) for u in selected]
        self._force = force

    @property
    def total(self) -> int:
        """How many clips the build covers (rendered or kept)."""
        return len(self._items)

    @staticmethod
    def _voices(settings: Settings, utterances: Sequence[Utterance]) -> dict[str, str]:
        langs = {s.lang for u in utterances for s in u.segments}
        missing = sorted(langs - set(settings.audio_voices))
        if missing:
            raise ConfigurationError(f"WILLAY_AUDIO_VOICES has no voice for {', '.join(missing)}")
        return {lang: resolve_voice(settings.audio_voices[lang]) for lang in sorted(langs)}

    def _plan(self, utterance: Utterance, *, voices: dict[str, str], rate: int) -> _Item:
        recording = recording_for(self._recordings, utterance)
        speech = tuple(
            (voices[s.lang], rate, speakable(s.text, voices[s.lang])) for s in utterance.segments
        )
        if recording is not None:
            origin: dict[str, object] = {
                "recording": hashlib.sha256(recording.read_bytes()).hexdigest()
            }
        else:
            origin = {"tts": TTS_ENGINE, "speech": [list(part) for part in speech]}
        files = {}
        for fmt in self._formats:
            blob = json.dumps(
                {
                    "v": RENDER_VERSION,
                    "origin": origin,
                    "loudness": self._loudness,
                    "format": fmt.signature,
                },
                sort_keys=True,
                ensure_ascii=False,
            )
            digest = hashlib.sha256(blob.encode()).hexdigest()[:24]
            files[fmt.name] = f"{digest}.{fmt.extension}"
        return _Item(
            utterance=utterance,
            source="human" if recording else "tts",
            recording=recording,
            speech=speech,
            files=files,
        )

    # -- running --------------------------------------------------------------------------------

    def _job(self, item: _Item) -> RenderJob:
        by_name = {fmt.name: fmt for fmt in self._formats}
        outputs: tuple[tuple[AudioFormat, Path], ...] = tuple(
            (by_name[name], self._dir / file) for name, file in item.files.items()
        )
        return RenderJob(
            label=item.utterance.label,
            speech=item.speech,
            recording=item.recording,
            loudness=self._loudness,
            outputs=outputs,
        )

    def _kept(self, item: _Item) -> dict[str, AudioFile] | None:
        """The files of an item already in the cache, or None if it must be rendered."""
        if self._force or not all((self._dir / f).is_file() for f in item.files.values()):
            return None
        kept = {}
        text = item.utterance.text_sha256
        for name, file in item.files.items():
            path = self._dir / file
            known = self._known.get(file)
            if known is None:
                known = AudioFile(
                    file=file,
                    bytes=path.stat().st_size,
                    duration=probe_duration(path),
                    source=item.source,
                    sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                )
            # a synthetic file's name already depends on its text; a recording is bound to the
            # text it was first built for, so an edited text is no longer spoken by it
            bound = known.text_sha256 if item.source == "human" else None
            kept[name] = known.model_copy(update={"text_sha256": bound or text})
        if item.source == "human" and any(f.text_sha256 != text for f in kept.values()):
            log.warning(
                "recording %s was made for an earlier text: it is not played; record it again",
                item.utterance.label,
            )
        return kept

    def _start_manifest(self) -> Manifest:
        """The old manifest's entries that still name a tip or prompt, with today's formats."""
        manifest = Manifest(
            formats={f.name: {**f.signature, "content_type": f.content_type} for f in self._formats}
        )
        kinds: tuple[Kind, ...] = ("tip", "prompt")
        for kind in kinds:
            for item_id, langs in self._old.section(kind).items():
                for lang, files in langs.items():
                    if (kind, item_id, lang) in self._universe and all(
                        (self._dir / f.file).is_file() for f in files.values()
                    ):
                        manifest.put(kind, item_id=item_id, lang=lang, files=files)
        return manifest

    def _remove_unnamed(self, manifest: Manifest) -> int:
        """Remove the cache's files that no entry names; leaves other files alone."""
        named = set(manifest.files())
        removed = 0
        for path in self._dir.iterdir():
            if (FILE_NAME.match(path.name) and path.name not in named) or _TEMPORARY.match(
                path.name
            ):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _files_of(self, item: _Item, rendered: Rendered) -> dict[str, AudioFile]:
        return {
            name: AudioFile(
                file=item.files[name],
                bytes=size,
                duration=duration,
                source=item.source,
                sha256=digest,
                text_sha256=item.utterance.text_sha256,
            )
            for name, (size, digest, duration) in rendered.files.items()
        }

    def run(
        self,
        *,
        on_item: Callable[[ItemDone], None] | None = None,
        stop: threading.Event | None = None,
    ) -> BuildReport:
        """Render what is missing; Ctrl-C (or `stop`) ends it early with the manifest whole."""
        self._dir.mkdir(parents=True, exist_ok=True)
        report = BuildReport(
            total=self.total, unused_recordings=self._unused, stale_recordings=self._stale
        )
        notify = on_item or (lambda done: None)
        manifest = self._start_manifest()
        pending = []
        for item in self._items:
            kept = self._kept(item)
            if kept is None:
                pending.append(item)
                continue
            _put(manifest, item.utterance, files=kept)
            report.reused += 1
            size = sum(f.bytes for f in kept.values())
            notify(ItemDone(item.utterance.label, size, item.source, rendered=False))
        save_manifest(self._dir, manifest)
        if pending:
            report.interrupted = self._render_all(
                pending, manifest=manifest, report=report, notify=notify, stop=stop
            )
        if not report.interrupted:
            report.removed = self._remove_unnamed(manifest)
        report.human = sorted(
            item.utterance.label for item in self._items if item.source == "human"
        )
        files = manifest.files()
        report.files, report.bytes = len(files), sum(f.bytes for f in files.values())
        return report

    def _render_all(
        self,
        pending: list[_Item],
        *,
        manifest: Manifest,
        report: BuildReport,
        notify: Callable[[ItemDone], None],
        stop: threading.Event | None,
    ) -> bool:
        """Render `pending` in worker processes; True if stopped before the end."""
        context = multiprocessing.get_context("spawn")
        workers = min(self._workers, len(pending))
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=ignore_interrupts)
        with pool:
            futures: dict[Future[Rendered], _Item] = {
                pool.submit(render, self._job(item)): item for item in pending
            }
            try:
                for future in as_completed(futures):
                    item = futures[future]
                    self._record(future, item=item, manifest=manifest, report=report, notify=notify)
                    if stop is not None and stop.is_set():
                        pool.shutdown(wait=True, cancel_futures=True)
                        return True
            except KeyboardInterrupt:
                log.warning("audio build interrupted: finishing the clips in progress")
                pool.shutdown(wait=True, cancel_futures=True)
                return True
        return False

    def _record(
        self,
        future: Future[Rendered],
        *,
        item: _Item,
        manifest: Manifest,
        report: BuildReport,
        notify: Callable[[ItemDone], None],
    ) -> None:
        label = item.utterance.label
        try:
            rendered = future.result()
        except BrokenProcessPool as exc:
            raise AudioError(f"a text-to-speech worker died while rendering {label}") from exc
        except (AudioError, ConfigurationError) as exc:
            report.failed.append(f"{label}: {exc.message}")
            notify(ItemDone(label, 0, item.source, False, error=exc.message))
            return
        files = self._files_of(item, rendered)
        _put(manifest, item.utterance, files=files)
        save_manifest(self._dir, manifest)
        report.rendered += 1
        notify(ItemDone(label, sum(f.bytes for f in files.values()), item.source, True))
