"""A card's visible text, line by line: what `hrbot say` prints and what tests read."""

from __future__ import annotations

import html
import re
from typing import Any

from cards.safe import unescape

# Card markdown's markup (bold, strike, font and at tags, links, headings) and its escapes, in one pass so an escaped
# character is never mistaken for markup. Syntax: https://open.feishu.cn/document/uAjLw4CM/ukzMukzMukzM/feishu-cards/
# card-json-v2-components/content-components/rich-text
_MARKUP = re.compile(
    r"\\(?P<escaped>[\\`*_{}\[\]()#+\-.!|~<>&])"
    r"|<at\b[^>]*?(?:id|user_id|open_id)=(?P<at>[^ >]*)[^>]*>(?P<at_name>.*?)</at>"
    r"|\[(?P<link>[^\]]*)\]\((?P<url>[^)]*)\)"
    r"|(?m:^#{1,6}[ \t]+)"
    r"|\*\*|~~|</?(?:font|text_tag|link)\b[^>]*>"
)


def plain_text(markdown: str) -> str:
    """What a markdown element shows, without its markup: for a terminal."""

    def visible(match: re.Match[str]) -> str:
        if match["escaped"] is not None:
            return match["escaped"]
        if match["at"] is not None:
            return f"@{match['at_name'] or match['at']}"
        if match["link"] is not None:
            return f"{match['link']} ({match['url']})" if match["url"] != match["link"] else match["link"]
        return ""

    return html.unescape(_MARKUP.sub(visible, markdown))


def card_text(card: dict[str, Any], *, plain: bool = False) -> str:
    """`plain` drops markdown markup (what a person reads); without it tests see the markup the card carries."""
    lines: list[str] = []
    header = card.get("header") or {}
    title = (header.get("title") or {}).get("content")
    if title:
        lines.append(f"【{title}】")
    subtitle = (header.get("subtitle") or {}).get("content")
    if subtitle:
        lines.append(subtitle)
    for element in (card.get("body") or {}).get("elements", []):
        _walk(element, lines, plain)
    return "\n".join(line for line in lines if line)


def _walk(element: Any, lines: list[str], plain: bool) -> None:
    if not isinstance(element, dict):
        return
    tag = element.get("tag")
    if tag in ("markdown", "lark_md"):
        content = str(element.get("content", ""))
        lines.append(unescape(plain_text(content) if plain else content))
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
            lines.append(" | ".join(_cell(c, row.get(c.get("name"))) for c in columns))
    elif tag == "collapsible_panel":
        header_title = str(((element.get("header") or {}).get("title") or {}).get("content", ""))
        lines.append(f"▸ {unescape(plain_text(header_title) if plain else header_title)}")
    for key in ("elements", "columns"):
        if tag == "table" and key == "columns":
            continue
        for child in element.get(key, []) or []:
            _walk(child, lines, plain)


def _cell(column: dict[str, Any], value: Any) -> str:
    """A table cell as Feishu shows it: a number column with its precision and thousands separator."""
    if column.get("data_type") == "number" and isinstance(value, int | float):
        fmt = column.get("format") or {}
        shown = f"{value:,.{fmt.get('precision', 0)}f}"
        return shown if fmt.get("separator") else shown.replace(",", "")
    return "" if value is None else str(value)
