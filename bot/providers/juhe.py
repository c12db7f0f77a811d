"""Juhe (聚合数据) client: enterprise social security, micro-enterprise jobs and enterprise four-factor verification.

Every call is a form-encoded POST, so neither the key nor personal data ever sits in a URL (httpx and proxies log
URLs). Billed calls are made exactly once: a timeout does not tell whether Juhe charged, so repeating is the user's
decision, not ours.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

import httpx
from Crypto.Cipher import AES
from Crypto.Util.Padding import pad

from bot.config import SettingsModel
from bot.providers.base import SERVICE_UNAVAILABLE, ProviderError, pooled_client
from bot.providers.juhe_errors import MICRO_ENT_JOB_RUNNING, juhe_error
from bot.trust.ledger import BilledApi, Limit
from bot.trust.masking import log_excerpt, mask_id_number, mask_name

if TYPE_CHECKING:
    from bot.lifecycle.services import Services

log = logging.getLogger("hrbot.juhe")

SOCIAL_SECURITY_PATH = "/enterprise/App/SocialSecurityByName/query"
MICRO_ENT_QUERY_PATH = "/enterprise/App/MicroEnt/query"
MICRO_ENT_RESULT_PATH = "/enterprise/App/MicroEnt/result"

FourFactorsMode = Literal["plain", "encrypted", "v2"]
FOUR_FACTORS_PATHS: dict[FourFactorsMode, str] = {
    "plain": "/enterprise_four_factors/query",
    "encrypted": "/enterprise_four_factors/queryEncry",
    "v2": "/enterprise_four_factors/queryV2",
}

UNAVAILABLE = "unavailable"
# Pause before the single repeat of a free call, long enough for a dropped connection to be replaced.
RETRY_PAUSE = 0.2

# The annual-report social security fields in Juhe's documented order, with their meaning.
SOCIAL_SECURITY_LABELS: dict[str, str] = {
    "unemployment_insurance": "单位参加失业保险缴费基数",
    "endowment_insurance_amount": "单位参加城镇职工基本养老保险累计欠缴金额",
    "actual_lost_amount": "参加失业保险本期实际缴费金额",
    "base_medical_down_balance": "单位参加职工基本医疗保险累计欠缴金额",
    "unemployment_num": "失业保险人数",
    "endowment_base_amount": "单位参加城镇职工基本养老保险缴费基数",
    "injury_insurance_amount": "单位参加工伤保险缴费基数",
    "insurance_num": "职工基本医疗保险人数",
    "birth_amount": "单位参加生育保险累计欠缴金额",
    "birth_insurance_count": "单位参加生育保险缴费基数",
    "actual_medical_amount": "参加职工基本医疗保险本期实际缴费金额",
    "actual_injury_amount": "参加工伤保险本期实际缴费金额",
    "company_injury_down_balance": "单位参加工伤保险累计欠缴金额",
    "birth_num": "生育保险人数",
    "birth_actual_amount": "参加生育保险本期实际缴费金额",
    "basic_endowment_num": "城镇职工基本养老保险人数",
    "injury_insurance_num": "工伤保险人数",
    "unemployment_down_balance": "单位参加失业保险累计欠缴金额",
    "actual_endowment_amount": "参加城镇职工基本养老保险本期实际缴费金额",
    "basic_medical_amount": "单位参加职工基本医疗保险缴费基数",
}

# result.detail.code of the (encrypted) four-factor check.
FOUR_FACTORS_DETAILS: dict[int, str] = {
    7: "企业法人/负责人",
    -21: "企业名称与企业标识不符",
    -22: "姓名不一致",
    -23: "证件号码不一致",
    -24: "企业名称不一致",
    -25: "企业标识不一致",
    -26: "具体不一致要素未知",
}


@dataclass(frozen=True)
class SocialSecurity:
    """One annual report's figures, as Juhe gives them ("168人", "47.014208万元", "-")."""

    unemployment_insurance: str
    endowment_insurance_amount: str
    actual_lost_amount: str
    base_medical_down_balance: str
    unemployment_num: str
    endowment_base_amount: str
    injury_insurance_amount: str
    insurance_num: str
    birth_amount: str
    birth_insurance_count: str
    actual_medical_amount: str
    actual_injury_amount: str
    company_injury_down_balance: str
    birth_num: str
    birth_actual_amount: str
    basic_endowment_num: str
    injury_insurance_num: str
    unemployment_down_balance: str
    actual_endowment_amount: str
    basic_medical_amount: str

    def labelled(self) -> list[tuple[str, str]]:
        """(Chinese label, value) in Juhe's documented order, for cards."""
        return [(label, getattr(self, name)) for name, label in SOCIAL_SECURITY_LABELS.items()]


