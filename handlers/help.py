"""帮助 / help, and the answer to any unknown command."""

from __future__ import annotations

from bot.router import MessageContext, Router
from cards.help import CommandLine, help_card

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
