"""The month's ledger as an .xlsx workbook (openpyxl): one row per billed call, no query content (there is none).

Providers, features and people by name, as on the usage card; the ids stay in the last columns, for reconciling
with a provider's bill or Feishu's directory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from openpyxl import Workbook

from bot import xlsx

COLUMNS = (
    ("时间", 18),
    ("数据源", 10),
    ("接口", 16),
    ("功能", 12),
    ("使用人", 10),
    ("单价（元）", 10),
    ("结果", 10),
    ("错误码", 12),
    ("数据源编号", 28),
    ("耗时（毫秒）", 12),
    ("使用人 open_id", 24),
    ("会话 chat_id", 24),
)
OUTCOMES = {"billed": "已计费", "unbilled": "未计费", "unknown": "结果未知", "pending": "进行中"}


@dataclass(frozen=True)
class Names:
    """What the usage card calls ids: 聚合数据 for juhe, 企业社保 for its feature, a person's (masked) name."""

    providers: Mapping[str, str] = field(default_factory=dict)
    apis: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (provider, api) → 企业社保缴纳查询
    features: Mapping[str, str] = field(default_factory=dict)
    people: Mapping[str, str] = field(default_factory=dict)


def workbook_bytes(
    rows: Sequence[dict[str, Any]], month: str, tz: tzinfo, names: Names | None = None
) -> bytes:
    names = names or Names()
    book = Workbook()
    sheet = book.active
    sheet.title = month
    sheet.append([name for name, _width in COLUMNS])
    for row in rows:
        xlsx.append_row(
            sheet,
            (
                f"{row['started_at'].astimezone(tz):%Y-%m-%d %H:%M:%S}",
                names.providers.get(row["provider"], row["provider"]),
                names.apis.get((row["provider"], row["api"]), row["api"]),
                names.features.get(row["feature"], row["feature"]),
                names.people.get(row["user_id"], "同事"),
                float(row["price"]),
                OUTCOMES.get(row["outcome"], row["outcome"]),
                row["error"] or "",
                row["ref"] or "",
                row["latency_ms"],
                row["user_id"],
                row["chat_id"],
            ),
        )
    xlsx.frame(sheet, [width for _name, width in COLUMNS])
    return xlsx.workbook_bytes(book)
