"""Small first-hour promises: Feishu's 3 s limit on card actions is a setting's bound; log lines say their zone."""

from __future__ import annotations

import logging
import re

import pytest

from bot.config import ConfigError, load_settings
from bot.observability.logs import MaskingFormatter, setup_logging


@pytest.mark.parametrize("seconds", [3, 3.5, 0])
def test_action_timeout_at_or_over_feishus_limit_is_refused(seconds: float) -> None:
    with pytest.raises(ConfigError, match="HRBOT_ACTION_TIMEOUT") as refused:
        load_settings(env_file=None, overrides={"hrbot_action_timeout": seconds})
    assert "Value error" not in str(refused.value)


def test_action_timeout_under_the_limit_is_taken() -> None:
    assert load_settings(env_file=None, overrides={"hrbot_action_timeout": 2.9}).hrbot_action_timeout == 2.9


def test_text_log_lines_carry_their_utc_offset_and_alembic_is_quiet() -> None:
    record = logging.LogRecord("hrbot", logging.INFO, __file__, 1, "listening", None, None)
    line = MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s").format(record)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d INFO hrbot: listening$", line), line
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging("INFO", "text")
        assert not logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
