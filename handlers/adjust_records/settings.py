"""增减员's settings (who is HR is the core's HRBOT_HR_OPEN_IDS)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import field_validator, model_validator

from bot.config import SettingsModel, items
from bot.state.scheduler import crontab_trigger
from handlers.adjust_records.deadlines import load_calendar

if TYPE_CHECKING:
    from bot.lifecycle.services import Services


class AdjustRecordsSettings(SettingsModel):
    hrbot_digest_chat_ids: str = ""
    hrbot_digest_cron: str = "0 9 * * 1-5"
    hrbot_digest_department_ids: str = "0"
    # The scheduled digest waits a random 0..this many seconds (Feishu advises against sending on the hour).
    hrbot_digest_max_delay_seconds: float = 300.0
    hrbot_filing_calendar: str = ""
    hrbot_filing_remind_days: str = "3,1"
    # The company's 多维表格 for 增减员 filing (both or neither): the Base's app_token and the table's table_id.
    hrbot_adjust_bitable_app_token: str = ""
    hrbot_adjust_bitable_table_id: str = ""

    @model_validator(mode="after")
    def _bitable_both_or_neither(self) -> AdjustRecordsSettings:
        if bool(self.hrbot_adjust_bitable_app_token) != bool(self.hrbot_adjust_bitable_table_id):
            missing = (
                "HRBOT_ADJUST_BITABLE_TABLE_ID"
                if self.hrbot_adjust_bitable_app_token
                else "HRBOT_ADJUST_BITABLE_APP_TOKEN"
            )
            raise ValueError(f"{missing} must be set too (the 多维表格 needs both app_token and table_id)")
        return self

    @field_validator("hrbot_digest_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        try:
            crontab_trigger(value, "UTC")
        except ValueError as exc:
            raise ValueError(f"not a crontab expression ({exc})") from exc
        return value

    @field_validator("hrbot_filing_remind_days")
    @classmethod
    def _day_list(cls, value: str) -> str:
        if not all(item.isdigit() for item in items(value)):
            raise ValueError("must be comma-separated whole numbers of days, e.g. 3,1")
        return value

    @field_validator("hrbot_digest_max_delay_seconds")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("must not be negative")
        return value

    @property
    def digest_chat_ids(self) -> tuple[str, ...]:
        return items(self.hrbot_digest_chat_ids)

    @field_validator("hrbot_filing_calendar")
    @classmethod
    def _readable_calendar(cls, value: str) -> str:
        # Read with the settings, so a bad file stops start-up (one line naming the entry) before the bot listens.
        if value:
            load_calendar(value)
        return value

    @property
    def filing_remind_days(self) -> tuple[int, ...]:
        return tuple(sorted({int(item) for item in items(self.hrbot_filing_remind_days)}, reverse=True))

    @property
    def digest_department_ids(self) -> tuple[str, ...]:
        return items(self.hrbot_digest_department_ids) or ("0",)


def settings_of(services: Services) -> AdjustRecordsSettings:
    return services.settings_of(AdjustRecordsSettings)
