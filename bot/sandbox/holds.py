"""Requests the emulators hold on the test's word: the moment a bot is stuck at a known point, to be killed there.

`hold(path, after=False)` holds the requests whose path contains `path` before they are handled (the call is in
flight, nothing done upstream) and on release drops them unhandled (503), as a request lost with its caller, or with
`drop=False` handles them then (a slow upstream); `after=True` handles them, then holds the answer (done upstream,
the caller not yet told).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Hold:
    path: str
    after: bool
    drop: bool = True
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    count: int = 0

    def release(self) -> None:
        self.released.set()


class Holds:
    def __init__(self) -> None:
        self._holds: list[Hold] = []

    def hold(self, path: str, *, after: bool = False, drop: bool = True) -> Hold:
        held = Hold(path, after, drop)
        self._holds.append(held)
        return held

    def release_all(self) -> None:
        for held in self._holds:
            held.release()
        self._holds.clear()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        held = next((h for h in self._holds if h.path in request.path and not h.released.is_set()), None)
        if held is None:
            return await handler(request)
        held.count += 1
        if held.after:
            response = await handler(request)
            held.reached.set()
            await held.released.wait()
            return response
        held.reached.set()
        await held.released.wait()
        if held.drop:
            raise web.HTTPServiceUnavailable()
        return await handler(request)
