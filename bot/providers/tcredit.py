"""Tcredit (天创) personal social security: cities, login methods, a billed task, its states, codes.

Request bodies are never logged: they carry passwords and captcha answers. Log lines name the endpoint and status.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from bot.config import SettingsModel
from bot.providers.base import SERVICE_UNAVAILABLE, ProviderError, pooled_client
from bot.providers.tcredit_errors import status_error, task_step
from bot.trust.ledger import BilledApi, Limit

if TYPE_CHECKING:
    from bot.lifecycle.services import Services

log = logging.getLogger("hrbot.tcredit")

CITIES_PATH = "/identity/getInsuranceCitysB"
PARAMS_PATH = "/identity/getInsuranceCityParamB"
CREATE_PATH = "/identity/createInsuranceSearchTaskB"
RESULT_PATH = "/identity/getInsuranceB"
CODE_PATH = "/identity/securityUserCode"
INSURANCE_KEYS = (
    "oldageInsuranceInfos",
    "medicalInsuranceInfos",
    "birthInsuranceInfos",
    "injuryInsuranceInfos",
    "unemployInsuranceInfos",
)
UNKNOWN_OUTCOME = "提交后没有收到社保查询服务的答复，结果未知；为避免重复收费没有自动重试，请稍后再发起查询"


def token_key(url: str, token_id: str, params: dict[str, str]) -> str:
    """MD5(url + tokenId + param), param = key=value pairs in key order joined by commas (Tcredit's API doc).
    The doc does not say the digest's case; lowercase hex is what MD5 tools print."""
    param = ",".join(f"{key}={params[key]}" for key in sorted(params))
    return hashlib.md5((url + token_id + param).encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class City:
    area_code: str
    area_name: str
    area_tips: str
    status: int  # 0 available, 1 maintenance, 2 in development

    @property
    def available(self) -> bool:
        return self.status == 0


@dataclass(frozen=True)
class LoginParam:
    name: str
    label: str
    type: str
    required: bool
    options: tuple[tuple[str, str], ...] = ()  # (value sent, text shown)


@dataclass(frozen=True)
class LoginMethod:
    login_type: str
    login_name: str
    params: tuple[LoginParam, ...]


@dataclass(frozen=True)
class TaskState:
    code: int
    kind: str
    text: str
    image: bytes | None = None
    base_info: dict[str, Any] = field(default_factory=dict)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fail: tuple[str, ...] = ()
    create_time: str = ""
    # Tcredit's own words while a task waits: set when the code given was wrong and the site asks again.
    msg: str = ""


class TcreditClient:
    def __init__(self, *, base_url: str, app_id: str, token_id: str, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = pooled_client(self.base_url, timeout=timeout, upstream="tcredit")
        self._app_id = app_id
        self._token_id = token_id

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, params: dict[str, str], *, attempts: int = 1) -> dict[str, Any]:
        body = {
            "appId": self._app_id,
            "tokenKey": token_key(self.base_url + path, self._token_id, params),
            **params,
        }
        for attempt in range(1, attempts + 1):
            try:
                response = await self._http.post(path, data=body)
            except httpx.TransportError as exc:
                log.warning("tcredit %s: %s", path, type(exc).__name__)
                if attempt < attempts:
                    await asyncio.sleep(0.2)
                    continue
                raise ProviderError("tcredit", "unavailable", SERVICE_UNAVAILABLE, retryable=True) from None
            break
        if response.status_code >= 500:
            log.warning("tcredit %s: HTTP %s", path, response.status_code)
            raise ProviderError("tcredit", "unavailable", SERVICE_UNAVAILABLE, retryable=True)
        try:
            answer = response.json()
            status = int(answer["status"])
        except (ValueError, KeyError, TypeError):
            log.warning("tcredit %s: unreadable answer (HTTP %s)", path, response.status_code)
            raise ProviderError("tcredit", "unavailable", SERVICE_UNAVAILABLE, retryable=True) from None
        log.info("tcredit %s: status %s", path, status)
        if status != 0:
            raise status_error(status)
        return answer

    async def cities(self) -> list[City]:
        answer = await self._post(CITIES_PATH, {}, attempts=2)
        return [
            City(
                str(c.get("area_code", "")),
                str(c.get("area_name", "")),
                str(c.get("area_tips") or ""),
                _int(c.get("area_status"), 0),
            )
            for c in answer.get("data") or []
            if isinstance(c, dict)
        ]

    async def login_methods(self, area_code: str) -> list[LoginMethod]:
        answer = await self._post(PARAMS_PATH, {"area_code": area_code}, attempts=2)
        methods = []
        for method in answer.get("data") or []:
            params = tuple(
                LoginParam(
                    name=str(p.get("name", "")),
                    label=str(p.get("label") or p.get("name", "")),
                    type=str(p.get("type") or "text"),
                    required=bool(p.get("required")),
                    options=tuple(
                        (str(o.get("value", "")), str(o.get("key", ""))) for o in p.get("list") or []
                    ),
                )
                for p in method.get("login_params") or []
                if isinstance(p, dict) and p.get("name")
            )
            methods.append(
                LoginMethod(str(method.get("login_type", "")), str(method.get("login_name", "")), params)
            )
        return methods

    async def create_task(self, area_code: str, login_type: str, fields: dict[str, str]) -> str:
        """Billed: made once. When the answer is lost the outcome is unknown, and the user decides to try again."""
        try:
            answer = await self._post(
                CREATE_PATH, {"area_code": area_code, "login_type": login_type, **fields}
            )
        except ProviderError as exc:
            if exc.code == "unavailable":
                raise ProviderError("tcredit", "unknown", UNKNOWN_OUTCOME) from None
            raise
        data = answer.get("data") or {}
        if not data.get("success") or not data.get("tid"):
            step = task_step(_int(data.get("status"), -1))
            raise ProviderError("tcredit", f"create:{data.get('status')}", step.text)
        return str(data["tid"])

    async def task_state(self, tid: str) -> TaskState:
        answer = await self._post(RESULT_PATH, {"tid": tid}, attempts=2)
        data = answer.get("data") or {}
        code = _int(data.get("code"), -1)
        step = task_step(code)
        image = None
        if data.get("base64_image_bytes") and step.kind in ("need_sms", "need_image"):
            try:
                image = base64.b64decode(str(data["base64_image_bytes"]), validate=True)
            except (binascii.Error, ValueError):
                log.warning("tcredit %s: captcha image is not base64", RESULT_PATH)
        return TaskState(
            code=code,
            kind=step.kind,
            text=step.text,
            image=image,
            base_info=dict(data.get("baseInfo") or {}),
            records={key: list(data.get(key) or []) for key in INSURANCE_KEYS},
            fail=tuple(str(f) for f in data.get("fail") or []),
            create_time=str(data.get("createTime") or ""),
            msg=str(data.get("msg") or "")[:100],
        )

    async def submit_code(self, tid: str, code: str) -> None:
        answer = await self._post(CODE_PATH, {"tid": tid, "code": code})
        data = answer.get("data") or {}
        if _int(data.get("status"), 0) != 0:
            raise ProviderError(
                "tcredit", f"code:{data.get('status')}", task_step(_int(data.get("status"), -1)).text
            )


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class TcreditSettings(SettingsModel):
    """天创 personal social security: the app id and token id of the contract."""

    tcredit_base_url: str = "https://api.tcredit.com"
    tcredit_app_id: str = ""
    tcredit_token_id: str = ""
    # Yuan per created task (a failed task is not billed) and per month; estimates, no price is in the seed
    # document: set your contract's. Budget "off" = none.
    tcredit_price_insurance: float = 2.0
    tcredit_monthly_budget: Limit = 1000.0


def billed_api(services: Services) -> BilledApi:
    """The billed call: creating a personal social-security task."""
    settings = services.settings_of(TcreditSettings)
    return BilledApi(
        provider="tcredit",
        provider_name="天创",
        api="insurance",
        price=settings.tcredit_price_insurance,
        monthly_budget=settings.tcredit_monthly_budget,
        api_name="个人社保查询",
    )


def from_settings(settings: TcreditSettings) -> TcreditClient:
    return TcreditClient(
        base_url=settings.tcredit_base_url, app_id=settings.tcredit_app_id, token_id=settings.tcredit_token_id
    )


def client(services: Services) -> TcreditClient:
    """The process's one Tcredit client."""
    return services.provider("tcredit", lambda s: from_settings(s.settings_of(TcreditSettings)))
