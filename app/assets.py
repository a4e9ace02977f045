"""The app's static files, read once, each with its strong ETag and a gzip twin."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from app.pack import compress
from willay.languages import LANGUAGES

__all__ = ["ASSETS", "Asset", "asset", "shell_version"]

STATIC = Path(__file__).parent / "static"
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "sw.js": "text/javascript; charset=utf-8",
    "manifest.webmanifest": "application/manifest+json",
    "icon.svg": "image/svg+xml",
}


_LANGUAGES = json.dumps([[code, name] for code, (name, _) in LANGUAGES.items()]).encode()


@dataclass(frozen=True)
class Asset:
    """One static file of the app, ready to send: plain and gzipped bytes, etag, type."""

    body: bytes
    gzipped: bytes
    etag: str
    content_type: str


@functools.cache
def shell_version() -> str:
    """A hash of every static file: the service worker's cache name changes with it."""
    digest = hashlib.sha256(_LANGUAGES)
    for name in sorted(ASSETS):
        digest.update((STATIC / name).read_bytes())
    return digest.hexdigest()[:12]


@functools.cache
def asset(name: str) -> Asset:
    """A static file, with `{{VERSION}}` replaced by the shell's version and `{{LANGUAGES}}` by
    the languages' codes and names (`willay/languages.py`)."""
    body = (STATIC / name).read_bytes().replace(b"{{VERSION}}", shell_version().encode())
    body = body.replace(b"{{LANGUAGES}}", _LANGUAGES)
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    return Asset(body=body, gzipped=compress(body), etag=etag, content_type=ASSETS[name])
