"""Feishu 多维表格 (Bitable v1): a company's tables, their fields and records, as the Open API serves them.

Emulated with Feishu's shapes and limits:
- GET  /open-apis/bitable/v1/apps/{app_token}/tables/{table_id}/fields (列出字段; page_size at most 100)
- POST .../fields (新增字段: field_name unique in the table; type 1 多行文本, 2 数字, 3 单选, 5 日期)
- POST .../records/search (查询记录; page_size at most 500, page_token paging; text cells come back as
  [{"type": "text", "text": ...}] segments, a single select as its option's name, a date as milliseconds)
- POST .../records/batch_create, POST .../records/batch_update (at most 500 records a call)
  https://open.feishu.cn/document/server-docs/docs/bitable-v1/app-table-record/search
  https://open.feishu.cn/document/server-docs/docs/bitable-v1/app-table-record/batch_create
  https://open.feishu.cn/document/server-docs/docs/bitable-v1/app-table-record/batch_update
Rate limits (RATE_LIMITS) as Feishu's frequency-control policy lists them for these APIs (writes 50/s, search and
field listing 20/s, field creation 10/s; summarised in https://docs.tapdata.io/connectors/saas-and-api/feishu-bitable
and the bitable table pages' 频率限制 rows, https://open.feishu.cn/document/server-docs/docs/bitable-v1/app-table/batch_create),
enforced by the Feishu emulator's per-route windows. The error codes are Bitable's published ones; MAX_RECORDS is the
standard plan's row cap (unverified for every plan).
"""

from __future__ import annotations

import html
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TABLE = "/open-apis/bitable/v1/apps/{app_token}/tables/{table_id}"
FIELDS_PATH = TABLE + "/fields"
SEARCH_PATH = TABLE + "/records/search"
BATCH_CREATE_PATH = TABLE + "/records/batch_create"
BATCH_UPDATE_PATH = TABLE + "/records/batch_update"
# Per route (the emulator's windows are per path): listing fields (20/s) shares creating fields' 10/s, stricter.
RATE_LIMITS = {FIELDS_PATH: 10, SEARCH_PATH: 20, BATCH_CREATE_PATH: 50, BATCH_UPDATE_PATH: 50}
# The sandbox company's 增减员 table (a Base HR made; the bot adds the fields it needs).
SANDBOX_APP_TOKEN = "bascnHrbotSandbox0000000001"
SANDBOX_TABLE_ID = "tblAdjustRecords"
MAX_BATCH = 500
MAX_PAGE = 500
MAX_FIELD_PAGE = 100
MAX_RECORDS = 20_000
TEXT, NUMBER, SINGLE_SELECT, DATE = 1, 2, 3, 5
TYPES = {TEXT: "多行文本", NUMBER: "数字", SINGLE_SELECT: "单选", DATE: "日期"}

WRONG_REQUEST_BODY = 1254001
APP_NOT_FOUND = 1254040
TABLE_NOT_FOUND = 1254041
RECORD_NOT_FOUND = 1254043
FIELD_NOT_FOUND = 1254045
TEXT_CONV_FAIL = 1254060
NUMBER_CONV_FAIL = 1254061
SINGLE_SELECT_CONV_FAIL = 1254062
DATE_CONV_FAIL = 1254064
FIELD_NAME_DUPLICATED = 1254014
TOO_MANY_RECORDS = 1254103
BATCH_TOO_LARGE = 1254104


class BitableError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


@dataclass
class Field:
    field_id: str
    name: str
    type: int
    options: list[str] = field(default_factory=list)
    primary: bool = False

    def to_json(self) -> dict[str, Any]:
        prop = {"options": [{"name": o} for o in self.options]} if self.type == SINGLE_SELECT else None
        return {
            "field_id": self.field_id,
            "field_name": self.name,
            "type": self.type,
            "property": prop,
            "is_primary": self.primary,
        }


@dataclass
class BitableTable:
    app_token: str
    table_id: str
    name: str
    fields: dict[str, Field] = field(default_factory=dict)  # by name
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # record_id → {field name: stored value}

    def value_of(self, record_id: str, name: str) -> Any:
        """A cell as HR sees it (text as typed)."""
        return self.records[record_id].get(name)

    def find(self, name: str, value: Any) -> str | None:
        return next((rid for rid, cells in self.records.items() if cells.get(name) == value), None)

    def edit(self, record_id: str, **cells: Any) -> None:
        """What HR does in the table: change cells of a row (a new option is added, as the UI does)."""
        for name, value in cells.items():
            found = self.fields[name]
            if found.type == SINGLE_SELECT and value not in found.options:
                found.options.append(value)
            self.records[record_id][name] = value


