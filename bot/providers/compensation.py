"""Feishu compensation: social-insurance adjust records (Feishu Open API 批量查询调薪记录 / compensation adjust records), paced to the API's 10 requests per second."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from bot.feishu.client import FeishuClient, FeishuError, RateLimited
from bot.feishu.pacing import Pacer
from bot.providers.base import ProviderError

if TYPE_CHECKING:
    from bot.lifecycle.services import Services

QUERY_PATH = "/open-apis/compensation/v1/social_archive_adjust_record/query"
MAX_IDS = 200
PER_SECOND = 10
RECORD_TYPES = ("increase", "attrition")
SERVER_ERROR = 2290001
INVALID_PARAM = 2290002

MESSAGES = {
    SERVER_ERROR: "飞书薪酬服务暂时异常，请稍后再试",
    INVALID_PARAM: "查询参数不合法（人员或增减员类型有误），请联系管理员",
    # The core shows admins the scope and the console link (bot/feishu/tenant_errors.py); employees read this.
    99991672: "机器人还没有读取增减员记录的权限，请联系管理员",
    99991400: "请求过于频繁，请稍后再试",
}


@dataclass(frozen=True)
class InsuranceItem:
    insurance_id: str
    company_deduction: str
    personal_deduction: str
    company_ratio: str
    personal_ratio: str
    frequency: str

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> InsuranceItem:
        return cls(
            insurance_id=str(item.get("insurance_id") or ""),
            company_deduction=str(item.get("company_deduction") or ""),
            personal_deduction=str(item.get("personal_deduction") or ""),
            company_ratio=str((item.get("company_setting") or {}).get("payment_ratio") or ""),
            personal_ratio=str((item.get("personal_setting") or {}).get("payment_ratio") or ""),
            frequency=str(item.get("payment_frequency") or ""),
        )


@dataclass(frozen=True)
class AdjustDetail:
    description: str
    insurance_type: str  # social_insurance | provident_fund
    insurance_status: str  # contribution | not_contribution | stopped_contribution
    effective_date: str
    location_id: str
    company_id: str
    insurance_account: str
    base_salary: str
    items: tuple[InsuranceItem, ...]

    @classmethod
    def from_json(cls, detail: dict[str, Any]) -> AdjustDetail:
        return cls(
            description=str((detail.get("description") or {}).get("zh_cn") or ""),
            insurance_type=str(detail.get("insurance_type") or ""),
            insurance_status=str(detail.get("insurance_status") or ""),
            effective_date=str(detail.get("effective_date") or ""),
            location_id=str(detail.get("location_id") or ""),
            company_id=str(detail.get("company_id") or ""),
            insurance_account=str(detail.get("insurance_account") or ""),
            base_salary=str(detail.get("base_salary") or ""),
            items=tuple(InsuranceItem.from_json(i) for i in detail.get("insurance_details") or []),
        )

    @property
    def effective_month(self) -> str:
        return self.effective_date[:7]


@dataclass(frozen=True)
class AdjustRecord:
    user_id: str
    record_type: str  # increase | attrition
    details: tuple[AdjustDetail, ...] = field(default_factory=tuple)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> AdjustRecord:
        return cls(
            user_id=str(record.get("user_id") or ""),
            record_type=str(record.get("record_type") or ""),
            details=tuple(AdjustDetail.from_json(d) for d in record.get("details") or []),
        )


def _server_error(exc: BaseException) -> bool:
    return isinstance(exc, FeishuError) and exc.code == SERVER_ERROR


class CompensationApi:
    """One pacer per process: every caller of the adjust-record API shares the 10 requests/s."""

    def __init__(self, feishu: FeishuClient, *, per_second: float = PER_SECOND, attempts: int = 4) -> None:
        self.feishu = feishu
        self.pacer = Pacer(per_second)
        self.attempts = attempts
        # Between attempts after a server error (a test of what is retried shortens it).
        self.retry_wait: Any = wait_exponential_jitter(multiplier=0.3, max=4.0)
        self.requests = 0

    async def adjust_records(
        self, user_ids: Sequence[str], record_type: str, *, user_id_type: str = "open_id"
    ) -> list[AdjustRecord]:
        if record_type not in RECORD_TYPES:
            raise ValueError(f"record_type must be one of {RECORD_TYPES}")
        if not 0 < len(user_ids) <= MAX_IDS:
            raise ValueError(f"between 1 and {MAX_IDS} user ids per request")
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_server_error),
                wait=self.retry_wait,
                stop=stop_after_attempt(self.attempts),
                reraise=True,
            ):
                with attempt:
                    await self.pacer.wait_turn()
                    self.requests += 1
                    data = await self.feishu.call(
                        "POST",
                        QUERY_PATH,
                        params={"user_id_type": user_id_type},
                        json_body={"user_id_list": list(user_ids), "record_type": record_type},
                    )
        except RateLimited as exc:
            raise ProviderError("feishu-compensation", exc.code, MESSAGES[99991400], retryable=True) from None
        except FeishuError as exc:
            message = MESSAGES.get(
                exc.code, f"读取增减员记录失败（错误码 {exc.code}），请稍后再试或联系管理员"
            )
            raise ProviderError(
                "feishu-compensation", exc.code, message, retryable=exc.code == SERVER_ERROR
            ) from exc
        return [AdjustRecord.from_json(r) for r in data.get("records") or []]


def client(services: Services) -> CompensationApi:
    """The process's one compensation client: one pacer for every caller."""
    return services.provider("feishu-compensation", lambda s: CompensationApi(s.feishu))
