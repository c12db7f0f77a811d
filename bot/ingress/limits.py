"""Slow and greedy clients: the HTTP server protects itself even with no proxy in front of it.

aiohttp caps header sizes and idle keep-alive, but waits forever for a request's head or body and accepts every
connection. Here: every request's head (the first and each keep-alive one after it, from its first byte; blank
lines before it do not count as a head) must arrive within HEAD_SECONDS and its body within BODY_SECONDS, idle
keep-alive ends after KEEPALIVE_SECONDS, and at most `max_connections` are open at once (more are closed on
accept). The `Server` header names no software or version, on every response of every listener (aiohttp's own
parser's rejections included), and a flood of malformed requests writes at most one log line per
REJECT_LOG_SECONDS. Every listener (events port, metrics) gets all of this.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web, web_response

log = logging.getLogger("hrbot.http")

HEAD_SECONDS = 5.0
BODY_SECONDS = 5.0
KEEPALIVE_SECONDS = 15.0
LINGER_SECONDS = 1.0
# File descriptors kept back for the database, upstream clients and logs when sizing the connection cap.
RESERVED_FDS = 128
SERVER_NAME = "hrbot"
REJECT_LOG_SECONDS = 10.0


def raise_fd_limit(wanted: int) -> int:
    """Lift the soft open-files limit towards `wanted` (within the hard limit); returns the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


class Connections:
    """Open connections, bounded."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.refused = 0


class _Guarded(asyncio.Protocol):
    """Wraps aiohttp's protocol for one connection: refuses it when full, closes it if its head is too slow."""

    def __init__(self, inner: asyncio.Protocol, connections: Connections) -> None:
        self._inner = inner
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""
        self._head_started = False
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if self._connections.open >= self._connections.limit:
            self._connections.refused += 1
            transport.abort()
            return
        self._connections.open += 1
        self._counted = True
        self._arm()
        self._inner.connection_made(transport)

    def _arm(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(HEAD_SECONDS, self._head_too_slow)
        self._tail = b""
        self._head_started = False

    def _between_requests(self) -> bool:
        """aiohttp's handler waits for the next request and holds none unread: new bytes begin a request's head.

        Reads aiohttp's RequestHandler (3.x) `_waiter` and `_messages`; should they go, this says False and only
        the first head is timed (tests/test_http_limits.py would show it)."""
        waiter = getattr(self._inner, "_waiter", None)
        return waiter is not None and not waiter.done() and not getattr(self._inner, "_messages", True)

    def _head_too_slow(self) -> None:
        self._timer = None
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._timer is None and self._between_requests():
            # A keep-alive request's head: HEAD_SECONDS from its first byte, as the first one's. Most heads come
            # whole in one read: nothing to time then (a timer armed and cancelled per request cost ~4 µs).
            started = data.lstrip(b"\r\n")
            if not (started and b"\r\n\r\n" in started):
                self._arm()
        if self._timer is not None:
            if not self._head_started:
                # Blank lines before a request line are not a head (aiohttp skips them): they do not stop the clock.
                data_left = data.lstrip(b"\r\n")
                self._head_started = bool(data_left)
                seen = data_left
            else:
                seen = self._tail + data
            if self._head_started and b"\r\n\r\n" in seen:
                self._timer.cancel()
                self._timer = None
            self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._counted:
            self._connections.open -= 1
            self._counted = False
            self._inner.connection_lost(exc)


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through `_Guarded`."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, connections: Connections) -> None:
        super().__init__(runner, backlog=1024)
        self._host = host
        self._port = port
        self.connections = connections

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        connections = self.connections
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Guarded(server(), connections), self._host, self._port, backlog=self._backlog
        )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def body_in_time(request: web.BaseRequest) -> bool:
    """Read the whole body within BODY_SECONDS (it is cached for the handler); False when it came too slowly."""
    # Most bodies came with the head and are complete already: no timer to arm and cancel for them.
    if request.body_exists and not request.content.is_eof():
        try:
            async with asyncio.timeout(BODY_SECONDS):
                await request.read()
        except TimeoutError:
            return False
    return True


def body_too_slow() -> web.Response:
    response = web.json_response({"error": "request body too slow"}, status=408)
    response.force_close()
    return response


@web.middleware
async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read the whole body within BODY_SECONDS, else 408 and close."""
    if not await body_in_time(request):
        return body_too_slow()
    return await handler(request)


def harden(app: web.Application) -> None:
    """Body deadline and a `Server` header without versions, for every route of `app`."""
    app.middlewares.append(body_deadline)
    # aiohttp names itself and Python's version in every response it prepares without a Server header (its own
    # rejections of what its parser refuses included): it reads this constant when it does. No handler sets one, so
    # no per-response hook is needed (one cost ~2 µs a request on the ignored path).
    web_response.SERVER_SOFTWARE = SERVER_NAME


class RejectionLog:
    """aiohttp's server logger for one listener: a malformed request is one WARNING line without a traceback, at
    most one per REJECT_LOG_SECONDS (with how many were not logged); anything else passes to `hrbot.http`."""

    def __init__(self) -> None:
        self._last = -REJECT_LOG_SECONDS
        self._quiet = 0

    def exception(
        self, message: str, *args: Any, exc_info: BaseException | bool | None = None, **_kw: Any
    ) -> None:
        if not message.startswith("Error handling request"):
            log.error(
                message, *args, exc_info=exc_info
            )  # an unhandled exception in a handler: a bug, in full
            return
        self.rejected(exc_info)

    def debug(
        self, message: str, *args: Any, exc_info: BaseException | bool | None = None, **_kw: Any
    ) -> None:
        if message.startswith("Error handling request"):
            self.rejected(exc_info)

    def rejected(self, exc: BaseException | bool | None) -> None:
        now = time.monotonic()
        if now - self._last < REJECT_LOG_SECONDS:
            self._quiet += 1
            return
        kind = type(exc).__name__ if isinstance(exc, BaseException) else "malformed"
        quiet = f" ({self._quiet} more not logged)" if self._quiet else ""
        log.warning("rejected a malformed HTTP request: %s%s", kind, quiet)
        self._last, self._quiet = now, 0


def runner_options() -> dict[str, Any]:
    # Lingering reads what a cut-off client still sends before closing; aiohttp's 10 s would double BODY_SECONDS.
    return {
        "keepalive_timeout": KEEPALIVE_SECONDS,
        "lingering_time": LINGER_SECONDS,
        "logger": RejectionLog(),
    }
