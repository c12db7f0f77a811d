"""小微企业's settings."""

from pydantic import field_validator

from bot.config import SettingsModel, positive


class MicroEntSettings(SettingsModel):
    # The first poll of a submitted job comes this many seconds later; later polls back off up to 10×.
    hrbot_micro_ent_poll_seconds: float = 60.0
    # A finished query (its result and who asked) is deleted this many days after its watchers were told.
    hrbot_micro_ent_retention_days: float = 30.0

    _positive = field_validator("hrbot_micro_ent_poll_seconds", "hrbot_micro_ent_retention_days")(positive)
