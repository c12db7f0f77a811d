"""A half-configured tenant as users and operators meet it: Feishu's own answer shape (lark-oapi as the outside
witness), the cards an employee and an admin read, and a live bot's start-up that warns and serves on."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import lark_oapi as lark
import pytest
from aiohttp import web
from lark_oapi.api.contact.v3 import BatchUserRequest, ChildrenDepartmentRequest
from lark_oapi.core.cache import LocalCache

from bot.clock import Clock
from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
from bot.feishu.tenant_errors import EMPLOYEE_SENTENCE
from bot.lifecycle.app import BotApp
from bot.sandbox.directory import EMPLOYEE, HR, MANAGER
from bot.sandbox.feishu import FeishuEmulator
from bot.sandbox.server import Sandbox
from bot.sandbox.tenant import TenantFaults
from cards.text import card_text
from tests import feishu_wire as wire
from tests.conftest import RunningBot, eventually, make_settings

ADJUST_RECORDS = "corehr:compensation.social_adjust_record:read"


async def test_a_missing_scope_answers_as_feishu_does_on_every_api_that_needs_it() -> None:
    """Read by lark-oapi, Feishu's own SDK, against the emulator at a plain origin (the SDK takes no path)."""
    emulator = FeishuEmulator(Clock(), SANDBOX_APP_ID, SANDBOX_APP_SECRET)
    faults = TenantFaults(SANDBOX_APP_ID, emulator.directory)
    emulator.middlewares.append(faults.middleware())
    runner = web.AppRunner(emulator.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    origin = f"http://127.0.0.1:{runner.addresses[0][1]}"
    client = (
        lark.Client.builder()
        .app_id(SANDBOX_APP_ID)
        .app_secret(SANDBOX_APP_SECRET)
        .domain(origin)
        .cache(LocalCache())
        .build()
    )
    users = BatchUserRequest.builder().user_ids([HR]).user_id_type("open_id").build()
    children = ChildrenDepartmentRequest.builder().department_id("0").build()
    try:
        assert (await asyncio.to_thread(client.contact.v3.user.batch, users)).code == 0
        faults.revoke("contact:contact.base:readonly")
        refused = await asyncio.to_thread(client.contact.v3.user.batch, users)
        # The departments API also accepts contact:department.organize:readonly, still granted.
        walked = await asyncio.to_thread(client.contact.v3.department.children, children)
        async with httpx.AsyncClient(base_url=origin) as http:
            answer = await http.post(
                "/open-apis/auth/v3/tenant_access_token/internal",
                json={"app_id": SANDBOX_APP_ID, "app_secret": SANDBOX_APP_SECRET},
            )
            headers = {"Authorization": f"Bearer {answer.json()['tenant_access_token']}"}
            raw = await http.get(f"/open-apis/contact/v3/users/batch?user_ids={HR}", headers=headers)
    finally:
        await runner.cleanup()
    assert refused.code == 99991672 and "contact:contact.base:readonly" in refused.msg
    assert walked.code == 0
    assert raw.status_code == 400
    body = raw.json()
    assert body["msg"].startswith("Access denied. One of the following scopes is required: [")
    assert "应用尚未开通所需的应用身份权限" in body["msg"]
    assert "https://open.feishu.cn/app/cli_sandbox/auth?q=contact:contact.base:readonly" in body["msg"]
    assert body["error"]["permission_violations"] == [
        {"type": "action_privilege_required", "subject": "contact:contact.base:readonly"}
    ]


async def test_employee_reads_a_plain_sentence_and_the_admin_the_fix(bot: RunningBot) -> None:
    bot.sandbox.tenant.revoke(ADJUST_RECORDS)
    text = await bot.reply_text(await bot.say("增减员", user=EMPLOYEE))
    assert EMPLOYEE_SENTENCE in text
    assert "99991672" not in text and "corehr" not in text and "权限管理" not in text
    admin = await bot.reply_text(await bot.say("增减员", user=MANAGER))
    assert ADJUST_RECORDS in admin and "权限管理" in admin
    assert f"https://open.feishu.cn/app/cli_sandbox/auth?q={ADJUST_RECORDS}" in admin


async def test_live_start_up_warns_once_per_fault_and_serves_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hrbot")
    upstream = Sandbox(Clock(), employees=10)
    upstream.tenant.revoke(ADJUST_RECORDS)
    await upstream.start("127.0.0.1", 0)
    settings = make_settings(
        tmp_path,
        **upstream.feishu_settings(),
        feishu_encrypt_key=wire.ENCRYPT_KEY,
        feishu_verification_token=wire.TOKEN,
        hrbot_hr_open_ids=HR,
    )
    app = BotApp(settings, env_file=None, overrides=upstream.provider_settings())
    try:
        await app.start()

        async def checked() -> bool:
            return app.tenant.get("feishu_scopes", "checking") != "checking"

        await eventually(checked, within=60, what="the go-live checks ran")
        async with httpx.AsyncClient() as http:
            ready = await http.get(f"{app.url}/readyz")
        assert ready.status_code == 200  # a missing scope stops only what needs it
        assert ready.json()["feishu_scopes"] == f"missing: {ADJUST_RECORDS}"
        warnings = [r.getMessage() for r in caplog.records if r.name == "hrbot.doctor"]
        assert len(warnings) == 1 and ADJUST_RECORDS in warnings[0] and "权限管理" in warnings[0]
        # The bot answers: 帮助 needs no missing scope.
        upstream.deliver_to(
            f"{app.url}/feishu/events", encrypt_key=wire.ENCRYPT_KEY, verification_token=wire.TOKEN
        )
        said = await upstream.feishu.user_says(
            "帮助", user=EMPLOYEE, chat_id=upstream.feishu.directory.p2p_chat_of(EMPLOYEE)
        )

        async def answered() -> bool:
            return bool(upstream.feishu.replies_to(said.message_id))

        await eventually(answered, what="the help card")
        assert "使用帮助" in card_text(upstream.feishu.replies_to(said.message_id)[0].content)
    finally:
        await app.stop()
        await upstream.stop()
