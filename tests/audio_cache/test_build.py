"""Building the cache with the real TTS and encoder: formats, content addresses, increments."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audio_cache import AudioLibrary, Segment, Utterance, load_manifest, tip_utterances
from audio_cache.build import AudioBuild, ItemDone
from audio_cache.encode import PEAK_DBFS, load
from audio_cache.manifest import FILE_NAME
from ivr import load_call_flow
from shell.cli import app
from tests.fixtures.audio import BuiltAudio, audio_settings, write_small_content
from tests.fixtures.environment import TEST_KEY
from willay.catalog import load_catalog
from willay.config import PROJECT_ROOT, Settings
from willay.errors import ConfigurationError
from willay.signoff import text_sha256

runner = CliRunner()


def probe(path: Path) -> tuple[dict, dict]:
    """The audio stream and the container, as ffprobe reads them back."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(out)
    return data["streams"][0], data["format"]


def said(item_id: str, text: str, lang: str = "es") -> Utterance:
    return Utterance(kind="tip", id=item_id, lang=lang, segments=(Segment(lang, text),))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A cache of this test's own, rendered by one worker (the session build uses two)."""
    return audio_settings(tmp_path, PROJECT_ROOT / "content", audio_workers=1)


class TestFormats:
    """The session's cache, decoded back."""

    def entries(self, built: BuiltAudio) -> list[tuple[str, dict]]:
        manifest = built.manifest
        tip = manifest.tips["manos-como-lavar"]
        return [
            *((f"tip.{lang}", files) for lang, files in tip.items()),
            ("main.es", manifest.prompts["main"]["es"]),
            ("choose_language.mul", manifest.prompts["choose_language"]["mul"]),
        ]

    def test_call_audio_is_8_khz_mono_mp3(self, built_audio: BuiltAudio):
        for label, files in self.entries(built_audio):
            entry = files["call"]
            path = built_audio.settings.audio_dir / entry.file
            stream, container = probe(path)
            assert stream["codec_name"] == "mp3", label
            assert (int(stream["sample_rate"]), stream["channels"]) == (8000, 1), label
            assert int(stream["bit_rate"]) == 16_000, label
            assert abs(float(container["duration"]) - entry.duration) < 0.01, label
            assert entry.duration > 1.0 and entry.source == "tts"
            # MP3 adds the encoder's delay and pads to whole 72 ms frames; Opus pre-skips
            assert abs(entry.duration - files["app"].duration) < 0.3, label

    def test_app_audio_is_mono_opus_at_a_speech_bitrate(self, built_audio: BuiltAudio):
        for label, files in self.entries(built_audio):
            entry = files["app"]
            path = built_audio.settings.audio_dir / entry.file
            stream, container = probe(path)
            assert (stream["codec_name"], container["format_name"]) == ("opus", "ogg"), label
            assert stream["channels"] == 1, label
            assert abs(float(container["duration"]) - entry.duration) < 0.01, label
            assert 6_000 <= entry.bytes * 8 / entry.duration <= 17_000, label

    def test_app_audio_costs_at_most_1000_bytes_a_second(self, built_audio: BuiltAudio):
        clips = [f["app"] for langs in built_audio.manifest.tips.values() for f in langs.values()]
        assert sum(c.bytes for c in clips) / sum(c.duration for c in clips) <= 1_000

    def test_manifest_tells_the_truth_about_each_file(self, built_audio: BuiltAudio):
        manifest = built_audio.manifest
        files = manifest.files()
        assert len(files) == 2 * built_audio.report.total
        for name, entry in files.items():
            data = (built_audio.settings.audio_dir / name).read_bytes()
            assert FILE_NAME.fullmatch(name)
            assert entry.bytes == len(data)
            assert entry.sha256 == hashlib.sha256(data).hexdigest()
        assert manifest.formats["call"]["content_type"] == "audio/mpeg"
        assert manifest.formats["app"]["content_type"] == "audio/ogg; codecs=opus"

    def test_loudness_is_normalised_across_voices(self, built_audio: BuiltAudio):
        levels = []
        for _, files in self.entries(built_audio):
            clip = load(built_audio.settings.audio_dir / files["app"].file)
            assert clip.max_dBFS <= PEAK_DBFS + 1.0
            levels.append(clip.dBFS)
        assert all(abs(level - built_audio.settings.audio_loudness) < 3 for level in levels)
        assert max(levels) - min(levels) < 3

    def test_mixed_prompt_speaks_every_language_in_a_row(self, built_audio: BuiltAudio):
        prompts = built_audio.manifest.prompts
        mixed = prompts["choose_language"]["mul"]["call"].duration
        alone = prompts["main"]["es"]["call"].duration
        assert mixed > 6.0 and alone > 3.0


