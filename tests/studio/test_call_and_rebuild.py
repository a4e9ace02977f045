"""The call simulator runs the IVR flow itself; a full rebuild runs one at a time, followed."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

from fastapi.testclient import TestClient

from audio_cache import load_manifest
from shell.app import create_app
from studio import Builder
from tests.fixtures.alerts import make_alert
from tests.fixtures.audio import BuiltAudio
from tests.fixtures.studio import BASE_URL, StudioSetup, basic, studio_settings
from willay.alerts import FileAlertBoard

TIP = "tbc-tos-dos-semanas"


class Call:
    """A simulated call through the studio's API."""

    def __init__(self, client: TestClient, number: str = "+999000000042") -> None:
        self.client = client
        self.number = number
        self.session = f"studio-test-{time.monotonic_ns()}"

    def step(self, **fields: object) -> dict:
        response = self.client.post(
            "/studio/api/call",
            json={"session": self.session, "number": self.number, **fields},
            auth=basic("maria"),
        )
        assert response.status_code == 200, response.text
        return response.json()

    def heard(self, reply: dict) -> list[str]:
        clips = [*reply["plays"], *([reply["ask"]] if reply["ask"] else [])]
        return [f"{c['kind']}:{c['id']}.{c['lang']}" for c in clips]


class TestCallSimulator:
    def test_the_call_flow_answers_with_the_prompts_a_caller_hears(self, studio_client: TestClient):
        call = Call(studio_client)
        first = call.step()
        assert call.heard(first) == ["prompt:choose_language.mul"]
        assert "<GetDigits" in first["xml"] and first["ended"] is False
        assert call.heard(call.step(digits="2")) == ["prompt:consent.quy"]
        assert call.heard(call.step(digits="1")) == ["prompt:main.quy"]
        tip = call.step(digits="1")
        heard = call.heard(tip)
        assert heard[-1] == "prompt:feedback.quy" and heard[0].startswith("tip:")
        assert tip["plays"][0]["url"] is None  # no audio built: the provider's voice reads it
        assert "<Say>" in tip["xml"]
        ended = call.step(hangup=True)
        assert ended["ended"] is True and ended["plays"] == []

    def test_a_known_caller_is_greeted_in_their_language(self, studio_client: TestClient):
        call = Call(studio_client, number="+999000000077")
        call.step()
        call.step(digits="2")
        call.step(digits="1")
        again = Call(studio_client, number="+999000000077")
        assert call.heard(again.step()) == ["prompt:welcome.quy", "prompt:main.quy"]

    def test_a_recorded_tip_plays_the_human_voice_in_the_call(
        self, studio_setup: StudioSetup, speech: Path
    ):
        settings = studio_setup.settings.model_copy(
            update={"content_dir": studio_settings(studio_setup.root / "one", (TIP,)).content_dir}
        )
        with TestClient(create_app(settings), base_url=BASE_URL) as client:
            put = client.put(
                f"/studio/api/recordings/{TIP}/quy",
                content=speech.read_bytes(),
                auth=basic("maria"),
            )
            assert put.status_code == 201, put.text
            call_file, call_bytes = next(
                (f["url"], f["bytes"]) for f in put.json()["files"] if f["format"] == "call"
            )
            call = Call(client)
            call.step()
            call.step(digits="2")
            call.step(digits="1")
            tip = call.step(digits="1")["plays"][0]
            assert (tip["kind"], tip["id"], tip["lang"]) == ("tip", TIP, "quy")
            assert (tip["url"], tip["source"]) == (call_file, "human")
            played = client.get(call_file)
            assert played.status_code == 200 and len(played.content) == call_bytes

    def test_the_caller_number_must_be_fictitious(self, studio_client: TestClient):
        response = studio_client.post(
            "/studio/api/call",
            json={"session": "studio-abcdefgh", "number": "+51987654321"},
            auth=basic("maria"),
        )
        assert response.status_code == 400 and response.json()["detail"].startswith("number:")


