"""增减员 from notice to done, through the ingress: HR marks records on the cards, reminders chase only what is left,
a record changed after filing shows 有变更, employees cannot mark, the day after a cutoff lists what was not filed;
and the company's 多维表格 follows both ways."""

from __future__ import annotations

import io
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, select

from bot.clock import Clock
from bot.config import ConfigError
from bot.sandbox.bitable import SANDBOX_APP_TOKEN, SANDBOX_TABLE_ID, BitableTable
from bot.sandbox.corehr import WORKPLACES
from bot.sandbox.directory import EMPLOYEE, HR, HR_GROUP
from bot.sandbox.feishu import SandboxMessage
from bot.state.store import audit_records
from cards.adjust_records import EXPORT_ACTION, GROUP_ACTION, LINE_ACTION, RecordLine, group_id
from cards.text import card_text
from handlers.adjust_records.digest import post_digest, save_snapshot
from handlers.adjust_records.filing import send_filing_reminders, send_overdue_notices
from handlers.adjust_records.filing_state import FILED, filing_states, mark, reconcile, record_key, states
from handlers.adjust_records.tracking import record_fingerprints
from tests.conftest import RunningBot, make_settings, running_bot, wait_for
from tests.test_adjust_records_hr import CALENDAR, SLOT, _group_say, _without_records

SHANGHAI = WORKPLACES[1]


