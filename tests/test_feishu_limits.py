"""Feishu's limits and final answers as the emulator gives them, and how the bot's client honours them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from aiohttp import web

from bot.clock import Clock
from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
from bot.feishu.client import FeishuClient, FeishuError, MessageGone
from bot.sandbox.directory import EMPLOYEE, HR_GROUP, Directory
from bot.sandbox.feishu import FeishuEmulator
from cards.common import action_value, button, card, markdown
from tests.conftest import RunningBot

CARD = card("测试", "blue", [markdown("你好")])


@pytest.fixture
async def served() -> AsyncIterator[tuple[FeishuEmulator, FeishuClient, httpx.AsyncClient, Clock]]:
    clock = Clock()
    emulator = FeishuEmulator(clock, SANDBOX_APP_ID, SANDBOX_APP_SECRET)
    runner = web.AppRunner(emulator.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    client = FeishuClient(base_url=url, app_id=SANDBOX_APP_ID, app_secret=SANDBOX_APP_SECRET, clock=clock)
    raw = httpx.AsyncClient(base_url=url)
    try:
        yield emulator, client, raw, clock
    finally:
        await raw.aclose()
        await client.aclose()
        await runner.cleanup()


async def token_answer(raw: httpx.AsyncClient) -> dict:
    response = await raw.post(
        "/open-apis/auth/v3/tenant_access_token/internal",
        json={"app_id": SANDBOX_APP_ID, "app_secret": SANDBOX_APP_SECRET},
    )
    return response.json()


async def test_the_same_token_while_more_than_30_minutes_are_left(served) -> None:
    _emulator, _client, raw, clock = served
    first = await token_answer(raw)
    clock.advance(timedelta(minutes=80))
    again = await token_answer(raw)
    assert again["tenant_access_token"] == first["tenant_access_token"]
    assert 7200 - 80 * 60 - 2 <= again["expire"] <= 7200 - 80 * 60  # what is left of it (the clock runs)
    clock.advance(timedelta(minutes=15))  # 25 minutes left
    renewed = await token_answer(raw)
    assert renewed["tenant_access_token"] != first["tenant_access_token"] and renewed["expire"] >= 7199


async def test_unknown_routes_and_wrong_methods_answer_in_feishus_shape(served) -> None:
    _emulator, _client, raw, _clock = served
    missing = await raw.get("/open-apis/im/v1/nowhere")
    assert missing.status_code == 404 and missing.json()["code"] == 404 and missing.json()["msg"]
    wrong = await raw.get("/open-apis/im/v1/images")
    assert wrong.status_code == 405 and wrong.json()["code"] == 405


async def test_rate_limit_answers_429_with_the_reset_headers(served) -> None:
    emulator, client, raw, _clock = served
    emulator.limit("/open-apis/contact/v3/users/batch", per_second=1)
    headers = {"Authorization": f"Bearer {await client.tenant_token()}"}
    answers = [await raw.get("/open-apis/contact/v3/users/batch", headers=headers) for _ in range(2)]
    limited = answers[1]
    assert limited.status_code == 429 and limited.json()["code"] == 99991400
    assert limited.headers["x-ogw-ratelimit-limit"] == "1"
    assert limited.headers["x-ogw-ratelimit-reset"] == "1"


async def test_the_client_waits_as_long_as_the_reset_header_says(served) -> None:
    emulator, client, _raw, _clock = served
    window = emulator.limit("/open-apis/contact/v3/users/batch", per_second=1)
    started = time.monotonic()
    await asyncio.gather(*(client.users_by_open_ids([EMPLOYEE]) for _ in range(3)))
    elapsed = time.monotonic() - started
    # Three calls through a 1/s window: the last lands after about 2 s, each retry waiting the 1 s Feishu said.
    assert window.rejected >= 2
    assert 1.9 <= elapsed < 6
    assert emulator.api_calls["/open-apis/contact/v3/users/batch"] == 3 + window.rejected


async def test_five_updates_per_second_per_message(served) -> None:
    emulator, client, raw, _clock = served
    message_id = await client.send_card(HR_GROUP, CARD)
    headers = {"Authorization": f"Bearer {await client.tenant_token()}"}
    body = {"content": '{"schema":"2.0","config":{"update_multi":true},"body":{"elements":[]}}'}
    codes = [
        (await raw.patch(f"/open-apis/im/v1/messages/{message_id}", json=body, headers=headers)).json()[
            "code"
        ]
        for _ in range(6)
    ]
    assert codes == [0] * 5 + [230020]
    assert emulator.messages[message_id].version == 6


async def test_the_client_waits_out_the_per_message_update_limit(served) -> None:
    """A card patched often (a fast dialog) is not lost to 230020: the update lands once the second has passed."""
    emulator, client, _raw, _clock = served
    message_id = await client.send_card(HR_GROUP, CARD)
    for _ in range(7):
        await client.patch_card(message_id, CARD)
    assert emulator.messages[message_id].version == 8


async def test_a_uuid_over_50_characters_is_refused(served) -> None:
    emulator, client, raw, _clock = served
    headers = {"Authorization": f"Bearer {await client.tenant_token()}"}
    body = {
        "receive_id": HR_GROUP,
        "msg_type": "interactive",
        "content": '{"schema":"2.0","config":{"update_multi":true},"body":{"elements":[]}}',
    }
    too_long = await raw.post(
        "/open-apis/im/v1/messages",
        params={"receive_id_type": "chat_id"},
        json=body | {"uuid": "u" * 51},
        headers=headers,
    )
    assert too_long.json()["code"] == 99992402 and "uuid" in too_long.json()["msg"]
    fits = await raw.post(
        "/open-apis/im/v1/messages",
        params={"receive_id_type": "chat_id"},
        json=body | {"uuid": "u" * 50},
        headers=headers,
    )
    assert fits.json()["code"] == 0
    # The bot's own keys are digested to fit.
    await client.send_card(HR_GROUP, CARD, idempotency_key="k" * 500)
    assert len(emulator.bot_messages()) == 2


async def test_withdrawn_and_old_messages_cannot_be_patched(served) -> None:
    emulator, client, _raw, clock = served
    withdrawn = await client.send_card(HR_GROUP, CARD)
    emulator.withdraw(withdrawn)
    with pytest.raises(MessageGone) as gone:
        await client.patch_card(withdrawn, CARD)
    assert gone.value.code == 230011
    with pytest.raises(FeishuError) as no_reply:
        await client.reply_card(withdrawn, CARD)
    assert no_reply.value.code == 230011

    old = await client.send_card(HR_GROUP, CARD)
    clock.advance(timedelta(days=13, hours=23))
    await client.patch_card(old, CARD)  # still within 14 days
    clock.advance(timedelta(hours=2))
    with pytest.raises(MessageGone) as too_old:
        await client.patch_card(old, CARD)
    assert too_old.value.code == 230031


async def test_a_card_that_can_no_longer_change_is_sent_anew(served) -> None:
    emulator, client, _raw, clock = served
    old = await client.send_card(HR_GROUP, CARD)
    clock.advance(timedelta(days=15))
    updated = card("已完成", "green", [markdown("结果")])
    shown_in = await client.patch_card(old, updated, resend_to=HR_GROUP)
    assert shown_in != old
    assert emulator.messages[shown_in].content == updated and emulator.messages[shown_in].chat_id == HR_GROUP
    assert emulator.messages[old].content == CARD
    # Other errors are not turned into new messages.
    fresh = await client.send_card(HR_GROUP, CARD)
    with pytest.raises(FeishuError) as refused:
        await client.patch_card(fresh, card("x", "pink", []), resend_to=HR_GROUP)
    assert refused.value.code == 230099 and len(emulator.bot_messages()) == 3


async def test_two_updaters_at_once_resend_a_gone_card_once(served) -> None:
    """A 刷新 click and the scheduled round (on any replica) both finding the card gone make one new message; a
    later, different card is still sent."""
    emulator, client, _raw, _clock = served
    gone = await client.send_card(HR_GROUP, CARD)
    emulator.withdraw(gone)
    expired = card("已过期", "grey", [markdown("数据源已不再保留这次查询")])
    first, second = await asyncio.gather(
        client.patch_card(gone, expired, resend_to=HR_GROUP),
        client.patch_card(gone, expired, resend_to=HR_GROUP),
    )
    assert first == second != gone
    later = await client.patch_card(gone, card("已完成", "green", [markdown("结果")]), resend_to=HR_GROUP)
    assert later not in (gone, first) and len(emulator.bot_messages()) == 3


async def test_a_click_carries_the_clicked_buttons_name(bot: RunningBot) -> None:
    feishu = bot.feishu
    chat = Directory.p2p_chat_of(EMPLOYEE)
    shown = card("t", "blue", [button("刷新", action_value("nobody.handles.this"), name="refresh_button")])
    message = feishu._new_message(  # a card as the bot would have sent it
        chat_id=chat,
        sender="ou_bot",
        msg_type="interactive",
        content=shown,
        created_at=feishu.clock.timestamp(),
    )
    seen: list[dict] = []
    original = feishu.deliver

    async def spy(event_type: str, event: dict) -> tuple[int, dict]:
        seen.append(event)
        return await original(event_type, event)

    feishu.deliver = spy  # type: ignore[method-assign]
    await feishu.user_clicks(message.message_id, user=EMPLOYEE, value=action_value("nobody.handles.this"))
    assert seen[0]["action"]["name"] == "refresh_button"


async def test_a_callback_answered_after_3_seconds_shows_the_user_an_error(bot: RunningBot) -> None:
    feishu = bot.feishu
    feishu.callback_deadline = 0.0  # every answer is late: as a handler taking longer than 3 s would be
    card_id = (await bot.replies(await bot.say("帮助")))[0].message_id
    before = feishu.messages[card_id].content
    answer = await feishu.user_clicks(card_id, user=EMPLOYEE, value=action_value("nobody.handles.this"))
    assert answer["toast"]["type"] == "error" and "200671" in answer["toast"]["content"]
    assert feishu.callback_errors[-1]["code"] == 200671
    assert feishu.messages[card_id].content == before
