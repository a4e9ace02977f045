"""`willay serve`: the options reach uvicorn; a bad one is refused with its reason."""

import pytest
from typer.testing import CliRunner

from shell.cli import app
from shell.http_protocol import LaneProtocol

runner = CliRunner()


def test_serve_passes_host_and_port(monkeypatch) -> None:
    calls = {}
    frozen = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: calls.update(kw))
    # the one process freezes what startup built; not the test process's garbage collector
    monkeypatch.setattr("shell.app.freeze_startup", lambda: frozen.append(True))
    result = runner.invoke(app, ["serve", "--host", "127.0.0.2", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert calls == {
        "host": "127.0.0.2",
        "port": 8123,
        "http": LaneProtocol,
        "log_level": "info",
        "access_log": False,
    }
    assert "POST http://127.0.0.2:8123/ussd/africastalking" in result.stdout
    assert "http://127.0.0.2:8123/simulator" in result.stdout
    assert frozen == [True]


def test_serve_with_workers_passes_the_app_factory_and_the_protocol(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setenv("WILLAY_REDIS_URL", "redis://127.0.0.1:6379/0")
    result = runner.invoke(app, ["serve", "--workers", "2", "--port", "8123"])
    assert result.exit_code == 0, result.output
    # each worker builds its app from the environment; the protocol class pickles by reference
    assert calls == [
        (
            "shell.app:app_from_environment",
            {
                "factory": True,
                "workers": 2,
                "host": "127.0.0.1",
                "port": 8123,
                "http": LaneProtocol,
                "log_level": "info",
                "access_log": False,
            },
        )
    ]


@pytest.mark.parametrize(
    ("port", "reason"),
    [
        ("0", "greater than or equal to 1"),
        ("70000", "less than or equal to 65535"),
        ("x", "Invalid value for '--port'"),
    ],
)
def test_serve_refuses_a_bad_port(port: str, reason: str, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kw: calls.append(kw))
    result = runner.invoke(app, ["serve", "--port", port], terminal_width=200)
    assert result.exit_code != 0
    assert reason in " ".join(result.output.split())
    assert calls == []  # nothing was served
