"""`GET /audio/{name}`: immutable caching, strong ETags, ranges, and nothing outside the cache."""

from __future__ import annotations

import hashlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audio_cache import AudioFile, AudioLibrary
from audio_cache.manifest import FILE_NAME
from audio_cache.routes import CACHE_CONTROL
from shell.app import create_app
from tests.fixtures.audio import BuiltAudio
from willay.events import MemoryEventSink

# Every file the process opens while `_opened` is a list (a read-only audit hook, added once).
_opened: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _opened is not None and isinstance(args[0], str | bytes | Path):
        _opened.append(str(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def client(built_audio: BuiltAudio) -> Iterator[TestClient]:
    app = create_app(built_audio.settings, events=MemoryEventSink())
    with TestClient(app) as c:
        yield c


@pytest.fixture
def clip(built_audio: BuiltAudio) -> AudioFile:
    return built_audio.manifest.tips["manos-como-lavar"]["es"]["call"]


def opened_during(client: TestClient, path: str, **kwargs) -> tuple[int, list[str]]:
    global _opened
    _opened = []
    try:
        status = client.get(path, **kwargs).status_code
        return status, list(_opened)
    finally:
        _opened = None


class TestServing:
    def test_file_with_immutable_caching_and_a_strong_etag(self, client, clip, built_audio):
        response = client.get(f"/audio/{clip.file}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/mpeg"
        assert response.headers["cache-control"] == CACHE_CONTROL
        assert response.headers["etag"] == f'"{clip.sha256[:32]}"'
        assert response.headers["accept-ranges"] == "bytes"
        assert "content-encoding" not in response.headers
        assert int(response.headers["content-length"]) == clip.bytes
        assert hashlib.sha256(response.content).hexdigest() == clip.sha256

    def test_opus_has_its_exact_type(self, client, built_audio):
        app_clip = built_audio.manifest.prompts["main"]["quy"]["app"]
        response = client.get(f"/audio/{app_clip.file}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/ogg; codecs=opus"
        assert response.content[:4] == b"OggS"

    @pytest.mark.parametrize("tag", ["{etag}", "W/{etag}", '"other", {etag}', "*"])
    def test_if_none_match_is_304(self, client, clip, tag):
        etag = f'"{clip.sha256[:32]}"'
        response = client.get(
            f"/audio/{clip.file}", headers={"If-None-Match": tag.format(etag=etag)}
        )
        assert response.status_code == 304 and response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == CACHE_CONTROL

    def test_another_etag_gets_the_file(self, client, clip):
        response = client.get(f"/audio/{clip.file}", headers={"If-None-Match": '"nope"'})
        assert response.status_code == 200 and len(response.content) == clip.bytes

    def test_range_gives_206_with_the_bytes(self, client, clip, built_audio):
        data = (built_audio.settings.audio_dir / clip.file).read_bytes()
        response = client.get(f"/audio/{clip.file}", headers={"Range": "bytes=100-199"})
        assert response.status_code == 206
        assert response.headers["content-range"] == f"bytes 100-199/{clip.bytes}"
        assert response.content == data[100:200]
        suffix = client.get(f"/audio/{clip.file}", headers={"Range": "bytes=-50"})
        assert suffix.status_code == 206 and suffix.content == data[-50:]

    def test_unsatisfiable_range_is_416(self, client, clip):
        response = client.get(f"/audio/{clip.file}", headers={"Range": f"bytes={clip.bytes}-"})
        assert response.status_code == 416
        assert response.headers["content-range"] == f"bytes */{clip.bytes}"

    def test_head_has_the_headers_and_no_body(self, client, clip):
        response = client.head(f"/audio/{clip.file}")
        assert response.status_code == 200 and response.content == b""
        assert int(response.headers["content-length"]) == clip.bytes

    def test_only_the_manifest_and_the_file_are_opened(self, client, clip, built_audio):
        cache = built_audio.settings.audio_dir
        status, opened = opened_during(client, f"/audio/{clip.file}")
        assert status == 200
        assert set(opened) <= {str(cache / "manifest.json"), str(cache / clip.file)}
        assert str(cache / clip.file) in opened


class TestUnknownNames:
    @pytest.mark.parametrize(
        "path",
        [
            "/audio/" + "0" * 24 + ".mp3",  # well formed, not in the manifest
            "/audio/manifest.json",  # in the cache folder, not audio
            "/audio/..%2F..%2Fetc%2Fpasswd",
            "/audio/%2e%2e%2fmanifest.json",
            "/audio/..%5c..%5cetc%5cpasswd",
            "/audio/%2Fetc%2Fpasswd",
            "/audio/" + "0" * 24 + ".mp3%00.json",
            "/audio/" + "A" * 24 + ".mp3",
            "/audio/" + "0" * 24 + ".wav",
            "/audio/.tmp-" + "0" * 32 + ".mp3",
        ],
    )
    def test_404_without_opening_anything_but_the_manifest(self, client, path, built_audio):
        status, opened = opened_during(client, path)
        assert status == 404
        assert set(opened) <= {str(built_audio.settings.audio_dir / "manifest.json")}
        if not FILE_NAME.fullmatch(path.rsplit("/", 1)[1]):
            assert opened == []  # a name that cannot be a cache file is refused before any lookup

    def test_404_is_the_error_shape(self, client):
        response = client.get("/audio/nothing.mp3")
        assert response.json() == {"error": "NotFound", "detail": "no audio file 'nothing.mp3'"}

    def test_a_file_on_disk_the_manifest_does_not_name_is_not_served(
        self, client, built_audio, clip
    ):
        orphan = built_audio.settings.audio_dir / ("f" * 24 + ".mp3")
        orphan.write_bytes((built_audio.settings.audio_dir / clip.file).read_bytes())
        try:
            refused = client.get(f"/audio/{orphan.name}")
            assert refused.status_code == 404 and refused.json()["error"] == "NotFound"
        finally:
            orphan.unlink()

    def test_library_refuses_names_before_any_lookup(self, tmp_path):
        library = AudioLibrary(tmp_path, base_url="https://x.test")
        for name in ("../manifest.json", "/etc/passwd", "a" * 24 + ".mp3", ""):
            assert library.served(name) is None
        assert not library.ready


class TestSymlinks:
    @pytest.fixture
    def own_cache(self, built_audio: BuiltAudio, tmp_path: Path) -> Path:
        """A copy of the built cache this test may tamper with."""
        cache = tmp_path / "audio"
        shutil.copytree(built_audio.settings.audio_dir, cache)
        return cache

    def test_a_symlink_in_the_cache_is_never_followed(self, built_audio, clip, own_cache) -> None:
        (own_cache / clip.file).unlink()
        (own_cache / clip.file).symlink_to("/etc/passwd")
        settings = built_audio.settings.model_copy(update={"audio_dir": own_cache})
        with TestClient(create_app(settings, events=MemoryEventSink())) as c:
            response = c.get(f"/audio/{clip.file}")
        assert response.status_code == 404 and b"root:" not in response.content
        assert response.json()["error"] == "NotFound"

    def test_a_symlink_to_a_file_inside_the_cache_is_refused_too(
        self, built_audio, clip, own_cache
    ) -> None:
        other = built_audio.manifest.prompts["main"]["quy"]["call"]
        (own_cache / clip.file).unlink()
        (own_cache / clip.file).symlink_to(own_cache / other.file)
        settings = built_audio.settings.model_copy(update={"audio_dir": own_cache})
        with TestClient(create_app(settings, events=MemoryEventSink())) as c:
            linked = c.get(f"/audio/{clip.file}")
            assert linked.status_code == 404 and linked.json()["error"] == "NotFound"
            served = c.get(f"/audio/{other.file}")
            assert served.status_code == 200 and len(served.content) == other.bytes
