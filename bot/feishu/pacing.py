"""Client-side pacing for Open APIs with a per-second frequency limit."""

from __future__ import annotations

import asyncio
import time

from bot.observability import metrics


class Pacer:
    """Starts at most `per_second` calls in any one-second window by spacing call starts evenly.

    Calls still run concurrently; only their starts are spaced. A small margin keeps arrival jitter from putting an
    eleventh call into the server's window.
    """

    def __init__(self, per_second: float, *, margin: float = 0.04, upstream: str = "feishu") -> None:
        self.upstream = upstream
        self.interval = (1.0 / per_second) * (1.0 + margin)
        self._next_start = 0.0
        self._lock = asyncio.Lock()

    async def wait_turn(self) -> None:
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + self.interval
        delay = start - time.monotonic()
        if delay > 0:
            metrics.rate_limited(self.upstream, delay)
            await asyncio.sleep(delay)