class TestIncremental:
    def test_rebuild_renders_only_what_changed_and_removes_the_rest(self, settings: Settings):
        first = [said("t1", "Hierve el agua."), said("t2", "Lávate las manos.")]
        report = AudioBuild(settings, first).run()
        assert (report.rendered, report.reused, report.removed) == (2, 0, 0)
        old = load_manifest(settings.audio_dir)
        assert old is not None
        old_t2 = {f.file for f in old.tips["t2"]["es"].values()}

        again = AudioBuild(settings, first).run()
        assert (again.rendered, again.reused, again.removed) == (0, 2, 0)

        changed = [first[0], said("t2", "Lávate las manos con jabón.")]
        report = AudioBuild(settings, changed).run()
        assert (report.rendered, report.reused, report.removed) == (1, 1, 2)
        manifest = load_manifest(settings.audio_dir)
        assert manifest is not None
        assert manifest.tips["t1"] == old.tips["t1"]
        assert not any((settings.audio_dir / f).exists() for f in old_t2)
        on_disk = {p.name for p in settings.audio_dir.iterdir() if FILE_NAME.match(p.name)}
        assert on_disk == set(manifest.files())

        report = AudioBuild(settings, changed[:1]).run()  # t2 left the catalog
        assert report.removed == 2
        assert set(load_manifest(settings.audio_dir).tips) == {"t1"}  # type: ignore[union-attr]

    def test_a_setting_that_shapes_the_sound_renames_the_files(self, settings: Settings):
        clips = [said("t1", "Hierve el agua.")]
        AudioBuild(settings, clips).run()
        slower = settings.model_copy(update={"audio_rate": 120})
        report = AudioBuild(slower, clips).run()
        assert (report.rendered, report.removed) == (1, 2)

    def test_only_and_lang_leave_the_other_entries_alone(self, settings: Settings):
        clips = [said("t1", "Hierve el agua."), said("t1", "Yakuta timpuchiy.", "quy")]
        clips.append(said("t2", "Lávate las manos."))
        AudioBuild(settings, clips).run()
        report = AudioBuild(settings, clips, only=["t1"], languages=["quy"], force=True).run()
        assert (report.total, report.rendered, report.removed) == (1, 1, 0)
        manifest = load_manifest(settings.audio_dir)
        assert manifest is not None
        assert set(manifest.tips) == {"t1", "t2"} and set(manifest.tips["t1"]) == {"es", "quy"}

    def test_unknown_names_and_languages_are_one_message(self, settings: Settings):
        with pytest.raises(ConfigurationError) as caught:
            AudioBuild(settings, [said("t1", "Hola.")], only=["t9"], languages=["fr"])
        assert caught.value.message == ("no tip or prompt named 't9'; no language 'fr' (known: es)")


class TestRecordings:
    def record(self, path: Path, seconds: float) -> None:
        from pydub.generators import Sine

        path.parent.mkdir(parents=True, exist_ok=True)
        tone = Sine(440, sample_rate=44_100).to_audio_segment(duration=seconds * 1000, volume=-6)
        tone.set_channels(2).export(str(path), format="wav").close()

    def test_a_human_recording_wins_and_the_manifest_says_so(self, settings: Settings):
        clips = [said("t1", "Hierve el agua."), said("t2", "Lávate las manos.")]
        self.record(settings.recordings_dir / "t1.es.wav", 1.5)
        self.record(settings.recordings_dir / "prompts" / "nothing.es.wav", 0.5)
        self.record(settings.recordings_dir / "t1.fr.mp3", 0.5)
        events: list[ItemDone] = []
        report = AudioBuild(settings, clips).run(on_item=events.append)
        assert report.human == ["t1.es"]
        assert sorted(p.name for p in report.unused_recordings) == ["nothing.es.wav", "t1.fr.mp3"]
        assert {e.label: e.source for e in events} == {"t1.es": "human", "t2.es": "tts"}
        entry = load_manifest(settings.audio_dir).tips["t1"]["es"]  # type: ignore[union-attr]
        assert {f.source for f in entry.values()} == {"human"}
        stream, container = probe(settings.audio_dir / entry["call"].file)
        assert (int(stream["sample_rate"]), stream["channels"]) == (8000, 1)
        assert abs(float(container["duration"]) - 1.5) < 0.2

        (settings.recordings_dir / "t1.es.wav").unlink()
        report = AudioBuild(settings, clips).run()
        assert report.human == [] and (report.rendered, report.removed) == (1, 2)

    def test_audio_follows_the_text_and_an_old_recording_is_not_played(
        self, settings: Settings, caplog
    ):
        """Each file carries the sha256 of its text; the library serves only an exact match."""
        self.record(settings.recordings_dir / "t1.es.wav", 1.0)
        old = [said("t1", "Hierve el agua."), said("t2", "Lávate las manos.")]
        AudioBuild(settings, old).run()
        library = AudioLibrary(settings.audio_dir, base_url="https://willay.example")
        for item, text in (("t1", "Hierve el agua."), ("t2", "Lávate las manos.")):
            found = library.clip("tip", item_id=item, lang="es", text=text)
            assert found is not None and found[0].text_sha256 == text_sha256(text)

        new = [said("t1", "Hierve el agua 1 minuto."), said("t2", "Lávate las manos con jabón.")]
        not_built = library.clip("tip", item_id="t2", lang="es", text=new[1].segments[0].text)
        assert not_built is None
        report = AudioBuild(settings, new).run()
        assert (report.rendered, report.reused) == (1, 1)  # t2 spoken again; t1 is a recording
        assert "recording t1.es was made for an earlier text" in caplog.text
        assert (
            library.clip("tip", item_id="t2", lang="es", text="Lávate las manos con jabón.")
            is not None
        )
        assert library.clip("tip", item_id="t1", lang="es", text="Hierve el agua 1 minuto.") is None
        assert (
            library.clip("tip", item_id="t1", lang="es") is not None
        )  # by name alone it is still there