def _values(message: SandboxMessage, action: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for behavior in node.get("behaviors") or []:
                if behavior.get("value", {}).get("action") == action:
                    found.append(behavior["value"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(message.content)
    return found


def _menu(message: SandboxMessage, open_id: str) -> dict[str, Any]:
    """The state menu of `open_id`'s line on the card."""
    [value] = [v for v in _values(message, LINE_ACTION) if v["line"].startswith(f"{open_id}:")]
    return value


def _listed(message: SandboxMessage) -> set[str]:
    """The names of the lines a card lists (each line reads 姓名 · 社保、公积金 · ...)."""
    names = set()
    for line in card_text(message.content).splitlines():
        if " · 社保" in line or " · 公积金" in line:
            names.add(line.split(" · ")[0].removeprefix("🆕 ").removeprefix("✏️ "))
    return names


async def _bot_with_calendar(tmp_path: Path, clock: Clock, **settings: Any) -> Any:
    path = tmp_path / "calendar.toml"
    path.write_text(CALENDAR.format(shanghai=13, shenzhen=15), encoding="utf-8")
    return running_bot(make_settings(tmp_path), clock, hrbot_filing_calendar=str(path), **settings)


def _tenth(bot: RunningBot) -> date:
    services = bot.app.services
    return services.clock.now().astimezone(services.settings.tz).date().replace(day=10)


def _newcomers(bot: RunningBot, today: date, count: int) -> list[tuple[str, str]]:
    """`count` people with a 增员 in Shanghai this month: (open_id, name)."""
    people = _without_records(bot)[:count]
    for open_id in people:
        bot.sandbox.compensation.add_increase(open_id, f"{today:%Y-%m}", 15000, SHANGHAI)
    return [(open_id, bot.feishu.directory.person(open_id).name) for open_id in people]


async def test_marked_filed_from_the_digest_leaves_the_reminder_and_a_change_after_shows(
    tmp_path: Path, clock: Clock
) -> None:
    async with await _bot_with_calendar(tmp_path, clock) as bot:
        services, today = bot.app.services, _tenth(bot)
        (filed, filed_name), (_, waiting_name) = _newcomers(bot, today, 2)
        assert await post_digest(services, SLOT)
        [digest] = bot.feishu.bot_messages(HR_GROUP)
        assert f"{filed_name} · 社保、公积金 · 基数 15,000.00 元 · ⏳待申报" in card_text(digest.content)

        answer = await bot.click(digest, user=HR, value=_menu(digest, filed), option="filed")
        assert (
            answer["toast"]["type"] == "success" and "已将 2 条记录标记为已申报" in answer["toast"]["content"]
        )

        assert await send_filing_reminders(services, today) == ["上海"]
        reminder = bot.feishu.bot_messages(HR_GROUP)[-1]
        text = card_text(reminder.content)
        assert filed_name not in _listed(reminder) and waiting_name in _listed(reminder)
        assert "上海：" in text and "条待申报" in text and "1 条已申报" in text

        # The filed record changes (a new base): it is the same record, now 有变更.
        bot.sandbox.compensation.add_increase(filed, f"{today:%Y-%m}", 18000, SHANGHAI)
        text = await bot.settled_reply_text(await _group_say(bot, "增减员摘要", user=HR, chat_id=HR_GROUP))
        assert f"✏️ {filed_name} · 社保、公积金 · 基数 18,000.00 元 · ⚠️有变更" in text


async def test_an_employees_click_is_refused_and_changes_nothing(bot: RunningBot) -> None:
    services = bot.app.services
    month = f"{services.local():%Y-%m}"
    [newcomer] = _without_records(bot)[:1]
    bot.sandbox.compensation.add_increase(newcomer, month, 15000, SHANGHAI)
    assert await post_digest(services, SLOT)
    [digest] = bot.feishu.bot_messages(HR_GROUP)
    for value, option in ((_menu(digest, newcomer), "filed"), (_values(digest, GROUP_ACTION)[0], None)):
        refused = await bot.click(digest, user=EMPLOYEE, value=value, option=option)
        assert refused["toast"]["type"] == "error" and "只有 HR" in refused["toast"]["content"]
    keys = [record_key(newcomer, "increase", kind, month) for kind in ("social_insurance", "provident_fund")]
    assert {f.state for f in (await states(services.store, keys)).values()} == {"pending"}


async def test_undo_and_not_needed_with_a_reason(bot: RunningBot) -> None:
    services = bot.app.services
    month = f"{services.local():%Y-%m}"
    [newcomer] = _without_records(bot)[:1]
    bot.sandbox.compensation.add_increase(newcomer, month, 15000, SHANGHAI)
    assert await post_digest(services, SLOT)
    [digest] = bot.feishu.bot_messages(HR_GROUP)
    keys = [record_key(newcomer, "increase", kind, month) for kind in ("social_insurance", "provident_fund")]
    await bot.click(digest, user=HR, value=_menu(digest, newcomer), option="not_needed:a")
    assert {(f.state, f.reason, f.by) for f in (await states(services.store, keys)).values()} == {
        ("not_needed", "代理机构申报", HR)
    }
    undone = await bot.click(digest, user=HR, value=_menu(digest, newcomer), option="undo")
    assert "已撤销 2 条" in undone["toast"]["content"]
    assert {f.state for f in (await states(services.store, keys)).values()} == {"pending"}
    # Who marked what is audited.
    query = select(audit_records.c.outcome).where(
        audit_records.c.actor == HR, audit_records.c.action == "增减员申报状态"
    )
    async with services.store.engine.connect() as conn:
        assert sorted(row.outcome for row in await conn.execute(query)) == ["撤销", "无需申报"]


async def test_the_day_after_the_cutoff_lists_exactly_what_was_not_filed(
    tmp_path: Path, clock: Clock
) -> None:
    async with await _bot_with_calendar(tmp_path, clock) as bot:
        services, today = bot.app.services, _tenth(bot)
        people = _newcomers(bot, today, 4)
        assert await send_filing_reminders(services, today) == ["上海"]
        reminder = bot.feishu.bot_messages(HR_GROUP)[-1]
        listed = _listed(reminder)
        assert {name for _, name in people} <= listed
        (filed, filed_name), (skipped, skipped_name) = people[:2]
        await bot.click(reminder, user=HR, value=_menu(reminder, filed), option="filed")
        await bot.click(reminder, user=HR, value=_menu(reminder, skipped), option="not_needed:e")

        assert (
            await send_overdue_notices(services, today.replace(day=13)) == []
        )  # not yet: the cutoff is today
        assert await send_overdue_notices(services, today.replace(day=14)) == ["上海"]
        overdue = bot.feishu.bot_messages(HR_GROUP)[-1]
        assert "增减员逾期未申报 · 上海" in card_text(overdue.content)
        assert _listed(overdue) == listed - {filed_name, skipped_name}
        assert await send_overdue_notices(services, today.replace(day=14)) == []  # once


async def test_a_city_whose_records_are_all_done_gets_no_reminder(tmp_path: Path, clock: Clock) -> None:
    async with await _bot_with_calendar(tmp_path, clock) as bot:
        services, today = bot.app.services, _tenth(bot)
        _newcomers(bot, today, 1)
        assert await post_digest(services, SLOT)
        [digest] = bot.feishu.bot_messages(HR_GROUP)
        for value in _values(digest, LINE_ACTION):
            await bot.click(digest, user=HR, value=value, option="filed")
        for value in _values(digest, GROUP_ACTION):
            if value.get("state") == FILED:
                await bot.click(digest, user=HR, value=value)
        shanghai = [m for m in bot.feishu.bot_messages(HR_GROUP) if "申报提醒" in card_text(m.content)]
        assert "上海" not in await send_filing_reminders(services, today)
        assert [
            m for m in bot.feishu.bot_messages(HR_GROUP) if "申报提醒" in card_text(m.content)
        ] == shanghai


async def test_a_group_of_2000_records_is_marked_in_one_statement(bot: RunningBot) -> None:
    store = bot.app.services.store
    keys = [record_key(f"ou_bulk_{i:05d}", "increase", "social_insurance", "2026-11") for i in range(2000)]
    await reconcile(store, dict.fromkeys(keys, "f0"))
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # Only the filing table's: the bot's own background work (leases, the inbox) shares the engine.
        if filing_states.name in statement:
            statements.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        started = time.perf_counter()
        changed = await mark(store, keys, FILED, by=HR, at=bot.app.services.clock.now())
        took = time.perf_counter() - started
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", count)
    assert changed == 2000
    assert [s.split()[0] for s in statements] == ["UPDATE"]
    print(f"2,000 records marked in {took * 1000:.0f} ms, one statement")


# 多维表格 --------------------------------------------------------------------------------------------------------------
def _row(table: BitableTable, key: str) -> str:
    record_id = table.find("记录键", key)
    assert record_id is not None, f"no row for {key}"
    return record_id


async def test_the_table_gets_every_record_and_a_state_changed_there_is_read_back_before_the_reminder(
    tmp_path: Path, clock: Clock
) -> None:
    async with await _bot_with_calendar(tmp_path, clock) as bot:
        services, today = bot.app.services, _tenth(bot)
        table = bot.sandbox.bitable.table(SANDBOX_APP_TOKEN, SANDBOX_TABLE_ID)
        (done, done_name), (_, left_name) = _newcomers(bot, today, 2)
        assert await post_digest(services, SLOT)
        assert {"记录键", "姓名", "申报状态", "申报人", "申报时间", "无需申报原因"} <= set(table.fields)
        rows = await states(services.store)
        assert len(table.records) == len(rows)  # one row per record
        month = f"{today:%Y-%m}"
        for kind in ("social_insurance", "provident_fund"):
            record_id = _row(table, record_key(done, "increase", kind, month))
            assert table.value_of(record_id, "申报状态") == "待申报"
            assert table.value_of(record_id, "姓名") == done_name
            table.edit(record_id, 申报状态="已申报")  # HR works in the table

        assert await send_filing_reminders(services, today) == ["上海"]
        reminder = bot.feishu.bot_messages(HR_GROUP)[-1]
        assert done_name not in _listed(reminder) and left_name in _listed(reminder)
        key = record_key(done, "increase", "social_insurance", month)
        assert (await states(services.store, [key]))[key].state == FILED


async def test_a_state_changed_in_the_bot_is_written_to_the_table(bot: RunningBot) -> None:
    services = bot.app.services
    month = f"{services.local():%Y-%m}"
    table = bot.sandbox.bitable.table(SANDBOX_APP_TOKEN, SANDBOX_TABLE_ID)
    [newcomer] = _without_records(bot)[:1]
    bot.sandbox.compensation.add_increase(newcomer, month, 15000, SHANGHAI)
    assert await post_digest(services, SLOT)
    [digest] = bot.feishu.bot_messages(HR_GROUP)
    record_id = _row(table, record_key(newcomer, "increase", "provident_fund", month))
    await bot.click(digest, user=HR, value=_menu(digest, newcomer), option="filed")
    hr_name = bot.feishu.directory.person(HR).name
    await wait_for(lambda: [1] if table.value_of(record_id, "申报状态") == "已申报" else [], 1, 15)
    assert table.value_of(record_id, "申报人") == hr_name
    assert isinstance(table.value_of(record_id, "申报时间"), int)


async def test_the_export_has_the_state_columns(bot: RunningBot) -> None:
    services = bot.app.services
    month = f"{services.local():%Y-%m}"
    [newcomer] = _without_records(bot)[:1]
    bot.sandbox.compensation.add_increase(newcomer, month, 15000, SHANGHAI)
    assert await post_digest(services, SLOT)
    [digest] = bot.feishu.bot_messages(HR_GROUP)
    await bot.click(digest, user=HR, value=_menu(digest, newcomer), option="filed")
    [export] = _values(digest, EXPORT_ACTION)
    await bot.click(digest, user=HR, value=export)
    [sent] = await wait_for(
        lambda: [m for m in bot.feishu.bot_messages(HR_GROUP) if m.msg_type == "file"], 1, 15
    )
    book = load_workbook(io.BytesIO(bot.feishu.files[sent.content["file_key"]][1]))
    states_by_person: dict[str, set[tuple[Any, ...]]] = {}
    for sheet in book.worksheets:
        header, *body = list(sheet.iter_rows(values_only=True))
        assert header[-4:] == ("申报状态", "申报人", "申报时间", "无需申报原因")
        for row in body:
            states_by_person.setdefault(str(row[1]), set()).add((row[3], *row[-4:-2], row[-1]))
    hr_name = bot.feishu.directory.person(HR).name
    assert states_by_person[newcomer] == {
        ("社保", "已申报", hr_name, None),
        ("公积金", "已申报", hr_name, None),
    }
    assert all(
        state[1] in ("待申报", "已申报", "无需申报", "有变更")
        for rows in states_by_person.values()
        for state in rows
    )


async def test_the_console_shows_the_table_and_hr_can_change_a_state_there(
    tmp_path: Path, clock: Clock
) -> None:
    async with await _bot_with_calendar(tmp_path, clock) as bot:
        services, today = bot.app.services, _tenth(bot)
        (done, done_name), (_, left_name) = _newcomers(bot, today, 2)
        assert await post_digest(services, SLOT)
        page = await bot.http.get(f"{bot.app.url}/console/bitable")
        assert page.status_code == 200
        assert "增减员申报" in page.text and f"<td>{done_name}</td>" in page.text
        assert "<option selected>待申报</option>" in page.text and "onchange='edit(this)'" in page.text
        table = bot.sandbox.bitable.table(SANDBOX_APP_TOKEN, SANDBOX_TABLE_ID)
        for kind in ("social_insurance", "provident_fund"):
            form = {
                "app_token": SANDBOX_APP_TOKEN,
                "table_id": SANDBOX_TABLE_ID,
                "record_id": _row(table, record_key(done, "increase", kind, f"{today:%Y-%m}")),
                "field": "申报状态",
                "value": "无需申报",
            }
            edited = await bot.http.post(f"{bot.app.url}/console/bitable", json=form)
            assert edited.status_code == 200
        missing = await bot.http.post(f"{bot.app.url}/console/bitable", json={**form, "record_id": "recNope"})
        assert missing.status_code == 400
        assert await send_filing_reminders(services, today) == ["上海"]
        reminder = bot.feishu.bot_messages(HR_GROUP)[-1]
        assert done_name not in _listed(reminder) and left_name in _listed(reminder)
        assert "1 条无需申报" in card_text(reminder.content)


async def test_a_state_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    async with await _bot_with_calendar(tmp_path, clock) as bot:
        today = _tenth(bot)
        (filed, filed_name), (_, waiting_name) = _newcomers(bot, today, 2)
        assert await post_digest(bot.app.services, SLOT)
        [digest] = bot.feishu.bot_messages(HR_GROUP)
        await bot.click(digest, user=HR, value=_menu(digest, filed), option="filed")
    async with await _bot_with_calendar(tmp_path, clock) as bot:
        _newcomers(bot, today, 2)  # the new sandbox's records, as before
        assert await send_filing_reminders(bot.app.services, today) == ["上海"]
        reminder = bot.feishu.bot_messages(HR_GROUP)[-1]
        assert filed_name not in _listed(reminder) and waiting_name in _listed(reminder)


async def test_the_table_needs_both_its_settings(tmp_path: Path, clock: Clock) -> None:
    with pytest.raises(ConfigError, match="HRBOT_ADJUST_BITABLE_TABLE_ID must be set too"):
        async with running_bot(
            make_settings(tmp_path),
            clock,
            hrbot_adjust_bitable_app_token="bascnX",
            hrbot_adjust_bitable_table_id="",
        ):
            pass


async def test_one_click_marks_a_group_of_2000_records_in_one_update(bot: RunningBot) -> None:
    services = bot.app.services
    group = [
        RecordLine(
            key=f"ou_bulk_{i:05d}:increase:2026-11",
            open_id=f"ou_bulk_{i:05d}",
            name=f"员工{i}",
            record_type="increase",
            month="2026-11",
            city="上海",
            city_code="310000",
            entity="星河科技（上海）有限公司",
            insurance_types=("social_insurance", "provident_fund"),
            base_salary="15000",
            fingerprint=str(i),
        )
        for i in range(1000)
    ]
    await reconcile(services.store, {k: "f" for line in group for k in record_fingerprints(line)})
    snapshot = await save_snapshot(services, [line.key for line in group], None, group)
    assert await post_digest(services, SLOT)
    [digest] = bot.feishu.bot_messages(HR_GROUP)
    value = {
        "action": GROUP_ACTION,
        "snapshot": snapshot,
        "group": group_id("2026-11", "increase", "上海", group[0].entity),
        "state": FILED,
    }
    updates: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE ADJUST_FILING_STATES"):
            updates.append(statement)

    event.listen(services.store.engine.sync_engine, "before_cursor_execute", count)
    try:
        started = time.perf_counter()
        answer = await bot.click(digest, user=HR, value=value)
        took = time.perf_counter() - started
    finally:
        event.remove(services.store.engine.sync_engine, "before_cursor_execute", count)
    assert "已将 2000 条记录标记为已申报" in answer["toast"]["content"]
    assert len(updates) == 1
    print(f"a 2,000-record group marked through the ingress in {took * 1000:.0f} ms, one UPDATE")
