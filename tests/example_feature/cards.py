"""示例's cards: pure, data in, card JSON 2.0 out. A product feature keeps these in cards/<feature>.py."""

from __future__ import annotations

from cards.common import INFO, OK, WAITING, Card, action_value, button, button_row, card, markdown, note

ACK = "example_feature.ack"


def hello_card(greeting: str, name: str) -> Card:
    return card(
        "示例",
        INFO,
        [
            markdown(f"{greeting}，{name}！"),
            button_row(button("知道了", action_value(ACK, greeting=greeting), kind="primary")),
        ],
    )


def acknowledged_card(greeting: str) -> Card:
    return card("示例", OK, [markdown(f"{greeting}：已确认"), note("这张卡片已处理")])


def reminder_card(every_minutes: float) -> Card:
    return card("示例提醒", WAITING, [markdown(f"每 {every_minutes:g} 分钟提醒一次")])
