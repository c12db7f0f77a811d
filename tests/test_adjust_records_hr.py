"""增减员 for HR who act on it, through the ingress: naming people, full names where HR reads, the diff digest,
导出 Excel, subscriptions across restarts, the bot leaving a chat, and filing-deadline reminders."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bot.config import ConfigError
from bot.sandbox.corehr import WORKPLACES
from bot.sandbox.directory import (
    BOT_OPEN_ID,
    EMPLOYEE,
    HR,
    HR_GROUP,
    MANAGER,
    MANAGER_GROUP,
    Directory,
    email_of,
    mobile_of,
)
from bot.sandbox.feishu import SandboxMessage
from cards.adjust_records import ALL_ACTION, EXPORT_ACTION
from cards.text import card_text
from handlers.adjust_records.digest import post_digest
from handlers.adjust_records.filing import load_calendar, send_filing_reminders
from tests import feishu_wire as wire
from tests.conftest import RunningBot, make_settings, running_bot, wait_for

BOT = wire.mention("@_user_1", BOT_OPEN_ID, "hrbot")
SLOT = datetime.fromisoformat("2026-11-23T09:00:00+08:00")
HR_P2P = Directory.p2p_chat_of(HR)


def _button_value(message: SandboxMessage, action: str) -> dict[str, Any]:
    def walk(node: Any) -> dict[str, Any] | None:
        if isinstance(node, dict):
            for behavior in node.get("behaviors") or []:
                if behavior.get("value", {}).get("action") == action:
                    return behavior["value"]
            for child in node.values():
                found = walk(child)
                if found:
                    return found
        if isinstance(node, list):
            for child in node:
                found = walk(child)
                if found:
                    return found
        return None

    value = walk(message.content)
    assert value is not None, f"no {action} button"
    return value


def _without_records(bot: RunningBot) -> list[str]:
    records = bot.sandbox.compensation.records
    return [
        p.open_id
        for p in bot.feishu.directory.people
        if p.open_id.startswith("ou_emp_") and p.open_id not in records
    ]


async def _group_say(bot: RunningBot, text: str, *, user: str, chat_id: str) -> str:
    return await bot.say(f"@_user_1 {text}", user=user, chat_id=chat_id, chat_type="group", mentions=[BOT])


# Naming people -----------------------------------------------------------------------------------------------------
async def test_hr_names_colleagues_by_mention_email_mobile_and_name_and_sees_full_names(
    bot: RunningBot,
) -> None:
    employee = bot.feishu.directory.person(EMPLOYEE)
    manager = bot.feishu.directory.person(MANAGER)
    mentions = [wire.mention("@_user_1", EMPLOYEE, "张小明")]
    text = await bot.reply_text(await bot.say("增减员 @_user_1", user=HR, mentions=mentions))
    assert "社保增减员记录 · 张小明" in text and "申报基数：14,911.00 元" in text

    by_email = await bot.reply_text(await bot.say(f"增减员 {email_of(employee)}", user=HR))
    assert "社保增减员记录 · 张小明" in by_email
    mobile = mobile_of(manager).removeprefix("+86")
    by_mobile_and_name = await bot.reply_text(await bot.say(f"增减员 {mobile} 张小明", user=HR))
    assert "王建国 · 0 条记录" in by_mobile_and_name and "张小明 · 1 条记录" in by_mobile_and_name
    assert "参保城市：北京" in by_mobile_and_name and "缴纳主体：星河科技有限公司" in by_mobile_and_name


async def test_anything_that_names_nobody_is_an_error_naming_it(bot: RunningBot) -> None:
    text = await bot.reply_text(await bot.say("增减员 @不存在的人 nobody@example.com", user=HR))
    assert "找不到 不存在的人" in text and "找不到 nobody@example.com" in text
    assert "李思" not in text and "减员" not in text  # never HR's own records instead


async def test_an_employees_view_is_unchanged(bot: RunningBot) -> None:
    own = await bot.reply_text(await bot.say("增减员"))
    assert "社保增减员记录 · 张小明" in own and "申报基数：14,911.00 元" in own
    refused = await bot.reply_text(await bot.say("增减员 李思", user=EMPLOYEE))
    assert "只有 HR 可以查询" in refused and "李思 ·" not in refused


# The digest --------------------------------------------------------------------------------------------------------
async def test_the_digest_is_a_diff_with_full_names_and_exports_every_record(bot: RunningBot) -> None:
    services, compensation = bot.app.services, bot.sandbox.compensation
    assert await post_digest(services, SLOT)
    first = card_text(bot.feishu.bot_messages(HR_GROUP)[-1].content)
    assert "本群第一份摘要" in first and "基数" in first

    newcomer = _without_records(bot)[0]
    name = bot.feishu.directory.person(newcomer).name
    month = f"{services.clock.now():%Y-%m}"
    compensation.add_increase(newcomer, month, 23456, WORKPLACES[1])
    message_id = await _group_say(bot, "增减员摘要", user=HR, chat_id=HR_GROUP)
    [reply] = await bot.replies(message_id)
    second = await bot.settled_text(reply)
    assert "新增 1 条 · 变化 0 条" in second
    assert f"🆕 {name} · 社保、公积金 · 基数 23,456.00 元" in second
    assert "上海 · 星河科技（上海）有限公司" in second
    assert second.count(" · 基数 ") == 1  # only that record

    empty = await bot.settled_reply_text(await _group_say(bot, "增减员摘要", user=HR, chat_id=HR_GROUP))
    assert "没有新增或变化的增减员记录" in empty

    answer = await bot.click(reply, user=HR, value=_button_value(reply, EXPORT_ACTION))
    assert "文件稍后发到群里" in answer["toast"]["content"]
    [sent] = await wait_for(
        lambda: [m for m in bot.feishu.bot_messages(HR_GROUP) if m.msg_type == "file"], 1, 15
    )
    file_name, data = bot.feishu.files[sent.content["file_key"]]
    assert file_name.endswith(".xlsx")
    book = load_workbook(io.BytesIO(data))
    rows = {}
    for sheet in book.worksheets:
        header, *body = list(sheet.iter_rows(values_only=True))
        assert header[:6] == ("姓名", "open_id", "增减员", "险种类型", "参保状态", "生效日期")
        for row in body:
            assert sheet.title.startswith(str(row[5])[:7])  # one sheet per effective month
            rows[(row[1], row[2], row[3], row[5])] = row
    expected = 0
    directory = bot.feishu.directory
    for open_id, by_type in compensation.records.items():
        for record_type, record in by_type.items():
            for detail in record["details"]:
                expected += 1
                kind = "社保" if detail["insurance_type"] == "social_insurance" else "公积金"
                row = rows[
                    (open_id, "增员" if record_type == "increase" else "减员", kind, detail["effective_date"])
                ]
                assert row[0] == directory.person(open_id).name  # names in full
                assert row[9] == (float(detail["base_salary"]) if detail.get("base_salary") else None)
    assert len(rows) == expected
    assert rows[(newcomer, "增员", "社保", f"{month}-01")][6:9] == (
        "上海",
        "310000",
        "星河科技（上海）有限公司",
    )


async def test_see_all_goes_to_hr_privately_and_non_hr_cannot(bot: RunningBot) -> None:
    assert await post_digest(bot.app.services, SLOT)
    [digest] = bot.feishu.bot_messages(HR_GROUP)
    refused = await bot.click(digest, user=EMPLOYEE, value=_button_value(digest, EXPORT_ACTION))
    assert refused["toast"]["type"] == "error"
    await bot.click(
        digest,
        user=HR,
        value={"action": ALL_ACTION, "snapshot": _button_value(digest, EXPORT_ACTION)["snapshot"]},
    )
    # The list may take several cards (each line has its state menu): 张小明 is in one of them.
    [details, *_] = await wait_for(
        lambda: [m for m in bot.feishu.bot_messages(HR_P2P) if "张小明" in card_text(m.content)], 1, 15
    )
    assert "增减员明细" in card_text(details.content)


async def test_on_demand_digest_outside_digest_chats_goes_privately(bot: RunningBot) -> None:
    message_id = await _group_say(bot, "增减员摘要", user=HR, chat_id=MANAGER_GROUP)
    text = await bot.reply_text(message_id)
    assert "增减员摘要已私聊发给你" in text and "基数" not in text
    [private] = await wait_for(lambda: bot.feishu.bot_messages(HR_P2P), 1, 15)
    text = await bot.settled_text(private)
    # Full view for HR privately: salary bases, and a state menu per line.
    assert "社保增减员摘要" in text and " · 基数 " in text and "已申报" in text
    assert private.version == 2, "the 正在生成 card, said at once, became the digest"
    assert [
        m for m in bot.feishu.bot_messages(MANAGER_GROUP) if "社保增减员摘要" in card_text(m.content)
    ] == []


# Subscriptions -----------------------------------------------------------------------------------------------------
async def test_subscriptions_survive_a_restart_and_need_an_all_hr_chat(tmp_path: Path, clock) -> None:
    settings = make_settings(tmp_path)
    async with running_bot(settings, clock, hrbot_digest_chat_ids=MANAGER_GROUP) as bot:
        refused = await bot.reply_text(
            await _group_say(bot, "订阅增减员摘要", user=HR, chat_id=MANAGER_GROUP)
        )
        assert "无法订阅" in refused and "有 1 位成员不是 HR" in refused
        employee = await bot.reply_text(
            await _group_say(bot, "订阅增减员摘要", user=EMPLOYEE, chat_id=HR_GROUP)
        )
        assert "仅供 HR" in employee
        done = await bot.reply_text(await _group_say(bot, "订阅增减员摘要", user=HR, chat_id=HR_GROUP))
        assert "已订阅增减员摘要" in done
    async with running_bot(settings, clock, hrbot_digest_chat_ids=MANAGER_GROUP) as bot:
        assert await post_digest(bot.app.services, SLOT)
        [digest] = [m for m in bot.feishu.bot_messages(HR_GROUP) if "社保增减员摘要" in card_text(m.content)]
        assert "基数" in card_text(digest.content)
        # A non-HR member joins: the next digest is masked and HR is told privately.
        bot.feishu.directory.joined[HR_GROUP] = [EMPLOYEE]
        assert await post_digest(bot.app.services, SLOT.replace(day=24))
        masked = card_text(bot.feishu.bot_messages(HR_GROUP)[-1].content)
        assert "姓名已隐去" in masked
        warning = await wait_for(lambda: bot.feishu.bot_messages(HR_P2P), 1)
        assert "群里有 1 位成员不是 HR" in card_text(warning[0].content)
        bot.feishu.directory.joined.clear()
        gone = await bot.reply_text(await _group_say(bot, "取消订阅增减员摘要", user=HR, chat_id=HR_GROUP))
        assert "已取消订阅" in gone
    async with running_bot(settings, clock, hrbot_digest_chat_ids=MANAGER_GROUP) as bot:
        assert await post_digest(bot.app.services, SLOT.replace(day=25))
        assert [
            m for m in bot.feishu.bot_messages(HR_GROUP) if "社保增减员摘要" in card_text(m.content)
        ] == []


async def test_removing_the_bot_ends_the_subscription_and_hr_is_told(tmp_path: Path, clock) -> None:
    settings = make_settings(tmp_path)
    async with running_bot(settings, clock, hrbot_digest_chat_ids=MANAGER_GROUP) as bot:
        assert "已订阅" in await bot.reply_text(
            await _group_say(bot, "订阅增减员摘要", user=HR, chat_id=HR_GROUP)
        )
        status, _ = await bot.feishu.remove_bot(HR_GROUP, operator=HR)
        assert status == 200
        [notice] = await wait_for(lambda: bot.feishu.bot_messages(HR_P2P), 1)
        assert "订阅已取消" in card_text(notice.content) and "HR 群" in card_text(notice.content)
        from handlers.adjust_records.state import subscriptions

        assert await subscriptions(bot.app.services.store) == {}


# Filing reminders --------------------------------------------------------------------------------------------------
CALENDAR = """
[[city]]
code = "310000"
name = "上海"
cutoff_day = {shanghai}
removal_from = "this_month"

