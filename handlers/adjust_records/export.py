"""增减员 records as an .xlsx workbook (openpyxl): one sheet per effective month, one row per record detail."""

from __future__ import annotations

from collections.abc import Sequence

from openpyxl import Workbook

from bot import xlsx
from cards.adjust_records import (
    FILING_LABEL,
    INSURANCE_TYPE,
    NOT_NEEDED,
    RECORD_TYPE,
    RecordLine,
    month_label,
)

COLUMNS = (
    "姓名",
    "open_id",
    "增减员",
    "险种类型",
    "参保状态",
    "生效日期",
    "参保城市",
    "城市编码",
    "缴纳主体",
    "申报基数（元）",
    "账号（后四位）",
    "险种明细",
    "说明",
    "本次变化",
    "申报状态",
    "申报人",
    "申报时间",
    "无需申报原因",
)
STATUS = {"new": "新增", "changed": "变化"}


def workbook_bytes(lines: Sequence[RecordLine], current_month: str) -> bytes:
    book = Workbook()
    book.remove(book.active)
    months = sorted({line.month for line in lines}, reverse=True) or [current_month]
    for month in months:
        # Sheet names: at most 31 characters, none of []:*?/\ — a month label has none.
        sheet = book.create_sheet(title=month_label(month, current_month)[:31] if month else "未知月份")
        sheet.append(COLUMNS)
        for line in sorted(
            (x for x in lines if x.month == month), key=lambda x: (x.record_type, x.city, x.name)
        ):
            marks = {INSURANCE_TYPE.get(m.insurance_type, m.insurance_type): m for m in line.filings}
            for detail in line.details:
                mark = marks.get(detail.insurance_type)
                xlsx.append_row(
                    sheet,
                    (
                        line.name,
                        line.open_id,
                        RECORD_TYPE.get(line.record_type, line.record_type),
                        detail.insurance_type,
                        detail.status,
                        detail.effective_date,
                        line.city,
                        line.city_code,
                        line.entity,
                        float(detail.base_salary) if detail.base_salary else None,
                        detail.account,
                        detail.items,
                        detail.description,
                        STATUS.get(line.status, ""),
                        FILING_LABEL.get(mark.state, mark.state) if mark else "",
                        mark.by if mark else "",
                        f"{mark.at:%Y-%m-%d %H:%M}" if mark and mark.at and mark.by else "",
                        mark.reason if mark and mark.state == NOT_NEEDED else "",
                    ),
                )
        xlsx.frame(sheet, (10, 22, 8, 8, 8, 12, 10, 10, 26, 14, 14, 60, 16, 8, 10, 10, 16, 16))
    return xlsx.workbook_bytes(book)
