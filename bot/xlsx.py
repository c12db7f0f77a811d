"""Excel exports (openpyxl): rows whose text never becomes a formula nor breaks the file, a frozen header, the
workbook as bytes."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

# What XML 1.0 cannot hold beyond openpyxl's C0 controls: lone surrogates and the two non-characters.
_UNENCODABLE = re.compile("[\ud800-\udfff\ufffe\uffff]")


def storable(value: Any) -> Any:
    """Text with the characters the format forbids (a BEL in a record description, a stray surrogate in a name)
    removed: openpyxl would raise on them and the export would never be delivered."""
    if not isinstance(value, str):
        return value
    return _UNENCODABLE.sub("", ILLEGAL_CHARACTERS_RE.sub("", value))


def append_row(sheet: Worksheet, values: Iterable[Any]) -> None:
    """One row; its text stays text: a name or an id from a person or a provider is never a formula
    (`=HYPERLINK(…)`), and characters the format forbids are dropped."""
    sheet.append(tuple(storable(value) for value in values))
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
