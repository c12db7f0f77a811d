"""企业核验's settings (who may decide is the core's HRBOT_MANAGERS)."""

from bot.config import SettingsModel


class FourFactorsSettings(SettingsModel):
    # Requests are also posted here, so managers see them without being in the asker's chat.
    hrbot_manager_chat_id: str = ""
