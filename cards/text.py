"""A card's visible text, line by line: what `hrbot say` prints and what tests read."""

from __future__ import annotations

from typing import Any

from cards.safe import unescape


def card_text(card: dict[str, Any]) -> str:
    lines: list[str] = []
    header = card.get("header") or {}
    title = (header.get("title") or {}).get("content")
    if title:
        lines.append(f"【{title}】")
    subtitle = (header.get("subtitle") or {}).get("content")
    if subtitle:
        lines.append(subtitle)
    for element in (card.get("body") or {}).get("elements", []):
        _walk(element, lines)
    return "\n".join(line for line in lines if line)


def _walk(element: Any, lines: list[str]) -> None:
    if not isinstance(element, dict):
        return
    tag = element.get("tag")
    if tag in ("markdown", "lark_md"):
        lines.append(unescape(str(element.get("content", ""))))
    elif tag == "plain_text":
        lines.append(str(element.get("content", "")))
    elif tag == "div":
        lines.append(str((element.get("text") or {}).get("content", "")))
    elif tag == "button":
        lines.append(f"[{(element.get('text') or {}).get('content', '')}]")
    elif tag == "input":
        lines.append(f"<{(element.get('label') or {}).get('content', element.get('name', ''))}>")
    elif tag in ("select_static", "select_person"):
        options = [(o.get("text") or {}).get("content", "") for o in element.get("options", [])]
        lines.append(f"<{(element.get('placeholder') or {}).get('content', '')}: {' / '.join(options)}>")
    elif tag == "img":
        lines.append(f"(图片 {(element.get('alt') or {}).get('content', '')})")
    elif tag == "table":
        columns = element.get("columns", [])
        lines.append(" | ".join(str(c.get("display_name", "")) for c in columns))
        for row in element.get("rows", []):
            lines.append(" | ".join(str(row.get(c.get("name"), "")) for c in columns))
    elif tag == "collapsible_panel":
        header_title = ((element.get("header") or {}).get("title") or {}).get("content", "")
        lines.append(f"▸ {unescape(header_title)}")
    for key in ("elements", "columns"):
        if tag == "table" and key == "columns":
            continue
        for child in element.get(key, []) or []:
            _walk(child, lines)
