"""Excel exports (openpyxl): rows whose text never becomes a formula, a frozen header, the workbook as bytes."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet


def append_row(sheet: Worksheet, values: Iterable[Any]) -> None:
    """One row; its text stays text: a name or an id from a person or a provider is never a formula
    (`=HYPERLINK(…)`)."""
    sheet.append(tuple(values))
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def frame(sheet: Worksheet, widths: Sequence[float]) -> None:
    """The header row stays in view; columns get these widths, in order."""
    sheet.freeze_panes = "A2"
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width


def workbook_bytes(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
