"""增减员: own records, HR queries, refusals, and the scheduled digest (counts, two chats, once per slot)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from tenacity import wait_fixed

from bot.providers.compensation import client as compensation_client
from bot.sandbox.directory import BOT_OPEN_ID, EMPLOYEE, HR, HR_GROUP, MANAGER, MANAGER_GROUP
from cards.text import card_text
from handlers.adjust_records.digest import post_digest, schedule_slot
from tests import feishu_wire as wire
from tests.conftest import RunningBot, eventually, make_settings, running_bot, wait_for

BOT = wire.mention("@_user_1", BOT_OPEN_ID, "hrbot")
SLOT = datetime.fromisoformat("2026-11-23T09:00:00+08:00")


async def test_own_records_agree_with_the_personal_social_record(bot: RunningBot) -> None:
    text = await bot.reply_text(await bot.say("增减员"))
    assert "社保增减员记录 · 张小明" in text
    assert "增员 · 社保" in text and "生效月份 2025-01" in text
    # One world: the base Tcredit's site shows for 张小明, each deduction its kind's ratio of it.
    assert "申报基数：14,911.00 元" in text
    assert "2,385.76 | 16.00% | 1,192.88 | 8.00% | 每月" in text
    assert "****3456" in text and "ac123456" not in text


async def test_hr_queries_two_mentioned_colleagues_in_a_group(bot: RunningBot) -> None:
    mentions = [
        BOT,
        wire.mention("@_user_2", EMPLOYEE, "张小明"),
        wire.mention("@_user_3", MANAGER, "王建国"),
    ]
    message_id = await bot.say(
        "@_user_1 增减员 @_user_2 @_user_3", user=HR, chat_id=HR_GROUP, chat_type="group", mentions=mentions
    )
    group_reply = await bot.reply_text(message_id)
    assert "已私聊发给你" in group_reply and "14911" not in group_reply  # no salary figures in the group
    private = await wait_for(lambda: bot.feishu.bot_messages(bot.feishu.directory.p2p_chat_of(HR)), 1)
    text = card_text(private[0].content)
    # HR files every line by name: full names and figures in HR's private chat.
    assert "张小明 · 1 条记录" in text and "王建国 · 0 条记录" in text
    assert "14,911.00 元" in text and "参保城市：北京" in text and "缴纳主体：星河科技有限公司" in text
    assert "养老保险 | 2,385.76" in text and "7152398273176192556" not in text
    assert "暂无社保或公积金增减员记录" in text  # the manager has none


async def test_non_hr_cannot_query_others(bot: RunningBot) -> None:
    mentions = [wire.mention("@_user_1", HR, "李思")]
    text = await bot.reply_text(await bot.say("增减员 @_user_1", user=EMPLOYEE, mentions=mentions))
    assert "只有 HR 可以查询" in text
    summary = await bot.reply_text(await bot.say("增减员摘要", user=EMPLOYEE))
    assert "增减员摘要仅供 HR" in summary and "只发给 HR" in summary and "他人记录" not in summary


async def test_digest_goes_to_two_chats_with_the_emulators_counts(tmp_path, clock) -> None:
    two_chats = f"{HR_GROUP},{MANAGER_GROUP}"
    async with running_bot(make_settings(tmp_path), clock, hrbot_digest_chat_ids=two_chats) as bot:
        compensation = bot.sandbox.compensation
        assert await post_digest(bot.app.services, SLOT)
        increases, attritions = compensation.count("increase"), compensation.count("attrition")
        assert increases > 5 and attritions > 1
        for chat in (HR_GROUP, MANAGER_GROUP):
            cards = bot.feishu.bot_messages(chat)
            assert len(cards) == 1
            text = card_text(cards[0].content)
            assert f"增员 {increases} 人 · 减员 {attritions} 人" in text
            assert f"覆盖员工 {len(bot.feishu.directory.people)} 人" in text
            assert "社保增减员摘要 · 2026-11-23" in text and "本群第一份摘要" in text
        hr_text = card_text(bot.feishu.bot_messages(HR_GROUP)[0].content)
        managers_text = card_text(bot.feishu.bot_messages(MANAGER_GROUP)[0].content)
        assert "基数" in hr_text and "姓名已隐去" not in hr_text
        # The managers' group is not all HR: masked, no salary base, and HR hears why privately.
        assert "姓名已隐去" in managers_text and "基数" not in managers_text.replace("缴费基数", "")
        warning = await wait_for(lambda: bot.feishu.bot_messages(bot.feishu.directory.p2p_chat_of(HR)), 1)
        assert "摘要群有非 HR 成员" in card_text(warning[0].content)
        assert (
            bot.feishu.rate_windows["/open-apis/compensation/v1/social_archive_adjust_record/query"].rejected
            == 0
        )

        # The next slot reports changes only: nothing changed.
        assert await post_digest(bot.app.services, SLOT + timedelta(days=1))
        text = card_text(bot.feishu.bot_messages(HR_GROUP)[-1].content)
        assert "没有新增或变化的增减员记录" in text and "🆕" not in text


async def test_restart_in_the_same_slot_posts_one_digest(settings, clock) -> None:
    async with running_bot(settings, clock) as first:
        assert await post_digest(first.app.services, SLOT)
        assert len(first.feishu.bot_messages(HR_GROUP)) == 1
    async with running_bot(settings, clock) as second:
        assert not await post_digest(second.app.services, SLOT)
        assert second.feishu.bot_messages(HR_GROUP) == []


async def test_the_cron_job_is_persisted_and_fires_after_a_seeded_random_delay(
    settings, clock, monkeypatch
) -> None:
    import random

    from handlers.adjust_records import digest

    monkeypatch.setattr(digest, "jitter", random.Random(7))
    expected = random.Random(7).uniform(0, 300)
    async with running_bot(settings, clock) as bot:
        scheduler = bot.app.services.scheduler.scheduler
        job = scheduler.get_job("adjust_records.digest")
        assert job is not None and str(job.trigger).startswith("cron[")
        fired = datetime.now(job.next_run_time.tzinfo)
        job.modify(next_run_time=fired)
        scheduler.wakeup()

        async def send_job():
            return scheduler.get_job("adjust_records.digest.send")

        send = await eventually(send_job, within=10, what="the delayed send is scheduled")
        # Not on the hour: the send waits the seeded 0–5 minutes, as a stored job.
        delay = (send.next_run_time - fired).total_seconds()
        assert abs(delay - expected) < 5 and 0 <= expected <= 300
        assert bot.feishu.bot_messages(HR_GROUP) == []
        send.modify(next_run_time=datetime.now(send.next_run_time.tzinfo))
        scheduler.wakeup()
        digests = await wait_for(lambda: bot.feishu.bot_messages(HR_GROUP), 1, within=10)
        assert "社保增减员摘要" in card_text(digests[0].content)


async def test_server_errors_are_retried_and_failed_batches_named(bot: RunningBot) -> None:
    compensation = bot.sandbox.compensation
    api = compensation_client(bot.app.services)
    api.retry_wait = wait_fixed(0.01)  # what is retried is the point here, not the backoff's seconds
    compensation.fail_next = 2
    text = await bot.reply_text(await bot.say("增减员"))
    assert "14,911.00 元" in text

    compensation.failing_users.add(EMPLOYEE)
    digest = await bot.settled_reply_text(await bot.say("增减员摘要", user=HR))
    assert "未能获取" in digest and "第 1 批" in digest and "飞书薪酬服务暂时异常" in digest
    assert api.attempts == 4 and compensation.fail_next == 0


def test_schedule_slot_is_the_latest_fire_time() -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    late = datetime(2026, 11, 23, 9, 7, tzinfo=tz)  # Monday, a restart ran the 09:00 job late
    assert schedule_slot("0 9 * * 1-5", tz, late) == datetime(2026, 11, 23, 9, 0, tzinfo=tz)
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=tz)
    assert schedule_slot("0 9 * * 1-5", tz, saturday) == datetime(2026, 11, 27, 9, 0, tzinfo=tz)


async def test_pacer_holds_ten_per_second() -> None:
    from bot.feishu.pacing import Pacer

    pacer = Pacer(10)
    loop = asyncio.get_running_loop()
    starts = []

    async def one() -> None:
        await pacer.wait_turn()
        starts.append(loop.time())

    await asyncio.gather(*(one() for _ in range(21)))
    starts.sort()
    assert all(later - earlier >= 0.1 for earlier, later in zip(starts, starts[10:], strict=False))


def test_crontab_weekdays_follow_crontab_numbering() -> None:
    from zoneinfo import ZoneInfo

    from bot.state.scheduler import crontab_trigger

    tz = ZoneInfo("Asia/Shanghai")
    friday_evening = datetime(2026, 11, 27, 18, 0, tzinfo=tz)
    weekdays = crontab_trigger("0 9 * * 1-5", tz)
    assert weekdays.get_next_fire_time(None, friday_evening) == datetime(
        2026, 11, 30, 9, 0, tzinfo=tz
    )  # Monday
    sundays = crontab_trigger("30 8 * * 0", tz)
    assert sundays.get_next_fire_time(None, friday_evening) == datetime(2026, 11, 29, 8, 30, tzinfo=tz)
    assert crontab_trigger("0 9 * * 7", tz).get_next_fire_time(None, friday_evening).weekday() == 6


def test_a_long_digest_shows_thirty_lines_and_offers_the_rest() -> None:
    import json

    from cards.adjust_records import DigestView, RecordLine, digest_card

    lines = [
        RecordLine(
            key=f"k{i}",
            open_id=f"ou_{i}",
            name=f"员工{i}",
            record_type="increase" if i % 3 else "attrition",
            month=f"2026-{i % 12 + 1:02d}",
            city=("北京", "上海", "深圳")[i % 3],
            city_code="",
            entity="星河科技有限公司",
            insurance_types=("social_insurance",),
            base_salary="12000.00",
            fingerprint="f",
            status="new" if i % 2 == 0 else "changed",
        )
        for i in range(3000)
    ]
    view = DigestView(lines, "2026-11", True, employees=10000, total=3000, since=SLOT, snapshot="s1")
    card = digest_card(view, queried_at=SLOT)
    assert len(json.dumps(card, ensure_ascii=False).encode()) <= 30 * 1024
    text = card_text(card)
    assert "新增 1500 条 · 变化 1500 条" in text and "增员 2000 人 · 减员 1000 人" in text
    assert sum(text.count(mark) for mark in ("🆕 员工", "✏️ 员工")) == 30
    assert "还有 2970 条未显示" in text and "[查看全部]" in text and "[导出 Excel]" in text
    # The month HR files now leads and gets the thirty lines; then the months booked ahead; then earlier ones.
    assert text.index("▸ **2026-11**") < text.index("▸ **2026-12 · 预定生效**") < text.index("▸ **2026-10**")
    assert text.index("▸ **2026-10**") < text.index("▸ **2026-01**")
    current = text[text.index("▸ **2026-11**") : text.index("▸ **2026-12 · 预定生效**")]
    assert current.count("员工") >= 30, "the current month's lines are the ones shown"
    assert "这个月的记录未显示" not in text and "该月的记录未显示" in text


async def test_invalid_parameters_get_a_clear_message(bot: RunningBot) -> None:
    compensation = bot.sandbox.compensation
    compensation.fail_code, compensation.fail_next = 2290002, 1
    text = await bot.reply_text(await bot.say("增减员"))
    assert "查询失败" in text and "查询参数不合法" in text


async def test_a_batch_lost_to_a_network_error_is_named_not_dropped(bot: RunningBot, monkeypatch) -> None:
    import httpx

    api = compensation_client(bot.app.services)
    real = api.adjust_records

    async def flaky(ids, record_type, **kw):
        if record_type == "attrition":
            raise httpx.ReadTimeout("the network dropped it")
        return await real(ids, record_type, **kw)

    monkeypatch.setattr(api, "adjust_records", flaky)
    text = await bot.settled_reply_text(await bot.say("增减员摘要", user=HR))
    assert "第 1 批（200 人）的减员记录：飞书服务暂时不可用" in text and "第 2 批（3 人）的减员记录" in text
    assert "减员 0 人" in text  # counted from what arrived, and said to be incomplete


async def test_a_digest_cut_off_by_a_crash_is_run_again_at_start(tmp_path, clock, monkeypatch) -> None:
    # A daily slot two minutes ago: within the catch-up hour, and the cron does not fire again during the test
    # (an every-minute cron could start a new slot between the two runs and the catch-up would not be due).
    settings = make_settings(tmp_path)
    fired = (clock.now() - timedelta(minutes=2)).astimezone(settings.tz)
    cron = f"{fired.minute} {fired.hour} * * *"
    slot = schedule_slot(cron, settings.tz, clock.now())
    async with running_bot(settings, clock, hrbot_digest_cron=cron) as first:
        services = first.app.services

        async def killed(*args, **kwargs):
            raise asyncio.CancelledError  # the process going down mid-send

        monkeypatch.setattr(services.feishu, "send_card", killed)
        with pytest.raises(asyncio.CancelledError):
            await post_digest(services, slot)
        assert first.feishu.bot_messages(HR_GROUP) == []
    monkeypatch.undo()
    async with running_bot(settings, clock, hrbot_digest_cron=cron) as second:
        store = second.app.services.store
        await eventually(lambda: store.claimed(f"digest:{slot.isoformat()}"), within=10, what="slot done")
        [digest] = second.feishu.bot_messages(HR_GROUP)
        assert "社保增减员摘要" in card_text(digest.content) and f"{slot:%Y-%m-%d}" in card_text(
            digest.content
        )
        assert not await post_digest(second.app.services, slot)
