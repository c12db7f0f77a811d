"""An emulator of Juhe's two hosts, for sandbox mode and tests.

v.juhe.cn: enterprise social security (annual reports) and the micro-enterprise job pair (submit, then poll).
apis.juhe.cn: enterprise four-factor verification in its plain, encrypted (queryEncry) and 2.0 forms.

Answers follow the examples in Juhe's documentation. A keyword (or entname) of the form `错误码:258503` makes the
call answer that error_code, so every error path can be reached. `calls` records every request with the key
removed; `billed_calls` counts, per endpoint, the answers Juhe would charge for (error_code 0 on a paid API).
The queryEncry decryption is written here on its own, so the client's encryption is checked against an
independent implementation of the key rule.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Any

from aiohttp import web
from Crypto.Cipher import AES
from Crypto.Util.Padding import unpad

from bot.clock import Clock
from bot.providers.juhe import FOUR_FACTORS_DETAILS
from bot.providers.juhe_errors import error_info

SOCIAL_SECURITY_PATH = "/enterprise/App/SocialSecurityByName/query"
MICRO_ENT_QUERY_PATH = "/enterprise/App/MicroEnt/query"
MICRO_ENT_RESULT_PATH = "/enterprise/App/MicroEnt/result"
FOUR_FACTORS_PATH = "/enterprise_four_factors/query"
FOUR_FACTORS_ENCRYPTED_PATH = "/enterprise_four_factors/queryEncry"
FOUR_FACTORS_V2_PATH = "/enterprise_four_factors/queryV2"
BILLED_PATHS = frozenset(
    {
        SOCIAL_SECURITY_PATH,
        MICRO_ENT_QUERY_PATH,
        FOUR_FACTORS_PATH,
        FOUR_FACTORS_ENCRYPTED_PATH,
        FOUR_FACTORS_V2_PATH,
    }
)

ERROR_CODE_PREFIXES = ("错误码:", "错误码：")
JOB_LIFETIME_SECONDS = 24 * 3600
BEIJING = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class SandboxCompany:
    name: str
    uscc: str
    legal_representative: str
    legal_representative_id: str  # GB 11643 check digits valid
    regstatus: str


COMPANIES: tuple[SandboxCompany, ...] = (
    SandboxCompany("小米科技有限责任公司", "91110108551385082Q", "雷军", "11010119691202123X", "存续"),
    SandboxCompany(
        "上海示例信息技术有限公司", "91310104MA1FR0000C", "欧阳娜娜", "310104198507210024", "存续"
    ),
    SandboxCompany("深圳沙箱贸易有限公司", "91440300MA5F000007", "李娜", "440305199001010042", "注销"),
)


def _figures(
    people: str,
    *,
    endowment_base: str,
    medical_base: str,
    endowment_paid: str,
    unemployment_paid: str,
    medical_paid: str,
    injury_paid: str,
) -> dict[str, str]:
    """Annual-report figures where every scheme covers the same people and nothing is in arrears."""
    return {
        "base_medical_down_balance": "0万元",
        "actual_endowment_amount": endowment_paid,
        "injury_insurance_num": people,
        "injury_insurance_amount": "-",
        "insurance_num": people,
        "birth_num": people,
        "basic_medical_amount": medical_base,
        "unemployment_insurance": endowment_base,
        "basic_endowment_num": people,
        "birth_insurance_count": "0万元",
        "unemployment_num": people,
        "birth_amount": "0万元",
        "actual_injury_amount": injury_paid,
        "endowment_base_amount": endowment_base,
        "birth_actual_amount": "0万元",
        "actual_medical_amount": medical_paid,
        "endowment_insurance_amount": "0万元",
        "actual_lost_amount": unemployment_paid,
        "unemployment_down_balance": "0万元",
        "company_injury_down_balance": "0万元",
    }


# Company name → annual-report items, in the order Juhe returns them. Xiaomi 2019 is Juhe's documented example.
SOCIAL_SECURITY: dict[str, list[dict[str, Any]]] = {
    "小米科技有限责任公司": [
        {
            "report_year": "2019",
            "name": "小米科技有限责任公司",
            "social_security": _figures(
                "168人",
                endowment_base="293.8388万元",
                medical_base="314.1832万元",
                endowment_paid="47.014208万元",
                unemployment_paid="2.350704万元",
                medical_paid="33.931795万元",
                injury_paid="2.065392万元",
            ),
            "report_date": "2020-06-24",
        },
        {
            "report_year": "2018",
            "name": "小米科技有限责任公司",
            "social_security": _figures(
                "152人",
                endowment_base="258.9731万元",
                medical_base="276.5120万元",
                endowment_paid="41.435696万元",
                unemployment_paid="2.071785万元",
                medical_paid="29.867104万元",
                injury_paid="1.812337万元",
            ),
            "report_date": "2019-05-30",
        },
    ],
    # Oldest first on purpose: the client, not the upstream, decides the order users see.
    "上海示例信息技术有限公司": [
        {
            "report_year": "2020",
            "name": "上海示例信息技术有限公司",
            "social_security": _figures(
                "23人",
                endowment_base="41.2200万元",
                medical_base="41.2200万元",
                endowment_paid="6.595200万元",
                unemployment_paid="0.206100万元",
                medical_paid="3.915900万元",
                injury_paid="0.123660万元",
            ),
            "report_date": "2021-06-15",
        },
        {
            "report_year": "2021",
            "name": "上海示例信息技术有限公司",
            "social_security": _figures(
                "31人",
                endowment_base="58.9000万元",
                medical_base="58.9000万元",
                endowment_paid="9.424000万元",
                unemployment_paid="0.294500万元",
                medical_paid="5.595500万元",
                injury_paid="0.176700万元",
            ),
            "report_date": "2022-05-20",
        },
    ],
}

# Juhe's documented micro-enterprise example.
MICRO_ENTERPRISES: dict[str, dict[str, str]] = {
    "成都成电光信科技股份有限公司": {
        "name": "成都成电光信科技股份有限公司",
        "credit_no": "9151010057463511XR",
        "reg_no": "-",
        "econ_kind": "股份有限公司(非上市、自然人投资或控股)",
        "start_date": "2011-05-27",
        "belong_org": "成都高新区市场监督管理局",
        "reg_capi": "5317万人民币",
        "l1_domain_name": "制造业",
        "l2_domain_name": "其他电子设备制造",
        "support_department": "-",
        "support_date": "-",
        "support_basis": "-",
        "support_content": "-",
        "support_amount": "-",
    },
}

_ALIASES: dict[str, str] = {
    **{company.uscc: company.name for company in COMPANIES},
    **{item["credit_no"]: name for name, item in MICRO_ENTERPRISES.items()},
}


@dataclass
class MicroEntJob:
    company: str
    created_at: float
    ready_at: float


class JuheEmulator:
    def __init__(
        self,
        clock: Clock,
        *,
        social_security_key: str = "sandbox-juhe-ss",
        micro_ent_key: str = "sandbox-juhe-micro",
        four_factors_key: str = "sandbox-juhe-4f",
        openid: str = "sandbox-openid",
        micro_ent_delay_seconds: float = 120,
    ) -> None:
        self.clock = clock
        self.social_security_key = social_security_key
        self.micro_ent_key = micro_ent_key
        self.four_factors_key = four_factors_key
        self.openid = openid
        self.micro_ent_delay_seconds = micro_ent_delay_seconds
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.billed_calls: Counter[str] = Counter()
        self.jobs: dict[str, MicroEntJob] = {}
        self._orders = itertools.count(1)
        self._companies_by_name = {company.name: company for company in COMPANIES}
        self._companies_by_mark = {company.uscc: company for company in COMPANIES}

    # Test hooks ------------------------------------------------------------------------------------------------
    def complete(self, jobid: str) -> None:
        """Make one micro-enterprise job ready now."""
        self.jobs[jobid].ready_at = self.clock.timestamp()

    def complete_all(self) -> None:
        now = self.clock.timestamp()
        for job in self.jobs.values():
            job.ready_at = min(job.ready_at, now)

    def calls_to(self, path: str) -> list[dict[str, str]]:
        return [params for called, params in self.calls if called == path]

    # Applications ----------------------------------------------------------------------------------------------
    def v_app(self) -> web.Application:
        app = web.Application()
        for path, handler in (
            (SOCIAL_SECURITY_PATH, self._social_security),
            (MICRO_ENT_QUERY_PATH, self._micro_ent_query),
            (MICRO_ENT_RESULT_PATH, self._micro_ent_result),
        ):
            for variant in (path, f"{path}.php"):
                app.router.add_route("GET", variant, handler)
                app.router.add_route("POST", variant, handler)
        return app

    def apis_app(self) -> web.Application:
        app = web.Application()
        for path in (FOUR_FACTORS_PATH, FOUR_FACTORS_ENCRYPTED_PATH, FOUR_FACTORS_V2_PATH):
            app.router.add_route("GET", path, self._four_factors)
            app.router.add_route("POST", path, self._four_factors)
        return app

    # v.juhe.cn -------------------------------------------------------------------------------------------------
    async def _social_security(self, request: web.Request) -> web.Response:
        path, params, key = await self._receive(request)
        if key != self.social_security_key:
            return _error(10001)
        keyword = params.get("keyword", "").strip()
        if not keyword:
            return _error(258501)
        forced = _forced_code(keyword)
        if forced is not None:
            return _error(forced)
        items = SOCIAL_SECURITY.get(_ALIASES.get(keyword, keyword))
        if items is None:
            return _error(258504)
        return self._ok(path, {"total": len(items), "items": items})

    async def _micro_ent_query(self, request: web.Request) -> web.Response:
        path, params, key = await self._receive(request)
        if key != self.micro_ent_key:
            return _error(10001)
        keyword = params.get("keyword", "").strip()
        if not keyword:
            return _error(277701)
        forced = _forced_code(keyword)
        if forced is not None:
            return _error(forced)
        # Like the real job, an unknown company is only found out when the job finishes (277704 then).
        jobid = f"micro_{uuid.uuid4()}"
        now = self.clock.timestamp()
        self.jobs[jobid] = MicroEntJob(
            _ALIASES.get(keyword, keyword), now, now + self.micro_ent_delay_seconds
        )
        return self._ok(path, {"jobid": jobid})

    async def _micro_ent_result(self, request: web.Request) -> web.Response:
        path, params, key = await self._receive(request)
        if key != self.micro_ent_key:
            return _error(10001)
        jobid = params.get("jobid", "").strip()
        if not jobid:
            return _error(277701)
        job = self.jobs.get(jobid)
        now = self.clock.timestamp()
        if job is None or now - job.created_at > JOB_LIFETIME_SECONDS:
            return _error(277702)
        if now < job.ready_at:
            return _error(277706)
        found = MICRO_ENTERPRISES.get(job.company)
        if found is None:
            return _error(277704)
        return self._ok(path, found)

    # apis.juhe.cn ----------------------------------------------------------------------------------------------
    async def _four_factors(self, request: web.Request) -> web.Response:
        path, params, key = await self._receive(request)
        if key != self.four_factors_key:
            return _error(10001)
        names = ("entname", "entmark", "realname", "idcard")
        values = [params.get(name, "").strip() for name in names]
        if not all(values) or (path == FOUR_FACTORS_V2_PATH and "regstatus" not in params):
            return _error(253501)
        if path == FOUR_FACTORS_ENCRYPTED_PATH:
            decrypted = [self._decrypt(value) for value in values]
            if any(value is None for value in decrypted):
                return _error(253501)
            values = [value.strip() for value in decrypted if value is not None]
        entname, entmark, realname, idcard = values
        forced = _forced_code(entname)
        if forced is not None:
            return _error(forced)
        verdict = self._verify(entname, entmark, realname, idcard)
        if isinstance(verdict, int):
            return _error(verdict)
        code, company = verdict
        orderid = self._orderid()
        with_status = params.get("regstatus") == "1"
        if path == FOUR_FACTORS_V2_PATH:
            result: dict[str, Any] = {"res": 1 if code == 7 else 2, "orderid": orderid}
            if with_status:
                result["regstatus"] = company.regstatus
        else:
            detail: dict[str, Any] = {"code": code, "desc": FOUR_FACTORS_DETAILS[code]}
            if with_status:
                detail["regstatus"] = company.regstatus
            result = {"state": 1 if code == 7 else 2, "detail": detail, "orderid": orderid}
        return self._ok(path, result, reason="成功")

    def _verify(
        self, entname: str, entmark: str, realname: str, idcard: str
    ) -> int | tuple[int, SandboxCompany]:
        """An error_code, or (detail code, the company) as Juhe's detail codes describe the mismatch."""
        by_name = self._companies_by_name.get(entname)
        by_mark = self._companies_by_mark.get(entmark.upper())
        if by_name is None:
            return 253504 if by_mark is None else (-24, by_mark)
        if by_mark is None:
            return -25, by_name
        if by_name is not by_mark:
            return -21, by_name
        name_matches = realname == by_name.legal_representative
        id_matches = idcard.upper() == by_name.legal_representative_id
        if name_matches and id_matches:
            return 7, by_name
        if id_matches:
            return -22, by_name
        if name_matches:
            return -23, by_name
        return -26, by_name

    def _decrypt(self, value: str) -> str | None:
        """queryEncry's rule: AES-128-ECB, PKCS#7, key = md5(openid) as lowercase hex, first 16 characters."""
        digest = hashlib.new("md5", self.openid.encode("utf-8"), usedforsecurity=False).hexdigest()
        secret = digest.lower()[:16].encode("ascii")
        try:
            ciphertext = base64.b64decode(value, validate=True)
            return unpad(AES.new(secret, AES.MODE_ECB).decrypt(ciphertext), 16).decode("utf-8")
        except ValueError:  # bad base64, length, padding or UTF-8
            return None

    def _orderid(self) -> str:
        """JH535 + Beijing time to the second + a serial, like JH535201912251349175252; unique per emulator."""
        return f"JH535{self.clock.now().astimezone(BEIJING):%Y%m%d%H%M%S}{next(self._orders):04d}"

    # Plumbing --------------------------------------------------------------------------------------------------
    async def _receive(self, request: web.Request) -> tuple[str, dict[str, str], str]:
        """The endpoint (without .php), the parameters from query and form, and the key taken out of them."""
        params = dict(request.query)
        if request.method == "POST":
            form = await request.post()
            params.update({name: value for name, value in form.items() if isinstance(value, str)})
        key = params.pop("key", "")
        # Mounted under a prefix in the sandbox server; every Juhe path starts at /enterprise.
        path = request.path[request.path.find("/enterprise") :].removesuffix(".php")
        self.calls.append((path, dict(params)))
        return path, params, key

    def _ok(self, path: str, result: Any, *, reason: str = "success") -> web.Response:
        if path in BILLED_PATHS:
            self.billed_calls[path] += 1
        return web.json_response(
            {"reason": reason, "result": result, "sign": uuid.uuid4().hex, "error_code": 0}
        )


def _error(code: int) -> web.Response:
    return web.json_response({"reason": error_info(code).reason, "result": None, "error_code": code})


def _forced_code(keyword: str) -> int | None:
    for prefix in ERROR_CODE_PREFIXES:
        if keyword.startswith(prefix):
            code = keyword.removeprefix(prefix).strip()
            if code.lstrip("-").isdigit():
                return int(code)
    return None
