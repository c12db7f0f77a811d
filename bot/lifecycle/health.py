"""What /healthz and /readyz tell whom, and how often readiness is worked out.

The events port is public: anyone gets a status word and the HTTP status, nothing more (no mode, no in-flight count,
no long connection's last error). The details go to the metrics listener (loopback by default) and to requests from
this machine itself that came through no proxy (`bot.ingress.peers`). Readiness is worked out at most once per
READY_SECONDS, by one caller while the others wait for its answer: a flood of probes costs one round of checks (a
database write transaction among them), not one each, and leaves the events' database connections alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.ingress.peers import refusal
from bot.lifecycle.readiness import Readiness

READY_SECONDS = 1.5
# A failing tenant-token fetch is not tried again for readiness within this long.
TOKEN_CHECK_SECONDS = 10.0


class CachedReadiness:
    """`Readiness.run()` at most once per READY_SECONDS, single-flight."""

    def __init__(self, readiness: Readiness, seconds: float = READY_SECONDS) -> None:
        self.readiness = readiness
        self.seconds = seconds
        self._answer: tuple[bool, dict[str, str]] | None = None
        self._at = 0.0
        self._running: asyncio.Future[tuple[bool, dict[str, str]]] | None = None

    async def run(self) -> tuple[bool, dict[str, str]]:
        if self._answer is not None and time.monotonic() - self._at < self.seconds:
            return self._answer
        if self._running is None:
            self._running = asyncio.ensure_future(self._refresh())
        return await asyncio.shield(self._running)

    async def _refresh(self) -> tuple[bool, dict[str, str]]:
        try:
            self._answer = await self.readiness.run()
            self._at = time.monotonic()
            return self._answer
        finally:
            self._running = None


class RememberedFailure:
    """A check whose failure is remembered for `seconds`: a failing upstream is not asked again per probe."""

    def __init__(
        self, check: Callable[[], Awaitable[str | None]], seconds: float = TOKEN_CHECK_SECONDS
    ) -> None:
        self.check = check
        self.seconds = seconds
        self._failed: tuple[float, str] | None = None

    async def __call__(self) -> str | None:
        if self._failed is not None and time.monotonic() - self._failed[0] < self.seconds:
            return self._failed[1]
        why = await self.check()
        self._failed = (time.monotonic(), why) if why is not None else None
        return why


def answer(request: web.Request | None, status: int, word: str, details: dict[str, Any]) -> web.Response:
    """The status word for anyone; the details for the metrics listener (`request` None) and local requests."""
    body: dict[str, Any] = {"status": word}
    if request is None or refusal(request) is None:
        body.update(details)
    return web.json_response(body, status=status)
