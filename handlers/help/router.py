"""帮助 / help; the answer to an unknown command, an empty or non-text message; the card for user-facing errors."""

from __future__ import annotations

from bot.protocol import Card
from bot.router import MessageContext, Router
from cards.common import error_card
from cards.help import CommandLine, help_card, non_text_hint

router = Router("help")


@router.command("帮助", "help", "?", "？", summary="查看所有命令和示例", example="帮助")
async def show_help(ctx: MessageContext) -> None:
    commands = [
        CommandLine(c.name, c.aliases, c.summary, c.example) for c in ctx.services.dispatcher.commands
    ]
    unknown = (
        ctx.command if ctx.services.dispatcher.find_command(ctx.command) is None and ctx.command else None
    )
    await ctx.reply(help_card(commands, unknown=unknown))


@router.on_fallback
async def answer_anything_else(ctx: MessageContext) -> None:
    if ctx.message.message_type != "text":
        await ctx.reply(non_text_hint())
    else:
        await show_help(ctx)


@router.on_error
def show_error(title: str, message: str) -> Card:
    return error_card(title, message)
