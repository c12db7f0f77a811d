"""Tcredit (天创) codes from the API doc: the top-level status table, and the task states of data.code."""

from __future__ import annotations

from dataclasses import dataclass

from bot.providers.base import ProviderError

ADMIN = "请联系管理员"

# status (top level): (what the user reads, worth trying later)
STATUS: dict[int, tuple[str, bool]] = {
    1: ("社保查询服务出现系统错误，请稍后再试", True),
    2: ("查询参数有误，请检查填写的信息后重新开始", False),
    3: ("数据异常，未能获取结果，请稍后重新查询", True),
    4: (f"社保查询服务账号不存在或配置有误，{ADMIN}", False),
    5: (f"社保查询服务配置有误（验证密钥不符），{ADMIN}", False),
    6: (f"社保查询接口已停用，{ADMIN}", False),
    7: (f"社保查询服务没有开通该接口权限，{ADMIN}", False),
    8: (f"社保查询服务已暂停使用，{ADMIN}", False),
    9: (f"社保查询服务余额不足，{ADMIN}充值", False),
    10: ("社保查询服务繁忙，请稍后再试", True),
    11: ("数据处理中，请稍后再查询", True),
}

# Statuses saying Tcredit is down or busy (系统错误, 繁忙): they feed the circuit breaker.
OUTAGE_CODES = frozenset({1, 10})

IN_PROGRESS, NEED_SMS, NEED_IMAGE, DONE, DONE_PARTIAL, FAILED = (
    "in_progress",
    "need_sms",
    "need_image",
    "done",
    "done_partial",
    "failed",
)
NOT_BILLED = "（失败的任务不收费）"


@dataclass(frozen=True)
class TaskStep:
    kind: str
    text: str


# data.code of a task: what it means for the flow, and what the user reads.
TASK_STATES: dict[int, TaskStep] = {
    0: TaskStep(DONE, "查询完成"),
    -9: TaskStep(FAILED, f"社保查询服务权限认证失败，{ADMIN}{NOT_BILLED}"),
    -1: TaskStep(FAILED, f"社保查询服务接口异常，请稍后重新开始{NOT_BILLED}"),
    -2: TaskStep(FAILED, f"提交的登录信息格式有误，请检查后重新开始{NOT_BILLED}"),
    10001: TaskStep(IN_PROGRESS, "登录中"),
    10002: TaskStep(IN_PROGRESS, "登录成功，准备获取数据"),
    10003: TaskStep(NEED_SMS, "等待输入短信验证码"),
    10004: TaskStep(NEED_IMAGE, "等待输入图片验证码"),
    20001: TaskStep(IN_PROGRESS, "正在获取社保数据"),
    20005: TaskStep(IN_PROGRESS, "已获取部分数据，继续获取中"),
    30001: TaskStep(IN_PROGRESS, "正在整理数据"),
    40001: TaskStep(DONE, "查询完成"),
    40002: TaskStep(DONE_PARTIAL, "查询完成，部分数据缺失"),
    50001: TaskStep(FAILED, f"登录失败，请确认账号信息后重新开始{NOT_BILLED}"),
    50002: TaskStep(FAILED, f"获取数据失败，请稍后重新开始{NOT_BILLED}"),
    50003: TaskStep(FAILED, f"该城市的社保网站暂未接入，请选择其他城市{NOT_BILLED}"),
    50004: TaskStep(FAILED, f"用户名或密码错误，请核对后重新开始{NOT_BILLED}"),
    50005: TaskStep(FAILED, f"社保网站维护中，请稍后再试{NOT_BILLED}"),
    50006: TaskStep(FAILED, f"登录信息不完整或格式有误，请检查后重新开始{NOT_BILLED}"),
    50007: TaskStep(FAILED, f"社保网站不稳定，请稍后重新开始{NOT_BILLED}"),
    50008: TaskStep(FAILED, f"等待输入验证码超时，请重新开始{NOT_BILLED}"),
    50009: TaskStep(FAILED, f"验证码不正确，这次登录已结束，点「重新开始」再登录一次{NOT_BILLED}"),
}


def status_error(status: int) -> ProviderError:
    message, retryable = STATUS.get(status, (f"社保查询失败（错误码 {status}），{ADMIN}", False))
    return ProviderError("tcredit", status, message, retryable=retryable)


def task_step(code: int) -> TaskStep:
    return TASK_STATES.get(
        code, TaskStep(FAILED, f"社保查询返回了未知状态（{code}），请稍后重新开始{NOT_BILLED}")
    )
