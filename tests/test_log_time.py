"""The text log's time is made once a second and its milliseconds cut per line: the same text as datetime's."""

from __future__ import annotations

import logging
import random
from datetime import datetime

from bot.observability.logs import MaskingFormatter


def test_each_line_shows_the_time_datetime_would() -> None:
    formatter = MaskingFormatter("%(asctime)s")
    rnd = random.Random(29)
    whole = [int(rnd.uniform(1e9, 2e9)) for _ in range(200)]
    # Fractions that round across a millisecond or a second, and the same second again (the made-once text).
    fractions = (0.0, 0.0000004, 0.0005, 0.4995, 0.9994996, 0.9999994, 0.9999996, 0.5)
    for created in [s + f for s in whole for f in fractions] + [rnd.uniform(0, 2e9) for _ in range(2000)]:
        record = logging.LogRecord("hrbot", logging.INFO, __file__, 1, "m", None, None)
        record.created = created
        expected = datetime.fromtimestamp(created).astimezone().isoformat(timespec="milliseconds")
        assert formatter.formatTime(record) == expected, created
