"""What the bot holds about a person, as 我的数据 shows it: plain data, shared by the features and their cards."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Held:
    """One thing the bot holds about a person, as 我的数据 shows it (masked as on any card)."""

    what: str  # 个人社保查询对话
    detail: str  # 北京 · 已完成 · 2026-11-22 09:00
    kept: str  # how long it stays: 最后一步后保留 7 天
