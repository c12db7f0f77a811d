"""lark-oapi's own client, unchanged, against the emulator: what works against Feishu works against the sandbox.

lark-oapi's calls are synchronous (`requests`), so they run in a thread while the emulator serves on this loop.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import lark_oapi as lark
import pytest
from aiohttp import web
from lark_oapi.api.contact.v3 import BatchUserRequest
from lark_oapi.api.im.v1 import (
    CreateImageRequest,
    CreateImageRequestBody,
    CreateMessageRequest,
    CreateMessageRequestBody,
    PatchMessageRequest,
    PatchMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)
from lark_oapi.core.cache import LocalCache

from bot.clock import Clock
from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
from bot.sandbox.directory import EMPLOYEE, HR_GROUP
from bot.sandbox.feishu import FeishuEmulator
from cards.common import card, markdown

CONTENT = json.dumps(card("测试", "blue", [markdown("你好")]), ensure_ascii=False)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def emulator_at_an_origin() -> AsyncIterator[tuple[FeishuEmulator, Any]]:
    emulator = FeishuEmulator(Clock(), SANDBOX_APP_ID, SANDBOX_APP_SECRET)
    runner = web.AppRunner(emulator.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    # A plain origin: lark-oapi refuses a domain with a path.
    origin = f"http://127.0.0.1:{runner.addresses[0][1]}"
    # Its own token cache: lark-oapi's default one is process-wide and would carry another test's token.
    client = (
        lark.Client.builder()
        .app_id(SANDBOX_APP_ID)
        .app_secret(SANDBOX_APP_SECRET)
        .domain(origin)
        .cache(LocalCache())
        .build()
    )
    try:
        yield emulator, client
    finally:
        await runner.cleanup()


def ok(response: Any) -> Any:
    assert response.success(), (response.code, response.msg)
    assert response.code == 0
    return getattr(response, "data", None)  # a patch answers no data


async def test_token_send_reply_patch_image_and_users_through_lark_oapi(emulator_at_an_origin) -> None:
    emulator, client = emulator_at_an_origin
    im = client.im.v1

    send = (
        CreateMessageRequest.builder()
        .receive_id_type("chat_id")
        .request_body(
            CreateMessageRequestBody.builder()
            .receive_id(HR_GROUP)
            .msg_type("interactive")
            .content(CONTENT)
            .uuid("conformance-1")
            .build()
        )
    )
    sent = ok(await asyncio.to_thread(im.message.create, send.build()))
    assert sent.message_id in emulator.messages and sent.chat_id == HR_GROUP

    reply = (
        ReplyMessageRequest.builder()
        .message_id(sent.message_id)
        .request_body(ReplyMessageRequestBody.builder().msg_type("interactive").content(CONTENT).build())
    )
    replied = ok(await asyncio.to_thread(im.message.reply, reply.build()))
    assert emulator.messages[replied.message_id].reply_to == sent.message_id

    patched_content = json.dumps(card("已更新", "green", [markdown("新内容")]), ensure_ascii=False)
    patch = (
        PatchMessageRequest.builder()
        .message_id(sent.message_id)
        .request_body(PatchMessageRequestBody.builder().content(patched_content).build())
    )
    await asyncio.to_thread(lambda: ok(im.message.patch(patch.build())) or True)
    assert emulator.messages[sent.message_id].content["header"]["title"]["content"] == "已更新"

    upload = CreateImageRequest.builder().request_body(
        CreateImageRequestBody.builder().image_type("message").image(io.BytesIO(PNG)).build()
    )
    uploaded = ok(await asyncio.to_thread(im.image.create, upload.build()))
    assert emulator.images[uploaded.image_key] == PNG

    users = BatchUserRequest.builder().user_ids([EMPLOYEE]).user_id_type("open_id").build()
    found = ok(await asyncio.to_thread(client.contact.v3.user.batch, users))
    assert [u.open_id for u in found.items] == [EMPLOYEE] and found.items[0].name

    # One token served all of it (the emulator hands the same one back while more than 30 minutes are left).
    assert emulator.token_requests == 1


async def test_refusals_reach_lark_oapi_as_codes_and_messages(emulator_at_an_origin) -> None:
    emulator, client = emulator_at_an_origin
    invalid = json.dumps({"schema": "2.0", "body": {"elements": [{"tag": "note", "elements": []}]}})
    send = (
        CreateMessageRequest.builder()
        .receive_id_type("chat_id")
        .request_body(
            CreateMessageRequestBody.builder()
            .receive_id(HR_GROUP)
            .msg_type("interactive")
            .content(invalid)
            .build()
        )
    )
    refused = await asyncio.to_thread(client.im.v1.message.create, send.build())
    assert not refused.success()
    assert refused.code == 230099 and "body.elements[0].tag" in refused.msg
    assert emulator.bot_messages() == []