class TestRebuild:
    def cache_missing_one_clip(self, built_audio: BuiltAudio, root: Path) -> Path:
        """A copy of the session's cache with one tip's call file gone (so it re-renders)."""
        audio = root / "audio"
        shutil.copytree(built_audio.settings.audio_dir, audio)
        manifest = load_manifest(audio)
        assert manifest is not None
        for files in manifest.tips["manos-como-lavar"].values():
            (audio / files["call"].file).unlink()
        return audio

    def test_a_rebuild_runs_one_at_a_time_and_can_be_followed_from_anywhere(
        self, tmp_path: Path, built_audio: BuiltAudio
    ):
        audio = self.cache_missing_one_clip(built_audio, tmp_path)
        settings = studio_settings(
            tmp_path,
            tips=("tbc-tos-dos-semanas", "tbc-tratamiento-completo", "manos-como-lavar"),
            audio_dir=audio,
        )
        with TestClient(create_app(settings), base_url=BASE_URL) as client:
            assert client.get("/studio/api/rebuild", auth=basic("editor1")).json()["state"] == (
                "idle"
            )
            started = client.post("/studio/api/rebuild", auth=basic("editor1"))
            assert started.status_code == 202, started.text
            assert started.json()["started_by"] == "editor1"
            second = client.post("/studio/api/rebuild", auth=basic("admin1"))
            assert second.status_code == 409
            assert "running" in second.json()["detail"]
            # another process sees the same progress (the page can be left and come back to)
            elsewhere = Builder(settings, list).status()
            assert elsewhere.state == "running" and elsewhere.started_by == "editor1"
            deadline = time.monotonic() + 240
            seen = []
            while time.monotonic() < deadline:
                status = client.get("/studio/api/rebuild", auth=basic("nurse1")).json()
                seen.append(status["done"])
                if status["state"] != "running":
                    break
                time.sleep(0.5)
            assert status["state"] == "done", status
            assert status["done"] == status["total"] > 0 and status["rendered"] >= 2
            assert seen == sorted(seen)
            assert "rendered" in status["summary"]
            page = client.get("/studio/rebuild", auth=basic("nurse1")).text
            assert 'data-state="done"' in page and "editor1 (editor): rebuild audio:all" in page
            assert "rebuild-start" not in page  # a clinical reviewer cannot start one
        manifest = load_manifest(audio)
        assert manifest is not None and "manos-como-lavar" in manifest.tips

    def test_a_rebuild_left_running_by_a_dead_process_shows_as_stopped(self, tmp_path: Path):
        settings = studio_settings(tmp_path)
        settings.studio_dir.mkdir(parents=True, exist_ok=True)
        (settings.studio_dir / "rebuild.json").write_text(
            '{"state": "running", "started_by": "editor1", "total": 10, "done": 4}'
        )
        status = Builder(settings, list).status()
        assert (status.state, status.done) == ("stopped", 4)


def test_the_prompts_page_lists_every_prompt_to_listen_to_and_record(
    studio_client: TestClient, speech: Path
):
    page = studio_client.get("/studio/prompts", auth=basic("maria")).text
    assert 'id="prompt-main-quy"' in page and 'id="prompt-choose_language-mul"' in page
    assert "/studio/record?prompt=main&amp;lang=quy" in page
    assert "/studio/record?prompt=main&amp;lang=es" not in page  # maria records quy only
    response = studio_client.put(
        "/studio/api/recordings/prompts/main/quy", content=speech.read_bytes(), auth=basic("maria")
    )
    call_file = next(f["url"] for f in response.json()["files"] if f["format"] == "call")
    page = studio_client.get("/studio/prompts", auth=basic("editor1")).text
    start = page.index('id="prompt-main-quy"')
    shown = page[start : page.index("</article>", start)]
    assert "voz humana · maria" in shown and f'src="{call_file}"' in shown
    record = studio_client.get("/studio/record?prompt=main&lang=quy", auth=basic("maria")).text
    assert 'data-put="/studio/api/recordings/prompts/main/quy"' in record


def test_an_alert_in_the_call_is_read_by_the_providers_voice(studio_setup: StudioSetup) -> None:
    board = FileAlertBoard(studio_setup.root / "alerts.json")
    alert = make_alert(studio_setup.settings, region="all", now=dt.datetime.now(dt.UTC))
    board.publish(alert)
    app = create_app(studio_setup.settings, alert_board=board)
    with TestClient(app, base_url=BASE_URL) as client:
        call = Call(client)
        call.step()
        call.step(digits="2")
        call.step(digits="1")  # consented: known from now on, the alert is for them
        played = Call(client).step()
    assert call.heard(played) == [f"alert:{alert.id}.quy", "prompt:welcome.quy", "prompt:main.quy"]
    heard = played["plays"][0]
    assert heard["text"] == alert.text["quy"]
    assert (heard["url"], heard["source"]) == (None, None)  # news: nothing pre-rendered plays it
