"""The help card: every registered command with one example."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cards.common import INFO, Card, card, markdown, note
from cards.safe import md

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
    elements.append(note("私聊直接发送命令；在群里请先 @我 再发送。"))
    return card("hrbot · 使用帮助", INFO, elements)


def non_text_hint() -> Card:
    return card("hrbot", INFO, [markdown("我只能理解文字消息。发送「帮助」查看可用的命令。")])
