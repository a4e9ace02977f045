"""Production refuses weak secrets, plain http and the embedded store, saying exactly why."""

from __future__ import annotations

import secrets

import pytest

from shell.app import create_app
from willay.config import Environment, Settings, entropy_bits
from willay.errors import ConfigurationError

STRONG_KEY = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
STRONG_TOKEN = "Zb4kQ9-x2LrT7wYp_Nc3VhJ8sMd5"


def production(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    """Settings from the environment, as a production process reads them."""
    values = {
        "WILLAY_ENVIRONMENT": "production",
        "WILLAY_PSEUDONYM_KEY": STRONG_KEY,
        "WILLAY_CALLBACK_TOKEN": STRONG_TOKEN,
        "WILLAY_PUBLIC_URL": "https://willay.example.org",
        "WILLAY_REDIS_URL": "redis://127.0.0.1:6379/0",
        **env,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return Settings()


class TestSecrets:
    def test_strong_secrets_start(self, monkeypatch) -> None:
        settings = production(monkeypatch)
        assert settings.serving_problems() == []

    def test_generated_secrets_pass(self, monkeypatch) -> None:
        key, token = secrets.token_hex(32), secrets.token_urlsafe(24)
        production(monkeypatch, WILLAY_PSEUDONYM_KEY=key, WILLAY_CALLBACK_TOKEN=token)

    @pytest.mark.parametrize(
        ("key", "reason"),
        [
            ("x", "WILLAY_PSEUDONYM_KEY has 1 characters, fewer than 32"),
            ("k" * 40, "WILLAY_PSEUDONYM_KEY has about 0 bits of entropy, fewer than 128"),
            ("CHANGETHIS", "WILLAY_PSEUDONYM_KEY is the placeholder 'changethis'"),
            ("ChangeThis ", "WILLAY_PSEUDONYM_KEY is the placeholder 'changethis'"),
            ("   ", "WILLAY_PSEUDONYM_KEY is blank"),
        ],
    )
    def test_weak_key_is_refused_with_the_reason(self, monkeypatch, key, reason) -> None:
        with pytest.raises(ConfigurationError, match=reason):
            production(monkeypatch, WILLAY_PSEUDONYM_KEY=key)

    @pytest.mark.parametrize(
        ("token", "reason"),
        [
            ("x", "WILLAY_CALLBACK_TOKEN has 1 characters, fewer than 24"),
            (" ", "WILLAY_CALLBACK_TOKEN is blank"),
            ("a" * 30, "WILLAY_CALLBACK_TOKEN has about 0 bits of entropy"),
            ("Zb4kQ9 x2LrT7wYp&Nc3VhJ8sMd5", "may hold only letters, digits"),
        ],
    )
    def test_weak_token_is_refused_with_the_reason(self, monkeypatch, token, reason) -> None:
        with pytest.raises(ConfigurationError, match=reason):
            production(monkeypatch, WILLAY_CALLBACK_TOKEN=token)

    def test_empty_token_counts_as_missing(self, monkeypatch) -> None:
        with pytest.raises(ConfigurationError, match="WILLAY_CALLBACK_TOKEN must be set"):
            production(monkeypatch, WILLAY_CALLBACK_TOKEN="")

    def test_every_problem_is_named_at_once(self, monkeypatch) -> None:
        with pytest.raises(ConfigurationError) as caught:
            production(monkeypatch, WILLAY_PSEUDONYM_KEY="x" * 32, WILLAY_CALLBACK_TOKEN="x")
        assert "WILLAY_PSEUDONYM_KEY" in caught.value.message
        assert "WILLAY_CALLBACK_TOKEN" in caught.value.message

    def test_testing_and_development_keep_short_keys(self) -> None:
        assert Settings(environment=Environment.testing, pseudonym_key="k").pseudonym_key

    def test_entropy_estimate(self) -> None:
        assert entropy_bits("aaaa") == 0
        assert entropy_bits("abcd") == 8


class TestServing:
    def test_plain_http_public_url_is_refused(self, monkeypatch) -> None:
        settings = production(monkeypatch, WILLAY_PUBLIC_URL="http://willay.example.org")
        with pytest.raises(ConfigurationError, match="WILLAY_PUBLIC_URL must start with https://"):
            create_app(settings)

    def test_production_needs_redis(self, monkeypatch) -> None:
        settings = production(monkeypatch)
        embedded = settings.model_copy(update={"redis_url": None})
        with pytest.raises(ConfigurationError, match="WILLAY_REDIS_URL must be set"):
            create_app(embedded)
