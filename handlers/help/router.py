"""帮助 / help; the answer to an unknown command, an empty or non-text message; the card for user-facing errors;
the welcome card (private chat opened, bot added to a group) and the bot's custom menu."""

from __future__ import annotations

import functools
import logging
from typing import Any

from bot.lifecycle.services import CommandInfo, Services
from bot.routing.command_words import nearest_word
from bot.routing.context import ActionContext, MessageContext
from bot.routing.protocol import ActionResponse, Card
from bot.routing.router import Router
from cards.common import error_card, sent_often
from cards.help import CommandLine, help_card, non_text_hint, suggestion_card, usage_card, welcome_card

router = Router("help")
log = logging.getLogger("hrbot.help")

# https://open.feishu.cn/document/server-docs/group/chat/events (用户进入与机器人的会话 / 机器人进群)
P2P_CHAT_ENTERED = "im.chat.access_event.bot_p2p_chat_entered_v1"
BOT_ADDED = "im.chat.member.bot.added_v1"
# 机器人自定义菜单: a menu item of type "推送事件" sends its event_key.
MENU = "application.bot.menu_v6"


def _line(command: CommandInfo) -> CommandLine:
    return CommandLine(command.name, command.aliases, command.summary, command.example)


def _others(services: Services) -> list[CommandLine]:
    """Every command anyone may use but help itself, which the welcome card is (a group's card: no role's commands)."""
    return [_line(c) for c in services.catalogue.commands if c.feature != router.name and not c.roles]


async def _usable(services: Services, user: str) -> tuple[CommandInfo, ...]:
    """The commands `user` may use: an employee's help does not list the admins' 审计 and 用量. Each role any command
    asks for is checked once, not once per command."""
    catalogue = services.catalogue
    held = {role for role in catalogue.roles_asked if await services.roles.has(role, user)}
    return tuple(c for c in catalogue.commands if held.issuperset(c.roles))


@functools.lru_cache(maxsize=64)
def _help_card_for(usable: tuple[CommandInfo, ...]) -> Card:
    """The help card for one list of commands (one per catalogue and set of roles), built once: it is pure data, and
    building it anew was a seventh of the CPU of an answered 帮助 (README, benchmarks); its JSON is made once too."""
    return sent_often(help_card([_line(c) for c in usable]))


async def _commands(services: Services, user: str) -> list[CommandLine]:
    return [_line(c) for c in await _usable(services, user)]


@router.command("帮助", "help", "?", "？", summary="查看所有命令和示例", example="帮助")
async def show_help(ctx: MessageContext) -> None:
    await ctx.reply(_help_card_for(await _usable(ctx.services, ctx.user)))


async def answer_unknown(ctx: MessageContext) -> None:
    """A message that is no command: the command it most likely means (a typo, or a command word followed by what
    that command does not take: `企业社保怎么查询比较好`) with its usage; else the whole list."""
    usable = await _usable(ctx.services, ctx.user)
    # Help's own words are left out: the list below is help.
    words = {word: command for command in usable if command.feature != router.name for word in command.words}
    nearest = nearest_word(ctx.message.text, words)
    if nearest is not None:
        word, typed = nearest
        await ctx.reply(suggestion_card(typed, _line(words[word])))
        return
    # A command word with what it does not take, of a command this user is not shown: no "没有…这个命令".
    unknown = ctx.command if ctx.services.catalogue.find_command(ctx.command) is None else None
    if unknown:
        await ctx.reply(help_card([_line(c) for c in usable], unknown=unknown))
    else:
        await ctx.reply(_help_card_for(usable))


@router.action("usage")
async def show_usage(ctx: ActionContext) -> ActionResponse:
    """A help button: the command's usage in place of the list. Only shows; the user sends the command."""
    found = [c for c in await _commands(ctx.services, ctx.user) if c.name == ctx.value.get("command")]
    if not found:
        return ActionResponse.toast("这个命令已不可用，请重新发送「帮助」", "warning")
    return ActionResponse.replace(usage_card(found[0]))


@router.action("back")
async def back_to_help(ctx: ActionContext) -> ActionResponse:
    return ActionResponse.replace(help_card(await _commands(ctx.services, ctx.user)))


@router.on_fallback
async def answer_anything_else(ctx: MessageContext) -> None:
    if ctx.message.message_type != "text":
        await ctx.reply(non_text_hint())
    else:
        await answer_unknown(ctx)


@router.on_error
def show_error(title: str, message: str) -> Card:
    return error_card(title, message)


@router.event(P2P_CHAT_ENTERED)
async def welcome_in_private(services: Services, event: dict[str, Any]) -> None:
    # Only a chat with no message yet: opening a chat one has used before is no occasion for a greeting.
    if event.get("last_message_id") or not event.get("chat_id"):
        return
    await services.feishu.send_card(str(event["chat_id"]), welcome_card(_others(services), group=False))


@router.event(BOT_ADDED)
async def welcome_in_group(services: Services, event: dict[str, Any]) -> None:
    if event.get("chat_id"):
        await services.feishu.send_card(str(event["chat_id"]), welcome_card(_others(services), group=True))


@router.action("send_usage")
async def send_usage(ctx: ActionContext) -> ActionResponse:
    """A welcome-card button shows that command's usage, privately (the card is the whole group's); it never runs
    the command (some are billed)."""
    command = ctx.services.catalogue.find_command(str(ctx.value.get("command", "")))
    if command is None:
        return ActionResponse.toast("这个命令已不存在，发送「帮助」查看现有命令", "warning")
    await ctx.services.feishu.send_card(ctx.user, usage_card(_line(command)), id_type="open_id")
    return ActionResponse.toast(f"已私聊发送「{command.name}」的用法")


@router.event(MENU)
async def menu_clicked(services: Services, event: dict[str, Any]) -> None:
    """A menu item whose event_key is a command word sends that command's usage to the operator privately;
    帮助 (or an unknown key) sends the welcome card."""
    operator = event.get("operator") or {}
    open_id = (
        str((operator.get("operator_id") or {}).get("open_id") or "") if isinstance(operator, dict) else ""
    )
    if not open_id:
        return
    key = str(event.get("event_key") or "")
    command = services.catalogue.find_command(key)
    if command is None:
        log.warning("bot menu item with event_key %r names no command: sending the command list", key[:40])
    if command is None or command.feature == router.name:
        card = welcome_card(_others(services), group=False)
    else:
        card = usage_card(_line(command))
    await services.feishu.send_card(open_id, card, id_type="open_id")