class TestStopping:
    def test_stop_keeps_the_manifest_whole_and_the_next_build_goes_on(self, settings: Settings):
        clips = [said(f"t{i}", f"Consejo número {i}.") for i in range(3)]
        stop = threading.Event()
        report = AudioBuild(settings, clips).run(on_item=lambda done: stop.set(), stop=stop)
        assert report.interrupted
        manifest = load_manifest(settings.audio_dir)
        assert manifest is not None
        finished = len(manifest.tips)
        assert 1 <= finished < len(clips)
        assert all((settings.audio_dir / f).is_file() for f in manifest.files())
        rest = AudioBuild(settings, clips).run()
        assert not rest.interrupted and rest.rendered + rest.reused == len(clips)
        assert rest.reused >= finished

    def test_ctrl_c_on_the_command_keeps_the_manifest_whole(self, tmp_path: Path):
        content = write_small_content(tmp_path / "content")
        audio = tmp_path / "audio"
        env = {
            **os.environ,
            "WILLAY_ENVIRONMENT": "testing",
            "WILLAY_PSEUDONYM_KEY": TEST_KEY,
            "WILLAY_CONTENT_DIR": str(content),
            "WILLAY_AUDIO_DIR": str(audio),
            "WILLAY_RECORDINGS_DIR": str(tmp_path / "recordings"),
            "WILLAY_AUDIO_WORKERS": "1",
        }
        command = [sys.executable, "-m", "shell", "audio", "build", "--lang", "es"]
        proc = subprocess.Popen(
            command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                manifest = load_manifest(audio)
                if manifest is not None and (manifest.tips or manifest.prompts):
                    break
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
        assert proc.returncode == 130, err.decode()
        assert "stopped" in err.decode()
        manifest = load_manifest(audio)
        assert manifest is not None
        assert all((audio / f).is_file() for f in manifest.files())
        assert not [p for p in audio.iterdir() if p.name.startswith(".tmp-")]
        catalog = load_catalog(content)
        utterances = [*tip_utterances(catalog), *load_call_flow(catalog).utterances()]
        assert 1 <= len(manifest.files()) // 2 < len([u for u in utterances if u.lang == "es"])


class TestCommand:
    def env(self, tmp_path: Path) -> dict[str, str]:
        return {
            "WILLAY_AUDIO_DIR": str(tmp_path / "audio"),
            "WILLAY_RECORDINGS_DIR": str(tmp_path / "recordings"),
            "WILLAY_CONTENT_DIR": str(write_small_content(tmp_path / "content")),
        }

    def test_build_one_tip_then_if_missing_does_nothing(self, tmp_path: Path):
        env = self.env(tmp_path)
        args = ["audio", "build", "--only", "manos-como-lavar", "--lang", "es"]
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("1 rendered, 0 unchanged, 0 removed; cache: 2 files")
        assert "manos-como-lavar.es" in result.stderr  # the progress line names the clip
        again = runner.invoke(app, ["audio", "build", "--if-missing"], env=env)
        assert again.exit_code == 0 and "already" in again.stdout

    def test_a_mistake_is_one_red_line(self, tmp_path: Path):
        result = runner.invoke(app, ["audio", "build", "--only", "nope"], env=self.env(tmp_path))
        assert result.exit_code == 1
        assert result.stderr.strip() == "no tip or prompt named 'nope'"

    def test_help(self):
        result = runner.invoke(app, ["audio", "build", "--help"])
        assert result.exit_code == 0
        assert "--only" in result.stdout and "--force" in result.stdout
