"""Shared card pieces (card JSON 2.0). Pure: data in, dicts out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from bot.routing.protocol import ACTION_KEY, Card, Element, action_value  # noqa: F401

# The wire protocol is the core's; card builders take it from this kit with the rest.
from bot.trust.consent import Notice
from cards.safe import md

# Header template colours say the state, the same in every feature: green done, blue information or input asked,
# orange waiting on a provider or a person, red failed or refused, grey expired or cancelled.
INFO = "blue"
WAITING = "orange"
OK = "green"
FAILED = "red"
EXPIRED = "grey"

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")

# Feishu limits the request carrying a card to 30 KB, measured on the HTTP body as sent.
MAX_REQUEST_BYTES = 30 * 1024
# The most a send adds around the card's JSON string: receive_id, msg_type, uuid and the keys.
_ENVELOPE = {"receive_id": "x" * 64, "msg_type": "interactive", "uuid": "x" * 50}


def card_json(card: Card) -> str:
    """The card as it travels: compact UTF-8 JSON, not ASCII-escaped (escapes would triple Chinese text's size).

    orjson writes the same bytes as `json.dumps(ensure_ascii=False, separators=(",", ":"))` at a sixth of the cost:
    every answer serialises a card."""
    if type(card) is SentOften:
        return card.wire
    return orjson.dumps(card).decode()


class SentOften(dict):
    """A card built once and sent many times (the help card for one set of commands), with its JSON made once too.
    Made by `sent_often`, and never changed after."""

    __slots__ = ("wire",)
    wire: str


def sent_often(card: Card) -> SentOften:
    """`card`, its JSON made now (not a builder: it makes no card of its own)."""
    kept = SentOften(card)
    kept.wire = orjson.dumps(card).decode()
    return kept


def request_bytes(card: Card) -> int:
    """The size of the largest Open API request that carries this card (a send, its content a JSON string)."""
    body = {**_ENVELOPE, "content": card_json(card)}
    return len(orjson.dumps(body))


def card(title: str, template: str, elements: Sequence[Element], *, subtitle: str | None = None) -> Card:
    header: dict[str, Any] = {"title": {"tag": "plain_text", "content": title}, "template": template}
    if subtitle:
        header["subtitle"] = {"tag": "plain_text", "content": subtitle}
    return {
        "schema": "2.0",
        # update_multi lets a patch reach every viewer of the card, not just the one who clicked.
        "config": {"update_multi": True, "width_mode": "fill"},
        "header": header,
        "body": {"elements": list(elements)},
    }


def markdown(content: str) -> Element:
    return {"tag": "markdown", "content": content}


def plain(content: str) -> Element:
    return {"tag": "div", "text": {"tag": "plain_text", "content": content}}


def note(content: str) -> Element:
    return {"tag": "markdown", "content": content, "text_size": "notation"}


def divider() -> Element:
    return {"tag": "hr"}


def fields(pairs: Iterable[tuple[str, str]]) -> Element:
    """Label/value lines, one per row, readable on a phone. Values are data (escaped) unless `Markup`."""
    return markdown("\n".join(f"**{label}**：{md(value)}" for label, value in pairs))


def footer(source: str, queried_at: datetime, *, ref: str | None = None) -> Element:
    """数据来源 · 查询时间 (already in the bot's time zone) · short provider reference."""
    parts = [f"数据来源：{source}", f"查询时间：{queried_at:%Y-%m-%d %H:%M}"]
    if ref:
        parts.append(f"编号：{md(short_ref(ref))}")
    return note(" · ".join(parts))


def short_ref(ref: str) -> str:
    return ref if len(ref) <= 12 else f"…{ref[-8:]}"


def button(text: str, value: dict[str, Any], *, kind: str = "default", name: str | None = None) -> Element:
    element: Element = {
        "tag": "button",
        "text": {"tag": "plain_text", "content": text},
        "type": kind,
        "behaviors": [{"type": "callback", "value": value}],
    }
    if name:
        element["name"] = name
    return element


def button_row(*buttons: Element) -> Element:
    """Buttons side by side, at most three per row."""
    if len(buttons) > 3:
        raise ValueError("at most three buttons per row")
    return {
        "tag": "column_set",
        "flex_mode": "none",
        "horizontal_spacing": "8px",
        "columns": [{"tag": "column", "width": "auto", "elements": [b]} for b in buttons],
    }


def panel(title: str, elements: Sequence[Element], *, expanded: bool = False) -> Element:
    return {
        "tag": "collapsible_panel",
        "expanded": expanded,
        "header": {"title": {"tag": "markdown", "content": title}},
        "elements": list(elements),
    }


def table(
    columns: Sequence[tuple[str, str]],
    rows: Sequence[dict[str, Any]],
    *,
    numbers: Mapping[str, int] | None = None,
    page_size: int = 10,
) -> Element:
    """columns: (key, display name) pairs, units in the name (缴费基数（元）); rows: dicts keyed by those keys.

    `numbers` maps a numeric column's key to its decimal places: its cells are numbers (None when unknown, shown as
    an empty cell), with Feishu's thousands separator, so every figure on every card reads 1,234.56.
    """
    numbers = numbers or {}
    shaped = []
    for key, label in columns:
        column: dict[str, Any] = {"name": key, "display_name": label, "data_type": "text"}
        if key in numbers:
            column["data_type"] = "number"
            column["horizontal_align"] = "right"
            column["format"] = {"precision": numbers[key], "separator": True}
        shaped.append(column)
    # Feishu refuses anything but a number in a number column (200914) and documents no null: an unknown figure is
    # left out of its row, and the cell shows empty.
    kept = [{k: v for k, v in row.items() if not (k in numbers and v is None)} for row in rows]
    return {"tag": "table", "page_size": page_size, "columns": shaped, "rows": kept}


def amount(value: object) -> float | None:
    """A provider's figure as a number: "1,920.5", "47.01万元", "168人" → the number; anything else → None."""
    found = _NUMBER.match(str(value if value is not None else "").replace(",", "").strip())
    return float(found.group()) if found else None


def money(value: float | None, unit: str = "元") -> str:
    """A figure in text (markdown, plain lines), the same style as a table's number cells: 1,234.56 元."""
    return "—" if value is None else f"{value:,.2f} {unit}".rstrip()


def text_input(
    name: str, label: str, *, placeholder: str = "", required: bool = False, password: bool = False
) -> Element:
    element: Element = {
        "tag": "input",
        "name": name,
        "label": {"tag": "plain_text", "content": label + (" *" if required else "")},
        "placeholder": {"tag": "plain_text", "content": placeholder or f"请输入{label}"},
        "required": required,
    }
    if password:
        element["input_type"] = "password"
    return element


def select(
    name: str,
    options: Sequence[tuple[str, str]],
    *,
    placeholder: str = "请选择",
    required: bool = False,
    value: dict[str, Any] | None = None,
) -> Element:
    """options: (shown text, value) pairs. With `value`, choosing calls back at once (outside a form)."""
    element: Element = {
        "tag": "select_static",
        "name": name,
        "placeholder": {"tag": "plain_text", "content": placeholder},
        "required": required,
        "options": [{"text": {"tag": "plain_text", "content": text}, "value": v} for text, v in options],
    }
    if value is not None:
        element["behaviors"] = [{"type": "callback", "value": value}]
    return element


def submit_button(text: str, value: dict[str, Any], *, name: str = "submit") -> Element:
    element = button(text, value, kind="primary", name=name)
    element["form_action_type"] = "submit"
    return element


def form(name: str, elements: Sequence[Element]) -> Element:
    return {"tag": "form", "name": name, "elements": list(elements)}


def image(image_key: str, alt: str) -> Element:
    return {"tag": "img", "img_key": image_key, "alt": {"tag": "plain_text", "content": alt}}


def error_card(
    title: str, reason: str, next_step: str | None = None, *, extra: Sequence[Element] = ()
) -> Card:
    """Title says what failed, body says why in the user's words and what to do next.

    `reason` and `next_step` often carry what the user typed or a provider said: escaped unless `Markup`.
    """
    body = [markdown(md(reason))]
    if next_step:
        body.append(note(md(next_step)))
    body.extend(extra)
    return card(title, FAILED, body)


def consent_card(notice: Notice, agree: dict[str, Any], refuse: dict[str, Any]) -> Card:
    """The notice before personal data goes to a provider: what, to whom, why, how long; 同意 / 不同意."""
    return card(
        f"个人信息使用告知 · {notice.title}",
        INFO,
        [
            markdown(f"继续之前，请确认你同意以下个人信息发送给**{md(notice.provider)}**："),
            fields(
                [
                    ("发送内容", "、".join(notice.sent)),
                    ("接收方", notice.provider),
                    ("用途", notice.purpose),
                    ("保存期限", notice.kept),
                ]
            ),
            note(
                "不同意则不会发送任何信息。同意后可随时发送「撤回同意」撤回，发送「我的数据」查看机器人保存的与你有关的信息。"
                f"告知版本 {notice.version}。"
            ),
            button_row(button("同意", agree, kind="primary"), button("不同意", refuse)),
        ],
    )


def consent_declined_card(notice: Notice, command: str) -> Card:
    """不同意, or consent withdrawn: nothing was sent, and how to start again."""
    return card(
        f"未同意 · {notice.title}",
        EXPIRED,
        [
            markdown(f"没有向{md(notice.provider)}发送任何信息，本次{md(notice.title)}未进行。"),
            note(f"需要时重新发送「{md(command)}」，同意告知后即可继续。"),
        ],
    )
