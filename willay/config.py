"""Settings from `WILLAY_*` environment variables, built once and passed down."""

from __future__ import annotations

import ipaddress
import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from willay.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER_KEY = "changethis"
GSM7_USSD_MAX = 182

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

    # -- Africa's Talking (voice and SMS) --
    at_username: str = "sandbox"
    at_api_key: SecretStr | None = None
    public_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[^/]+")

    # -- telemetry (MQTT, InfluxDB) --

    # -- recommender --

    # -- audio and IVR --

    # -- SMS (Africa's Talking) --

    @model_validator(mode="before")
    @classmethod
    def _split_networks(cls, data: Any) -> Any:
        raw = data.get("callback_networks") if isinstance(data, dict) else None
        if isinstance(raw, str):
            data["callback_networks"] = [n.strip() for n in raw.split(",") if n.strip()]
        return data

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.pseudonym_key.get_secret_value() == PLACEHOLDER_KEY:
            if self.environment is not Environment.development:
                raise ConfigurationError(
                    "WILLAY_PSEUDONYM_KEY is the placeholder 'changethis': set a secret key"
                )
            log.warning("WILLAY_PSEUDONYM_KEY is the development placeholder; set a secret key")
        if self.callback_token is None and self.environment is Environment.production:
            raise ConfigurationError("WILLAY_CALLBACK_TOKEN must be set in production")
        return self

    @property
    def embedded(self) -> bool:
        """True when no Redis is configured and the in-process store is used."""
        return self.redis_url is None
