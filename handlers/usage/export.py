"""The month's ledger as an .xlsx workbook (openpyxl): one row per billed call, no query content (there is none)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from openpyxl import Workbook

from bot import xlsx

COLUMNS = (
    ("时间", 18),
    ("数据源", 10),
    ("接口", 16),
    ("功能", 16),
    ("使用人 open_id", 24),
    ("会话 chat_id", 24),
    ("单价（元）", 10),
    ("结果", 10),
    ("错误码", 12),
    ("数据源编号", 28),
    ("耗时（毫秒）", 12),
)
OUTCOMES = {"billed": "已计费", "unbilled": "未计费", "unknown": "结果未知", "pending": "进行中"}


def workbook_bytes(rows: Sequence[dict[str, Any]], month: str, tz: tzinfo) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = month
    sheet.append([name for name, _width in COLUMNS])
    for row in rows:
        xlsx.append_row(
            sheet,
            (
                f"{row['started_at'].astimezone(tz):%Y-%m-%d %H:%M:%S}",
                row["provider"],
                row["api"],
                row["feature"],
                row["user_id"],
                row["chat_id"],
                float(row["price"]),
                OUTCOMES.get(row["outcome"], row["outcome"]),
                row["error"] or "",
                row["ref"] or "",
                row["latency_ms"],
            ),
        )
    xlsx.frame(sheet, [width for _name, width in COLUMNS])
    return xlsx.workbook_bytes(book)
