"""Masking of personal data for cards and logs (ID numbers first 3 and last 4, names surname and *, account numbers last 4)."""

from __future__ import annotations

import re

# As people type them: 110101199003071234, 110101 19900307 123X, 1101-0119-9003-0712-34; a space or a hyphen may
# sit between any two characters. Phones likewise, with or without +86 / 86: 13800138000, +86 138 0013 8000.
_GAP = r"[ \-]?"
_ID_NUMBER = re.compile(rf"(?<![0-9A-Za-z])\d(?:{_GAP}\d){{16}}{_GAP}[\dXx](?![0-9A-Za-z])")
_MAINLAND_PHONE = re.compile(rf"(?<![\d+])(?:\+?86{_GAP})?1{_GAP}[3-9](?:{_GAP}\d){{9}}(?!\d)")


def mask_id_number(value: str) -> str:
    """110101199003071234 → 110***********1234; short values keep nothing but their last 4."""
    value = value.strip()
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧阳**: compound surnames keep two characters."""
    name = name.strip()
    if not name:
        return ""
    keep = 2 if name[:2] in _COMPOUND_SURNAMES else 1
    if len(name) <= keep:
        return name[0] + "*" * (len(name) - 1)
    return name[:keep] + "*" * (len(name) - keep)


def mask_tail(value: str, keep: int = 4) -> str:
    """Account numbers: last four only."""
    value = value.strip()
    if len(value) <= keep:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[-keep:]


def log_excerpt(text: str, limit: int = 48) -> str:
    """At most a short, masked prefix of untrusted text for a log line, with the full length."""
    masked = mask_text(text)
    return masked if len(masked) <= limit else f"{masked[:limit]}…({len(text)} chars)"


# For the check before the patterns: ASCII digits (and any byte of a non-ASCII character, which may be a digit such
# as ０-９ to `\d`) become "0", gaps are dropped, the rest become "x".
_DIGIT_BYTES = bytes(ord("0") if b > 0x7F or chr(b).isdigit() else ord("x") for b in range(256))
_ELEVEN_DIGITS = b"0" * 11


def mask_text(text: str) -> str:
    """Mask ID numbers and phone numbers wherever they appear in free text (for logs)."""
    # Either takes at least 11 digits, gaps between them aside: most lines have no such run, which a byte table
    # shows in well under a microsecond where the two patterns took ~10 (every log line passes through here).
    if _ELEVEN_DIGITS not in text.encode("utf-8", "surrogatepass").translate(_DIGIT_BYTES, b" -"):
        return text
    text = _ID_NUMBER.sub(lambda m: _keep_ends(m.group(), 18, 3, 4), text)
    return _MAINLAND_PHONE.sub(lambda m: _keep_ends(m.group(), 11, 3, 4), text)


def _keep_ends(found: str, length: int, head: int, tail: int) -> str:
    """The last `length` characters without their gaps (a +86 dropped), masked but for `head` and `tail`."""
    chars = [c for c in found if c.isalnum()][-length:]
    return "".join(chars[:head]) + "*" * (length - head - tail) + "".join(chars[-tail:])


_COMPOUND_SURNAMES = frozenset(
    "欧阳 太史 端木 上官 司马 东方 独孤 南宫 万俟 闻人 夏侯 诸葛 尉迟 公羊 赫连 澹台 皇甫 宗政 濮阳 公冶 太叔 申屠 公孙 "
    "慕容 仲孙 钟离 长孙 宇文 司徒 鲜于 司空 闾丘 子车 亓官 司寇 巫马 公西 颛孙 壤驷 公良 漆雕 乐正 宰父 谷梁 拓跋 夹谷 "
    "轩辕 令狐 段干 百里 呼延 东郭 南门 羊舌 微生 公户 公玉 公仪 梁丘 公仲 公上 公门 公山 公坚 左丘 公伯 西门 公祖 第五 "
    "公乘 贯丘 公皙 南荣 东里 东宫 仲长 子书 子桑 即墨 达奚 褚师".split()
)
