"""Sends to one chat paced to what Feishu allows: 5 messages a second to one user or one chat.

Send message doc (https://open.feishu.cn/document/server-docs/im-v1/message/create): 给同一用户发消息的限频为 5 QPS、
给同一群组发消息的限频为群内机器人共享 5 QPS; beyond it Feishu answers 230020 and the message is not sent. A burst of
replies in one chat, or a digest to many chats, would meet that limit; so each chat (or user) is a lane where sends go
one at a time, and a send starts only once fewer than five of that lane's sends finished in the last second. Timing a
send from when its answer came back (after Feishu counted it) keeps the lane under the limit however long requests
take on the way.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

SENDS_PER_SECOND = 5
WINDOW = 1.0
# Idle lanes are dropped once there are this many, so a bot writing to thousands of users keeps no state for each.
MAX_IDLE_LANES = 1000


class _Lane:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.finished: deque[float] = deque(maxlen=SENDS_PER_SECOND)
        self.waiting = 0


class ChatPacer:
    def __init__(self, per_second: int = SENDS_PER_SECOND, window: float = WINDOW) -> None:
        self._per_second = per_second
        self._window = window
        self._lanes: dict[str, _Lane] = {}

    @asynccontextmanager
    async def slot(self, chat: str) -> AsyncIterator[None]:
        """Hold `chat`'s lane for one send: waits for the lane and for the rate, then records when the send ended."""
        lane = self._lanes.setdefault(chat, _Lane())
        lane.waiting += 1
        try:
            async with lane.lock:
                if len(lane.finished) >= self._per_second:
                    wait = lane.finished[0] + self._window - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                try:
                    yield
                finally:
                    lane.finished.append(time.monotonic())
        finally:
            lane.waiting -= 1
            if len(self._lanes) > MAX_IDLE_LANES:
                self._drop_idle()

    def _drop_idle(self) -> None:
        horizon = time.monotonic() - self._window
        for chat, lane in list(self._lanes.items()):
            if not lane.waiting and (not lane.finished or lane.finished[-1] < horizon):
                del self._lanes[chat]
