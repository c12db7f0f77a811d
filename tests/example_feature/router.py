"""示例: a command that answers with a card, the card's button, and a recurring reminder."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.lifecycle.services import Services
from bot.routing.context import ActionContext, MessageContext
from bot.routing.protocol import ActionResponse
from bot.routing.router import Router
from tests.example_feature.cards import acknowledged_card, hello_card, reminder_card
from tests.example_feature.settings import ExampleFeatureSettings

log = logging.getLogger("hrbot.example_feature")

router = Router("example_feature")


def settings(services: Services) -> ExampleFeatureSettings:
    return services.settings_of(ExampleFeatureSettings)


@router.command("示例", "example", summary="示例功能：回一张带按钮的卡片", example="示例 张三")
async def hello(ctx: MessageContext) -> None:
    await ctx.reply(hello_card("你好", ctx.args or "同事"))


@router.action("ack")
async def acknowledge(ctx: ActionContext) -> ActionResponse:
    return ActionResponse.toast(
        "已确认", "success", card=acknowledged_card(str(ctx.value.get("greeting", "")))
    )


def remind_every(services: Services) -> timedelta:
    return timedelta(minutes=settings(services).hrbot_example_remind_minutes)


@router.every(remind_every, id="remind")
async def remind(services: Services) -> None:
    chat_id = settings(services).hrbot_example_chat_id
    if not chat_id:
        log.info("no HRBOT_EXAMPLE_CHAT_ID: no reminder")
        return
    await services.feishu.send_card(chat_id, reminder_card(settings(services).hrbot_example_remind_minutes))
