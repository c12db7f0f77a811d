"""Sends to one chat paced to what Feishu allows: 5 messages a second to one user or one chat.

Send message doc (https://open.feishu.cn/document/server-docs/im-v1/message/create): 给同一用户发消息的限频为 5 QPS、
给同一群组发消息的限频为群内机器人共享 5 QPS; beyond it Feishu answers 230020 and the message is not sent. A burst of
replies in one chat, or a digest to many chats, would meet that limit; so each chat (or user) is a lane where a send
starts only while fewer than five of that lane's sends are in flight or finished in the last second. A send counts
until a second after its answer came back (after Feishu counted it), so the lane stays under the limit however long
requests take on the way, and five sends may still be in flight at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator

SENDS_PER_SECOND = 5
WINDOW = 1.0
# Idle lanes are dropped once there are this many, so a bot writing to thousands of users keeps no state for each.
MAX_LANES = 1000


class _Lane:
    def __init__(self) -> None:
        self.changed = asyncio.Condition()
        self.in_flight = 0
        self.users = 0
        self.finished: deque[float] = deque()


class ChatPacer:
    def __init__(self, per_second: int = SENDS_PER_SECOND, window: float = WINDOW) -> None:
        self._per_second = per_second
        self._window = window
        self._lanes: dict[str, _Lane] = {}

    @contextlib.asynccontextmanager
    async def slot(self, chat: str) -> AsyncIterator[None]:
        """Hold one of `chat`'s five places for one send."""
        # Not setdefault: that would make a lane (and its Condition) for every send, then mostly discard it.
        lane = self._lanes.get(chat)
        if lane is None:
            lane = self._lanes[chat] = _Lane()
        lane.users += 1
        try:
            await self._enter(lane)
            try:
                yield
            finally:
                async with lane.changed:
                    lane.in_flight -= 1
                    lane.finished.append(time.monotonic())
                    lane.changed.notify_all()
        finally:
            lane.users -= 1
            if len(self._lanes) > MAX_LANES:
                self._drop_idle()

    async def _enter(self, lane: _Lane) -> None:
        async with lane.changed:
            while True:
                now = time.monotonic()
                while lane.finished and lane.finished[0] <= now - self._window:
                    lane.finished.popleft()
                if lane.in_flight + len(lane.finished) < self._per_second:
                    lane.in_flight += 1
                    return
                # Woken when a send finishes, or when the oldest finished one leaves the window.
                # asyncio.timeout, not wait_for: wait_for waits in a task of its own, and a send cancelled twice (a
                # shutdown's grace, then the loop's end) left that task to take the lane's lock after the send had
                # gone, holding it for ever: every later send to the chat hung.
                timeout = lane.finished[0] + self._window - now if lane.finished else None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await lane.changed.wait()

    def _drop_idle(self) -> None:
        horizon = time.monotonic() - self._window
        for chat, lane in list(self._lanes.items()):
            if not lane.users and (not lane.finished or lane.finished[-1] <= horizon):
                del self._lanes[chat]
