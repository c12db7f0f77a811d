"""Time as the bot sees it. Injected so tests and the sandbox can move it without waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Wall clock in UTC, with an offset the sandbox and tests may advance."""

    def __init__(self) -> None:
        self._offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def timestamp(self) -> float:
        return self.now().timestamp()

    def advance(self, delta: timedelta) -> None:
        self._offset += delta
