"""The emulated 多维表格 keeps Bitable's rules: a table per app_token, typed fields, 500 records a call, paging, the
rate limits; lark-oapi's own bitable client works against it; the bot's client pages and paces within them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import lark_oapi as lark
import pytest
from aiohttp import web
from lark_oapi.api.bitable.v1 import (
    AppTableRecord,
    BatchCreateAppTableRecordRequest,
    BatchCreateAppTableRecordRequestBody,
    SearchAppTableRecordRequest,
    SearchAppTableRecordRequestBody,
)
from lark_oapi.core.cache import LocalCache

from bot.clock import Clock
from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
from bot.feishu.client import FeishuClient, FeishuError
from bot.providers.bitable import BitableClient
from bot.sandbox import bitable
from bot.sandbox.feishu import FeishuEmulator

APP, TABLE = "bascnTest", "tblTest"


@pytest.fixture
async def served() -> AsyncIterator[tuple[bitable.BitableEmulator, FeishuEmulator, str]]:
    feishu = FeishuEmulator(Clock(), SANDBOX_APP_ID, SANDBOX_APP_SECRET)
    emulator = bitable.BitableEmulator()
    emulator.add_table(APP, TABLE, "测试表")
    # As the sandbox hooks it in (bot/sandbox/server.py).
    feishu.extra_routes.extend(emulator.routes())
    for path, per_second in bitable.RATE_LIMITS.items():
        feishu.limit(path, per_second)
    runner = web.AppRunner(feishu.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield emulator, feishu, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def _client(origin: str) -> BitableClient:
    feishu = FeishuClient(
        base_url=origin, app_id=SANDBOX_APP_ID, app_secret=SANDBOX_APP_SECRET, clock=Clock()
    )
    return BitableClient(feishu, APP, TABLE)


async def test_fields_are_typed_and_a_wrong_cell_writes_nothing(served: Any) -> None:
    emulator, _feishu, origin = served
    api = _client(origin)
    await api.create_field("状态", bitable.SINGLE_SELECT, ["待办"])
    await api.create_field("数量", bitable.NUMBER)
    assert await api.fields() == {"文本": 1, "状态": 3, "数量": 2}
    with pytest.raises(FeishuError) as duplicated:
        await api.create_field("状态", bitable.TEXT)
    assert duplicated.value.code == bitable.FIELD_NAME_DUPLICATED
    with pytest.raises(FeishuError) as wrong:
        await api.batch_create([{"文本": "a", "数量": 1}, {"文本": "b", "数量": "many"}])
    assert wrong.value.code == bitable.NUMBER_CONV_FAIL
    with pytest.raises(FeishuError) as unknown:
        await api.batch_create([{"没有这个字段": "x"}])
    assert unknown.value.code == bitable.FIELD_NOT_FOUND
    assert emulator.table(APP, TABLE).records == {}  # nothing of a refused call is written
    await api.feishu.aclose()


async def test_500_records_a_call_and_paging_through_search(served: Any) -> None:
    _emulator, feishu, origin = served
    api = _client(origin)
    with pytest.raises(FeishuError) as too_many:
        await api.feishu.call(
            "POST",
            f"/open-apis/bitable/v1/apps/{APP}/tables/{TABLE}/records/batch_create",
            json_body={"records": [{"fields": {"文本": str(i)}} for i in range(501)]},
        )
    assert too_many.value.code == bitable.BATCH_TOO_LARGE
    ids = await api.batch_create([{"文本": f"第{i}行"} for i in range(1234)])
    assert len(set(ids)) == 1234
    assert api.calls["records.batch_create"] == 3  # 500 + 500 + 234
    rows = [r async for r in api.records(["文本"])]
    assert [r.fields["文本"] for r in rows] == [f"第{i}行" for i in range(1234)]  # text segments joined
    assert api.calls["records.search"] == 3
    with pytest.raises(FeishuError) as big_page:
        await api.feishu.call(
            "POST",
            f"/open-apis/bitable/v1/apps/{APP}/tables/{TABLE}/records/search",
            params={"page_size": "501"},
            json_body={},
        )
    assert big_page.value.code == bitable.WRONG_REQUEST_BODY
    with pytest.raises(FeishuError) as wrong_table:
        await api.feishu.call("GET", f"/open-apis/bitable/v1/apps/{APP}/tables/tblNope/fields")
    assert wrong_table.value.code == bitable.TABLE_NOT_FOUND
    assert feishu.rate_windows[bitable.BATCH_CREATE_PATH].rejected == 0  # the client's pacing kept within
    await api.feishu.aclose()


async def test_a_burst_over_the_limit_is_answered_429_as_feishu_does(served: Any) -> None:
    _emulator, feishu, origin = served
    api = _client(origin)
    path = f"/open-apis/bitable/v1/apps/{APP}/tables/{TABLE}/records/search"
    token = await api.feishu.tenant_token()
    session = api.feishu._http()
    statuses = await asyncio.gather(
        *(
            session.post(origin + path, json={}, headers={"Authorization": f"Bearer {token}"})
            for _ in range(bitable.RATE_LIMITS[bitable.SEARCH_PATH] + 5)
        )
    )
    assert sorted(r.status for r in statuses).count(429) >= 5
    assert feishu.rate_windows[bitable.SEARCH_PATH].rejected >= 5
    for response in statuses:
        response.release()
    await api.feishu.aclose()


async def test_lark_oapi_creates_and_searches_records_in_the_sandbox(served: Any) -> None:
    emulator, _feishu, origin = served
    client = (
        lark.Client.builder()
        .app_id(SANDBOX_APP_ID)
        .app_secret(SANDBOX_APP_SECRET)
        .domain(origin)
        .cache(LocalCache())
        .build()
    )
    create = (
        BatchCreateAppTableRecordRequest.builder()
        .app_token(APP)
        .table_id(TABLE)
        .request_body(
            BatchCreateAppTableRecordRequestBody.builder()
            .records([AppTableRecord.builder().fields({"文本": "张三"}).build()])
            .build()
        )
        .build()
    )
    created = await asyncio.to_thread(client.bitable.v1.app_table_record.batch_create, create)
    assert created.success(), created.msg
    [record] = created.data.records
    search = (
        SearchAppTableRecordRequest.builder()
        .app_token(APP)
        .table_id(TABLE)
        .page_size(20)
        .request_body(SearchAppTableRecordRequestBody.builder().field_names(["文本"]).build())
        .build()
    )
    found = await asyncio.to_thread(client.bitable.v1.app_table_record.search, search)
    assert found.success(), found.msg
    assert [(r.record_id, r.fields["文本"]) for r in found.data.items] == [
        (record.record_id, [{"type": "text", "text": "张三"}])
    ]
    assert emulator.table(APP, TABLE).value_of(record.record_id, "文本") == "张三"


def test_the_console_page_shows_the_table_escaped() -> None:
    emulator = bitable.BitableEmulator()
    table = emulator.add_table(APP, TABLE, "增减员申报")
    table.records["rec1"] = {"文本": "<b>张三</b>"}
    page = emulator.html()
    assert "增减员申报" in page and "&lt;b&gt;张三&lt;/b&gt;" in page and "<b>张三" not in page
