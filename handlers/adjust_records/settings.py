"""增减员's settings (who is HR is the core's HRBOT_HR_OPEN_IDS)."""

from pydantic import field_validator

from bot.config import SettingsModel, items
from bot.scheduler import crontab_trigger


class AdjustRecordsSettings(SettingsModel):
    hrbot_digest_chat_ids: str = ""
    hrbot_digest_cron: str = "0 9 * * 1-5"
    hrbot_digest_department_ids: str = "0"

    @field_validator("hrbot_digest_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        try:
            crontab_trigger(value, "UTC")
        except ValueError as exc:
            raise ValueError(f"not a crontab expression ({exc})") from exc
        return value

    @property
    def digest_chat_ids(self) -> tuple[str, ...]:
        return items(self.hrbot_digest_chat_ids)

    @property
    def digest_department_ids(self) -> tuple[str, ...]:
        return items(self.hrbot_digest_department_ids) or ("0",)
