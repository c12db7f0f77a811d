"""Juhe error codes (from Juhe's API documentation) and what the user is told about each.

System codes 10001-10021 are shared by every Juhe API; service codes are per API: 2585xx social security,
2777xx micro-enterprise, 2535xx enterprise four factors. `reason` is Juhe's own description, kept for the
emulator and for operators; `message` is what the user sees.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.providers.base import ProviderError


@dataclass(frozen=True)
class JuheErrorInfo:
    reason: str
    message: str
    retryable: bool = False


_MISCONFIGURED = "查询服务配置有误，请联系管理员"
_ASK_FOR_FULL_NAME = "请提供企业全称、注册号或统一社会信用代码"

SYSTEM_ERRORS: dict[int, JuheErrorInfo] = {
    10001: JuheErrorInfo("错误的请求KEY", _MISCONFIGURED),
    10002: JuheErrorInfo("该KEY无请求权限", _MISCONFIGURED),
    10003: JuheErrorInfo("KEY过期", _MISCONFIGURED),
    10004: JuheErrorInfo("错误的OPENID", _MISCONFIGURED),
    10005: JuheErrorInfo("应用未审核超时，请提交认证", "查询服务尚未完成认证，请联系管理员"),
    10007: JuheErrorInfo("未知的请求源", "查询服务不认可本次请求来源，请联系管理员"),
    10008: JuheErrorInfo("被禁止的IP", "服务器 IP 未获查询授权，请联系管理员"),
    10009: JuheErrorInfo("被禁止的KEY", _MISCONFIGURED),
    10011: JuheErrorInfo("当前IP请求超过限制", "查询过于频繁，请稍后再试", retryable=True),
    10012: JuheErrorInfo("请求超过次数限制", "今日查询次数已用完，请联系管理员"),
    10013: JuheErrorInfo("测试KEY超过请求限制", "测试查询额度已用完，请联系管理员"),
    10014: JuheErrorInfo("系统内部异常", "查询服务内部异常，请稍后再试", retryable=True),
    10020: JuheErrorInfo("接口维护", "查询服务正在维护，请稍后再试", retryable=True),
    10021: JuheErrorInfo("接口停用", "该查询服务已停用，请联系管理员"),
}

SOCIAL_SECURITY_ERRORS: dict[int, JuheErrorInfo] = {
    258500: JuheErrorInfo("网络超时,请稍后再试", "社保查询超时，请稍后再试", retryable=True),
    258501: JuheErrorInfo("参数缺失", _ASK_FOR_FULL_NAME),
    258502: JuheErrorInfo("参数不合法", "企业名称或代码格式有误，请检查后重试"),
    258503: JuheErrorInfo("内部错误", "社保查询服务内部错误，请稍后再试", retryable=True),
    258504: JuheErrorInfo("查询无结果", "未查询到该企业的社保信息，请检查企业名称是否为全称后重试"),
    258505: JuheErrorInfo("未知错误", "社保查询出现未知错误，请联系管理员"),
}

MICRO_ENT_JOB_RUNNING = 277706

MICRO_ENT_ERRORS: dict[int, JuheErrorInfo] = {
    277700: JuheErrorInfo("网络超时,请稍后再试", "小微企业查询超时，请稍后再试", retryable=True),
    277701: JuheErrorInfo("参数缺失", _ASK_FOR_FULL_NAME),
    277702: JuheErrorInfo("参数不合法", "查询参数有误或查询编号已失效，请重新发起查询"),
    277703: JuheErrorInfo("内部错误", "小微企业查询服务内部错误，请稍后再试", retryable=True),
    277704: JuheErrorInfo("查询无结果", "未查询到该企业的小微企业信息，请检查企业名称是否为全称后重试"),
    277705: JuheErrorInfo("未知错误", "小微企业查询出现未知错误，请联系管理员"),
    MICRO_ENT_JOB_RUNNING: JuheErrorInfo(
        "该实时查询Job进行中", "小微企业查询仍在进行中，请稍后查看结果", retryable=True
    ),
}

FOUR_FACTORS_ERRORS: dict[int, JuheErrorInfo] = {
    253501: JuheErrorInfo("参数错误", "核验信息有误，请检查企业名称、企业标识、姓名和证件号码后重试"),
    253504: JuheErrorInfo("企业名称与企业标识均未找到", "未找到该企业，请检查企业全称和统一社会信用代码"),
    253506: JuheErrorInfo("数据源异常", "核验数据源异常，请稍后再试", retryable=True),
    253507: JuheErrorInfo("数据源超时", "核验数据源超时，请稍后再试", retryable=True),
}

# Codes saying Juhe is down or overloaded (not that the query was wrong): they feed the circuit breaker.
OUTAGE_CODES = frozenset({10014, 10020, 258500, 258503, 277700, 277703, 253506, 253507})

JUHE_ERRORS: dict[int, JuheErrorInfo] = {
    **SYSTEM_ERRORS,
    **SOCIAL_SECURITY_ERRORS,
    **MICRO_ENT_ERRORS,
    **FOUR_FACTORS_ERRORS,
}


def error_info(code: int) -> JuheErrorInfo:
    """The table entry, or a generic one naming the code so the administrator can look it up."""
    known = JUHE_ERRORS.get(code)
    if known is not None:
        return known
    return JuheErrorInfo("未知错误码", f"查询失败（错误码 {code}），请联系管理员")


def juhe_error(code: int) -> ProviderError:
    info = error_info(code)
    return ProviderError("juhe", code, info.message, retryable=info.retryable)
