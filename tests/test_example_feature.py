"""docs/architecture.md's "how to add a feature", followed once: tests/example_feature is added to the installed
features and answers through the ingress like any other (its pyproject.toml line is replaced by the feature list)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import Clock
from bot.lifecycle.features import discover
from bot.sandbox.directory import EMPLOYEE, HR_GROUP
from bot.state.scheduler import JOB_REF
from cards.text import card_text
from tests import example_feature as example
from tests.conftest import make_settings, running_bot, wait_for
from tests.test_personal_social import value_of


async def test_the_example_feature_answers_through_the_ingress(tmp_path: Path, clock: Clock) -> None:
    features = [*discover(), example.feature]
    assert example.feature.name == "example_feature"
    async with running_bot(
        make_settings(tmp_path), clock, features=features, hrbot_example_remind_minutes=30
    ) as bot:
        # The command answers, and the help card lists it with the others.
        card = (await bot.replies(await bot.say("示例 张三")))[0]
        assert "你好，张三！" in card_text(card.content) and "[知道了]" in card_text(card.content)
        help_text = await bot.reply_text(await bot.say("帮助"))
        assert "示例功能：回一张带按钮的卡片" in help_text and "企业社保" in help_text

        # The card's button answers: its action id carries the feature's name.
        value = value_of(card.content, "button", "知道了")
        assert value["action"] == "example_feature.ack"
        answer = await bot.feishu.user_clicks(card.message_id, user=EMPLOYEE, value=value)
        assert answer["toast"] == {"type": "success", "content": "已确认"}
        assert "你好：已确认" in card_text(card.content)

        # The recurring job is stored under its id, at the configured interval, beside the others'.
        scheduler = bot.app.services.scheduler.scheduler
        job = scheduler.get_job("example_feature.remind")
        assert job is not None and job.func_ref == JOB_REF and tuple(job.args) == ("example_feature.remind",)
        assert isinstance(job.trigger, IntervalTrigger) and job.trigger.interval == timedelta(minutes=30)
        assert {"micro_ent.poll", "adjust_records.digest"} <= {j.id for j in scheduler.get_jobs()}

        # Run now, it receives the services and posts to the chat its sandbox default names.
        job.modify(next_run_time=datetime.now(UTC))
        bot.app.services.scheduler.wakeup()
        reminders = await wait_for(
            lambda: [m for m in bot.feishu.bot_messages(HR_GROUP) if "示例提醒" in card_text(m.content)]
        )
        assert "每 30 分钟提醒一次" in card_text(reminders[0].content)


async def test_without_it_in_the_list_the_bot_does_not_know_it(tmp_path: Path, clock: Clock) -> None:
    async with running_bot(make_settings(tmp_path), clock) as bot:
        assert "没有「示例」这个命令" in await bot.reply_text(await bot.say("示例"))
        assert bot.app.services.scheduler.scheduler.get_job("example_feature.remind") is None
