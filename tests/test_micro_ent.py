"""小微企业: 查询中 card → the emulator's job completes → the same card shows the API doc's example result, and one notice."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from bot.feishu.client import FeishuUnreachable
from bot.sandbox.directory import EMPLOYEE, HR
from bot.sandbox.juhe import MICRO_ENT_QUERY_PATH
from cards.text import card_text
from handlers.micro_ent.router import poll_round
from handlers.micro_ent.state import MicroJobs
from tests.conftest import RunningBot, eventually, make_settings, running_bot, wait_for

COMPANY = "成都成电光信科技股份有限公司"


@pytest.fixture
async def bot(tmp_path, clock):
    async with running_bot(make_settings(tmp_path), clock, hrbot_micro_ent_poll_seconds=1) as running:
        yield running


def billed(bot: RunningBot) -> int:
    return bot.sandbox.juhe.billed_calls[MICRO_ENT_QUERY_PATH]


def notices(bot: RunningBot, user: str = EMPLOYEE) -> list:
    chat = bot.feishu.directory.p2p_chat_of(user)
    return [
        m
        for m in bot.feishu.bot_messages(chat)
        if "小微企业查询" in card_text(m.content) and m.reply_to is None
    ]


async def poll_after(bot: RunningBot, clock, seconds: float = 30) -> None:
    """Time passes (past any backoff), then a poll round runs."""
    clock.advance(timedelta(seconds=seconds))
    await poll_round(bot.app.services)


async def submit(bot: RunningBot, user: str = EMPLOYEE, company: str = COMPANY):
    """The answer; a 查询中 card once its watcher records it (just after sending it): its buttons and updates find
    it by it."""
    reply = (await bot.replies(await bot.say(f"小微企业 {company}", user=user)))[0]
    if "查询中" in card_text(reply.content):
        jobs = MicroJobs(bot.app.services.store)
        await eventually(
            lambda: jobs.watcher_for_message(reply.message_id), what="the watcher records its card"
        )
    return reply


async def test_pending_card_then_result_patched_in_place_and_one_notice(bot: RunningBot, clock) -> None:
    card = await submit(bot)
    text = card_text(card.content)
    assert "查询中" in text and "任务编号" in text and "30 分钟" in text
    assert card.content["header"]["template"] == "orange"
    assert billed(bot) == 1

    await poll_after(bot, clock, 5)  # the emulator's job needs 120 s: nothing changes
    assert "查询中" in card_text(card.content) and notices(bot) == []

    bot.sandbox.juhe.complete_all()
    await poll_after(bot, clock)
    text = card_text(card.content)
    assert "已完成" in text and "9151010057463511XR" in text and "其他电子设备制造" in text
    assert "5317万人民币" in text and "成都高新区市场监督管理局" in text
    assert "暂无扶持政策信息" in text  # the API doc's support fields are all "-"
    assert len(notices(bot)) == 1
    assert f"<at id={EMPLOYEE}></at>" in notices(bot)[0].content["body"]["elements"][0]["content"]

    await poll_after(bot, clock)
    assert len(notices(bot)) == 1


async def test_same_company_joins_the_pending_job_and_later_hits_the_cache(bot: RunningBot, clock) -> None:
    await submit(bot)
    joined = await submit(bot, user=HR)
    assert "已为你加入" in card_text(joined.content)
    assert billed(bot) == 1
    bot.sandbox.juhe.complete_all()
    await poll_after(bot, clock)
    assert len(notices(bot)) == 1 and len(notices(bot, HR)) == 1
    assert "已完成" in card_text(joined.content)

    again = await submit(bot)
    assert "已完成" in card_text(again.content) and "9151010057463511XR" in card_text(again.content)
    assert billed(bot) == 1


async def test_asked_twice_by_one_person_both_cards_update_and_one_notice(bot: RunningBot, clock) -> None:
    first = await submit(bot)
    second = await submit(bot)
    assert "已为你加入" in card_text(second.content) and billed(bot) == 1
    bot.sandbox.juhe.complete_all()
    await poll_after(bot, clock)
    assert "已完成" in card_text(first.content) and "已完成" in card_text(second.content)
    assert len(notices(bot)) == 1
    await poll_after(bot, clock)
    assert len(notices(bot)) == 1


async def test_a_job_past_24_hours_expires_and_can_be_resubmitted(bot: RunningBot, clock) -> None:
    card = await submit(bot)
    clock.advance(timedelta(hours=24, minutes=1))
    await poll_round(bot.app.services)
    text = card_text(card.content)
    assert "查询已过期" in text and "[重新查询]" in text
    assert card.content["header"]["template"] == "grey"
    assert "已过期" in card_text(notices(bot)[0].content)

    retry_value = {"action": "micro_ent.retry", "keyword": COMPANY, "requester": EMPLOYEE}
    refused = await bot.click(card, user=HR, value=retry_value)
    assert refused["toast"]["type"] == "error" and billed(bot) == 1
    answer = await bot.click(card, user=EMPLOYEE, value=retry_value)
    assert answer["toast"]["content"] == "已重新提交查询" and billed(bot) == 2
    assert "查询中" in card_text(card.content)


async def test_a_retried_query_answered_before_the_clicks_answer_lands_shows_its_result(
    bot: RunningBot, clock
) -> None:
    card = await submit(bot)
    clock.advance(timedelta(hours=24, minutes=1))
    await poll_round(bot.app.services)
    retry_value = {"action": "micro_ent.retry", "keyword": COMPANY, "requester": EMPLOYEE}

    async def answered_meanwhile() -> (
        None
    ):  # Juhe answers, and the scheduled round runs, before Feishu applies it
        bot.sandbox.juhe.complete_all()
        await poll_after(bot, clock)

    bot.feishu.while_answer_travels = answered_meanwhile
    try:
        answer = await bot.feishu.user_clicks(card.message_id, user=EMPLOYEE, value=retry_value)
    finally:
        bot.feishu.while_answer_travels = None
    assert answer["toast"]["content"] == "已重新提交查询" and billed(bot) == 2
    assert "已完成" in card_text(card.content), "the click's answer hid the result"


async def test_retrying_an_expired_query_answered_since_reads_the_cache(bot: RunningBot, clock) -> None:
    card = await submit(bot)
    clock.advance(timedelta(hours=24, minutes=1))
    await poll_round(bot.app.services)
    assert "查询已过期" in card_text(card.content)
    await submit(bot, user=HR)  # someone else asks since, and gets the answer
    bot.sandbox.juhe.complete_all()
    await poll_after(bot, clock)
    assert billed(bot) == 2

    retry_value = {"action": "micro_ent.retry", "keyword": COMPANY, "requester": EMPLOYEE}
    answer = await bot.click(card, user=EMPLOYEE, value=retry_value)
    assert "9151010057463511XR" in card_text(answer["card"]["data"])
    assert billed(bot) == 2 and len(await bot.app.services.ledger.rows(clock.now() - timedelta(days=2))) == 2


async def test_refresh_button_polls_now(bot: RunningBot) -> None:
    card = await submit(bot)
    jobid = next(iter(bot.sandbox.juhe.jobs))
    still = await bot.click(card, user=EMPLOYEE, value={"action": "micro_ent.refresh", "jobid": jobid})
    assert "仍在查询中" in still["toast"]["content"]
    bot.sandbox.juhe.complete_all()
    done = await bot.click(card, user=EMPLOYEE, value={"action": "micro_ent.refresh", "jobid": jobid})
    assert "已完成" in card_text(done["card"]["data"])
    await wait_for(lambda: notices(bot), 1)
    await asyncio.sleep(0.2)
    assert len(notices(bot)) == 1


async def test_bad_keywords_cost_nothing_and_final_errors_explain(bot: RunningBot, clock) -> None:
    text = await bot.reply_text(await bot.say("小微企业 91510100574635110X"))
    assert "校验位不符" in text and billed(bot) == 0
    assert "用法" in await bot.reply_text(await bot.say("小微企业"))

    card = await submit(bot, company="不存在的小微企业有限公司")
    bot.sandbox.juhe.complete_all()
    await poll_after(bot, clock)
    text = card_text(card.content)
    assert "查询失败" in text and "[重新查询]" in text
    assert "已过期" not in text


async def test_the_poll_job_is_scheduled_persistently(bot: RunningBot) -> None:
    job = bot.app.services.scheduler.scheduler.get_job("micro_ent.poll")
    assert job is not None and job.args == ("micro_ent.poll",)


async def test_a_card_update_that_fails_for_now_is_retried_before_the_notice(
    bot: RunningBot, clock, monkeypatch
) -> None:
    card = await submit(bot)
    bot.sandbox.juhe.complete_all()
    feishu = bot.app.services.feishu
    real_patch = feishu.patch_card

    async def unreachable(*_args, **_kwargs):
        raise FeishuUnreachable("PATCH: ClientConnectorError")

    monkeypatch.setattr(feishu, "patch_card", unreachable)
    await poll_after(bot, clock)
    assert "查询中" in card_text(card.content) and notices(bot) == []  # nothing half-done
    monkeypatch.setattr(feishu, "patch_card", real_patch)
    await poll_after(bot, clock)
    assert "已完成" in card_text(card.content)
    assert len(notices(bot)) == 1


async def test_a_job_left_by_a_previous_sandbox_session_expires_quietly(tmp_path, clock, caplog) -> None:
    """The database keeps a pending job; the restarted emulators know neither the job nor the card."""
    settings = make_settings(tmp_path)
    async with running_bot(settings, clock, hrbot_micro_ent_poll_seconds=1) as first:
        await submit(first)
    caplog.clear()
    async with running_bot(settings, clock, hrbot_micro_ent_poll_seconds=1) as second:
        await poll_after(second, clock)
        chat = second.feishu.directory.p2p_chat_of(EMPLOYEE)
        # The old card is unknown to the new emulator: the expired card comes anew, with the notice.
        (expired,) = await wait_for(
            lambda: [
                m for m in second.feishu.bot_messages(chat) if "数据源已不再保留" in card_text(m.content)
            ]
        )
        assert "重新查询" in card_text(expired.content)
        await wait_for(lambda: notices(second))
        await second.idle()
    # A 1 s poll round that outlasts its second on a busy machine is skipped by design (one instance at a time):
    # APScheduler says so; it is not about the expired job.
    overlapped = "skipped: maximum number of running instances reached"
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert [m for m in warned if overlapped not in m] == []
