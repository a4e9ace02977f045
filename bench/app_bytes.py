"""What Willay Lite costs a person in data, against its budget.

First visit (the page, script, service worker, manifest, icon, the language's pack and the first
ranked tips; audio excluded), one language's pack alone, the update after 3 tips changed (a
delta by content hash) and the check when nothing changed (a 304), all as transferred: gzip
bodies plus response headers, and the request line for the update. Runs the real app in process
on the real catalog. Without a built audio cache it writes a stand-in manifest (one Opus clip per
tip and language, names and sizes as a build writes them) so the pack lists clips as it will.

    .venv/bin/python -m bench.app_bytes [--audio-dir var/audio]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import yaml
from fastapi.testclient import TestClient

from audio_cache import AudioFile, Manifest, load_manifest
from audio_cache.manifest import save_manifest
from shell.app import create_app
from willay.catalog import load_catalog
from willay.config import Environment, Settings
from willay.languages import LANGUAGES
from willay.signoff import text_sha256

BUDGET = {"first_visit": 50_000, "pack": 25_000, "update_3": 3_000, "not_modified": 1_000}
SHELL = ["/app", "/app/app.js", "/app/sw.js", "/app/manifest.webmanifest", "/app/icon.svg"]
GZIP = {"Accept-Encoding": "gzip, deflate, br"}
OPUS_BYTES_PER_SECOND = 1_000
SPEECH_CHARS_PER_SECOND = 14


@dataclass(frozen=True)
class AppBytes:
    """Bytes transferred, by what the person does."""

    lang: str
    first_visit: int
    pack: int
    update_3: int
    not_modified: int
    pack_raw: int

    def over_budget(self) -> list[str]:
        """Each figure above its budget, named."""
        return [
            f"{self.lang} {name}: {getattr(self, name):,} B > {limit:,} B"
            for name, limit in BUDGET.items()
            if getattr(self, name) > limit
        ]


def transferred(response: httpx2.Response) -> int:
    """Status line, headers and the body as it travelled (compressed)."""
    head = len(f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n")
    head += sum(len(f"{k}: {v}\r\n") for k, v in response.headers.items()) + 2
    return head + int(response.headers.get("content-length", len(response.content)))


def stand_in_audio(content_dir: Path, audio_dir: Path) -> None:
    """A manifest naming one clip per tip and language, sized like the app's Opus clips."""
    manifest = Manifest()
    for tip in load_catalog(content_dir).tips:
        for lang, text in tip.text.items():
            seconds = round(len(text) / SPEECH_CHARS_PER_SECOND, 1)
            clip = AudioFile(
                file=secrets.token_hex(12) + ".opus",
                bytes=int(seconds * OPUS_BYTES_PER_SECOND),
                duration=seconds,
                source="tts",
                sha256=secrets.token_hex(32),
                text_sha256=text_sha256(text),
            )
            manifest.put("tip", item_id=tip.id, lang=lang, files={"app": clip})
    save_manifest(audio_dir, manifest)


def change_three_tips(content_dir: Path) -> list[str]:
    """Edit the Spanish and Quechua text of three tips, as a content team would."""
    changed = []
    for path in sorted((content_dir / "tips").glob("*.yaml"))[:3]:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        tip = data["tips"][0]
        for lang in tip["text"]:
            tip["text"][lang] += " (2)"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
        changed.append(tip["id"])
    return changed


@contextmanager
def _client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=lambda: dt.datetime.now(dt.UTC))) as client:
        yield client


def measure(settings: Settings, *, lang: str) -> AppBytes:
    """The figures for `lang`, on `settings` (its content is copied, never edited)."""
    with tempfile.TemporaryDirectory() as folder:
        content = Path(shutil.copytree(settings.content_dir, Path(folder) / "content"))
        settings = settings.model_copy(update={"content_dir": content})
        with _client(settings) as client:
            first = sum(transferred(client.get(path, headers=GZIP)) for path in SHELL)
            response = client.get(f"/app/pack/{lang}", headers=GZIP)
            pack, pack_raw = transferred(response), len(response.content)
            old = response.json()
            first += pack
            install = {"install": secrets.token_hex(16), "lang": lang}
            first += transferred(client.post("/app/queue", json=install, headers=GZIP))
            have = ".".join(t["h"] for t in old["tips"])
            ask = {**GZIP, "If-None-Match": f'"{old["v"]}"'}
            unchanged = client.get(f"/app/pack/{lang}?have={have}", headers=ask)
            assert unchanged.status_code == 304, unchanged.status_code
            not_modified = transferred(unchanged) + len(unchanged.request.url.raw_path)
        change_three_tips(content)
        with _client(settings) as client:
            delta = client.get(f"/app/pack/{lang}?have={have}", headers=ask)
            assert delta.status_code == 200 and len(delta.json()["tips"]) == 3, delta.text[:200]
            update = transferred(delta) + len(delta.request.url.raw_path)
    return AppBytes(lang, first, pack, update, not_modified, pack_raw)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio-dir", type=Path, default=None, help="a built audio cache")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        audio_dir = args.audio_dir or Settings().audio_dir
        if load_manifest(audio_dir) is None:
            audio_dir = Path(folder) / "audio"
            audio_dir.mkdir()
            stand_in_audio(Settings().content_dir, audio_dir)
            print(f"no audio manifest: clips listed from a stand-in manifest ({audio_dir})")
        settings = Settings(
            environment=Environment.testing,
            pseudonym_key=secrets.token_hex(16),
            events_file=Path(folder) / "events.jsonl",
            alerts_file=Path(folder) / "alerts.json",
            audio_dir=audio_dir,
        )
        print(
            f"{'lang':<5} {'first visit':>12} {'pack':>8} {'(raw)':>8} {'3 changed':>10} {'304':>6}"
        )
        problems = []
        for lang in LANGUAGES:
            f = measure(settings, lang=lang)
            print(
                f"{lang:<5} {f.first_visit:>12,} {f.pack:>8,} {f.pack_raw:>8,} "
                f"{f.update_3:>10,} {f.not_modified:>6,}"
            )
            problems += f.over_budget()
    budget = ", ".join(f"{k} {v:,} B" for k, v in BUDGET.items())
    print(f"budget: {budget}")
    for problem in problems:
        print(f"OVER BUDGET: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