@dataclass(frozen=True)
class YearReport:
    report_year: str
    report_date: str
    name: str
    social_security: SocialSecurity


@dataclass(frozen=True)
class SocialSecurityReport:
    name: str
    years: list[YearReport]  # newest first


@dataclass(frozen=True)
class MicroEntResult:
    name: str
    credit_no: str
    reg_no: str
    econ_kind: str
    start_date: str
    belong_org: str
    reg_capi: str
    l1_domain_name: str
    l2_domain_name: str
    support_department: str
    support_date: str
    support_basis: str
    support_content: str
    support_amount: str


@dataclass(frozen=True)
class FourFactorsResult:
    consistent: bool
    detail_code: int | None  # plain and encrypted modes only
    detail_desc: str | None
    orderid: str
    mode: FourFactorsMode
    state: int | None  # plain and encrypted: 1 一致, 2 不一致
    res: int | None  # v2: 1 一致, 2 不一致
    regstatus: str | None  # operating status, when Juhe returns it


def encrypt_field(value: str, openid: str) -> str:
    """Juhe's queryEncry field encryption: AES/ECB/PKCS5Padding, key = first 16 chars of lowercase hex MD5(openid),
    base64 output (url-encoding is left to the form encoder)."""
    key = hashlib.md5(openid.encode("utf-8"), usedforsecurity=False).hexdigest()[:16].encode("ascii")
    ciphertext = AES.new(key, AES.MODE_ECB).encrypt(pad(value.encode("utf-8"), AES.block_size))
    return base64.b64encode(ciphertext).decode("ascii")


