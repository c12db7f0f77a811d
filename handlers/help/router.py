"""帮助 / help; the answer to an unknown command, an empty or non-text message; the card for user-facing errors."""

from __future__ import annotations

from bot.protocol import ActionResponse, Card
from bot.router import ActionContext, MessageContext, Router
from bot.services import Services
from cards.common import error_card
from cards.help import CommandLine, help_card, non_text_hint, usage_card

router = Router("help")


def _commands(services: Services) -> list[CommandLine]:
    return [CommandLine(c.name, c.aliases, c.summary, c.example) for c in services.dispatcher.commands]


@router.command("帮助", "help", "?", "？", summary="查看所有命令和示例", example="帮助")
async def show_help(ctx: MessageContext) -> None:
    unknown = (
        ctx.command if ctx.services.dispatcher.find_command(ctx.command) is None and ctx.command else None
    )
    await ctx.reply(help_card(_commands(ctx.services), unknown=unknown))


@router.action("usage")
async def show_usage(ctx: ActionContext) -> ActionResponse:
    """A help button: the command's usage in place of the list. Only shows; the user sends the command."""
    found = [c for c in _commands(ctx.services) if c.name == ctx.value.get("command")]
    if not found:
        return ActionResponse.toast("这个命令已不可用，请重新发送「帮助」", "warning")
    return ActionResponse.replace(usage_card(found[0]))


@router.action("back")
async def back_to_help(ctx: ActionContext) -> ActionResponse:
    return ActionResponse.replace(help_card(_commands(ctx.services)))


@router.on_fallback
async def answer_anything_else(ctx: MessageContext) -> None:
    if ctx.message.message_type != "text":
        await ctx.reply(non_text_hint())
    else:
        await show_help(ctx)


@router.on_error
def show_error(title: str, message: str) -> Card:
    return error_card(title, message)
