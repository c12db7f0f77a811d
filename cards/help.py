"""The help card (every command with one example, a button each), a command's usage, and the welcome card."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cards.common import INFO, Card, Element, action_value, button, button_row, card, markdown, note
from cards.safe import md

USAGE = "help.usage"
BACK = "help.back"
# A command button on the welcome card (seen by a whole group): sends the clicker that command's usage privately.
SEND_USAGE = "help.send_usage"
# An unknown command is echoed back at most this long: enough to spot a typo.
ECHO_LIMIT = 20


@dataclass(frozen=True)
class CommandLine:
    name: str
    aliases: tuple[str, ...]
    summary: str
    example: str


def help_card(commands: Sequence[CommandLine], *, unknown: str | None = None) -> Card:
    elements = []
    if unknown:
        shown = unknown if len(unknown) <= ECHO_LIMIT else unknown[:ECHO_LIMIT] + "…"
        elements.append(markdown(f"没有「{md(shown)}」这个命令。可以试试下面这些："))
    lines = []
    for command in commands:
        alias = f"（也可用：{'、'.join(command.aliases)}）" if command.aliases else ""
        lines.append(f"**{command.name}**{alias} — {command.summary}\n例：`{command.example}`")
    elements.append(markdown("\n\n".join(lines) if lines else "暂时没有可用的命令。"))
    # One button per command: it shows how to use it, it never runs it (no billed query from a help card).
    buttons = [button(c.name, action_value(USAGE, command=c.name)) for c in commands]
    elements += [button_row(*buttons[i : i + 3]) for i in range(0, len(buttons), 3)]
    elements.append(note("私聊直接发送命令；在群里请先 @我 再发送。点按钮查看命令的用法。"))
    return card("hrbot · 使用帮助", INFO, elements)


def suggestion_card(typed: str, command: CommandLine) -> Card:
    """The command a message most likely means, and how to use it, instead of the whole list: `typed` is the
    message's start taken for the command's word, a typo (企业社宝) or the word itself followed by what the command
    does not take (`撤回同意了会怎么样？`)."""
    words = {word.casefold() for word in (command.name, *command.aliases)}
    shown = typed if len(typed) <= ECHO_LIMIT else typed[:ECHO_LIMIT] + "…"
    asked = f"你是不是想用「{md(command.name)}」？"
    elements: list[Element] = [
        markdown(asked if typed.casefold() in words else f"没有「{md(shown)}」这个命令。{asked}"),
        markdown(f"**{command.name}** — {command.summary}\n发送：`{command.example}`"),
        note("私聊直接发送；在群里请先 @我 再发送。"),
        button_row(button("查看全部命令", action_value(BACK))),
    ]
    return card(f"hrbot · {command.name}？", INFO, elements)


def usage_card(command: CommandLine) -> Card:
    """A command's usage, shown in place of the help card; 返回 brings the list back."""
    alias = f"\n也可以发送：{'、'.join(command.aliases)}" if command.aliases else ""
    elements: list[Element] = [
        markdown(f"**{command.name}** — {command.summary}{alias}"),
        markdown(f"发送：`{command.example}`"),
        note("私聊直接发送；在群里请先 @我 再发送。"),
        button_row(button("返回全部命令", action_value(BACK))),
    ]
    return card(f"hrbot · {command.name}", INFO, elements)


def non_text_hint() -> Card:
    return card("hrbot", INFO, [markdown("我只能理解文字消息。发送「帮助」查看可用的命令。")])


def welcome_card(commands: Sequence[CommandLine], *, group: bool) -> Card:
    """Said when someone opens the private chat with the bot or adds it to a group: every command as a button."""
    how = "在群里请先 @我 再发送命令" if group else "直接发送命令即可"
    elements = [
        markdown(f"你好，我是 hrbot，帮 HR 团队查询和核验。{how}；点下面的按钮看每个命令的用法和示例。")
    ]
    buttons = [button(c.name, action_value(SEND_USAGE, command=c.name)) for c in commands]
    elements.extend(button_row(*buttons[i : i + 3]) for i in range(0, len(buttons), 3))
    elements.append(note("发送「帮助」随时查看这张命令列表。"))
    return card("hrbot · 欢迎", INFO, elements)
