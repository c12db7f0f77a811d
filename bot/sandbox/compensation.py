"""The compensation adjust-record API (Feishu 薪酬 social_archive_adjust_record/query) over the sandbox directory, with its limits and error codes."""

from __future__ import annotations

import copy
import random
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.sandbox.corehr import INSURANCES, WORKPLACES, Workplace
from bot.sandbox.directory import EMPLOYEE, HR, Directory

QUERY_PATH = "/open-apis/compensation/v1/social_archive_adjust_record/query"

# The API doc's own example record (response body example), given to the sandbox employee.
SEED_EXAMPLE_DETAIL: dict[str, Any] = {
    "description": {"zh_cn": "2024年社保基数调整", "en_us": "2024 Social Insurance Base Adjustment"},
    "insurance_type": "social_insurance",
    "insurance_status": "contribution",
    "id": "null",
    "tid": "null",
    "plan_id": "7199837930276308524",
    "plan_tid": "7199643907243361836",
    "location_id": "7152398273176192556",
    "company_id": "7096372135576618540",
    "account_type": "associated_company",
    "insurance_account": "ac123456",
    "base_salary": "1000.10",
    "insurance_details": [
        {
            "insurance_id": "7200725830765790764",
            "company_deduction": "2000.20",
            "company_setting": {
                "lower_limit": "1000.00",
                "upper_limit": "2000.00",
                "payment_ratio": "8.00",
                "payment_rounding_rule": "rounding",
                "payment_decimals": 2,
                "fixed_payment": "200.00",
            },
            "personal_deduction": "1000.20",
            "personal_setting": {
                "lower_limit": "1000.00",
                "upper_limit": "2000.00",
                "payment_ratio": "8.00",
                "payment_rounding_rule": "round_down",
                "payment_decimals": 2,
                "fixed_payment": "200.00",
            },
            "payment_frequency": "monthly",
            "payment_months": [1],
        }
    ],
    "effective_date": "2024-01-01",
}


# The sandbox employee (张小明), as the Tcredit emulator's social-security site knows them too.
EMPLOYEE_BASE = 14911
EMPLOYEE_SINCE = "2025-01"


def _attrition_detail(insurance_type: str, month: str) -> dict[str, Any]:
    # Attrition records carry no plan, location, base or items (the API doc: 当record_type为attrition时,不返回该数据).
    return {
        "description": {"zh_cn": "离职减员", "en_us": "Attrition"},
        "insurance_type": insurance_type,
        "insurance_status": "stopped_contribution",
        "id": "",
        "tid": "",
        "effective_date": f"{month}-01",
    }


def _increase_detail(insurance_type: str, month: str, base: int, workplace: Workplace) -> dict[str, Any]:
    detail = copy.deepcopy(SEED_EXAMPLE_DETAIL)
    detail["description"] = {"zh_cn": "入职增员", "en_us": "New hire"}
    detail["insurance_type"] = insurance_type
    detail["base_salary"] = f"{base}.00"
    detail["effective_date"] = f"{month}-01"
    detail["location_id"] = workplace.location_id
    detail["company_id"] = workplace.company_id
    template = detail["insurance_details"][0]
    items = []
    for insurance_id, _name, kind, company_ratio, personal_ratio in INSURANCES:
        if kind != insurance_type:
            continue
        item = copy.deepcopy(template)
        item["insurance_id"] = insurance_id
        item["company_deduction"] = f"{base * float(company_ratio) / 100:.2f}"
        item["personal_deduction"] = f"{base * float(personal_ratio) / 100:.2f}"
        item["company_setting"]["payment_ratio"] = company_ratio
        item["personal_setting"]["payment_ratio"] = personal_ratio
        items.append(item)
    detail["insurance_details"] = items
    return detail


class CompensationEmulator:
    """Records for about one employee in twelve, spread over the sandbox's cities and legal entities; the sandbox
    employee's record has the API doc's example's shape, with figures that agree with each other and with the
    Tcredit emulator's records of the same person."""

    def __init__(self, directory: Directory, now: datetime, *, share: float = 1 / 12, seed: int = 4) -> None:
        self.records: dict[str, dict[str, dict[str, Any]]] = {}
        self.failing_users: set[str] = set()
        self.fail_next = 0
        self.fail_code = 2290001
        rng = random.Random(seed)
        months = [_shift(now, -1), _shift(now, 0), _shift(now, 1)]
        for person in directory.people:
            if person.open_id == EMPLOYEE:
                # The same person as the Tcredit emulator's login: insured in Beijing since 2025-01 on a base of
                # 14,911, every deduction the kind's ratio of it (the doc's example record's shape and ids).
                self._add(
                    person.open_id,
                    "increase",
                    [_increase_detail("social_insurance", EMPLOYEE_SINCE, EMPLOYEE_BASE, WORKPLACES[0])],
                )
            elif person.open_id == HR:
                self._add(person.open_id, "attrition", [_attrition_detail("social_insurance", months[1])])
            elif person.open_id.startswith("ou_emp_") and rng.random() < share:
                month = rng.choice(months)
                if rng.random() < 0.7:
                    self.add_increase(
                        person.open_id, month, rng.randrange(5000, 30000, 100), rng.choice(WORKPLACES)
                    )
                else:
                    if rng.random() < 0.5:
                        # A leaver whose joining is on record: the removal is filed where the person was insured.
                        self.add_increase(person.open_id, _shift(now, -14), 8000, rng.choice(WORKPLACES))
                    self.add_attrition(person.open_id, month)

    def add_increase(self, open_id: str, month: str, base: int, workplace: Workplace = WORKPLACES[0]) -> None:
        details = [
            _increase_detail(t, month, base, workplace) for t in ("social_insurance", "provident_fund")
        ]
        self._add(open_id, "increase", details)

    def add_attrition(self, open_id: str, month: str) -> None:
        self._add(open_id, "attrition", [_attrition_detail("social_insurance", month)])

    def _add(self, open_id: str, record_type: str, details: list[dict[str, Any]]) -> None:
        self.records.setdefault(open_id, {})[record_type] = {
            "user_id": open_id,
            "record_type": record_type,
            "details": details,
        }

    def count(self, record_type: str) -> int:
        return sum(1 for by_type in self.records.values() if record_type in by_type)

    def route(self) -> tuple[str, str, Any]:
        return ("POST", QUERY_PATH, self._query)

    async def _query(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _invalid("body is not JSON")
        ids = body.get("user_id_list")
        record_type = body.get("record_type")
        if not isinstance(ids, list) or len(ids) > 200 or record_type not in ("increase", "attrition"):
            return _invalid("param is invalid")
        if self.fail_next > 0 or self.failing_users.intersection(ids):
            self.fail_next = max(0, self.fail_next - 1)
            if self.fail_code == 2290002:
                return _invalid("param is invalid")
            return web.json_response({"code": 2290001, "msg": "server error"}, status=500)
        records = [self.records[i][record_type] for i in ids if record_type in self.records.get(i, {})]
        return web.json_response({"code": 0, "msg": "success", "data": {"records": records}})


def _invalid(msg: str) -> web.Response:
    return web.json_response({"code": 2290002, "msg": msg}, status=400)


def _shift(now: datetime, months: int) -> str:
    index = now.year * 12 + now.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
