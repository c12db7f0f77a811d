"""Every card the bot can produce, in every state, passes Feishu's card JSON 2.0 rules and its 30 KB request limit.

A card builder (a public function in cards/ returning a Card) with no state here fails the registry test: a new card or
a new state is checked against Feishu's rules before a user meets it.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

import cards
from bot.ingress.events import MAX_ARGUMENT_CHARS
from bot.providers.compensation import AdjustDetail, AdjustRecord, InsuranceItem
from bot.providers.juhe import SocialSecurity, SocialSecurityReport, YearReport
from bot.sandbox.card_rules import validate_card
from bot.trust.personal_data import Held
from bot.trust.sealing import Sealing
from cards import (
    adjust_records,
    common,
    enterprise_social,
    four_factors,
    help,
    micro_ent,
    personal_social,
    privacy,
    usage,
)
from cards.common import MAX_REQUEST_BYTES, request_bytes
from cards.text import card_text
from handlers.four_factors.router import NOTICE as JUHE_NOTICE
from handlers.personal_social.router import NOTICE as TCREDIT_NOTICE

NOW = datetime(2026, 11, 22, 9, 0)
HOSTILE = '<at id=all></at> **粗** [链接](https://example.com) <font color=red>红</font> "引号" \\ 反斜杠'


# Data -------------------------------------------------------------------------------------------------------------
def figures(value: str = "168人") -> SocialSecurity:
    return SocialSecurity(**{f.name: value for f in dataclasses.fields(SocialSecurity)})


def report(years: int, value: str = "47.014208万元") -> SocialSecurityReport:
    return SocialSecurityReport(
        "小米科技有限责任公司",
        [YearReport(str(2024 - i), f"{2025 - i}-06-24", "小米", figures(value)) for i in range(years)],
    )


def detail(n: int, items: int = 3) -> AdjustDetail:
    return AdjustDetail(
        description=f"第 {n} 条 {HOSTILE}",
        insurance_type="social_insurance" if n % 2 else "provident_fund",
        insurance_status="contribution",
        effective_date=f"2026-{n % 12 + 1:02d}-01",
        location_id="北京",
        company_id="小米",
        insurance_account="1234567890",
        base_salary="12000.00",
        items=tuple(
            InsuranceItem(f"ins_{n}_{i:04d}", "1200.00", "240.00", "16", "8", "monthly") for i in range(items)
        ),
    )


def person(open_id: str, name: str, records: int, *, full: bool = True) -> adjust_records.PersonRecords:
    return adjust_records.PersonRecords(
        open_id,
        name,
        tuple(
            AdjustRecord(open_id, "increase" if i % 2 else "attrition", (detail(i),)) for i in range(records)
        ),
        full=full,
    )


def line(i: int) -> adjust_records.RecordLine:
    return adjust_records.RecordLine(
        key=f"k{i}",
        open_id=f"ou_{i}",
        name=f"欧阳{i:05d}",
        record_type="increase" if i % 3 else "attrition",
        month=f"2026-{i % 12 + 1:02d}",
        city=("上海", "深圳", "北京", "未知城市")[i % 4],
        city_code=("31", "44", "11", "")[i % 4],
        entity=("主体甲", "主体乙")[i % 2],
        insurance_types=("social_insurance", "provident_fund"),
        base_salary=f"{10000 + i}.00",
        fingerprint=f"f{i}",
        status=("new", "changed", "")[i % 3],
    )


def filed_line(i: int, *, same_group: bool = False) -> adjust_records.RecordLine:
    """A line with filing states: every state, and lines whose two kinds stand differently."""
    states = ("pending", "filed", "not_needed", "changed")
    marks = tuple(
        adjust_records.FilingMark(
            kind,
            states[(i + n * (i % 5 == 0)) % 4],
            by="欧阳人事专员",
            at=NOW,
            reason="代理机构申报",
        )
        for n, kind in enumerate(("social_insurance", "provident_fund"))
    )
    found = replace(line(i), filings=marks)
    if same_group:
        found = replace(found, month="2026-11", record_type="increase", city="上海", entity="主体甲")
    return found


def digest(
    employees: int,
    *,
    failed: int = 0,
    full: bool = True,
    first: bool = False,
    filed: bool = False,
    one_group: bool = False,
) -> adjust_records.DigestView:
    lines = [filed_line(i, same_group=one_group) if filed else line(i) for i in range(employees)]
    return adjust_records.DigestView(
        lines=lines,
        current_month="2026-11",
        full=full,
        employees=employees,
        total=employees,
        since=None if first else NOW,
        failed_parts=[f"第 {i} 批（200 人）的增员记录：飞书服务暂时不可用" for i in range(failed)],
        snapshot="0123456789abcdef",
        controls=filed,
    )


def social_rows(months: int) -> list[dict[str, Any]]:
    return [
        {
            "payMonthly": f"{2026 - m // 12}-{12 - m % 12:02d}",
            "salary": "12000",
            "payCompany": "1920.5",
            "payPerson": "960",
            "status": "正常缴费",
        }
        for m in range(months)
    ]


SECTIONS = [key for key, _label in personal_social.SECTIONS]
VIEW = four_factors.RequestView(
    "req-1", 1, "小米科技有限责任公司", "91110108551385082Q", "雷*", "110***********123X", "张*", NOW
)


def outcome(consistent: bool, **kw: Any) -> four_factors.Outcome:
    values: dict[str, Any] = {
        "consistent": consistent,
        "mode": "plain",
        "orderid": "J2026112209000012345678",
        "detail_code": None,
        "detail_desc": None,
        "res": None,
        "regstatus": "存续",
        "verifier": "王*",
        "verified_at": NOW,
    }
    return four_factors.Outcome(**(values | kw))


LOGIN = [
    personal_social.Field("account", "用户名", "text", True),
    personal_social.Field("password", "用户密码", "password", True),
    personal_social.Field("kind", "证件类型", "select", False, (("1", "身份证"), ("2", "护照"))),
]
COMMANDS = [help.CommandLine(f"命令{i}", (f"别名{i}",), "说明", f"命令{i} 参数") for i in range(6)]
MICRO = {
    "name": "小米科技有限责任公司",
    "credit_no": "91110108551385082Q",
    "support_department": "北京市",
    "support_amount": "10 万元",
}

HELD = [
    Held("个人社保查询对话", f"北京 · 已完成 · {HOSTILE}", "最后一步后保留 7 天"),
    Held("企业核验申请", "小米科技有限责任公司 · 雷* 110***********123X · 已撤回", "90 天后删除"),
]
CONSENTS = [
    privacy.ConsentLine("个人社保", "天创（Tcredit）", 1, NOW),
    privacy.ConsentLine("企业核验", "聚合数据（Juhe）", 1, NOW, withdrawn_at=NOW),
    privacy.ConsentLine("企业核验", "聚合数据（Juhe）", 0, NOW, current=False),
]
AUDIT = [
    privacy.AuditLine(
        NOW, "ou_hr", "增减员记录", f"ou_{i}", "私聊", None, actor_name=HOSTILE, subject_name="张三"
    )
    for i in range(25)
] + [privacy.AuditLine(NOW, "system", "增减员摘要", "", "oc_hr_group", 935)]


def usage_view(*, users: int = 5, unknown: int = 2, breaker: str = "closed") -> usage.UsageView:
    spend = usage.Spend(12, 7.2)
    return usage.UsageView(
        month="2026-11",
        providers=[
            usage.ProviderUsage("聚合数据", usage.Spend(3, 1.8), spend, 1000.0, breaker, 4),
            usage.ProviderUsage("天创", usage.Spend(), usage.Spend(1, 2.0), None, "closed"),
        ],
        features=[("企业社保", usage.Spend(2, 1.2), spend), ("个人社保", usage.Spend(), usage.Spend(1, 2.0))],
        top_users=[(f"欧阳{i}*", usage.Spend(10 - i, 6.0 - i)) for i in range(users)],
        daily=[(f"11-{d:02d}", p, d * 0.6) for p in ("聚合数据", "天创") for d in range(1, 31)],
        unknown=unknown,
        queried_at=NOW,
    )


# Registry: builder → state → card -------------------------------------------------------------------------------
Builder = Callable[..., dict[str, Any]]
STATES: dict[Builder, dict[str, Callable[[], dict[str, Any]]]] = {
    common.card: {
        "plain": lambda: common.card("标题", common.INFO, [common.markdown("内容")], subtitle="副标题")
    },
    common.consent_card: {
        "notice": lambda: common.consent_card(TCREDIT_NOTICE, {"action": "x.agree"}, {"action": "x.refuse"})
    },
    common.consent_declined_card: {"declined": lambda: common.consent_declined_card(JUHE_NOTICE, "企业核验")},
    personal_social.consent_card: {
        "no city": lambda: personal_social.consent_card(TCREDIT_NOTICE),
        "city typed": lambda: personal_social.consent_card(TCREDIT_NOTICE, HOSTILE),
    },
    four_factors.consent_card: {
        "notice": lambda: four_factors.consent_card(JUHE_NOTICE),
        "notice carrying what was typed": lambda: four_factors.consent_card(
            JUHE_NOTICE,
            "ou_1",
            "om_1",
            Sealing("cards").seal_text(
                # As long as the ingress lets a command's words be, all wide characters.
                {
                    "typed": f"{HOSTILE} 91110108551385082Q 雷军 11010119691202123X".ljust(
                        MAX_ARGUMENT_CHARS, "雷"
                    ),
                    "until": 0.0,
                },
                "ou_1\0oc_1\0om_1",
            ),
            private_chat="oc_1",
        ),
    },
    four_factors.withdrawn_card: {"withdrawn": lambda: four_factors.withdrawn_card(VIEW)},
    privacy.my_data_card: {
        "everything": lambda: privacy.my_data_card(
            CONSENTS, HELD, AUDIT[:10], 26, audit_days=180, queried_at=NOW
        ),
        "nothing": lambda: privacy.my_data_card([], [], [], 0, audit_days=180, queried_at=NOW),
    },
    privacy.erase_confirm_card: {
        "something": lambda: privacy.erase_confirm_card(HELD, True, 3, audit_days=180),
        "nothing": lambda: privacy.erase_confirm_card([], False, 0, audit_days=180),
    },
    privacy.erased_card: {
        "removed": lambda: privacy.erased_card(["个人社保查询对话", HOSTILE], 3, audit_days=180),
        "nothing": lambda: privacy.erased_card([], 0, audit_days=180),
    },
    privacy.kept_card: {"kept": privacy.kept_card},
    privacy.withdrawn_card: {
        "withdrawn": lambda: privacy.withdrawn_card(["个人社保（天创）", HOSTILE]),
        "none": lambda: privacy.withdrawn_card([]),
    },
    privacy.audit_card: {
        "rows": lambda: privacy.audit_card(AUDIT[:10], 26, "最近的查看记录", queried_at=NOW),
        "by person": lambda: privacy.audit_card(AUDIT[:3], 3, HOSTILE, subject="ou_1", queried_at=NOW),
        "none": lambda: privacy.audit_card([], 0, "2026-11-22 的查看记录", day="2026-11-22", queried_at=NOW),
    },
    privacy.audit_usage_card: {"reason": lambda: privacy.audit_usage_card(HOSTILE)},
    privacy.moved_private_card: {"moved": privacy.moved_private_card},
    privacy.not_admin_card: {"refused": privacy.not_admin_card},
    common.error_card: {
        "with next step and extra": lambda: common.error_card(
            "查询失败", HOSTILE, "请稍后重试", extra=[common.note("备注")]
        ),
        "reason only": lambda: common.error_card("查询失败", "原因"),
        # bot/feishu/tenant_errors.py: an admin reads the scope and the console link Feishu returned.
        "tenant not set up, for an admin": lambda: common.error_card(
            "飞书应用设置不完整",
            "机器人在飞书里的设置还不完整（缺少权限 corehr:corehr:readonly），这次没有办成。\n管理员请处理："
            "grant one of corehr:corehr:readonly in 开发者后台 → 权限管理, then publish a version (版本管理与发布): "
            "https://open.feishu.cn/app/cli_a1b2/auth?q=corehr:corehr:readonly&op_from=openapi&token_type=tenant",
        ),
    },
    enterprise_social.report_card: {
        "one year": lambda: enterprise_social.report_card(report(1), queried_at=NOW),
        "two years": lambda: enterprise_social.report_card(report(2), queried_at=NOW),
        "ten years": lambda: enterprise_social.report_card(report(10), queried_at=NOW),
        "more years than shown, cached": lambda: enterprise_social.report_card(
            report(14), queried_at=NOW, cached=True
        ),
        "no years": lambda: enterprise_social.report_card(report(0), queried_at=NOW),
        "no data in the report": lambda: enterprise_social.report_card(report(3, "-"), queried_at=NOW),
    },
    enterprise_social.usage_card: {"usage": enterprise_social.usage_card},
    enterprise_social.failed_card: {
        "with keyword": lambda: enterprise_social.failed_card("查无此企业", HOSTILE),
        "without keyword": lambda: enterprise_social.failed_card("数据源暂时不可用"),
    },
    four_factors.form_card: {
        "form": four_factors.form_card,
        "in the clicker's private chat": lambda: four_factors.form_card("oc_1"),
    },
    four_factors.usage_card: {
        "usage": four_factors.usage_card,
        "with reason": lambda: four_factors.usage_card("缺少证件号码"),
    },
    four_factors.invalid_card: {"problems": lambda: four_factors.invalid_card(["证件号码格式不对", HOSTILE])},
    four_factors.request_card: {"waiting": lambda: four_factors.request_card(VIEW)},
    four_factors.verifying_card: {"verifying": lambda: four_factors.verifying_card(VIEW, "王*")},
    four_factors.result_card: {
        "consistent": lambda: four_factors.result_card(VIEW, outcome(True)),
        "inconsistent with reason": lambda: four_factors.result_card(
            VIEW, outcome(False, detail_code=7, detail_desc="法人姓名不一致")
        ),
        "v2": lambda: four_factors.result_card(VIEW, outcome(True, mode="v2", res=1, orderid="")),
        "in the requester's private chat": lambda: four_factors.result_card(
            replace(VIEW, requester="欧阳娜娜", private_chat="oc_1"), outcome(True)
        ),
    },
    four_factors.failed_card: {"failed": lambda: four_factors.failed_card(VIEW, "数据源超时", "王*", NOW)},
    four_factors.rejected_card: {"rejected": lambda: four_factors.rejected_card(VIEW, "王*", NOW)},
    four_factors.expired_card: {"expired": lambda: four_factors.expired_card(VIEW)},
    help.help_card: {
        "commands": lambda: help.help_card(COMMANDS),
        "unknown command": lambda: help.help_card(COMMANDS, unknown=HOSTILE),
        "no commands": lambda: help.help_card([]),
    },
    help.non_text_hint: {"hint": help.non_text_hint},
    help.suggestion_card: {
        "typo": lambda: help.suggestion_card("企业社宝", COMMANDS[0]),
        "hostile typo": lambda: help.suggestion_card(HOSTILE, COMMANDS[0]),
        "word with what it does not take": lambda: help.suggestion_card(COMMANDS[0].aliases[0], COMMANDS[0]),
    },
    help.welcome_card: {
        "private": lambda: help.welcome_card(COMMANDS, group=False),
        "group": lambda: help.welcome_card(COMMANDS, group=True),
        "no commands": lambda: help.welcome_card([], group=False),
    },
    help.usage_card: {
        "with aliases": lambda: help.usage_card(COMMANDS[0]),
        "without aliases": lambda: help.usage_card(help.CommandLine("帮助", (), "查看所有命令", "帮助")),
    },
    micro_ent.pending_card: {
        "pending": lambda: micro_ent.pending_card("小米", NOW, "job-1234567890abcdef"),
        "joined": lambda: micro_ent.pending_card("小米", NOW, "job-1", joined=True),
    },
    micro_ent.result_card: {
        "with support": lambda: micro_ent.result_card(MICRO, NOW, "job-1"),
        "empty": lambda: micro_ent.result_card({}, NOW, None),
    },
    micro_ent.failed_card: {"failed": lambda: micro_ent.failed_card("小米", "余额不足", "ou_1")},
    micro_ent.expired_card: {
        "expired": lambda: micro_ent.expired_card("小米", "ou_1"),
        "unknown to the provider": lambda: micro_ent.expired_card("小米", "ou_1", "数据源已不再保留这次查询"),
    },
    micro_ent.finished_notice: {
        outcome: (lambda o=outcome: micro_ent.finished_notice("ou_1", "小米", o))
        for outcome in ("已完成", "已过期", "失败")
    },
    micro_ent.usage_card: {"usage": lambda: micro_ent.usage_card("缺少企业名称")},
    personal_social.city_card: {
        "cities": lambda: personal_social.city_card([("北京", "110000")], [("杭州", "系统维护")], 1),
        "none available": lambda: personal_social.city_card([], [], 1),
        "many cities": lambda: personal_social.city_card(
            [(f"城市{i}", str(i)) for i in range(80)], [(f"维护{i}", "系统维护") for i in range(30)], 1
        ),
    },
    personal_social.form_card: {
        "one method": lambda: personal_social.form_card("北京", [("1", "账号")], "1", LOGIN, 1),
        "methods and a problem": lambda: personal_social.form_card(
            "北京", [("1", "账号"), ("2", "社保卡")], "2", LOGIN, 2, problem="密码错误"
        ),
    },
    personal_social.progress_card: {"progress": lambda: personal_social.progress_card("北京", "登录中")},
    personal_social.sms_card: {
        "sms": lambda: personal_social.sms_card("北京", 3),
        "sms wrong code": lambda: personal_social.sms_card("北京", 4, problem="验证码错误"),
    },
    personal_social.captcha_card: {
        "captcha": lambda: personal_social.captcha_card("北京", "img_v3_1", 3),
        "captcha wrong code": lambda: personal_social.captcha_card(
            "北京", "img_v3_1", 4, problem="验证码错误"
        ),
    },
    personal_social.failed_card: {
        "with city": lambda: personal_social.failed_card("北京", "账号或密码错误"),
        "without city": lambda: personal_social.failed_card("", "服务不可用"),
    },
    personal_social.expired_card: {
        "with city": lambda: personal_social.expired_card("北京"),
        "without city": lambda: personal_social.expired_card(None),
    },
    personal_social.cancelled_card: {
        "replaced": personal_social.cancelled_card,
        "by the user": lambda: personal_social.cancelled_card("你取消了这次查询"),
    },
    personal_social.moved_private_card: {"moved": personal_social.moved_private_card},
    personal_social.result_card: {
        "complete": lambda: personal_social.result_card(
            "北京",
            {"name": "张三", "idcard": "11010519491231002X", "company": "小米"},
            {key: social_rows(22) for key in SECTIONS},
            [],
            NOW,
            "tid-1",
        ),
        "ten years of months": lambda: personal_social.result_card(
            "北京", {"name": "张三"}, {key: social_rows(120) for key in SECTIONS}, [], NOW, "tid-1"
        ),
        "partial": lambda: personal_social.result_card(
            "北京", {}, {SECTIONS[0]: social_rows(3)}, ["baseInfo", *SECTIONS[1:]], NOW, "tid-1"
        ),
        "empty": lambda: personal_social.result_card("北京", {}, {}, [], NOW, ""),
    },
    adjust_records.records_card: {
        "own, one record": lambda: adjust_records.records_card([person("ou_1", "张三", 1)], queried_at=NOW),
        "own, twelve records": lambda: adjust_records.records_card(
            [person("ou_1", "张三", 12)], queried_at=NOW
        ),
        "someone else, none": lambda: adjust_records.records_card(
            [person("ou_2", "李四", 0, full=False)], queried_at=NOW
        ),
        "several people": lambda: adjust_records.records_card(
            [person(f"ou_{i}", f"欧阳{i}", 3) for i in range(4)], queried_at=NOW
        ),
    },
    adjust_records.moved_private_card: {"moved": adjust_records.moved_private_card},
    adjust_records.refusal_card: {"refused": adjust_records.refusal_card},
    adjust_records.not_found_card: {
        "not found": lambda: adjust_records.not_found_card(["张三"], []),
        "ambiguous": lambda: adjust_records.not_found_card([], [("王五", 2)]),
        "too many": lambda: adjust_records.not_found_card([], [], too_many=True),
    },
    adjust_records.digest_card: {
        "empty": lambda: adjust_records.digest_card(digest(0), queried_at=NOW),
        "first": lambda: adjust_records.digest_card(digest(12, first=True), queried_at=NOW),
        "a few, masked": lambda: adjust_records.digest_card(digest(12, full=False), queried_at=NOW),
        "10,000 employees": lambda: adjust_records.digest_card(digest(10_000), queried_at=NOW),
        "10,000 employees, partial": lambda: adjust_records.digest_card(
            digest(10_000, failed=40), queried_at=NOW
        ),
        "states, state buttons, a few": lambda: adjust_records.digest_card(
            digest(12, filed=True), queried_at=NOW
        ),
        "states, state buttons, 10,000 employees": lambda: adjust_records.digest_card(
            digest(10_000, filed=True), queried_at=NOW
        ),
        "states, state buttons, 2,000 in one group": lambda: adjust_records.digest_card(
            digest(2_000, filed=True, one_group=True), queried_at=NOW
        ),
        "states, masked chat: no buttons": lambda: adjust_records.digest_card(
            digest(40, filed=True, full=False), queried_at=NOW
        ),
    },
    adjust_records.reminder_card: {
        "a few": lambda: adjust_records.reminder_card("上海", NOW, 3, digest(8), queried_at=NOW),
        "many": lambda: adjust_records.reminder_card("上海", NOW, 1, digest(500, full=False), queried_at=NOW),
        "state buttons and counts": lambda: adjust_records.reminder_card(
            "上海市", NOW, 3, digest(12, filed=True), queried_at=NOW, tally="12 条待申报，30 条已申报"
        ),
        "state buttons, 2,000 in one group": lambda: adjust_records.reminder_card(
            "上海市",
            NOW,
            1,
            digest(2_000, filed=True, one_group=True),
            queried_at=NOW,
            tally="2000 条待申报，0 条已申报",
        ),
    },
    adjust_records.overdue_card: {
        "a few, state buttons": lambda: adjust_records.overdue_card(
            "上海", NOW, digest(5, filed=True), queried_at=NOW
        ),
        "many, state buttons": lambda: adjust_records.overdue_card(
            "上海", NOW, digest(800, filed=True), queried_at=NOW
        ),
        "masked chat": lambda: adjust_records.overdue_card(
            "上海", NOW, digest(30, filed=True, full=False), queried_at=NOW
        ),
    },
    adjust_records.digest_refusal_card: {"refused": adjust_records.digest_refusal_card},
    adjust_records.digest_moved_private_card: {"moved": adjust_records.digest_moved_private_card},
    adjust_records.digest_progress_card: {"collecting": adjust_records.digest_progress_card},
    adjust_records.notice_card: {
        "notice": lambda: adjust_records.notice_card(
            "已取消订阅", common.EXPIRED, "本群不再接收增减员摘要。", "可重新订阅"
        )
    },
    adjust_records.subscribed_card: {"subscribed": lambda: adjust_records.subscribed_card("0 9 * * 1-5")},
    usage.usage_card: {
        "a month of use, with chart": lambda: usage.usage_card(usage_view()),
        "breaker open, nobody yet": lambda: usage.usage_card(usage_view(users=0, unknown=0, breaker="open")),
        "nothing spent": lambda: usage.usage_card(
            usage.UsageView(
                "2026-11", [], [], [], [(f"11-{d:02d}", "聚合数据", 0.0) for d in range(1, 31)], 0, NOW
            )
        ),
    },
    usage.moved_private_card: {"moved": usage.moved_private_card},
    usage.budget_warning_card: {
        "80 percent": lambda: usage.budget_warning_card("聚合数据", 812.5, 1000.0, "2026-11"),
    },
}

CASES = [
    pytest.param(builder, build, id=f"{builder.__module__}.{builder.__name__}: {state}")
    for builder, states in STATES.items()
    for state, build in states.items()
]


@pytest.mark.parametrize(("builder", "build"), CASES)
def test_every_card_state_passes_feishus_rules(builder: Builder, build: Callable[[], dict[str, Any]]) -> None:
    shown = build()
    validate_card(shown)
    assert request_bytes(shown) <= MAX_REQUEST_BYTES


def card_builders() -> list[Builder]:
    """Public functions defined in cards/ that return a Card."""
    found = []
    for module_info in pkgutil.iter_modules(cards.__path__):
        module = importlib.import_module(f"cards.{module_info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("_") or function.__module__ != module.__name__:
                continue
            if inspect.signature(function).return_annotation in ("Card", common.Card):
                found.append(function)
    return found


def test_every_card_builder_has_states_in_the_registry() -> None:
    builders = card_builders()
    assert common.card in builders and adjust_records.digest_card in builders  # the walk finds them
    missing = [f"{b.__module__}.{b.__name__}" for b in builders if b not in STATES]
    assert not missing, f"card builders without a state in tests/test_card_states.py: {missing}"


def test_the_digest_for_10000_employees_summarises_instead_of_growing() -> None:
    shown = adjust_records.digest_card(digest(10_000), queried_at=NOW)
    text = str(shown)
    assert "覆盖员工 10000 人" in text
    assert "还有" in text  # says how many are not shown
    assert request_bytes(shown) <= MAX_REQUEST_BYTES


def test_every_part_of_all_lines_passes() -> None:
    parts = adjust_records.all_lines_cards([line(i) for i in range(3000)], "2026-11", queried_at=NOW)
    assert len(parts) > 1
    for part in parts:
        validate_card(part)
        assert request_bytes(part) <= MAX_REQUEST_BYTES


@pytest.mark.parametrize("lines", [3, 40, 3000])
def test_every_part_of_all_lines_with_state_buttons_passes(lines: int) -> None:
    parts = adjust_records.all_lines_cards(
        [filed_line(i) for i in range(lines)], "2026-11", queried_at=NOW, snapshot="0123456789abcdef"
    )
    text = "".join(card_text(part) for part in parts)
    assert "已申报" in text and text.count("欧阳") >= lines  # every line, states shown
    for part in parts:
        validate_card(part)
        assert request_bytes(part) <= MAX_REQUEST_BYTES


def test_state_buttons_show_only_where_asked_and_the_card_stays_within_30_kb() -> None:
    with_buttons = adjust_records.digest_card(digest(40, filed=True), queried_at=NOW)
    masked = adjust_records.digest_card(digest(40, filed=True, full=False), queried_at=NOW)
    assert "adjust_records.filing_line" in str(with_buttons) and "adjust_records.filing_group" in str(
        with_buttons
    )
    assert "adjust_records.filing_" not in str(masked)
    assert "⚠️" in card_text(with_buttons) and "✅已申报（欧阳人事专员" in card_text(with_buttons)
    assert "➖无需申报（代理机构申报）" in card_text(with_buttons)


def test_old_periods_leave_the_tables() -> None:
    ten_years = enterprise_social.report_card(report(10), queried_at=NOW)
    assert sum(e["tag"] == "table" for e in ten_years["body"]["elements"]) == 1
    twelve = adjust_records.records_card([person("ou_1", "张三", 12)], queried_at=NOW)
    assert sum(e["tag"] == "table" for e in twelve["body"]["elements"]) == 5


def test_colours_are_named_once_in_cards_common() -> None:
    """Every card takes its header colour from cards.common (INFO/WAITING/OK/FAILED/EXPIRED), so one colour means one
    state everywhere: no module in cards/ or handlers/ spells a template colour itself."""
    from pathlib import Path

    from bot.sandbox.card_rules import HEADER_TEMPLATES

    root = Path(cards.__file__).parent.parent
    literal = []
    for path in [*sorted((root / "cards").glob("*.py")), *sorted((root / "handlers").rglob("*.py"))]:
        if path.name == "common.py" and path.parent.name == "cards":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in HEADER_TEMPLATES:
                literal.append(f"{path.relative_to(root)}:{node.lineno} {node.value!r}")
    assert not literal, f"use cards.common's colour names instead: {literal}"
    assert {common.INFO, common.WAITING, common.OK, common.FAILED, common.EXPIRED} <= HEADER_TEMPLATES
