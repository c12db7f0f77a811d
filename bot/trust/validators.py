"""Identifier checks done before any billed call: a typo caught here costs nothing."""

from __future__ import annotations

import re
from datetime import date

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def looks_like_uscc(value: str) -> bool:
    """18 letters/digits with digits leading: meant as a 统一社会信用代码, not a company name."""
    return (
        bool(re.fullmatch(r"[0-9A-Za-z]{18}", value))
        and value[:2].isalnum()
        and any(c.isdigit() for c in value)
    )


def valid_uscc(value: str) -> bool:
    """GB 32100-2015: 17 characters weighted mod 31, then the check character."""
    value = value.upper()
    if len(value) != 18 or any(c not in _USCC_CHARS for c in value):
        return False
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(value[:17], _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31] == value[17]


def looks_like_reg_number(value: str) -> bool:
    return bool(re.fullmatch(r"\d{15}", value))


def valid_reg_number(value: str) -> bool:
    """15-digit business registration number (GS15-2006): ISO 7064 MOD 11,10 check digit."""
    if not looks_like_reg_number(value):
        return False
    product = 10
    for digit in value[:14]:
        total = (int(digit) + product) % 10 or 10
        product = (total * 2) % 11
    return (11 - product) % 10 == int(value[14])


def valid_id_number(value: str) -> bool:
    """18-digit resident ID (GB 11643-1999): a real birth date and the mod-11 check character."""
    value = value.upper()
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not date(1900, 1, 1) <= born <= date.today():
        return False
    total = sum(int(c) * w for c, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17]


# Registered company names are far shorter; anything longer is a mistake or an attack on the bill.
MAX_COMPANY_CHARS = 100


# Junk no registered name contains: a web address, markup (<at id=all>, [text](link), `code`), control characters.
_ADDRESS = re.compile(r"[a-z][a-z0-9+.\-]*://|(?<![0-9a-z])www\.", re.IGNORECASE)
_NOT_IN_NAMES = re.compile(r"[<>{}\[\]\\|@#$%^*=~`\"\x00-\x1f\x7f]")


def company_keyword_problem(keyword: str) -> str | None:
    """Why a company keyword would waste a billed call, or None when it is worth asking about."""
    keyword = keyword.strip()
    if not keyword:
        return "请输入企业全称、注册号或统一社会信用代码"
    if len(keyword) > MAX_COMPANY_CHARS:
        return f"企业名称最长 {MAX_COMPANY_CHARS} 个字，请输入营业执照上的企业全称"
    if _ADDRESS.search(keyword) or _NOT_IN_NAMES.search(keyword):
        return "企业名称里不能有网址或 < > [ ] @ 等符号，请输入营业执照上的企业全称"
    if looks_like_uscc(keyword) and not valid_uscc(keyword):
        return f"「{keyword}」不是有效的统一社会信用代码（校验位不符），请核对后重试"
    if looks_like_reg_number(keyword) and not valid_reg_number(keyword):
        return f"「{keyword}」不是有效的注册号（校验位不符），请核对后重试"
    if len(keyword) < 4 and not keyword.isdigit():
        return "企业名称太短，请输入企业全称"
    return None


# How registered names end (公司, 集团, 厂, 合作社, 事务所, 研究院, 门市部…), a partnership's 「（有限合伙）」 aside.
_NAME_ENDINGS = (
    "公司",
    "集团",
    "厂",
    "店",
    "中心",
    "社",
    "所",
    "院",
    "馆",
    "场",
    "站",
    "行",
    "工作室",
    "经营部",
    "门市部",
    "营业部",
    "服务部",
    "学校",
    "幼儿园",
    "协会",
    "基金会",
    "商会",
)
_PARTNERSHIP = re.compile(r"[（(][^（）()]*[）)]$")
_QUESTION = re.compile(r"[?？]|怎么|什么|如何|哪|是否|为何|能否|可以|[吗呢嘛]$")


def looks_like_question(value: str) -> bool:
    """`怎么查询比较好`, `能查吗`: words typed after a command that ask about it rather than name what it is for."""
    return bool(_QUESTION.search(value))


def looks_like_company(value: str) -> bool:
    """Whether `value` reads as one company (a registered name, a registration number or a credit code) rather than
    a question or a sentence: how a command tells `企业社保小米科技有限责任公司` from `企业社保怎么查询比较好`."""
    value = value.strip()
    if looks_like_uscc(value) or looks_like_reg_number(value):
        return True
    if (
        not 4 <= len(value) <= MAX_COMPANY_CHARS
        or any(c.isspace() for c in value)
        or looks_like_question(value)
    ):
        return False
    return _PARTNERSHIP.sub("", value).endswith(_NAME_ENDINGS)