class BitableEmulator:
    def __init__(self) -> None:
        self.apps: dict[str, dict[str, BitableTable]] = {}
        self._ids = itertools.count(1)
        self.calls: dict[str, int] = {}

    def add_table(self, app_token: str, table_id: str, name: str = "数据表") -> BitableTable:
        """A table as a newly made Base has it: one primary text field."""
        table = BitableTable(app_token, table_id, name)
        table.fields["文本"] = Field(self._id("fld"), "文本", TEXT, primary=True)
        self.apps.setdefault(app_token, {})[table_id] = table
        return table

    def table(self, app_token: str, table_id: str) -> BitableTable:
        return self.apps[app_token][table_id]

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):014d}"

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", FIELDS_PATH, self._list_fields),
            ("POST", FIELDS_PATH, self._create_field),
            ("POST", SEARCH_PATH, self._search),
            ("POST", BATCH_CREATE_PATH, self._batch_create),
            ("POST", BATCH_UPDATE_PATH, self._batch_update),
        ]

    # Handlers --------------------------------------------------------------------------------------------------
    async def _list_fields(self, request: web.Request) -> web.Response:
        def answer(table: BitableTable, _body: dict[str, Any]) -> dict[str, Any]:
            items = [f.to_json() for f in table.fields.values()]
            return _page(items, request, MAX_FIELD_PAGE)

        return await self._handle(request, answer, body=False)

    async def _create_field(self, request: web.Request) -> web.Response:
        def answer(table: BitableTable, body: dict[str, Any]) -> dict[str, Any]:
            name = body.get("field_name")
            kind = body.get("type")
            if not isinstance(name, str) or not name.strip() or kind not in TYPES:
                raise BitableError(
                    WRONG_REQUEST_BODY, "WrongRequestBody: field_name and a known type are required"
                )
            if name in table.fields:
                raise BitableError(FIELD_NAME_DUPLICATED, "FieldNameDuplicated")
            options = [str(o.get("name")) for o in ((body.get("property") or {}).get("options") or [])]
            created = Field(self._id("fld"), name, kind, options)
            table.fields[name] = created
            return {"field": created.to_json()}

        return await self._handle(request, answer)

    async def _search(self, request: web.Request) -> web.Response:
        def answer(table: BitableTable, body: dict[str, Any]) -> dict[str, Any]:
            names = body.get("field_names")
            if names is not None:
                unknown = [n for n in names if n not in table.fields]
                if unknown:
                    raise BitableError(FIELD_NOT_FOUND, f"FieldNameNotFound: {unknown[0]}")
            wanted = names or list(table.fields)
            items = [
                {
                    "record_id": rid,
                    "fields": {n: _read(table.fields[n], cells[n]) for n in wanted if n in cells},
                }
                for rid, cells in table.records.items()
            ]
            return _page(items, request, MAX_PAGE)

        return await self._handle(request, answer)

    async def _batch_create(self, request: web.Request) -> web.Response:
        def answer(table: BitableTable, body: dict[str, Any]) -> dict[str, Any]:
            records = _batch(body)
            if len(table.records) + len(records) > MAX_RECORDS:
                raise BitableError(TOO_MANY_RECORDS, "RecordExceedLimit")
            written = [_cells(table, r.get("fields")) for r in records]
            created = []
            for cells in written:
                record_id = self._id("rec")
                table.records[record_id] = cells
                created.append({"record_id": record_id, "fields": dict(cells)})
            return {"records": created}

        return await self._handle(request, answer)

    async def _batch_update(self, request: web.Request) -> web.Response:
        def answer(table: BitableTable, body: dict[str, Any]) -> dict[str, Any]:
            records = _batch(body)
            missing = [r.get("record_id") for r in records if r.get("record_id") not in table.records]
            if missing:
                raise BitableError(RECORD_NOT_FOUND, f"RecordIdNotFound: {missing[0]}")
            written = [(r["record_id"], _cells(table, r.get("fields"))) for r in records]
            for record_id, cells in written:
                table.records[record_id].update(cells)
            return {"records": [{"record_id": rid, "fields": dict(table.records[rid])} for rid, _ in written]}

        return await self._handle(request, answer)

    async def _handle(self, request: web.Request, answer: Any, *, body: bool = True) -> web.Response:
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else ""
        self.calls[route] = self.calls.get(route, 0) + 1
        try:
            tables = self.apps.get(request.match_info["app_token"])
            if tables is None:
                raise BitableError(APP_NOT_FOUND, "BaseTokenNotFound")
            table = tables.get(request.match_info["table_id"])
            if table is None:
                raise BitableError(TABLE_NOT_FOUND, "TableIdNotFound")
            payload: dict[str, Any] = {}
            if body:
                try:
                    payload = await request.json()
                except ValueError:
                    raise BitableError(WRONG_REQUEST_BODY, "WrongRequestJson") from None
                if not isinstance(payload, dict):
                    raise BitableError(WRONG_REQUEST_BODY, "WrongRequestBody")
            data = answer(table, payload)
        except BitableError as error:
            return web.json_response({"code": error.code, "msg": error.msg}, status=400)
        return web.json_response({"code": 0, "msg": "success", "data": data})

    # Console ---------------------------------------------------------------------------------------------------
    def html(self) -> str:
        """Every table as HR would see it in Feishu: the sandbox console's 多维表格 page, where a single-select cell
        can be changed as HR would in the table."""
        parts = [
            "<!doctype html><meta charset=utf-8><title>多维表格</title>",
            EDIT_SCRIPT,
            "<h1>多维表格（沙箱）</h1>",
        ]
        for app_token, tables in self.apps.items():
            for table in tables.values():
                names = list(table.fields)
                parts.append(
                    f"<h2>{html.escape(table.name)} <small>{html.escape(app_token)} / "
                    f"{html.escape(table.table_id)} · {len(table.records)} 行</small></h2>"
                )
                parts.append("<table border=1 cellspacing=0 cellpadding=4><tr>")
                parts.extend(f"<th>{html.escape(n)}</th>" for n in names)
                parts.append("</tr>")
                for record_id, cells in table.records.items():
                    row = "".join(
                        f"<td>{_cell_html(table, record_id, table.fields[n], cells.get(n))}</td>"
                        for n in names
                    )
                    parts.append(f"<tr>{row}</tr>")
                parts.append("</table>")
        return "\n".join(parts)

    def edit_from_form(self, form: Mapping[str, str]) -> None:
        """The console page's form: one cell of one row changed, as HR changes it in Feishu."""
        table = self.table(form["app_token"], form["table_id"])
        if form["record_id"] not in table.records or form["field"] not in table.fields:
            raise KeyError(form["record_id"])
        table.edit(form["record_id"], **{form["field"]: form["value"]})


