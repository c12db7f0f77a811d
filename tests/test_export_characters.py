"""An export with characters the xlsx format forbids (in a record description, in a directory name) is still
delivered, as the toast promised: the one export helper drops them."""

from __future__ import annotations

import dataclasses
import io

from openpyxl import load_workbook

from bot.sandbox.directory import EMPLOYEE, HR, HR_GROUP
from cards.adjust_records import EXPORT_ACTION
from tests.conftest import RunningBot, wait_for
from tests.test_adjust_records_hr import _button_value, _group_say


async def test_control_characters_in_records_and_names_do_not_stop_the_export(bot: RunningBot) -> None:
    record = bot.sandbox.compensation.records[EMPLOYEE]["increase"]["details"][0]
    record["description"]["zh_cn"] = "入职\x07增员\x1b[31m\x00\ufffe"
    directory = bot.feishu.directory
    directory._people[EMPLOYEE] = dataclasses.replace(directory.person(EMPLOYEE), name="张\x0b小明\x1f")
    [reply] = await bot.replies(await _group_say(bot, "增减员摘要", user=HR, chat_id=HR_GROUP))
    await bot.settled_text(reply)
    answer = await bot.click(reply, user=HR, value=_button_value(reply, EXPORT_ACTION))
    assert "文件稍后发到群里" in answer["toast"]["content"]
    [sent] = await wait_for(
        lambda: [m for m in bot.feishu.bot_messages(HR_GROUP) if m.msg_type == "file"], 1, 15
    )
    _name, data = bot.feishu.files[sent.content["file_key"]]
    cells = [
        str(value)
        for sheet in load_workbook(io.BytesIO(data)).worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if value is not None
    ]
    assert "张小明" in cells and any("入职增员[31m" in c for c in cells)
    assert not any(ch in c for c in cells for ch in "\x00\x07\x0b\x1b\x1f\ufffe")
