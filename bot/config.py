"""Settings: one frozen object built at start from the environment and an optional `.env` file."""

from __future__ import annotations

import zoneinfo
from typing import Literal

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Sandbox mode signs and encrypts its own events with these, so the secure path is always exercised.
SANDBOX_ENCRYPT_KEY = "hrbot-sandbox-encrypt-key"
SANDBOX_VERIFICATION_TOKEN = "hrbot-sandbox-verification-token"
SANDBOX_APP_ID = "cli_sandbox"
SANDBOX_APP_SECRET = "sandbox-secret"


class ConfigError(Exception):
    """A bad or missing setting, phrased as one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True, case_sensitive=False)

    feishu_app_id: str = ""
    feishu_app_secret: str = ""
    feishu_verification_token: str = ""
    feishu_encrypt_key: str = ""
    feishu_base_url: str = "https://open.feishu.cn"

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
    hrbot_sandbox_port: int = 0

    # Juhe (聚合数据): enterprise social security, micro-enterprise jobs, four-factor verification.
    juhe_base_url: str = "https://v.juhe.cn"
    juhe_apis_base_url: str = "https://apis.juhe.cn"
    juhe_social_security_key: str = ""
    juhe_micro_ent_key: str = ""
    juhe_four_factors_key: str = ""
    juhe_openid: str = ""
    juhe_four_factors_mode: Literal["", "plain", "encrypted", "v2"] = ""
    hrbot_managers: str = ""
    hrbot_manager_chat_id: str = ""
    hrbot_cache_hours: float = 24.0
    hrbot_micro_ent_poll_seconds: float = 60.0

    # Tcredit (天创): personal social security.
    tcredit_base_url: str = "https://api.tcredit.com"
    tcredit_app_id: str = ""
    tcredit_token_id: str = ""

    # Social-insurance adjust records (Feishu compensation).
    hrbot_hr_open_ids: str = ""
    hrbot_digest_chat_ids: str = ""
    hrbot_digest_cron: str = "0 9 * * 1-5"
    hrbot_digest_department_ids: str = "0"
    # The scheduled digest waits a random 0..this many seconds (Feishu advises against sending on the hour).
    hrbot_digest_max_delay_seconds: float = 300.0
    hrbot_filing_calendar: str = ""
    hrbot_filing_remind_days: str = "3,1"

    @field_validator("hrbot_cache_hours", "hrbot_micro_ent_poll_seconds")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value

    @field_validator("hrbot_filing_remind_days")
    @classmethod
    def _day_list(cls, value: str) -> str:
        if not all(item.isdigit() for item in _items(value)):
            raise ValueError("must be comma-separated whole numbers of days, e.g. 3,1")
        return value

    @field_validator("hrbot_digest_max_delay_seconds")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("must not be negative")
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

    @field_validator("hrbot_port", "hrbot_sandbox_port")
    @classmethod
    def _port_range(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError("must be a port number between 0 and 65535")
        return value

    @field_validator("hrbot_digest_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from bot.scheduler import crontab_trigger

        try:
            crontab_trigger(value, "UTC")
        except ValueError as exc:
            raise ValueError(f"not a crontab expression ({exc})") from exc
        return value

    @property
    def four_factors_mode(self) -> str:
        """Encrypted when an openid is configured, else plain, unless chosen explicitly."""
        return self.juhe_four_factors_mode or ("encrypted" if self.juhe_openid else "plain")

    @property
    def managers(self) -> frozenset[str]:
        return frozenset(_items(self.hrbot_managers))

    @property
    def hr_open_ids(self) -> frozenset[str]:
        return frozenset(_items(self.hrbot_hr_open_ids))

    @property
    def digest_chat_ids(self) -> tuple[str, ...]:
        return _items(self.hrbot_digest_chat_ids)

    @property
    def filing_remind_days(self) -> tuple[int, ...]:
        return tuple(sorted({int(item) for item in _items(self.hrbot_filing_remind_days)}, reverse=True))

    @property
    def digest_department_ids(self) -> tuple[str, ...]:
        return _items(self.hrbot_digest_department_ids) or ("0",)

    @property
    def sandbox(self) -> bool:
        return not (self.feishu_app_id and self.feishu_app_secret)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.hrbot_timezone)


def _items(value: str) -> tuple[str, ...]:
    """A comma-separated setting as a tuple, blanks dropped."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def load_settings(**overrides: object) -> Settings:
    """Build settings; raise ConfigError with one line naming the first bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        variable = str(first["loc"][0]).upper() if first["loc"] else "configuration"
        raise ConfigError(f"invalid setting {variable}: {first['msg']}") from None