class JuheClient:
    def __init__(
        self,
        *,
        base_url: str,
        apis_base_url: str,
        social_security_key: str,
        micro_ent_key: str,
        four_factors_key: str,
        openid: str,
        timeout: float = 10.0,
    ) -> None:
        self._enterprise = pooled_client(base_url, timeout=timeout, upstream="juhe")
        self._apis = pooled_client(apis_base_url, timeout=timeout, upstream="juhe")
        self._social_security_key = social_security_key
        self._micro_ent_key = micro_ent_key
        self._four_factors_key = four_factors_key
        self._openid = openid

    async def aclose(self) -> None:
        try:
            await self._enterprise.aclose()
        finally:
            await self._apis.aclose()

    async def social_security(self, keyword: str) -> SocialSecurityReport:
        """Social security figures from the company's annual reports. Billed."""
        keyword = keyword.strip()
        result = await self._call(
            self._enterprise, SOCIAL_SECURITY_PATH, self._social_security_key, {"keyword": keyword}, keyword
        )
        items = result.get("items") if isinstance(result, dict) else None
        if not isinstance(items, list):
            raise _unavailable()
        years = sorted(
            (_year_report(item) for item in items if isinstance(item, dict)),
            key=lambda year: (year.report_year, year.report_date),
            reverse=True,
        )
        if not years:
            # An empty list tells the user the same as 258504: no published report to show.
            raise juhe_error(258504)
        return SocialSecurityReport(name=years[0].name or keyword, years=years)

    async def micro_ent_submit(self, keyword: str) -> str:
        """Start a micro-enterprise job; returns its jobid (valid 24 h). Billed."""
        keyword = keyword.strip()
        result = await self._call(
            self._enterprise, MICRO_ENT_QUERY_PATH, self._micro_ent_key, {"keyword": keyword}, keyword
        )
        jobid = result.get("jobid") if isinstance(result, dict) else None
        if not isinstance(jobid, str) or not jobid:
            raise _unavailable()
        return jobid

    async def micro_ent_result(self, jobid: str) -> MicroEntResult | None:
        """The job's result, or None while it is still running. Free, so a network blip is retried once."""
        try:
            result = await self._call(
                self._enterprise,
                MICRO_ENT_RESULT_PATH,
                self._micro_ent_key,
                {"jobid": jobid},
                jobid,
                attempts=2,
            )
        except ProviderError as exc:
            if exc.code == MICRO_ENT_JOB_RUNNING:
                return None
            raise
        if not isinstance(result, dict):
            raise _unavailable()
        return MicroEntResult(**{f.name: _text(result.get(f.name)) for f in fields(MicroEntResult)})

    async def four_factors(
        self, entname: str, entmark: str, realname: str, idcard: str, *, mode: FourFactorsMode
    ) -> FourFactorsResult:
        """Whether the person is the company's legal representative / person in charge. Billed."""
        if mode not in FOUR_FACTORS_PATHS:
            raise ValueError(f"unknown four-factors mode {mode!r}")
        params = {
            "realname": realname.strip(),
            "idcard": idcard.strip(),
            "entname": entname.strip(),
            "entmark": entmark.strip(),
        }
        subject = f"{params['entname']} {mask_name(params['realname'])} {mask_id_number(params['idcard'])}"
        if mode == "encrypted":
            params = {name: encrypt_field(value, self._openid) for name, value in params.items()}
        elif mode == "v2":
            params["regstatus"] = "1"  # required by queryV2
        result = await self._call(
            self._apis, FOUR_FACTORS_PATHS[mode], self._four_factors_key, params, subject
        )
        if not isinstance(result, dict):
            raise _unavailable()
        return _four_factors_result(result, mode)

    async def _call(
        self,
        http: httpx.AsyncClient,
        path: str,
        key: str,
        params: dict[str, str],
        subject: str,
        *,
        attempts: int = 1,
    ) -> Any:
        attempt = 1
        while True:
            try:
                return await self._post(http, path, key, params, log_excerpt(subject))
            except ProviderError as exc:
                if exc.code != UNAVAILABLE or attempt >= attempts:
                    raise
            attempt += 1
            await asyncio.sleep(RETRY_PAUSE)

    async def _post(
        self, http: httpx.AsyncClient, path: str, key: str, params: dict[str, str], subject: str
    ) -> Any:
        started = time.monotonic()
        try:
            response = await http.post(path, data={"key": key, **params})
        except httpx.TransportError as exc:
            log.warning("juhe %s [%s]: %s", path, subject, type(exc).__name__)
            raise _unavailable() from exc
        elapsed_ms = (time.monotonic() - started) * 1000
        if response.status_code >= 500:
            log.warning("juhe %s [%s]: HTTP %s", path, subject, response.status_code)
            raise _unavailable()
        try:
            body = response.json()
            code = int(body["error_code"])
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("juhe %s [%s]: unreadable answer (HTTP %s)", path, subject, response.status_code)
            raise _unavailable() from exc
        log.info("juhe %s [%s]: error_code %s in %.0f ms", path, subject, code, elapsed_ms)
        if code != 0:
            raise juhe_error(code)
        return body.get("result")


