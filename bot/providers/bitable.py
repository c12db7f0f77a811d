"""Feishu 多维表格 (Bitable v1) records: list and create fields, search, batch create and batch update, each paced to
its documented rate limit, at most 500 records a call (bot/sandbox/bitable.py cites the pages).

Writes to one table go one at a time: Bitable refuses concurrent writes to a table (1254291 Write conflict).
Scope: bitable:app (查看、评论、编辑和管理多维表格), and the app must be a collaborator of the Base.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.feishu.client import FeishuClient
from bot.feishu.pacing import Pacer

BATCH = 500
SEARCH_PAGE = 500
FIELD_PAGE = 100
# Requests per second: writes 50, search 20, fields 10 (listing and creating share the stricter one).
WRITES_PER_SECOND = 50
SEARCH_PER_SECOND = 20
FIELDS_PER_SECOND = 10
TEXT, NUMBER, SINGLE_SELECT, DATE = 1, 2, 3, 5


@dataclass
class BitableRecord:
    record_id: str
    fields: dict[str, Any]


@dataclass
class BitableClient:
    feishu: FeishuClient
    app_token: str
    table_id: str
    writes: Pacer = field(default_factory=lambda: Pacer(WRITES_PER_SECOND))
    searches: Pacer = field(default_factory=lambda: Pacer(SEARCH_PER_SECOND))
    field_calls: Pacer = field(default_factory=lambda: Pacer(FIELDS_PER_SECOND))
    calls: dict[str, int] = field(default_factory=dict)
    # Held by whoever syncs the table, so this process writes to it one sync at a time.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def _table(self) -> str:
        return f"/open-apis/bitable/v1/apps/{self.app_token}/tables/{self.table_id}"

    async def _call(self, pacer: Pacer, name: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        await pacer.wait_turn()
        self.calls[name] = self.calls.get(name, 0) + 1
        return await self.feishu.call(method, self._table + path, **kwargs)

    async def fields(self) -> dict[str, int]:
        """Field name → type."""
        found: dict[str, int] = {}
        token = ""
        while True:
            params = {"page_size": str(FIELD_PAGE), **({"page_token": token} if token else {})}
            data = await self._call(self.field_calls, "fields.list", "GET", "/fields", params=params)
            for item in data.get("items") or []:
                found[str(item.get("field_name"))] = int(item.get("type") or 0)
            token = str(data.get("page_token") or "")
            if not data.get("has_more") or not token:
                return found

    async def create_field(self, name: str, kind: int, options: Sequence[str] = ()) -> None:
        body: dict[str, Any] = {"field_name": name, "type": kind}
        if options:
            body["property"] = {"options": [{"name": o} for o in options]}
        await self._call(self.field_calls, "fields.create", "POST", "/fields", json_body=body)

    async def records(self, field_names: Sequence[str]) -> AsyncIterator[BitableRecord]:
        """Every row, `field_names` only, text cells as plain strings."""
        token = ""
        while True:
            params = {"page_size": str(SEARCH_PAGE), **({"page_token": token} if token else {})}
            data = await self._call(
                self.searches,
                "records.search",
                "POST",
                "/records/search",
                params=params,
                json_body={"field_names": list(field_names)},
            )
            for item in data.get("items") or []:
                cells = {name: plain(value) for name, value in (item.get("fields") or {}).items()}
                yield BitableRecord(str(item.get("record_id")), cells)
            token = str(data.get("page_token") or "")
            if not data.get("has_more") or not token:
                return

    async def batch_create(self, rows: Sequence[dict[str, Any]]) -> list[str]:
        """Create rows (cells by field name), 500 a call; their record ids in order."""
        created: list[str] = []
        for start in range(0, len(rows), BATCH):
            chunk = [{"fields": r} for r in rows[start : start + BATCH]]
            data = await self._call(
                self.writes,
                "records.batch_create",
                "POST",
                "/records/batch_create",
                json_body={"records": chunk},
            )
            created.extend(str(r.get("record_id")) for r in data.get("records") or [])
        return created

    async def batch_update(self, rows: Sequence[BitableRecord]) -> None:
        for start in range(0, len(rows), BATCH):
            chunk = [{"record_id": r.record_id, "fields": r.fields} for r in rows[start : start + BATCH]]
            await self._call(
                self.writes,
                "records.batch_update",
                "POST",
                "/records/batch_update",
                json_body={"records": chunk},
            )


def plain(value: Any) -> Any:
    """A search answer's cell as a value: text segments joined, anything else as it came."""
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return "".join(str(v.get("text") or "") for v in value)
    return value
