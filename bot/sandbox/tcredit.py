"""An emulator of Tcredit's personal social-security API (天创 社保查询, createInsuranceSearchTaskB and its task API), checking tokenKey by its own code.

Scenarios, chosen by the `account` or `id_card` typed into the login form:
  sms       → 10001 → 10003 (SMS code 123456) → 10002 → 20001 → 40001
  captcha   → 10001 → 10004 (a real PNG; code K7q2) → 10002 → 20001 → 40001
  wrongpass → 10001 → 50004
  partial   → 10001 → 20001 → 40002, medical insurance missing
  anything else → 10001 → 10002 → 20001 → 30001 → 40001
A wrong code ends the task with 50009 (登录失败,验证码输入错误), as Tcredit's documentation says. A test may set
`code_tries` higher to emulate a site that asks again: a wrong code with tries left goes through 10001 (登录中) and
back to the wait, data.msg saying the code was wrong; the last wrong one gives 50009. No code within CODE_TIMEOUT
seconds of the emulator's clock gives 50008.
Each poll of a task moves it one state on. Passwords are checked for presence and dropped, never kept.

Hooks for tests and the console: `advance(tid=None)` moves one task (or all) a state on as a poll would,
`finish_all()` (alias `complete_all`) skips every task to its end; neither gets past a wait for a code.
`created_tasks` counts billed create calls, `codes_received` the SMS / image codes submitted.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import uuid
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.clock import Clock
from bot.sandbox.compensation import EMPLOYEE_BASE
from bot.sandbox.corehr import WORKPLACES

CHINA = ZoneInfo("Asia/Shanghai")
SMS_CODE = "123456"
IMAGE_CODE = "K7q2"
CODE_TIMEOUT = 120.0
# Whoever logs in is the sandbox's employee 张小明 of 星河科技有限公司 (one world with 增减员 and the directory).
EMPLOYER = WORKPLACES[0].company
WRONG_CODE_MSG = "验证码错误，请重新输入"

CITIES = [
    {
        "area_code": "310000",
        "area_name": "杭州",
        "area_tips": "未注册用户请到杭州社保网站进行注册",
        "area_status": "1",
    },
    {"area_code": "310000S", "area_name": "浙江省直", "area_tips": "", "area_status": "0"},
    {"area_code": "110000", "area_name": "北京", "area_tips": "", "area_status": "0"},
    {"area_code": "310100", "area_name": "上海", "area_tips": "", "area_status": "0"},
    {"area_code": "440300", "area_name": "深圳", "area_tips": "系统开发中", "area_status": "2"},
]

_ACCOUNT = {"name": "account", "label": "用户名", "type": "text", "required": True}
_ID_CARD = {"name": "id_card", "label": "身份证号", "type": "text", "required": True}
_PASSWORD = {"name": "password", "label": "用户密码", "type": "password", "required": True}
_SUB_AREA = {
    "name": "sub_area",
    "label": "参保区县",
    "type": "select",
    "required": True,
    "list": [
        {"value": "310101", "key": "黄浦区"},
        {"value": "310104", "key": "徐汇区"},
        {"value": "310115", "key": "浦东新区"},
    ],
}


def login_params(area_code: str) -> list[dict[str, Any]]:
    """The API doc's two login methods (用户名 / 身份证号 + 密码); Shanghai also asks for a district from a list."""
    extra = [_SUB_AREA] if area_code == "310100" else []
    return [
        {
            "area_code": area_code,
            "login_name": "用户名",
            "login_type": 1,
            "login_params": [_ACCOUNT, _PASSWORD, *extra],
        },
        {
            "area_code": area_code,
            "login_name": "身份证号",
            "login_type": 2,
            "login_params": [_ID_CARD, _PASSWORD, *extra],
        },
    ]


# The captcha's characters drawn on a 5×7 grid, enough for the one code the emulator asks for.
_GLYPHS = {
    "K": ("X...X", "X..X.", "X.X..", "XX...", "X.X..", "X..X.", "X...X"),
    "7": ("XXXXX", "....X", "...X.", "..X..", ".X...", ".X...", ".X..."),
    "q": (".....", ".XXXX", "X...X", "X...X", ".XXXX", "....X", "....X"),
    "2": (".XXX.", "X...X", "....X", "...X.", "..X..", ".X...", "XXXXX"),
}
_SCALE = 4
_MARGIN = 8