def _unavailable() -> ProviderError:
    return ProviderError("juhe", UNAVAILABLE, SERVICE_UNAVAILABLE, retryable=True)


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def client(services: Services) -> JuheClient:
    """The process's one Juhe client."""
    return services.provider("juhe", lambda s: from_settings(s.settings_of(JuheSettings)))


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _year_report(item: dict[str, Any]) -> YearReport:
    raw = item.get("social_security")
    figures = raw if isinstance(raw, dict) else {}
    return YearReport(
        report_year=_text(item.get("report_year")),
        report_date=_text(item.get("report_date")),
        name=str(item.get("name") or ""),
        social_security=SocialSecurity(**{name: _text(figures.get(name)) for name in SOCIAL_SECURITY_LABELS}),
    )


def _four_factors_result(result: dict[str, Any], mode: FourFactorsMode) -> FourFactorsResult:
    orderid = str(result.get("orderid") or "")
    if mode == "v2":
        res = _int(result.get("res"))
        if res is None:
            raise _unavailable()
        regstatus = result.get("regstatus")
        return FourFactorsResult(
            consistent=res == 1,
            detail_code=None,
            detail_desc=None,
            orderid=orderid,
            mode=mode,
            state=None,
            res=res,
            regstatus=None if regstatus is None else str(regstatus),
        )
    state = _int(result.get("state"))
    if state is None:
        raise _unavailable()
    raw_detail = result.get("detail")
    detail = raw_detail if isinstance(raw_detail, dict) else {}
    detail_code = _int(detail.get("code"))
    detail_desc = FOUR_FACTORS_DETAILS.get(detail_code) if detail_code is not None else None
    if detail_desc is None and detail.get("desc"):
        detail_desc = str(detail["desc"])
    regstatus = detail.get("regstatus")
    return FourFactorsResult(
        consistent=state == 1,
        detail_code=detail_code,
        detail_desc=detail_desc,
        orderid=orderid,
        mode=mode,
        state=state,
        res=None,
        regstatus=None if regstatus is None else str(regstatus),
    )


class JuheSettings(SettingsModel):
    """聚合数据: one key per API (企业社保, 小微企业, 企业四要素), and the openid of the encrypted four-factor API."""

    juhe_base_url: str = "https://v.juhe.cn"
    juhe_apis_base_url: str = "https://apis.juhe.cn"
    juhe_social_security_key: str = ""
    juhe_micro_ent_key: str = ""
    juhe_four_factors_key: str = ""
    juhe_openid: str = ""
    juhe_four_factors_mode: Literal["", "plain", "encrypted", "v2"] = ""
    # Yuan per billed call (Juhe bills a query that returns data) and per month for all of Juhe; no price is in
    # the seed documents, so these defaults are estimates: set your contract's. Budget "off" = none.
    juhe_price_social_security: float = 0.6
    juhe_price_micro_ent: float = 0.3
    juhe_price_four_factors: float = 0.8
    juhe_monthly_budget: Limit = 1000.0

    @property
    def four_factors_mode(self) -> FourFactorsMode:
        """Encrypted when an openid is configured, else plain, unless chosen explicitly."""
        return self.juhe_four_factors_mode or ("encrypted" if self.juhe_openid else "plain")


BILLED_APIS = ("social_security", "micro_ent", "four_factors")
API_NAMES = {
    "social_security": "企业社保缴纳查询",
    "micro_ent": "小微企业查询",
    "four_factors": "企业四要素核验",
}


def billed_api(services: Services, api: str) -> BilledApi:
    """One of BILLED_APIS as the ledger prices it."""
    settings = services.settings_of(JuheSettings)
    return BilledApi(
        provider="juhe",
        provider_name="聚合数据",
        api=api,
        price=getattr(settings, f"juhe_price_{api}"),
        monthly_budget=settings.juhe_monthly_budget,
        api_name=API_NAMES[api],
    )


def from_settings(settings: JuheSettings) -> JuheClient:
    return JuheClient(
        base_url=settings.juhe_base_url,
        apis_base_url=settings.juhe_apis_base_url,
        social_security_key=settings.juhe_social_security_key,
        micro_ent_key=settings.juhe_micro_ent_key,
        four_factors_key=settings.juhe_four_factors_key,
        openid=settings.juhe_openid,
    )
