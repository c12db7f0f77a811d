"""The one way untrusted text (what a user typed, what a provider returned, a masked value) enters card markdown.

Card JSON 2.0 markdown is Markdown plus Feishu tags (`<at id=all></at>`, `<font color=red>`, `<link url=...>`) and
links: text placed there unescaped is markup. Feishu's rich-text page documents HTML character references as the way
to show such characters literally (特殊字符转义: `&#60;` for `<`, `&#42;` for `*`, ...):
https://open.feishu.cn/document/uAjLw4CM/ukzMukzMukzM/feishu-cards/card-components/content-components/rich-text
(JSON 2.0 page: https://open.feishu.cn/document/feishu-cards/card-json-v2-components/content-components/rich-text).
Every character with a meaning in Markdown or in Feishu's tags becomes its numeric reference, so it renders as typed:
no tag, no link (`:` and `/` too, so a bare URL is not auto-linked), no emphasis, no list or heading.
"""

from __future__ import annotations

import html

# `&` included: a typed `&#60;` must come out as those five characters, not as `<`.
_SPECIAL = "&<>[]()*_~`\\#+-!|:/\"'$={}"
_TABLE = {ord(c): f"&#{ord(c)};" for c in _SPECIAL}


class Markup(str):
    """Markdown the bot wrote itself (bold labels, its own <at> of the requester): passed through unescaped."""

    __slots__ = ()


def md(text: object) -> str:
    """`text` as markdown that renders exactly as the characters given; `Markup` passes through."""
    if isinstance(text, Markup):
        return text
    # Line breaks stay line breaks, but a line cannot start a heading, quote or list: those characters are escaped.
    return str(text).translate(_TABLE)


def unescape(content: str) -> str:
    """What a reader sees of escaped markdown (for `hrbot say` and tests): the references turned back."""
    return html.unescape(content)