def _png(text: str) -> bytes:
    """A real greyscale PNG showing `text` dark on a light ground, legible in a card; no image library needed."""
    glyph_width, glyph_height = 5 * _SCALE, 7 * _SCALE
    width = 2 * _MARGIN + len(text) * glyph_width + (len(text) - 1) * _SCALE * 2
    height = 2 * _MARGIN + glyph_height
    ink: set[tuple[int, int]] = set()
    for index, char in enumerate(text):
        left = _MARGIN + index * (glyph_width + _SCALE * 2)
        for row, line in enumerate(_GLYPHS[char]):
            for column, cell in enumerate(line):
                if cell == "X":
                    ink.update(
                        (left + column * _SCALE + dx, _MARGIN + row * _SCALE + dy)
                        for dx in range(_SCALE)
                        for dy in range(_SCALE)
                    )
    rows = b"".join(
        b"\x00" + bytes(40 if (x, y) in ink else (235 if (x + y) % 7 else 205) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


CAPTCHA_PNG = _png(IMAGE_CODE)

SCRIPTS = {
    "sms": [10001, 10003, 10002, 20001, 40001],
    "captcha": [10001, 10004, 10002, 20001, 40001],
    "wrongpass": [10001, 50004],
    "partial": [10001, 20001, 40002],
}
DEFAULT_SCRIPT = [10001, 10002, 20001, 30001, 40001]
WAITING = {10003: SMS_CODE, 10004: IMAGE_CODE}


def _months(last: date, count: int, base: float, company_rate: float, personal_rate: float) -> list[dict]:
    """`count` months of contributions up to `last`'s month."""
    rows = []
    first = last.year * 12 + last.month - count
    for index in range(count):
        year, month = divmod(first + index, 12)
        month += 1
        rows.append(
            {
                "payDate": f"{year}-{month:02d}-15",
                "payMonthly": f"{year}-{month:02d}",
                "company": EMPLOYER,
                "salary": base,
                "payCompany": round(base * company_rate, 2),
                "payPerson": round(base * personal_rate, 2),
                "status": "已到账",
            }
        )
    return rows


def result_data(tid: str, partial: bool, now: datetime) -> dict[str, Any]:
    """The API doc's result shape with realistic values: paid every month up to last month (正常缴存, as 增减员's
    sandbox has him employed)."""
    local = now.astimezone(CHINA)
    last = (local.replace(day=1) - timedelta(days=1)).date()
    data: dict[str, Any] = {
        "code": 40002 if partial else 40001,
        "msg": "获取成功",
        "tid": tid,
        "createTime": f"{local:%Y-%m-%d %H:%M:%S}",
        "baseInfo": {
            "name": "张小明",
            "idcard": "11010519811231002X",
            "papersType": "身份证",
            "papersNum": "11010519811231002X",
            "company": EMPLOYER,
            "organizeCode": "0050126970",
            "socialInsuranceNum": "320500123456789",
            "sex": "男",
            "birthday": "1981-12-31",
            "payStatus": "正常缴存",
            "lastPayDate": f"{last:%Y-%m}-15",
        },
        # The ratios of the sandbox company's insurance kinds (bot/sandbox/corehr.py INSURANCES).
        "oldageInsuranceInfos": _months(last, 22, EMPLOYEE_BASE, 0.16, 0.08),
        "medicalInsuranceInfos": _months(last, 22, EMPLOYEE_BASE, 0.09, 0.02),
        "birthInsuranceInfos": _months(last, 22, EMPLOYEE_BASE, 0.008, 0.0),
        "injuryInsuranceInfos": _months(last, 22, EMPLOYEE_BASE, 0.002, 0.0),
        "unemployInsuranceInfos": _months(last, 22, EMPLOYEE_BASE, 0.005, 0.005),
    }
    if partial:
        data["medicalInsuranceInfos"] = []
        data["fail"] = ["medicalInsuranceInfos"]
    return data


@dataclass
class Task:
    script: list[int]
    step: int = 0
    waiting_since: float | None = None
    failed_with: int | None = None
    wrong_codes: int = 0
    # A wrong code with tries left: the next poll answers 10001 (checking), then the wait again.
    rechecking: bool = False

    @property
    def code(self) -> int:
        return self.failed_with if self.failed_with is not None else self.script[self.step]

    def move_on(self) -> None:
        # A task waiting for a code only moves when the right code arrives (see `_code`).
        if self.failed_with is None and self.code not in WAITING and self.step < len(self.script) - 1:
            self.step += 1


def expected_token(url: str, token_id: str, params: dict[str, str]) -> str:
    joined = ",".join("=".join((key, params[key])) for key in sorted(params))
    return hashlib.md5(f"{url}{token_id}{joined}".encode(), usedforsecurity=False).hexdigest()


class TcreditEmulator:
    def __init__(
        self, clock: Clock, *, app_id: str = "sandbox-tcredit", token_id: str = "sandbox-token-id"
    ) -> None:
        self.clock = clock
        self.app_id = app_id
        self.token_id = token_id
        self.tasks: dict[str, Task] = {}
        self.created_tasks = 0
        # Every request received, the free city list included (a consent test shows nothing was asked).
        self.requests = 0
        self.codes_received = 0
        # Codes a task takes before a wrong one ends it (1: the documented 50009 at once).
        self.code_tries = 1

    def advance(self, tid: str | None = None) -> None:
        """Move one task, or every task, one state on."""
        for task in [self.tasks[tid]] if tid is not None else self.tasks.values():
            task.move_on()

    def finish_all(self) -> None:
        """Move every task as far as it goes without the user: to its end, or to its next wait for a code."""
        for task in self.tasks.values():
            while task.failed_with is None and task.code not in WAITING and task.step < len(task.script) - 1:
                task.move_on()

    complete_all = finish_all

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/identity/getInsuranceCitysB", self._cities)
        app.router.add_post("/identity/getInsuranceCityParamB", self._city_params)
        app.router.add_post("/identity/createInsuranceSearchTaskB", self._create)
        app.router.add_post("/identity/getInsuranceB", self._result)
        app.router.add_post("/identity/securityUserCode", self._code)
        return app

    async def _checked(
        self, request: web.Request, signed: tuple[str, ...] | None
    ) -> dict[str, str] | web.Response:
        self.requests += 1
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        if form.pop("appId", "") != self.app_id:
            return _answer(4, "用户不存在或配置错误")
        given = form.pop("tokenKey", "")
        # The URL the client used, as seen here: scheme, host and port, and the path as requested.
        url = f"{request.scheme}://{request.host}{request.path}"
        params = form if signed is None else {k: v for k, v in form.items() if k in signed}
        if given != expected_token(url, self.token_id, params):
            return _answer(5, "TokenKey验证失败")
        return form

    async def _cities(self, request: web.Request) -> web.Response:
        form = await self._checked(request, ())
        if isinstance(form, web.Response):
            return form
        return _answer(0, "成功", CITIES)

    async def _city_params(self, request: web.Request) -> web.Response:
        form = await self._checked(request, None)
        if isinstance(form, web.Response):
            return form
        if not any(c["area_code"] == form.get("area_code") for c in CITIES):
            return _answer(2, "参数错误")
        return _answer(0, "成功", login_params(form["area_code"]))

    async def _create(self, request: web.Request) -> web.Response:
        form = await self._checked(request, None)
        if isinstance(form, web.Response):
            return form
        method = next(
            (
                m
                for m in login_params(form.get("area_code", ""))
                if str(m["login_type"]) == form.get("login_type")
            ),
            None,
        )
        if method is None or any(p["required"] and not form.get(p["name"]) for p in method["login_params"]):
            return _answer(0, "成功", {"success": False, "status": -2, "message": "参数错误"})
        form.pop("password", None)  # checked for presence above; never kept
        who = form.get("account") or form.get("id_card") or ""
        tid = uuid.uuid4().hex
        self.tasks[tid] = Task(list(SCRIPTS.get(who, DEFAULT_SCRIPT)))
        self.created_tasks += 1
        return _answer(0, "成功", {"tid": tid, "success": True})

    async def _result(self, request: web.Request) -> web.Response:
        form = await self._checked(request, None)
        if isinstance(form, web.Response):
            return form
        task = self.tasks.get(form.get("tid", ""))
        if task is None:
            return _answer(2, "参数错误")
        code = task.code
        if task.rechecking:
            task.rechecking = False
            return _answer(0, "成功", {"code": 10001, "msg": ""})
        if code in WAITING:
            if task.waiting_since is None:
                task.waiting_since = self.clock.timestamp()
            elif self.clock.timestamp() - task.waiting_since > CODE_TIMEOUT:
                task.failed_with = 50008
                code = 50008
        else:
            task.move_on()
        if code in (40001, 40002):
            return _answer(0, "成功", result_data(form["tid"], partial=code == 40002, now=self.clock.now()))
        wrong = code in WAITING and task.wrong_codes > 0
        data: dict[str, Any] = {"code": code, "msg": WRONG_CODE_MSG if wrong else ""}
        if code in WAITING:
            data["base64_image_bytes"] = base64.b64encode(CAPTCHA_PNG).decode() if code == 10004 else ""
        return _answer(0, "成功", data)

    async def _code(self, request: web.Request) -> web.Response:
        form = await self._checked(request, None)
        if isinstance(form, web.Response):
            return form
        task = self.tasks.get(form.get("tid", ""))
        if task is None or task.code not in WAITING:
            return _answer(0, "成功", {"status": -2, "message": "参数错误"})
        self.codes_received += 1
        if form.get("code") == WAITING[task.code]:
            task.step += 1
            task.waiting_since = None
            task.wrong_codes = 0
        else:
            task.wrong_codes += 1
            task.waiting_since = None
            if task.wrong_codes >= self.code_tries:
                task.failed_with = 50009
            else:
                task.rechecking = True
        return _answer(0, "成功", {"status": 0, "message": "成功"})


def _answer(status: int, message: str, data: Any = None) -> web.Response:
    body: dict[str, Any] = {"status": status, "message": message, "seqNum": uuid.uuid4().hex[:16]}
    if data is not None:
        body["data"] = data
    return web.json_response(body)
