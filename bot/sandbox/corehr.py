"""The sandbox company's cities, legal entities and insurance kinds, and the Open API calls that name them.

Seed 004 says where each id of an adjust record is resolved: location_id by 获取地点信息, company_id by 获取公司主体,
insurance_id by 获取险种配置列表. Emulated here with Feishu's shapes:
- GET /open-apis/corehr/v1/locations/{location_id} → data.location.hiberarchy_common.{name: [{lang, value}], code}
  https://open.feishu.cn/document/server-docs/corehr-v1/organization-management/location/get
- GET /open-apis/corehr/v1/companies/{company_id} → data.company.hiberarchy_common.{name, code}
  https://open.feishu.cn/document/server-docs/corehr-v1/organization-management/company/get
- GET /open-apis/compensation/v1/social_insurances → data.items[{id, name: {zh_cn, en_us}, insurance_type, active}]
  https://open.feishu.cn/document/uAjLw4CM/ukTMukTMukTM/compensation-v1/social_insurance/list
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

LOCATION_PATH = "/open-apis/corehr/v1/locations/{location_id}"
COMPANY_PATH = "/open-apis/corehr/v1/companies/{company_id}"
INSURANCES_PATH = "/open-apis/compensation/v1/social_insurances"
# Not documented for a missing id; the bot treats any failure as "no name" and shows the id.
NOT_FOUND = 1160002


@dataclass(frozen=True)
class Workplace:
    location_id: str
    city_code: str
    city: str
    company_id: str
    company: str


# The seed's own example ids are Beijing and the head entity; the others are the sandbox's.
WORKPLACES = (
    Workplace("7152398273176192556", "110000", "北京", "7096372135576618540", "星河科技有限公司"),
    Workplace("7300000000000000021", "310000", "上海", "7300000000000000031", "星河科技（上海）有限公司"),
    Workplace("7300000000000000022", "440300", "深圳", "7300000000000000032", "星河科技（深圳）有限公司"),
    Workplace("7300000000000000023", "510100", "成都", "7300000000000000033", "星河数据服务（成都）有限公司"),
    Workplace("7300000000000000024", "330100", "杭州", "7096372135576618540", "星河科技有限公司"),
)

# (id, name, insurance_type, company ratio %, personal ratio %); the first is the seed example's.
INSURANCES = (
    ("7200725830765790764", "养老保险", "social_insurance", "16.00", "8.00"),
    ("7200725830765790765", "医疗保险", "social_insurance", "9.00", "2.00"),
    ("7200725830765790766", "失业保险", "social_insurance", "0.50", "0.50"),
    ("7200725830765790767", "工伤保险", "social_insurance", "0.20", "0.00"),
    ("7200725830765790768", "生育保险", "social_insurance", "0.80", "0.00"),
    ("7200725830765790769", "住房公积金", "provident_fund", "12.00", "12.00"),
)


def _i18n_list(value: str) -> list[dict[str, str]]:
    return [{"lang": "zh-CN", "value": value}]


class CoreHrEmulator:
    def __init__(self) -> None:
        self.locations = {w.location_id: (w.city_code, w.city) for w in WORKPLACES}
        self.companies = {w.company_id: w.company for w in WORKPLACES}
        self.lookups = 0

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", LOCATION_PATH, self._location),
            ("GET", COMPANY_PATH, self._company),
            ("GET", INSURANCES_PATH, self._insurances),
        ]

    async def _location(self, request: web.Request) -> web.Response:
        self.lookups += 1
        found = self.locations.get(request.match_info["location_id"])
        if found is None:
            return _not_found("location")
        code, name = found
        common = {"name": _i18n_list(name), "code": code, "active": True}
        return _ok({"location": {"id": request.match_info["location_id"], "hiberarchy_common": common}})

    async def _company(self, request: web.Request) -> web.Response:
        self.lookups += 1
        name = self.companies.get(request.match_info["company_id"])
        if name is None:
            return _not_found("company")
        common = {"name": _i18n_list(name), "code": request.match_info["company_id"][-4:], "active": True}
        return _ok({"company": {"id": request.match_info["company_id"], "hiberarchy_common": common}})

    async def _insurances(self, _request: web.Request) -> web.Response:
        self.lookups += 1
        items = [
            {
                "id": insurance_id,
                "name": {"zh_cn": name, "en_us": ""},
                "insurance_type": kind,
                "active": True,
                "is_system": True,
            }
            for insurance_id, name, kind, _c, _p in INSURANCES
        ]
        return _ok({"items": items})


def _ok(data: dict[str, Any]) -> web.Response:
    return web.json_response({"code": 0, "msg": "success", "data": data})


def _not_found(what: str) -> web.Response:
    return web.json_response({"code": NOT_FOUND, "msg": f"{what} not found"}, status=400)
