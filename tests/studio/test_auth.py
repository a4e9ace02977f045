"""Accounts, sessions, CSRF and roles: who may do what, and what is refused."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from studio import AccountBook, Role
from studio.auth import MAX_FAILURES, SESSION_COOKIE
from tests.fixtures.studio import BASE_URL, PASSWORDS, StudioSetup, basic, log_in
from willay.app import create_app
from willay.cli import app
from willay.errors import ConfigurationError

runner = CliRunner()


class TestAccounts:
    def test_add_user_reads_the_password_from_stdin_and_stores_only_a_hash(self, tmp_path: Path):
        password = "a long enough secret"
        result = runner.invoke(
            app,
            ["studio", "add-user", "ana", "--role", "editor", "--studio-dir", str(tmp_path)],
            input=password + "\n",
        )
        assert result.exit_code == 0, result.output
        assert "ana (editor)" in result.output
        raw = (tmp_path / "users.json").read_text()
        assert password not in raw and "$argon2id$" in raw
        assert (tmp_path / "users.json").stat().st_mode & 0o077 == 0
        book = AccountBook(tmp_path)
        assert book.verify("ana", password) is not None
        assert book.verify("ana", password + "x") is None
        assert book.verify("nobody", password) is None

    def test_refusals_are_one_line_each(self, tmp_path: Path):
        def add(*args: str, password: str = "a long enough secret") -> str:
            result = runner.invoke(
                app,
                ["studio", "add-user", *args, "--studio-dir", str(tmp_path)],
                input=password + "\n",
            )
            assert result.exit_code == 1
            return result.output.strip()

        assert "at least 10 characters" in add("ana", "--role", "editor", password="short")
        assert "unknown role 'nurse'" in add("ana", "--role", "nurse")
        assert "--lang" in add("ana", "--role", "language-reviewer", "--credential", "Hablante")
        assert "--credential" in add("ana", "--role", "clinical-reviewer")
        assert "invalid name" in add("Ana Maria", "--role", "editor")
        assert not (tmp_path / "users.json").exists()

    def test_an_existing_account_is_replaced_only_when_asked(self, tmp_path: Path):
        book = AccountBook(tmp_path)
        book.add("ana", role=Role.editor, password="first password")
        with pytest.raises(ConfigurationError, match="already has an account"):
            book.add("ana", role=Role.admin, password="second password")
        book.add("ana", role=Role.admin, password="second password", replace=True)
        account = book.verify("ana", "second password")
        assert account is not None and account.role is Role.admin

    def test_the_file_is_parsed_once_until_another_process_changes_it(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ):
        running = AccountBook(tmp_path)  # the app's book
        assert running.get("ana") is None
        AccountBook(tmp_path).add("ana", role=Role.editor, password="first password")  # the CLI
        account = running.get("ana")
        assert account is not None and account.role is Role.editor
        parsed: list[bytes] = []
        real = Path.read_bytes
        monkeypatch.setattr(Path, "read_bytes", lambda p: parsed.append(b"") or real(p))
        for _ in range(5):
            assert running.get("ana") == account
        assert running.all() == [account] and parsed == []
        AccountBook(tmp_path).add("ana", role=Role.admin, password="second password", replace=True)
        parsed.clear()
        changed = running.get("ana")
        assert changed is not None and changed.role is Role.admin and len(parsed) == 1
        (tmp_path / "users.json").unlink()
        assert running.get("ana") is None

    def test_importing_the_app_hashes_nothing(self):
        code = "import willay.app, studio.accounts as a; print(a._dummy_hash.cache_info().currsize)"
        root = Path(__file__).parents[2]
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=root
        )
        assert done.returncode == 0 and done.stdout == "0\n", done.stderr

    def test_roles_decide_recording_reviewing_and_rebuilding(self, tmp_path: Path):
        book = AccountBook(tmp_path)
        editor = book.add("ed", role=Role.editor, password="x" * 10)
        nurse = book.add("nu", role=Role.clinical_reviewer, password="x" * 10, credential="RN")
        speaker = book.add(
            "sp", role=Role.language_reviewer, lang="quz", password="x" * 10, credential="Cusco"
        )
        assert editor.may_record("quy") and editor.may_rebuild() and not editor.review_kind("es")
        assert not nurse.may_record("es") and not nurse.may_rebuild()
        assert (nurse.review_kind("es"), nurse.review_kind("quy")) == ("clinical", None)
        assert speaker.may_record("quz") and not speaker.may_record("quy")
        assert (speaker.review_kind("quz"), speaker.review_kind("es")) == ("language", None)


class TestSessions:
    def test_without_an_account_pages_ask_to_log_in_and_the_api_answers_401(
        self, studio_client: TestClient
    ):
        page = studio_client.get("/studio?topic=tbc", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"] == "/studio/login?next=%2Fstudio%3Ftopic%3Dtbc"
        for method, path in (
            ("GET", "/studio/api/rebuild"),
            ("POST", "/studio/api/rebuild"),
            ("PUT", "/studio/api/recordings/tbc-tos-dos-semanas/es"),
            ("POST", "/studio/api/signoffs"),
            ("POST", "/studio/api/call"),
        ):
            response = studio_client.request(method, path, content=b"x")
            assert response.status_code == 401, (method, path)
            assert response.json()["error"] == "Unauthorized"
            assert response.headers["www-authenticate"].startswith("Basic")

    def test_login_sets_a_secure_http_only_cookie_and_logout_ends_the_session(
        self, studio_client: TestClient
    ):
        response = studio_client.post(
            "/studio/login",
            data={"name": "editor1", "password": PASSWORDS["editor1"], "next": "/studio/call"},
            follow_redirects=False,
        )
        assert response.status_code == 303 and response.headers["location"] == "/studio/call"
        cookie = response.headers["set-cookie"].lower()
        for flag in ("secure", "httponly", "samesite=strict", "path=/studio"):
            assert flag in cookie
        csrf = log_in(studio_client, "editor1")
        token = studio_client.cookies[SESSION_COOKIE]
        page = studio_client.get("/studio")
        assert page.status_code == 200 and "editor1 (editor)" in page.text

        studio_client.post("/studio/logout", data={"csrf": csrf}, follow_redirects=False)
        studio_client.cookies.clear()
        replayed = studio_client.get(
            "/studio/api/rebuild", headers={"Cookie": f"{SESSION_COOKIE}={token}"}
        )
        assert replayed.status_code == 401
        assert replayed.json()["detail"] == "log in or send HTTP Basic credentials"

    def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_name(
        self, studio_client: TestClient
    ):
        response = studio_client.post(
            "/studio/login", data={"name": "nurse1", "password": "guess"}, follow_redirects=False
        )
        assert response.status_code == 401 and SESSION_COOKIE not in response.cookies
        for _ in range(MAX_FAILURES):
            studio_client.get("/studio/api/rebuild", auth=("nurse1", "guess"))
        locked = studio_client.get("/studio/api/rebuild", auth=basic("nurse1"))
        assert locked.status_code == 429
        assert locked.json()["detail"] == "too many wrong passwords: try again in 15 minutes"
        other = studio_client.get("/studio/api/rebuild", auth=basic("maria"))
        assert other.status_code == 200 and other.json()["state"] == "idle"

    def test_a_login_from_another_site_is_refused(self, studio_client: TestClient):
        form = {"name": "maria", "password": PASSWORDS["maria"]}
        other = studio_client.post(
            "/studio/login",
            data=form,
            headers={"Origin": "https://evil.example"},
            follow_redirects=False,
        )
        assert other.status_code == 403 and SESSION_COOKIE not in other.cookies
        assert "otro sitio" in other.text
        own = studio_client.post(
            "/studio/login", data=form, headers={"Origin": BASE_URL}, follow_redirects=False
        )
        assert own.status_code == 303 and SESSION_COOKIE in own.cookies

    def test_next_never_leads_to_another_site(self, studio_client: TestClient):
        response = studio_client.post(
            "/studio/login",
            data={"name": "maria", "password": PASSWORDS["maria"], "next": "//evil.example/x"},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/studio"


class TestCsrf:
    def test_a_browser_change_needs_the_session_token(
        self, studio_client: TestClient, studio_setup: StudioSetup
    ):
        csrf = log_in(studio_client, "editor1")
        url = "/studio/api/rebuild"
        for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": ""}):
            response = studio_client.post(url, headers=headers)
            assert response.status_code == 403, headers
            assert response.json()["detail"] == "missing or wrong CSRF token"
        assert studio_client.get(url).json()["state"] == "idle"  # reading needs no token
        form = studio_client.post(
            "/studio/review",
            data={
                "tip_id": "tbc-tos-dos-semanas",
                "lang": "es",
                "text_sha256": "0" * 64,
                "decision": "approve",
            },
            follow_redirects=False,
        )
        assert form.status_code == 403 and form.json()["detail"] == "missing or wrong CSRF token"
        started = studio_client.post(url, headers={"X-CSRF-Token": csrf})
        assert started.status_code == 202 and started.json()["started_by"] == "editor1"
        assert not (studio_setup.settings.content_dir / "signoffs.jsonl").exists()

    def test_basic_credentials_need_no_token_but_not_from_another_site(
        self, studio_client: TestClient
    ):
        body = {"session": "studio-abcdefgh", "number": "+999000000001"}
        ok = studio_client.post("/studio/api/call", json=body, auth=basic("nurse1"))
        assert ok.status_code == 200 and not ok.json()["ended"] and "<GetDigits" in ok.json()["xml"]
        other = studio_client.post(
            "/studio/api/call",
            json=body,
            auth=basic("nurse1"),
            headers={"Origin": "https://evil.example"},
        )
        assert other.status_code == 403 and "another site" in other.json()["detail"]

    def test_an_unreadable_authorization_header_is_401(self, studio_client: TestClient):
        garbage = base64.b64encode(b"no-colon").decode()
        for header in (f"Basic {garbage}", "Basic !!!", "Bearer abc"):
            response = studio_client.get("/studio/api/rebuild", headers={"Authorization": header})
            assert response.status_code == 401
            assert response.json()["detail"] == "unreadable Authorization header: use HTTP Basic"


class TestRoles:
    def test_the_wrong_role_is_403_and_changes_nothing(
        self, studio_client: TestClient, studio_setup: StudioSetup, speech: Path
    ):
        audio = speech.read_bytes()
        cases = [
            ("nurse1", "PUT", "/studio/api/recordings/tbc-tos-dos-semanas/es", audio),
            ("maria", "PUT", "/studio/api/recordings/tbc-tos-dos-semanas/es", audio),
            ("nurse1", "POST", "/studio/api/rebuild", None),
            ("maria", "POST", "/studio/api/rebuild", None),
        ]
        for name, method, path, content in cases:
            response = studio_client.request(method, path, content=content, auth=basic(name))
            assert response.status_code == 403, (name, path, response.text)
            assert response.json()["error"] == "Forbidden"
        tip = studio_client.get("/studio", auth=basic("editor1"))
        assert tip.status_code == 200 and "editor1 (editor)" in tip.text
        assert 'action="/studio/review"' not in tip.text  # an editor is offered no sign-off
        for name, lang in (("editor1", "es"), ("maria", "es"), ("nurse1", "quy")):
            response = studio_client.post(
                "/studio/api/signoffs",
                auth=basic(name),
                json={
                    "tip_id": "tbc-tos-dos-semanas",
                    "lang": lang,
                    "text_sha256": "0" * 64,
                    "decision": "approve",
                },
            )
            assert response.status_code == 403, (name, lang)
            assert response.json()["error"] == "Forbidden"
        assert studio_setup.recorded_files() == []
        assert not (studio_setup.settings.content_dir / "signoffs.jsonl").exists()
        assert studio_client.get("/studio/api/rebuild", auth=basic("nurse1")).json()["state"] == (
            "idle"
        )


def test_passwords_never_reach_logs_audit_or_files(
    studio_client: TestClient,
    studio_setup: StudioSetup,
    caplog: pytest.LogCaptureFixture,
    speech: Path,
):
    caplog.set_level(logging.DEBUG)
    csrf = log_in(studio_client, "editor1")
    studio_client.post("/studio/login", data={"name": "editor1", "password": "wrong-password-9"})
    studio_client.put(
        "/studio/api/recordings/tbc-tos-dos-semanas/es",
        content=speech.read_bytes(),
        headers={"X-CSRF-Token": csrf},
    )
    studio_client.get("/studio/api/rebuild", auth=("maria", "another-wrong-one"))
    secrets = [*PASSWORDS.values(), "wrong-password-9", "another-wrong-one"]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "studio login: editor1" in logged
    written = "".join(
        p.read_text(errors="replace") for p in studio_setup.root.rglob("*") if p.suffix == ".json"
    )
    written += (studio_setup.settings.studio_dir / "audit.jsonl").read_text()
    for secret in secrets:
        assert secret not in logged and secret not in written
    audit = [
        json.loads(line)
        for line in (studio_setup.settings.studio_dir / "audit.jsonl").read_text().splitlines()
    ]
    assert [(a["user"], a["action"]) for a in audit] == [("editor1", "record")]


@pytest.mark.redis
def test_sessions_live_in_redis_under_a_hash_of_the_token(
    studio_setup: StudioSetup, redis_url: str, redis_prefix: str, raw_redis
):
    settings = studio_setup.settings.model_copy(
        update={"redis_url": redis_url, "redis_prefix": redis_prefix}
    )
    with TestClient(create_app(settings), base_url=BASE_URL) as client:
        csrf = log_in(client, "editor1")
        token = client.cookies[SESSION_COOKIE]
        keys = raw_redis.keys(f"{redis_prefix}:studio:session:*")
        assert len(keys) == 1 and token not in keys[0]
        assert 0 < raw_redis.ttl(keys[0]) <= settings.studio_session_ttl
        assert PASSWORDS["editor1"] not in raw_redis.get(keys[0])
        response = client.post("/studio/api/rebuild", headers={"X-CSRF-Token": "nope"})
        assert (
            response.status_code == 403
            and response.json()["detail"] == "missing or wrong CSRF token"
        )
        client.post("/studio/logout", data={"csrf": csrf}, follow_redirects=False)
        assert raw_redis.keys(f"{redis_prefix}:studio:session:*") == []
