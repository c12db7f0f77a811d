"""Settings: one frozen object built at start from the environment and an optional `.env` file."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal, TypeVar

from pydantic import ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Sandbox mode signs and encrypts its own events with these, so the secure path is always exercised.
SANDBOX_ENCRYPT_KEY = "hrbot-sandbox-encrypt-key"
SANDBOX_VERIFICATION_TOKEN = "hrbot-sandbox-verification-token"
SANDBOX_APP_ID = "cli_sandbox"
SANDBOX_APP_SECRET = "sandbox-secret"


ModelT = TypeVar("ModelT", bound=BaseSettings)


class ConfigError(Exception):
    """A bad or missing setting, phrased as one line naming the variable."""


class SettingsModel(BaseSettings):
    """Every settings model (the core's, a provider's, a feature's): environment variables by field name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True, case_sensitive=False)


def positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


class Settings(SettingsModel):
    """The core's settings; features and providers declare their own models."""

    feishu_app_id: str = ""
    feishu_app_secret: str = ""
    feishu_verification_token: str = ""
    feishu_encrypt_key: str = ""
    feishu_base_url: str = "https://open.feishu.cn"
    # Where Feishu reaches the bot (https://bot.example.com): `hrbot doctor` sends it a url_verification challenge.
    hrbot_public_url: str = ""

    hrbot_host: str = "127.0.0.1"
    hrbot_port: int = 8000
    hrbot_database_url: str = "sqlite:///hrbot.db"
    hrbot_redis_url: str = ""
    hrbot_timezone: str = "Asia/Shanghai"
    hrbot_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    hrbot_log_format: Literal["text", "json"] = "text"
    # Background handling: at most this many events in flight; card actions answer within this many seconds.
    hrbot_max_concurrency: int = 64
    hrbot_action_timeout: float = 2.5
    hrbot_dedup_retention_hours: int = 48
    # A signed request older than this (by its X-Lark-Request-Timestamp, wall clock) is refused: seconds or ISO 8601
    # (PT24H). Shorter than the dedup retention, so any replay is either recognised as a duplicate or refused.
    hrbot_max_request_age: timedelta = timedelta(hours=24)
    # The sandbox's console is unauthenticated: it answers loopback peers only unless this is set explicitly.
    hrbot_console_public: bool = False
    # Open HTTP connections at most (the open-files limit is raised to fit, within the hard limit).
    hrbot_max_connections: int = 4096
    hrbot_sandbox_port: int = 0
    # Long connection: reconnect after this many ping intervals without any frame (and never later than the max);
    # not ready once reconnecting has failed for longer than the last.
    hrbot_ws_watchdog_pings: float = 2.0
    hrbot_ws_watchdog_max_seconds: float = 300.0
    hrbot_ws_unready_after_seconds: float = 60.0

    hrbot_cache_hours: float = 24.0
    # Roles every feature may check: who is HR, who manages.
    hrbot_hr_open_ids: str = ""
    hrbot_managers: str = ""
    # Or a Feishu chat whose members hold the role (read live, with the open_ids above).
    hrbot_hr_chat_id: str = ""
    hrbot_managers_chat_id: str = ""
    # Who may see the bot's operations and audit (用量, 审计): these open_ids, or the managers when unset.
    hrbot_admins: str = ""
    # How long personal data is kept (see docs/privacy.md): access-audit rows (and withdrawn consents); dialogs
    # after their last step.
    hrbot_audit_retention_days: float = 180.0
    hrbot_dialog_retention_days: float = 7.0

    # Billed provider calls (bot/trust/ledger.py): per user and per chat per day (HRBOT_TIMEZONE), 0 = no limit; the
    # breaker opens after this many consecutive outage failures of a provider, for this long.
    hrbot_quota_user_daily: int = 30
    hrbot_quota_chat_daily: int = 200
    hrbot_breaker_failures: int = 5
    hrbot_breaker_cooldown_seconds: float = 300.0
    # Ledger rows are kept this long (accounting wants a year and a bit), then purged.
    hrbot_ledger_retention_days: int = 400
    # Prometheus metrics (GET /metrics) on their own listener, never on the events port; port 0 = off.
    hrbot_metrics_host: str = "127.0.0.1"
    hrbot_metrics_port: int = 9464

    _positive = field_validator(
        "hrbot_cache_hours",
        "hrbot_ws_watchdog_pings",
        "hrbot_ws_watchdog_max_seconds",
        "hrbot_ws_unready_after_seconds",
        "hrbot_max_connections",
        "hrbot_audit_retention_days",
        "hrbot_dialog_retention_days",
        "hrbot_breaker_cooldown_seconds",
        "hrbot_ledger_retention_days",
    )(positive)

    @field_validator(
        "hrbot_quota_user_daily", "hrbot_quota_chat_daily", "hrbot_breaker_failures", mode="before"
    )
    @classmethod
    def _off_is_zero(cls, value: object) -> object:
        """ "off" reads as 0: no limit."""
        return 0 if isinstance(value, str) and value.strip().lower() == "off" else value

    @field_validator("hrbot_quota_user_daily", "hrbot_quota_chat_daily", "hrbot_breaker_failures")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be 0 (off) or more")
        return value

    @field_validator(
        "feishu_app_id", "feishu_app_secret", "feishu_verification_token", "feishu_encrypt_key", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """A credential of only spaces (a stray quote or line in .env) is not set."""
        return value.strip() if isinstance(value, str) else value

    @field_validator("hrbot_action_timeout")
    @classmethod
    def _within_feishu_limit(cls, value: float) -> float:
        # Feishu drops a card callback not answered within 3 s:
        # https://open.feishu.cn/document/uAjLw4CM/ukzMukzMukzM/feishu-cards/card-callback-communication
        if not 0 < value < 3:
            raise ValueError("must be more than 0 and less than 3 seconds (Feishu waits 3 s for an answer)")
        return value

    @field_validator("hrbot_log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("hrbot_log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("hrbot_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("hrbot_port", "hrbot_sandbox_port", "hrbot_metrics_port")
    @classmethod
    def _port_range(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError("must be a port number between 0 and 65535")
        return value

    @field_validator("hrbot_max_request_age", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        """A plain number is seconds (pydantic reads an environment string of digits as a malformed duration)."""
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return value

    @field_validator("hrbot_max_request_age")
    @classmethod
    def _positive_age(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be greater than 0")
        return value

    @model_validator(mode="after")
    def _keys_need_the_app(self) -> Settings:
        """The Encrypt Key or the Verification Token without the app id and secret is a live configuration half
        done: it would start the sandbox quietly, so it is refused."""
        if not (self.feishu_app_id or self.feishu_app_secret):
            given = [
                name
                for name, value in (
                    ("FEISHU_ENCRYPT_KEY", self.feishu_encrypt_key),
                    ("FEISHU_VERIFICATION_TOKEN", self.feishu_verification_token),
                )
                if value
            ]
            if given:
                raise ValueError(
                    f"{' and '.join(given)} set without FEISHU_APP_ID and FEISHU_APP_SECRET: set both for live "
                    "mode, or unset them for the sandbox"
                )
        return self

    @model_validator(mode="after")
    def _age_within_retention(self) -> Settings:
        if self.hrbot_max_request_age >= timedelta(hours=self.hrbot_dedup_retention_hours):
            raise ValueError(
                f"HRBOT_MAX_REQUEST_AGE ({self.hrbot_max_request_age.total_seconds() / 3600:g} h) must be shorter than "
                f"HRBOT_DEDUP_RETENTION_HOURS ({self.hrbot_dedup_retention_hours} h)"
            )
        return self

    @property
    def managers(self) -> frozenset[str]:
        return id_set(self.hrbot_managers)

    @property
    def admins(self) -> frozenset[str]:
        return id_set(self.hrbot_admins)

    @property
    def hr_open_ids(self) -> frozenset[str]:
        return id_set(self.hrbot_hr_open_ids)

    @property
    def sandbox(self) -> bool:
        """Sandbox only when no app credential at all is set: half a live configuration is an error, not a demo."""
        return not (self.feishu_app_id or self.feishu_app_secret)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.hrbot_timezone)


@functools.lru_cache(maxsize=64)
def id_set(value: str) -> frozenset[str]:
    """A comma-separated list of ids as a set, parsed once per value: roles are checked on every message."""
    return frozenset(items(value))


def items(value: str) -> tuple[str, ...]:
    """A comma-separated setting as a tuple, blanks dropped."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def load_settings(
    model: type[ModelT] = Settings,  # type: ignore[assignment]
    *,
    env_file: str | None = ".env",
    overrides: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> ModelT:
    """Build a settings model from the environment and `env_file`; raise ConfigError naming the first bad variable.

    `overrides` win over the environment (tests, the sandbox's emulator addresses); `defaults` fill only what the
    environment left empty (the sandbox's personas). Keys a model does not declare are ignored.
    """
    fields = model.model_fields
    chosen = {k: v for k, v in (overrides or {}).items() if k in fields}
    try:
        loaded = model(_env_file=env_file, **chosen)  # type: ignore[call-arg]
        missing = {k: v for k, v in (defaults or {}).items() if k in fields and not getattr(loaded, k)}
        if missing:
            loaded = model(_env_file=env_file, **{**missing, **chosen})  # type: ignore[call-arg]
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:
            # A rule across settings: its message names them.
            raise ConfigError(f"invalid settings: {reason}") from None
        variable = str(first["loc"][0]).upper()
        raise ConfigError(f"invalid setting {variable}: {reason}") from None
    return loaded
