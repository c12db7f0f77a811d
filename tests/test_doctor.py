"""`hrbot doctor` against the emulator playing a half-configured tenant (bot/sandbox/tenant.py): each fault in turn
gives exactly one ✘ line naming the scope, page or chat, exit status 1; with no fault every check passes, exit 0."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.lifecycle import cli
from bot.lifecycle.features import discover
from bot.lifecycle.permissions import scope_groups
from bot.sandbox.compose import SandboxedBot
from bot.sandbox.directory import HR, HR_GROUP, MANAGER_GROUP
from tests.conftest import REDIS_URL, RunningBot, make_settings, running_bot

ROOT = Path(__file__).resolve().parent.parent
PROBED_GROUPS = [group for group in scope_groups(discover()) if group.probes]


@pytest.fixture
async def bot(settings: Settings) -> AsyncIterator[RunningBot]:
    async with running_bot(settings) as running:
        yield running


async def doctor(bot: RunningBot, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """`hrbot doctor` as the CLI runs it without credentials: against the running sandbox bot."""
    port = int(bot.app.url.rsplit(":", 1)[1])
    settings = bot.app.settings.model_copy(
        update={"feishu_app_id": "", "feishu_app_secret": "", "hrbot_port": port, "hrbot_host": "127.0.0.1"}
    )
    capsys.readouterr()
    status = await cli._doctor(settings, "webhook", as_json=False)
    return status, capsys.readouterr().out.strip().splitlines()


def failing(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("✘")]


def not_applicable(lines: list[str]) -> list[str]:
    """Lines the fault leaves unchecked (they need what is missing), and Redis when the run has none."""
    return [
        line for line in lines if line.startswith("–") and not (line.startswith("– redis") and not REDIS_URL)
    ]


async def test_no_fault_every_check_passes(bot: RunningBot, capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = await doctor(bot, capsys)
    assert status == 0, failing(lines)
    assert not failing(lines) and not not_applicable(lines), lines
    assert len(lines) >= len(PROBED_GROUPS) + 8
    assert any(line.startswith("✔ scope corehr:compensation.insurance:read") for line in lines)
    assert any("url_verification" in line and "FEISHU_ENCRYPT_KEY round-trips" in line for line in lines)
    assert any(line.startswith(f"✔ bot in chat {HR_GROUP}") for line in lines)
    # Nothing reached a person (the bot sent no message) and no provider was asked anything, billed or not.
    assert not bot.feishu.bot_messages()
    assert not bot.sandbox.juhe.calls and bot.sandbox.tcredit.requests == 0


@pytest.mark.parametrize("group", PROBED_GROUPS, ids=lambda group: group.label)
async def test_a_scope_not_granted_is_named_with_its_console_link(
    bot: RunningBot, capsys: pytest.CaptureFixture[str], group
) -> None:
    bot.sandbox.tenant.revoke(*group.any_of)
    status, lines = await doctor(bot, capsys)
    assert status == 1
    # One line, or one per group whose every scope went too (sending's are a subset of updating's).
    lost = [other for other in PROBED_GROUPS if set(other.any_of) <= set(group.any_of)]
    assert [line.split(": ")[0] for line in failing(lines)] == [f"✘ scope {other.label}" for other in lost]
    line = next(line for line in failing(lines) if line.startswith(f"✘ scope {group.label}:"))
    assert "not granted" in line and all(scope in line for scope in group.any_of) and "权限管理" in line
    assert f"https://open.feishu.cn/app/cli_sandbox/auth?q={group.any_of[0]}" in line
    # What cannot be checked without the scope says so; everything else passes.
    assert all("see the scope above" in other for other in not_applicable(lines)), lines


async def test_bot_capability_off(bot: RunningBot, capsys: pytest.CaptureFixture[str]) -> None:
    bot.sandbox.tenant.bot_capability_off = True
    status, lines = await doctor(bot, capsys)
    assert status == 1
    [line] = failing(lines)
    assert line.startswith("✘ bot capability") and "添加应用能力 → 机器人" in line
    assert all("needs the bot capability" in other for other in not_applicable(lines)), lines


async def test_version_not_published(bot: RunningBot, capsys: pytest.CaptureFixture[str]) -> None:
    bot.sandbox.tenant.version_unpublished = True
    status, lines = await doctor(bot, capsys)
    assert status == 1
    assert failing(lines) == [
        "✘ published version (版本管理与发布): publish a version: 开发者后台 → 版本管理与发布 → 创建版本, then "
        "申请线上发布 (the tenant admin approves it)"
    ]
    assert not not_applicable(lines)


async def test_hr_outside_the_contacts_range(bot: RunningBot, capsys: pytest.CaptureFixture[str]) -> None:
    bot.sandbox.tenant.outside_contacts.add(HR)
    status, lines = await doctor(bot, capsys)
    assert status == 1
    [line] = failing(lines)
    assert line.startswith("✘ contacts range (通讯录权限范围)")
    assert f"{HR} (HRBOT_HR_OPEN_IDS)" in line and "通讯录权限范围" in line
    assert not not_applicable(lines)


@pytest.mark.parametrize(
    ("chat", "setting"), [(HR_GROUP, "HRBOT_DIGEST_CHAT_IDS"), (MANAGER_GROUP, "HRBOT_MANAGER_CHAT_ID")]
)
async def test_bot_not_in_a_chat(bot: RunningBot, capsys: pytest.CaptureFixture[str], chat, setting) -> None:
    bot.sandbox.tenant.bot_leaves(chat)
    status, lines = await doctor(bot, capsys)
    assert status == 1
    [line] = failing(lines)
    assert line.startswith(f"✘ bot in chat {chat}: the bot is not a member ({setting})")
    assert "群机器人 → 添加机器人" in line
    assert not not_applicable(lines)


async def test_events_by_request_url_when_the_bot_wants_the_long_connection(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    composed = SandboxedBot(settings, mode="ws", employees=50, env_file=None)
    app = await composed.start()
    try:
        running = RunningBot(app, composed.sandbox, None)  # type: ignore[arg-type]
        status, lines = await doctor(running, capsys)
        assert status == 0, failing(lines)
        assert any(line.startswith("✔ long connection") for line in lines)
        composed.sandbox.tenant.events_by_request_url = True
        status, lines = await doctor(running, capsys)
    finally:
        await composed.stop()
    assert status == 1
    [line] = failing(lines)
    assert line.startswith("✘ long connection") and "1000040345" in line and "使用长连接接收事件" in line
    assert not not_applicable(lines)


async def test_wrong_app_secret_and_wrong_app_id_are_told_apart(
    bot: RunningBot, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.lifecycle.doctor import Target, diagnose

    for wrong, named in (("feishu_app_secret", "FEISHU_APP_SECRET"), ("feishu_app_id", "FEISHU_APP_ID")):
        settings = bot.app.settings.model_copy(update={wrong: "not-it"})
        checks = await diagnose(Target(settings, bot.app.features, public_url=bot.app.url, env_file=None))
        assert checks[0].status == "fail" and f"Feishu refused {named}" in checks[0].detail
        assert "凭证与基础信息" in checks[0].detail and "not-it" not in checks[0].detail


async def test_the_cli_prints_json_and_exits_by_the_checks(bot: RunningBot, tmp_path: Path) -> None:
    """The real command line, as an operator types it, with a fault switched on while it runs."""
    port = bot.app.url.rsplit(":", 1)[1]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FEISHU_", "HRBOT_"))},
        "PYTHONPATH": str(ROOT),
        "HRBOT_PORT": port,
        "HRBOT_DATABASE_URL": bot.app.settings.hrbot_database_url,
        "HRBOT_REDIS_URL": REDIS_URL,
    }

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.lifecycle.cli", "doctor", "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    result = await asyncio.to_thread(run)
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout)
    assert answer["ok"] is True and all(check["status"] != "fail" for check in answer["checks"])
    bot.sandbox.tenant.revoke("corehr:compensation.insurance:read")
    result = await asyncio.to_thread(run)
    assert result.returncode == 1
    failed = [check for check in json.loads(result.stdout)["checks"] if check["status"] == "fail"]
    assert [check["name"] for check in failed] == ["scope corehr:compensation.insurance:read"]


async def test_without_credentials_or_sandbox_it_says_what_to_do(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, hrbot_port=1)
    assert await cli._doctor(settings, "webhook", as_json=False) == 2
