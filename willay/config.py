"""Settings from `WILLAY_*` environment variables, built once and passed down."""

from __future__ import annotations

import ipaddress
import logging
import math
import re
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from willay.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER_KEY = "changethis"
GSM7_USSD_MAX = 182
# production secrets: (least characters, least bits of entropy estimated from the text itself)
KEY_STRENGTH = (32, 128)
TOKEN_STRENGTH = (24, 96)
URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")

log = logging.getLogger(__name__)


class Environment(StrEnum):
    development = "development"
    testing = "testing"
    production = "production"


class Settings(BaseSettings):
    """Every knob of the service; the README documents each one with its default."""

    model_config = SettingsConfigDict(env_prefix="WILLAY_", env_ignore_empty=True, extra="ignore")

    environment: Environment = Environment.development
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    redis_url: str | None = None
    redis_prefix: str = Field(default="willay", pattern=r"^[A-Za-z0-9_.:-]+$")
    pseudonym_key: SecretStr = SecretStr(PLACEHOLDER_KEY)
    callback_token: SecretStr | None = None
    callback_networks: Annotated[list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode] = []
    content_dir: Path = PROJECT_ROOT / "content"
    events_file: Path = PROJECT_ROOT / "var" / "events.jsonl"
    short_code: str = "*123#"
    ussd_page_chars: int = Field(default=160, ge=120, le=GSM7_USSD_MAX)
    ussd_session_ttl: int = Field(default=300, ge=30, description="seconds")
    ussd_resume_ttl: int = Field(default=86_400, ge=60, description="seconds")
    repeat_days: int = Field(default=30, ge=0)
    expiry_warning_days: int = Field(default=60, ge=0)
    simulator: bool = True
    alerts_file: Path = PROJECT_ROOT / "var" / "alerts.json"
    body_timeout: float = Field(default=5.0, gt=0, le=60, description="seconds")

    # -- Africa's Talking (voice and SMS) --
    at_username: str = "sandbox"
    at_api_key: SecretStr | None = None
    public_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^/]+")

    # -- telemetry (MQTT, InfluxDB) --
    mqtt_url: str | None = Field(default=None, pattern=r"^mqtts?://[^/]+/?$")
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_ca_file: Path | None = None
    mqtt_client_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    mqtt_topic_root: str = Field(default="willay", pattern=r"^[a-z0-9_-]+(/[a-z0-9_-]+)*$")
    mqtt_queue_size: int = Field(default=10_000, ge=1)
    mqtt_max_inflight: int = Field(default=100, ge=1, le=65_535)
    mqtt_reconnect_min: float = Field(default=1.0, gt=0, description="seconds")
    mqtt_reconnect_max: float = Field(default=60.0, gt=0, description="seconds")
    mqtt_close_timeout: float = Field(default=5.0, ge=0, description="seconds")
    spool_dir: Path = PROJECT_ROOT / "var" / "spool"
    bridge_client_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    bridge_group: str = Field(default="willay-bridge", pattern=r"^[A-Za-z0-9_-]+$")
    bridge_batch_size: int = Field(default=5000, ge=1, le=10_000)
    bridge_batch_seconds: float = Field(default=1.0, gt=0, description="seconds")
    bridge_session_expiry: int = Field(default=604_800, ge=0, description="seconds")
    bridge_health_seconds: float = Field(default=10.0, gt=0, description="seconds")
    influx_url: str | None = Field(default=None, pattern=r"^https?://[^/]+(/.*)?$")
    influx_database: str = Field(default="willay", pattern=r"^[A-Za-z0-9_.-]+$")
    influx_token: SecretStr | None = None
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    influx_timeout: float = Field(default=10.0, gt=0, description="seconds")
    influx_retry_min: float = Field(default=1.0, gt=0, description="seconds")
    influx_retry_max: float = Field(default=60.0, gt=0, description="seconds")

    # -- recommender --
    recommender: Literal["model", "rules"] = "model"
    model_dir: Path = PROJECT_ROOT / "recommender" / "models"
    model_poll_seconds: float = Field(default=10.0, ge=0, description="seconds; 0 = never")
    exploration: Literal["epsilon", "thompson"] = "epsilon"
    exploration_epsilon: float = Field(default=0.05, ge=0, le=1)
    thompson_strength: float = Field(default=50.0, gt=0, description="answers per score")
    recommender_holdout: float = Field(
        default=0.05, ge=0, lt=1, description="share of model picks left to the rule picker"
    )

    # -- audio and IVR --
    audio_dir: Path = PROJECT_ROOT / "var" / "audio"
    recordings_dir: Path = PROJECT_ROOT / "content" / "recordings"
    audio_voices: dict[str, str] = {"es": "es-419", "quy": "qu", "quz": "qu"}
    audio_rate: int = Field(default=145, ge=80, le=300, description="words per minute")
    audio_loudness: float = Field(default=-24.0, ge=-40, le=-10, description="dBFS RMS")
    audio_call_kbps: int = Field(default=16, ge=8, le=64, multiple_of=8)
    audio_app_kbps: int = Field(default=8, ge=6, le=16)
    audio_workers: int = Field(default=2, ge=1, le=16)
    ivr_voice_number: str | None = Field(default=None, pattern=r"^\+\d{7,15}$")
    ivr_digit_timeout: int = Field(default=10, ge=3, le=60, description="seconds")
    ivr_call_ttl: int = Field(default=3600, ge=60, description="seconds")
    ivr_callback: bool = False
    ivr_callback_dedup: int = Field(default=120, ge=0, description="seconds")
    ivr_callback_limit: int = Field(default=3, ge=1)
    ivr_callback_window: int = Field(default=86_400, ge=60, description="seconds")

    # -- the studio (browser tools for content teams) --
    studio: bool = True
    studio_dir: Path = PROJECT_ROOT / "var" / "studio"
    studio_session_ttl: int = Field(default=28_800, ge=300, le=604_800, description="seconds")
    studio_max_upload: int = Field(default=25_000_000, ge=100_000, description="bytes")

    # -- SMS (Africa's Talking) --
    sms_sender_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,11}$")
    sms_send_day: Literal[
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"
    ] = "monday"
    sms_timezone: str = "America/Lima"
    sms_batch_size: int = Field(default=100, ge=1, le=1000)
    sms_pending_seconds: int = Field(default=3600, ge=60, description="seconds")

    @model_validator(mode="before")
    @classmethod
    def _split_networks(cls, data: Any) -> Any:
        raw = data.get("callback_networks") if isinstance(data, dict) else None
        if isinstance(raw, str):
            data["callback_networks"] = [n.strip() for n in raw.split(",") if n.strip()]
        return data

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        key = self.pseudonym_key.get_secret_value()
        if key.strip().casefold() == PLACEHOLDER_KEY:
            if self.environment is not Environment.development:
                raise ConfigurationError(
                    "WILLAY_PSEUDONYM_KEY is the placeholder 'changethis': set a secret key"
                )
            log.warning("WILLAY_PSEUDONYM_KEY is the development placeholder; set a secret key")
        if self.environment is not Environment.production:
            return self
        problems = _weakness("WILLAY_PSEUDONYM_KEY", key, strength=KEY_STRENGTH)
        if self.callback_token is None:
            problems.append("WILLAY_CALLBACK_TOKEN must be set in production")
        else:
            token = self.callback_token.get_secret_value()
            problems += _weakness("WILLAY_CALLBACK_TOKEN", token, strength=TOKEN_STRENGTH)
            if not URL_SAFE.match(token):
                problems.append(
                    "WILLAY_CALLBACK_TOKEN may hold only letters, digits and . _ ~ - "
                    "(it travels in the callback URL)"
                )
        if problems:
            raise ConfigurationError("; ".join(problems))
        return self

    def serving_problems(self) -> list[str]:
        """What keeps these settings from serving the app in production (empty elsewhere)."""
        if self.environment is not Environment.production:
            return []
        problems = []
        if not self.public_url.startswith("https://"):
            problems.append(
                f"WILLAY_PUBLIC_URL must start with https:// in production, not "
                f"{self.public_url.split('://')[0]}:// (the provider fetches audio and posts "
                "callbacks there)"
            )
        if self.redis_url is None:
            problems.append(
                "WILLAY_REDIS_URL must be set in production: the embedded store is per process"
            )
        return problems

    @property
    def embedded(self) -> bool:
        """True when no Redis is configured and the in-process store is used."""
        return self.redis_url is None


def entropy_bits(secret: str) -> float:
    """Bits of entropy of `secret` estimated from its own characters (Shannon, times length)."""
    counts = Counter(secret)
    return sum(n * math.log2(len(secret) / n) for n in counts.values())


def _weakness(name: str, secret: str, *, strength: tuple[int, int]) -> list[str]:
    """What makes a production secret too weak, in words; empty if strong enough."""
    least_chars, least_bits = strength
    if not secret.strip():
        return [f"{name} is blank"]
    problems = []
    if secret.strip().casefold() == PLACEHOLDER_KEY:
        problems.append(f"{name} is the placeholder 'changethis'")
    if len(secret) < least_chars:
        problems.append(f"{name} has {len(secret)} characters, fewer than {least_chars}")
    bits = entropy_bits(secret)
    if bits < least_bits:
        problems.append(
            f"{name} has about {bits:.0f} bits of entropy, fewer than {least_bits} "
            "(too few different characters)"
        )
    if problems:
        problems[-1] += " (generate one with `openssl rand -hex 32`)"
    return problems