[[city]]
code = "440300"
name = "深圳"
cutoff_day = {shenzhen}
removal_from = "last_month"
"""


async def test_a_reminder_fires_for_a_city_due_in_three_days_and_not_for_others(
    tmp_path: Path, clock
) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text(CALENDAR.format(shanghai=13, shenzhen=15), encoding="utf-8")
    settings = make_settings(tmp_path)
    async with running_bot(settings, clock, hrbot_filing_calendar=str(path)) as bot:
        services = bot.app.services
        today = services.clock.now().astimezone(services.settings.tz).date().replace(day=10)
        for open_id, workplace in zip(_without_records(bot)[:2], (WORKPLACES[1], WORKPLACES[2]), strict=True):
            bot.sandbox.compensation.add_increase(open_id, f"{today:%Y-%m}", 15000, workplace)
        assert await send_filing_reminders(services, today) == ["上海"]
        [reminder] = bot.feishu.bot_messages(HR_GROUP)
        text = card_text(reminder.content)
        assert "增减员申报提醒 · 上海" in text and "3 天后" in text and "深圳" not in text
        assert "[导出 Excel]" in text
        assert await send_filing_reminders(services, today) == []  # once per city, cutoff and day
        later = today.replace(day=14)
        assert await send_filing_reminders(services, later) == ["深圳"]  # 1 day before its cutoff


async def test_nothing_to_file_sends_nothing(tmp_path: Path, clock) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text(CALENDAR.format(shanghai=13, shenzhen=13), encoding="utf-8")
    settings = make_settings(tmp_path)
    async with running_bot(settings, clock, hrbot_filing_calendar=str(path)) as bot:
        today = date(2031, 1, 10)  # no record is effective then
        assert await send_filing_reminders(bot.app.services, today) == []
        assert bot.feishu.bot_messages(HR_GROUP) == []


def test_a_bad_calendar_names_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text(CALENDAR.format(shanghai=13, shenzhen=42), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_calendar(str(path))
    assert "entry 2 (深圳): cutoff_day" in str(error.value) and "\n" not in str(error.value)
    example = Path(__file__).parents[1] / "handlers" / "adjust_records" / "filing-calendar.example.toml"
    assert {c.name for c in load_calendar(str(example))} == {w.city for w in WORKPLACES}


async def test_a_bad_calendar_stops_start_up(tmp_path: Path, clock) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text('[[city]]\ncode = "31"\nname = "上海"\ncutoff_day = 15\nremoval_from = "this_month"\n')
    with pytest.raises(ConfigError, match=r"entry 1 \(上海\): code"):
        async with running_bot(make_settings(tmp_path), clock, hrbot_filing_calendar=str(path)):
            pass


# The emulator is as strict as Feishu -------------------------------------------------------------------------------
async def test_emulated_file_upload_members_and_id_lookup_keep_feishus_rules(bot: RunningBot) -> None:
    from bot.feishu.client import FeishuError
    from handlers.adjust_records.contacts import open_ids_by_contact

    feishu = bot.app.services.feishu
    with pytest.raises(FeishuError):
        await feishu.upload_file(b"", "empty.xlsx", "xls")  # no empty files
    with pytest.raises(FeishuError):
        await feishu.upload_file(b"x", "a.xlsx", "xlsx")  # not a documented file_type
    with pytest.raises(FeishuError):
        await feishu.send_file(HR_GROUP, "file_v3_unknown")
    assert await feishu.chat_member_ids(MANAGER_GROUP) == [MANAGER, HR]  # people only, no bot
    with pytest.raises(FeishuError):  # at most 50 emails per request
        await feishu.call(
            "POST",
            "/open-apis/contact/v3/users/batch_get_id",
            json_body={"emails": [f"u{i}@example.com" for i in range(51)]},
        )
    found = await open_ids_by_contact(feishu, emails=[f"u{i:05d}@sandbox.example.com" for i in range(1, 61)])
    assert len(found) == 60  # the client splits into batches of 50


async def test_an_id_without_a_name_is_shown_as_the_id(bot: RunningBot) -> None:
    from bot.sandbox.corehr import Workplace

    nowhere = Workplace("7399999999999999999", "", "", "7388888888888888888", "")
    newcomer = _without_records(bot)[0]
    bot.sandbox.compensation.add_increase(newcomer, "2026-11", 9000, nowhere)
    name = bot.feishu.directory.person(newcomer).name
    text = await bot.reply_text(await bot.say(f"增减员 {name}", user=HR))
    assert "参保城市：7399999999999999999" in text and "缴纳主体：7388888888888888888" in text
    assert "医疗保险 |" in text  # insurance kinds are still named


async def test_the_consoles_fast_forward_reaches_a_reminder(tmp_path: Path, clock) -> None:
    import calendar
    from datetime import timedelta

    after = (clock.now() + timedelta(minutes=10)).astimezone(make_settings(tmp_path).tz).date()
    days_left = calendar.monthrange(after.year, after.month)[1] - after.day
    path = tmp_path / "calendar.toml"
    shanghai_only = CALENDAR.format(shanghai=31, shenzhen=31).split("\n\n[[city]]")[0]
    path.write_text(shanghai_only, encoding="utf-8")
    reminders = {"hrbot_filing_calendar": str(path), "hrbot_filing_remind_days": str(days_left)}
    async with running_bot(make_settings(tmp_path), clock, **reminders) as bot:
        bot.sandbox.compensation.add_increase(
            _without_records(bot)[0], f"{after:%Y-%m}", 15000, WORKPLACES[1]
        )
        # What the console's ⏩ does: move the clock, then run the interval jobs now.
        bot.sandbox.fast_forward(timedelta(minutes=10))
        assert bot.app.services.scheduler.run_pollers_now() >= 1
        [reminder] = await wait_for(lambda: bot.feishu.bot_messages(HR_GROUP), 1, within=15)
        assert "增减员申报提醒 · 上海" in card_text(reminder.content)
