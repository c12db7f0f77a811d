"""企业核验's settings (who may decide is the core's HRBOT_MANAGERS)."""

from pydantic import field_validator

from bot.config import SettingsModel, positive


class FourFactorsSettings(SettingsModel):
    # Requests are also posted here, so managers see them without being in the asker's chat.
    hrbot_manager_chat_id: str = ""
    # Closed requests (masked name and ID number, outcome) are deleted this many days after they were made.
    hrbot_verification_retention_days: float = 90.0

    _positive = field_validator("hrbot_verification_retention_days")(positive)
