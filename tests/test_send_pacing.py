"""Feishu's 5 messages a second to one chat or user (230020 beyond it), as the emulator enforces it, and the bot's client
pacing its sends so that a burst of replies or a digest's fan-out never meets it.

Send message doc (https://open.feishu.cn/document/server-docs/im-v1/message/create): 给同一用户发消息的限频为 5 QPS、
给同一群组发消息的限频为群内机器人共享 5 QPS.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from bot.clock import Clock
from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
from bot.feishu.chat_pacing import ChatPacer
from bot.feishu.client import FeishuClient
from bot.sandbox.directory import EMPLOYEE, HR_GROUP, Directory
from bot.sandbox.feishu import FeishuEmulator
from cards.common import card, markdown

CARD = card("测试", "blue", [markdown("你好")])
CONTENT = json.dumps(CARD, ensure_ascii=False)


@pytest.fixture
async def served() -> AsyncIterator[tuple[FeishuEmulator, FeishuClient, httpx.AsyncClient]]:
    clock = Clock()
    emulator = FeishuEmulator(clock, SANDBOX_APP_ID, SANDBOX_APP_SECRET)
    runner = web.AppRunner(emulator.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    client = FeishuClient(base_url=url, app_id=SANDBOX_APP_ID, app_secret=SANDBOX_APP_SECRET, clock=clock)
    raw = httpx.AsyncClient(base_url=url)
    raw.headers["Authorization"] = f"Bearer {await client.tenant_token()}"
    try:
        yield emulator, client, raw
    finally:
        await raw.aclose()
        await client.aclose()
        await runner.cleanup()


def refused(emulator: FeishuEmulator) -> int:
    return sum(window.rejected for window in emulator._send_windows.values())


async def test_a_sixth_message_to_one_chat_within_a_second_is_refused_with_230020(served) -> None:
    emulator, _client, raw = served
    emulator.rate_clock = lambda: 100.0  # the six fall within one second however busy the machine is
    body = {"receive_id": HR_GROUP, "msg_type": "interactive", "content": CONTENT}
    codes = [
        (await raw.post("/open-apis/im/v1/messages?receive_id_type=chat_id", json=body)).json()["code"]
        for _ in range(6)
    ]
    assert codes == [0] * 5 + [230020]
    assert len(emulator.bot_messages(HR_GROUP)) == 5
    emulator.rate_clock = lambda: 101.0  # a second later
    assert (await raw.post("/open-apis/im/v1/messages?receive_id_type=chat_id", json=body)).json()[
        "code"
    ] == 0


async def test_one_user_takes_five_a_second_whether_sent_to_or_replied_to(served) -> None:
    emulator, _client, raw = served
    emulator.rate_clock = lambda: 100.0
    p2p = Directory.p2p_chat_of(EMPLOYEE)
    emulator.record_user_message("om_user_1", chat_id=p2p, sender=EMPLOYEE, text="帮助")
    to_user = {"receive_id": EMPLOYEE, "msg_type": "interactive", "content": CONTENT}
    codes = [
        (await raw.post("/open-apis/im/v1/messages?receive_id_type=open_id", json=to_user)).json()["code"]
        for _ in range(3)
    ]
    reply = {"msg_type": "interactive", "content": CONTENT}
    codes += [
        (await raw.post("/open-apis/im/v1/messages/om_user_1/reply", json=reply)).json()["code"]
        for _ in range(3)
    ]
    assert codes == [0] * 5 + [230020]


async def test_thirty_replies_to_one_chat_and_a_digest_to_twelve_chats_meet_no_230020(served) -> None:
    emulator, client, _raw = served
    asked = [f"om_asked_{n}" for n in range(30)]
    for message_id in asked:
        emulator.record_user_message(message_id, chat_id=HR_GROUP, sender=EMPLOYEE, text="帮助")
    chats = [Directory.p2p_chat_of(f"ou_emp_{n:05d}") for n in range(1, 13)]
    started = time.monotonic()
    await asyncio.gather(
        *(client.reply_card(m, CARD, chat_id=HR_GROUP) for m in asked),
        *(client.send_card(chat, CARD) for chat in chats),
    )
    took = time.monotonic() - started
    assert refused(emulator) == 0
    assert [len(emulator.replies_to(m)) for m in asked] == [1] * 30
    assert all(len(emulator.bot_messages(chat)) == 1 for chat in chats)
    # Paced, not serialised: 30 replies at 5 a second take about 5 s, while the twelve chats are not held up.
    assert took >= 5.0


async def test_the_client_waits_out_a_230020_and_the_message_lands_once(served) -> None:
    emulator, client, raw = served
    body = {"receive_id": HR_GROUP, "msg_type": "interactive", "content": CONTENT}
    for _ in range(5):  # another replica (or bot in the group) used this second's five
        await raw.post("/open-apis/im/v1/messages?receive_id_type=chat_id", json=body)
    await client.send_card(HR_GROUP, CARD)
    assert len(emulator.bot_messages(HR_GROUP)) == 6


async def test_five_sends_may_be_in_flight_at_once_and_a_sixth_waits_a_second_after_one_ends() -> None:
    pacer = ChatPacer()
    gate, five_in = asyncio.Event(), asyncio.Event()
    inside: list[int] = []
    ended: list[float] = []
    sixth_started: list[float] = []

    async def one(n: int) -> None:
        async with pacer.slot("chat_id:oc_x"):
            inside.append(n)
            if n == 5:
                sixth_started.append(time.monotonic())
                return
            if len(inside) == 5:
                five_in.set()
            await gate.wait()
        ended.append(time.monotonic())

    tasks = [asyncio.create_task(one(n)) for n in range(6)]
    await asyncio.wait_for(five_in.wait(), 5)
    for _ in range(50):  # let the sixth run as far as it can
        await asyncio.sleep(0)
    assert sorted(inside) == [0, 1, 2, 3, 4]  # five in flight at once; the sixth waits
    gate.set()
    await asyncio.gather(*tasks)
    assert sixth_started[0] >= min(ended) + 1.0 - 0.01
