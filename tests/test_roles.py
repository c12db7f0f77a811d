"""HR and managers given as a Feishu chat (HRBOT_HR_CHAT_ID, HRBOT_MANAGERS_CHAT_ID): its members hold the role,
read live, so joining or leaving the chat gives or takes the role without a redeploy."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.clock import Clock
from bot.routing.roles import MEMBERS_FRESH_FOR, Role
from bot.sandbox.directory import EMPLOYEE, HR, HR_GROUP, MANAGER
from tests.conftest import make_settings, running_bot
from tests.test_four_factors import button_value, press, request_inline

LATER = MEMBERS_FRESH_FOR + timedelta(seconds=1)


async def test_joining_the_hr_chat_makes_one_hr_and_leaving_it_ends_that(
    tmp_path: Path, clock: Clock
) -> None:
    settings = make_settings(tmp_path, hrbot_hr_chat_id=HR_GROUP)
    async with running_bot(settings, clock) as bot:
        refused = await bot.say("增减员摘要", user=EMPLOYEE)
        assert "仅供 HR" in await bot.reply_text(refused)

        bot.feishu.directory.joined.setdefault(HR_GROUP, []).append(EMPLOYEE)
        clock.advance(LATER)
        allowed = await bot.say("增减员摘要", user=EMPLOYEE)
        assert "仅供 HR" not in await bot.settled_reply_text(allowed)

        bot.feishu.directory.joined[HR_GROUP].remove(EMPLOYEE)
        clock.advance(LATER)
        refused_again = await bot.say("增减员摘要", user=EMPLOYEE)
        assert "仅供 HR" in await bot.reply_text(refused_again)


async def test_a_role_chat_the_bot_was_removed_from_gives_no_role(tmp_path: Path, clock: Clock) -> None:
    settings = make_settings(tmp_path, hrbot_hr_chat_id=HR_GROUP)
    async with running_bot(settings, clock) as bot:
        bot.feishu.directory.joined.setdefault(HR_GROUP, []).append(EMPLOYEE)
        allowed = await bot.say("增减员摘要", user=EMPLOYEE)
        assert "仅供 HR" not in await bot.settled_reply_text(allowed)
        # Feishu answers "the bot is not in the chat": the members it listed before no longer count.
        await bot.feishu.remove_bot(HR_GROUP, operator=HR)
        clock.advance(LATER)
        refused = await bot.say("增减员摘要", user=EMPLOYEE)
        assert "仅供 HR" in await bot.reply_text(refused)
        # HR by open_id (the sandbox's HRBOT_HR_OPEN_IDS) stays HR.
        hr = await bot.say("增减员摘要", user=HR)
        assert "仅供 HR" not in await bot.settled_reply_text(hr)


async def test_a_member_of_the_managers_chat_may_decide_a_verification(tmp_path: Path, clock: Clock) -> None:
    # HR is in the HR group, not in HRBOT_MANAGERS: the managers chat alone makes HR a manager here.
    settings = make_settings(tmp_path, hrbot_managers_chat_id=HR_GROUP)
    async with running_bot(settings, clock) as bot:
        _in_chat, in_managers = await request_inline(bot)
        reject = button_value(in_managers, "驳回")
        outsider = await press(bot, in_managers, user=EMPLOYEE, value=reject)
        assert "只有管理员" in outsider["toast"]["content"]
        await press(bot, in_managers, user=HR, value=reject)
        assert in_managers.content["header"]["title"]["content"].startswith("企业核验已驳回")


async def test_admins_are_the_managers_unless_set(tmp_path: Path, clock: Clock) -> None:
    async with running_bot(make_settings(tmp_path), clock) as bot:
        roles = bot.app.services.roles
        assert await roles.has(Role.ADMINS, MANAGER)
        assert not await roles.has(Role.ADMINS, EMPLOYEE)
    async with running_bot(make_settings(tmp_path, hrbot_admins=EMPLOYEE), clock) as bot:
        roles = bot.app.services.roles
        assert await roles.has(Role.ADMINS, EMPLOYEE)
        assert not await roles.has(Role.ADMINS, MANAGER)
