"""示例's settings: its own model, read from its own environment variables (HRBOT_EXAMPLE_*)."""

from pydantic import field_validator

from bot.config import SettingsModel, positive


class ExampleFeatureSettings(SettingsModel):
    # Where the reminder goes; the sandbox fills it in (see `feature.sandbox_defaults`).
    hrbot_example_chat_id: str = ""
    hrbot_example_remind_minutes: float = 60.0

    _positive = field_validator("hrbot_example_remind_minutes")(positive)
