"""`willay sms send-due` and `willay sms status` as cron runs them, on real Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from typer.testing import CliRunner

from shell.cli import app
from tests.fixtures.sms import new_number
from willay.config import Settings
from willay.kv import RedisStore, create_redis
from willay.profiles import Subscriber, SubscriberStore, pseudonym

from ..fixtures.environment import TEST_KEY

pytestmark = pytest.mark.redis

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch, redis_url: str, redis_prefix: str, raw_redis, tmp_path) -> dict:
    from tests.fixtures.africastalking import API_KEY

    env = {
        "WILLAY_ENVIRONMENT": "testing",
        "WILLAY_PSEUDONYM_KEY": TEST_KEY,
        "WILLAY_REDIS_URL": redis_url,
        "WILLAY_REDIS_PREFIX": redis_prefix,
        "WILLAY_AT_USERNAME": "sandbox",
        "WILLAY_AT_API_KEY": API_KEY,
        "WILLAY_EVENTS_FILE": str(tmp_path / "events.jsonl"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def subscribe_due_today(url: str, prefix: str) -> Subscriber:
    """A subscriber whose preferred day is today in Lima, subscribed two weeks ago."""
    number = new_number()
    today = dt.datetime.now(ZoneInfo("America/Lima"))
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=14)
    subscriber = Subscriber(
        id=pseudonym(number, TEST_KEY),
        language="es",
        consent_at=since,
        sms_since=since,
        sms_number=number,
        sms_day=today.weekday(),
    )

    async def save() -> None:
        kv = RedisStore(create_redis(url, name="willay-test"))
        await SubscriberStore(kv, prefix=prefix).save(subscriber)
        await kv.close()

    asyncio.run(save())
    return subscriber


def test_send_due_sends_once_a_week_and_sums_up(cli_env, africastalking, tmp_path) -> None:
    person = subscribe_due_today(cli_env["WILLAY_REDIS_URL"], cli_env["WILLAY_REDIS_PREFIX"])
    first = runner.invoke(app, ["sms", "send-due"])
    assert first.exit_code == 0, first.output
    summary = first.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d{4}-W\d\d: 1 sent \([12] segments\) in 1 requests; .*", summary)
    assert [c.form["to"] for c in africastalking.sms()] == [person.sms_number]
    again = runner.invoke(app, ["sms", "send-due"])
    assert again.exit_code == 0 and ": 0 sent (0 segments) in 0 requests" in again.stdout
    assert "skipped: 1 done" in again.stdout
    status = runner.invoke(app, ["sms", "status"])
    assert status.exit_code == 0 and status.stdout.strip().endswith("1 subscribers; 1 sent")
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    sent = [json.loads(line) for line in lines if '"sms_sent"' in line]
    assert [e["subscriber"] for e in sent] == [person.id]
    assert person.sms_number[1:] not in "".join(lines)


def test_a_provider_failure_exits_1_and_says_why(cli_env, africastalking) -> None:
    subscribe_due_today(cli_env["WILLAY_REDIS_URL"], cli_env["WILLAY_REDIS_PREFIX"])
    africastalking.fail_next = 1
    result = runner.invoke(app, ["sms", "send-due"])
    assert result.exit_code == 1
    assert "1 to retry" in result.stdout
    said = " ".join(result.stderr.split())
    assert "stopped early" in said and "SMS send failed: Internal Server Error" in said


def test_without_redis_or_credentials_it_is_one_red_line(cli_env, monkeypatch) -> None:
    monkeypatch.delenv("WILLAY_AT_API_KEY")
    no_key = runner.invoke(app, ["sms", "send-due"])
    assert no_key.exit_code == 1 and "WILLAY_AT_API_KEY is not set" in no_key.stderr
    monkeypatch.delenv("WILLAY_REDIS_URL")
    for command in (["sms", "send-due"], ["sms", "status"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1 and "WILLAY_REDIS_URL is not set" in result.stderr
        assert "Traceback" not in result.output


def test_batch_size_is_checked(cli_env) -> None:
    result = runner.invoke(app, ["sms", "send-due", "--batch-size", "0"])
    assert result.exit_code == 2 and "batch-size" in result.output


def test_the_cronjob_runs_send_due_with_settings_that_exist() -> None:
    manifest = Path(__file__).resolve().parents[2] / "deploy/kubernetes/sms-send-due-cronjob.yaml"
    job = yaml.safe_load(manifest.read_text())
    assert job["kind"] == "CronJob" and job["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["willay", "sms", "send-due"]
    names = [e["name"] for e in container["env"]]
    assert all(n.removeprefix("WILLAY_").lower() in Settings.model_fields for n in names)
    assert {"WILLAY_REDIS_URL", "WILLAY_AT_API_KEY", "WILLAY_PSEUDONYM_KEY"} <= set(names)
