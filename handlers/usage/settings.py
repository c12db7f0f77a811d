"""用量's settings: where the budget warning goes."""

from bot.config import SettingsModel


class UsageSettings(SettingsModel):
    # The managers' chat (the same variable 企业核验 posts requests to); unset: the admins are told privately.
    hrbot_manager_chat_id: str = ""