def _cell_html(table: BitableTable, record_id: str, found: Field, value: Any) -> str:
    if found.type != SINGLE_SELECT:
        return html.escape(_shown(value))
    cell = {
        "app_token": table.app_token,
        "table_id": table.table_id,
        "record_id": record_id,
        "field": found.name,
    }
    options = "".join(
        f"<option{' selected' if o == value else ''}>{html.escape(o)}</option>" for o in found.options
    )
    return (
        f"<select data-cell='{html.escape(json.dumps(cell, ensure_ascii=False), quote=True)}' "
        f"onchange='edit(this)'>{options}</select>"
    )


# The console takes JSON posts only (bot/console/server.py): a cell's change is posted as JSON, then the page reloads.
EDIT_SCRIPT = """<script>
function edit(select) {
  const body = {...JSON.parse(select.dataset.cell), value: select.value};
  fetch("/console/bitable", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})
    .then(() => location.reload());
}
</script>"""


def _shown(value: Any) -> str:
    return "" if value is None else str(value)


def _batch(body: dict[str, Any]) -> list[dict[str, Any]]:
    records = body.get("records")
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise BitableError(WRONG_REQUEST_BODY, "WrongRequestBody: records")
    if len(records) > MAX_BATCH:
        raise BitableError(BATCH_TOO_LARGE, f"RecordAddOnceExceedLimit: at most {MAX_BATCH} records a call")
    return records


def _cells(table: BitableTable, fields: Any) -> dict[str, Any]:
    """A request's cells, checked against the fields' types (nothing is written when any cell is wrong)."""
    if not isinstance(fields, dict):
        raise BitableError(WRONG_REQUEST_BODY, "WrongRequestBody: fields")
    cells: dict[str, Any] = {}
    for name, value in fields.items():
        found = table.fields.get(name)
        if found is None:
            raise BitableError(FIELD_NOT_FOUND, f"FieldNameNotFound: {name}")
        if value is None:
            cells[name] = None
        elif found.type == TEXT:
            if not isinstance(value, str):
                raise BitableError(TEXT_CONV_FAIL, f"TextFieldConvFail: {name}")
            cells[name] = value
        elif found.type == NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BitableError(NUMBER_CONV_FAIL, f"NumberFieldConvFail: {name}")
            cells[name] = value
        elif found.type == SINGLE_SELECT:
            if not isinstance(value, str):
                raise BitableError(SINGLE_SELECT_CONV_FAIL, f"SingleSelectFieldConvFail: {name}")
            if value not in found.options:
                found.options.append(value)  # writing a new option adds it, as the table's UI does
            cells[name] = value
        elif found.type == DATE:
            if isinstance(value, bool) or not isinstance(value, int):
                raise BitableError(DATE_CONV_FAIL, f"DatetimeFieldConvFail: {name} (milliseconds)")
            cells[name] = value
    return cells


def _read(found: Field, value: Any) -> Any:
    """A cell as the search API returns it."""
    if value is None:
        return None
    if found.type == TEXT:
        return [{"type": "text", "text": value}]
    return value


def _page(items: list[Any], request: web.Request, most: int) -> dict[str, Any]:
    try:
        size = int(request.query.get("page_size", "20"))
        start = int(request.query.get("page_token") or 0)
    except ValueError:
        raise BitableError(WRONG_REQUEST_BODY, "WrongRequestBody: page_size or page_token") from None
    if not 1 <= size <= most:
        raise BitableError(WRONG_REQUEST_BODY, f"WrongRequestBody: page_size must be 1..{most}")
    chunk = items[start : start + size]
    more = start + size < len(items)
    return {
        "items": chunk,
        "has_more": more,
        "page_token": str(start + size) if more else "",
        "total": len(items),
    }
