"""Recording upload: normalised, stored with provenance, served at once; bad uploads refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from audio_cache import Segment, Utterance, load_manifest, recording_for
from audio_cache.build import AudioBuild
from audio_cache.encode import load
from shell.app import create_app
from tests.fixtures.studio import (
    BASE_URL,
    StudioSetup,
    basic,
    convert,
    silence,
    tone,
)
from willay.signoff import text_sha256

TIP = "tbc-tos-dos-semanas"
OTHER = "agua-lavar-cocinar-alimentos"


def put(client: TestClient, path: str, body: bytes, who: str = "editor1"):
    return client.put(f"/studio/api/recordings/{path}", content=body, auth=basic(who))


def probe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)["streams"][0]


class TestAccepted:
    def test_a_wav_take_is_stored_with_provenance_and_served_at_once(
        self, studio_client: TestClient, studio_setup: StudioSetup, speech: Path
    ):
        settings = studio_setup.settings
        response = put(studio_client, f"{TIP}/es", speech.read_bytes())
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["kind"], body["id"], body["lang"], body["speaker"]) == (
            "tip",
            TIP,
            "es",
            "editor1",
        )
        files = {f["format"]: f for f in body["files"]}
        assert set(files) == {"call", "app"}
        assert {f["source"] for f in files.values()} == {"human"}
        call = studio_client.get(files["call"]["url"])
        assert call.status_code == 200 and call.headers["content-type"] == "audio/mpeg"
        app_audio = studio_client.get(files["app"]["url"])
        assert app_audio.headers["content-type"] == "audio/ogg; codecs=opus"
        stream = probe(settings.audio_dir / files["call"]["file"])
        assert (int(stream["sample_rate"]), stream["channels"]) == (8000, 1)

        stored = settings.recordings_dir / f"{TIP}.es.wav"
        provenance = json.loads((settings.recordings_dir / f"{TIP}.es.json").read_text())
        catalog_text = yaml.safe_load(
            next((settings.content_dir / "tips").glob("tbc.yaml")).read_text()
        )["tips"][0]["text"]["es"]
        assert provenance["speaker"] == "editor1"
        assert provenance["text_sha256"] == text_sha256(catalog_text)
        assert provenance["original"] == "wav"
        clip = load(stored)
        assert clip.frame_rate == 16_000 and clip.channels == 1
        assert abs(clip.dBFS - settings.audio_loudness) < 1.5  # loudness set
        original = load(speech)
        assert len(clip) < len(original)  # espeak's trailing silence trimmed
        assert studio_setup.recorded_files() == [f"{TIP}.es.json", f"{TIP}.es.wav"]

        manifest = load_manifest(settings.audio_dir)
        assert manifest is not None
        assert list(manifest.tips) == [TIP] and list(manifest.tips[TIP]) == ["es"]
        assert manifest.prompts == {}  # only that item was rendered

    @pytest.mark.parametrize(
        ("suffix", "codec"),
        [("webm", ("-c:a", "libopus")), ("ogg", ("-c:a", "libopus"))],
    )
    def test_webm_and_ogg_opus_are_accepted(
        self,
        studio_client: TestClient,
        studio_setup: StudioSetup,
        speech: Path,
        tmp_path: Path,
        suffix: str,
        codec: tuple[str, ...],
    ):
        upload = convert(speech, tmp_path / f"take.{suffix}", *codec)
        response = put(studio_client, f"{TIP}/quy", upload.read_bytes(), who="maria")
        assert response.status_code == 201, response.text
        assert response.json()["speaker"] == "maria"
        provenance = json.loads((studio_setup.recordings / f"{TIP}.quy.json").read_text())
        assert (provenance["speaker"], provenance["original"]) == ("maria", suffix)

    def test_an_ivr_prompt_can_be_recorded_too(
        self, studio_client: TestClient, studio_setup: StudioSetup, speech: Path
    ):
        response = put(studio_client, "prompts/main/quy", speech.read_bytes(), who="maria")
        assert response.status_code == 201, response.text
        assert response.json()["kind"] == "prompt"
        assert (studio_setup.recordings / "prompts" / "main.quy.wav").is_file()
        mixed = put(studio_client, "prompts/choose_language/mul", speech.read_bytes())
        assert mixed.status_code == 201, mixed.text
        assert (mixed.json()["id"], mixed.json()["lang"]) == ("choose_language", "mul")

    def test_a_new_take_replaces_the_old_one(
        self, studio_client: TestClient, studio_setup: StudioSetup, speech: Path, tmp_path: Path
    ):
        first = put(studio_client, f"{TIP}/es", speech.read_bytes()).json()
        slower = convert(speech, tmp_path / "slow.wav", "-filter:a", "atempo=0.8")
        second = put(studio_client, f"{TIP}/es", slower.read_bytes()).json()
        old = {f["file"] for f in first["files"]}
        new = {f["file"] for f in second["files"]}
        assert old.isdisjoint(new)
        for name in old:
            gone = studio_client.get(f"/audio/{name}")
            assert gone.status_code == 404 and gone.json()["error"] == "NotFound"
        assert studio_setup.recorded_files() == [f"{TIP}.es.json", f"{TIP}.es.wav"]


class TestRefused:
    """Each bad upload is a clear 4xx and leaves the recordings folder as it was."""

    @pytest.fixture
    def uploads(self, tmp_path: Path, speech: Path) -> dict[str, bytes]:
        too_loud = load(speech).apply_gain(30)  # saturates: clipped
        too_loud.export(str(tmp_path / "loud.wav"), format="wav").close()
        short = load(speech)[:1200]
        short.export(str(tmp_path / "short.wav"), format="wav").close()
        return {
            "text": b"this is not audio at all",
            "empty": b"",
            "html": b"<html><body>RIFF</body></html>",
            "fake-wav": b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk",
            "ten-minutes": tone(tmp_path / "long.wav", seconds=600).read_bytes(),
            "silent": silence(tmp_path / "silent.wav", seconds=3).read_bytes(),
            "clipped": (tmp_path / "loud.wav").read_bytes(),
            "short": (tmp_path / "short.wav").read_bytes(),
        }

    @pytest.mark.parametrize(
        ("name", "status", "reason"),
        [
            ("text", 422, "not audio"),
            ("html", 422, "not audio"),
            ("fake-wav", 422, "cannot be decoded"),
            ("empty", 400, "empty body"),
            ("ten-minutes", 422, "over-long: 600.0 s"),
            ("silent", 422, "silent"),
            ("clipped", 422, "clipped"),
            ("short", 422, "too short"),
        ],
    )
    def test_bad_audio(
        self,
        studio_client: TestClient,
        studio_setup: StudioSetup,
        uploads: dict[str, bytes],
        name: str,
        status: int,
        reason: str,
    ):
        response = put(studio_client, f"{TIP}/es", uploads[name])
        assert response.status_code == status, response.text
        assert reason in response.json()["detail"]
        assert studio_setup.recorded_files() == []
        assert load_manifest(studio_setup.settings.audio_dir) is None

    @pytest.mark.parametrize(
        ("path", "reason"),
        [
            ("no-such-tip/es", "no tip 'no-such-tip'"),
            (f"{TIP}/fr", "no language 'fr'"),
            (f"{OTHER}/quz", f"tip {OTHER} has no quz text (it plays quy): record quy"),
            ("prompts/nothing/es", "no IVR prompt 'nothing'"),
            ("prompts/main/quz", "IVR prompt main has no 'quz' text"),
        ],
    )
    def test_wrong_tip_prompt_or_language_is_404(
        self,
        studio_client: TestClient,
        studio_setup: StudioSetup,
        speech: Path,
        path: str,
        reason: str,
    ):
        response = put(studio_client, path, speech.read_bytes())
        assert response.status_code == 404, response.text
        assert reason in response.json()["detail"]
        assert studio_setup.recorded_files() == []

    def test_a_body_over_the_limit_is_413_before_it_is_read(
        self, studio_setup: StudioSetup, speech: Path
    ):
        settings = studio_setup.settings.model_copy(update={"studio_max_upload": 100_000})
        with TestClient(create_app(settings), base_url=BASE_URL) as client:
            response = put(client, f"{TIP}/es", b"RIFF" + b"\x00" * 200_000)
        assert response.status_code == 413
        assert response.json()["error"] == "PayloadTooLarge"
        assert "over 100,000 bytes" in response.json()["detail"]
        with TestClient(create_app(settings), base_url=BASE_URL) as client:
            streamed = client.put(  # no Content-Length: refused while it arrives
                "/studio/api/recordings/prompts/welcome/es",
                content=iter([b"RIFF" + b"\x00" * 60_000, b"\x00" * 60_000]),
                auth=basic("editor1"),
            )
        assert streamed.status_code == 413, streamed.text
        assert streamed.json()["error"] == "PayloadTooLarge"
        assert studio_setup.recorded_files() == []


class TestStale:
    def test_a_recording_goes_stale_when_its_text_changes_and_tts_returns(
        self, tmp_path: Path, studio_setup: StudioSetup, speech: Path
    ):
        settings = studio_setup.settings
        with TestClient(create_app(settings), base_url=BASE_URL) as client:
            assert put(client, f"{TIP}/es", speech.read_bytes()).json()["speaker"] == "editor1"
            page = client.get("/studio?lang=es&topic=tbc", auth=basic("nurse1")).text
            assert "voz humana · editor1" in page

        tips_file = settings.content_dir / "tips" / "tbc.yaml"
        data = yaml.safe_load(tips_file.read_text())
        data["tips"][0]["text"]["es"] += " Es gratis."
        tips_file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))

        with TestClient(create_app(settings), base_url=BASE_URL) as client:
            page = client.get("/studio?lang=es&topic=tbc&recording=stale", auth=basic("nurse1"))
            assert "grabación antigua · editor1" in page.text
            assert "1 resultado(s)" in page.text

        utterance = Utterance(
            kind="tip", id=TIP, lang="es", segments=(Segment("es", data["tips"][0]["text"]["es"]),)
        )
        assert recording_for(settings.recordings_dir, utterance) is None
        report = AudioBuild(settings, [utterance]).run()
        assert report.human == [] and report.rendered == 1
        assert report.stale_recordings == [f"{TIP}.es"]
        entry = load_manifest(settings.audio_dir).tips[TIP]["es"]  # type: ignore[union-attr]
        assert {f.source for f in entry.values()} == {"tts"}

    def test_a_recording_without_provenance_still_wins(self, tmp_path: Path, speech: Path):
        (tmp_path / "t1.es.wav").write_bytes(speech.read_bytes())
        utterance = Utterance(kind="tip", id="t1", lang="es", segments=(Segment("es", "Hola."),))
        assert recording_for(tmp_path, utterance) == tmp_path / "t1.es.wav"
