"""增减员's needs from the Feishu tenant (bot/lifecycle/manifest.py): the directory walk, the compensation and CoreHR reads, the
digest chats and their members, the Excel export."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.lifecycle.core_manifest import (
    CHAT_MEMBER_SCOPES,
    UPLOAD_SCOPES,
    directory_needs,
    probe_upload,
    refused_as_expected,
)
from bot.lifecycle.manifest import Manifest, ScopeNeed, Subscription
from bot.lifecycle.services import Services
from bot.providers.compensation import QUERY_PATH
from handlers.adjust_records.settings import AdjustRecordsSettings
from handlers.adjust_records.state import subscriptions

DEPARTMENT_SCOPES = ("contact:contact.base:readonly", "contact:department.organize:readonly")
# Ids no tenant has: CoreHR answers "not found" once the scope is granted.
NO_PLACE = "0"


def _settings(services: Services) -> AdjustRecordsSettings:
    return services.settings_of(AdjustRecordsSettings)


async def probe_departments(services: Services) -> str:
    """one page of the first department's children (HRBOT_DIGEST_DEPARTMENT_IDS)"""
    department = _settings(services).digest_department_ids[0]
    await services.feishu.call(
        "GET",
        f"/open-apis/contact/v3/departments/{department}/children",
        params={"department_id_type": "open_department_id", "page_size": 1},
    )
    return f"the children of department {department}"


async def probe_adjust_records(services: Services) -> str | None:
    """the adjust records of one configured HR member"""
    someone = sorted(services.settings.hr_open_ids)
    if not someone:
        return None
    await services.feishu.call(
        "POST",
        QUERY_PATH,
        params={"user_id_type": "open_id"},
        json_body={"user_id_list": someone[:1], "record_type": "increase"},
    )
    return f"the adjust records of {someone[0]}"


async def probe_location(services: Services) -> str:
    """a location that does not exist (answered "not found")"""
    await refused_as_expected(services, "GET", f"/open-apis/corehr/v1/locations/{NO_PLACE}")
    return "a location that does not exist"


async def probe_company(services: Services) -> str:
    """a legal entity that does not exist (answered "not found")"""
    await refused_as_expected(services, "GET", f"/open-apis/corehr/v1/companies/{NO_PLACE}")
    return "a legal entity that does not exist"


async def probe_insurances(services: Services) -> str:
    """获取险种配置列表"""
    await services.feishu.call("GET", "/open-apis/compensation/v1/social_insurances")
    return "the list of insurance kinds"


async def probe_user_ids(services: Services) -> str:
    """an e-mail address no one has"""
    await services.feishu.call(
        "POST",
        "/open-apis/contact/v3/users/batch_get_id",
        params={"user_id_type": "open_id"},
        json_body={"emails": ["hrbot-doctor@example.invalid"]},
    )
    return "an e-mail address no one has"


async def probe_digest_chat(services: Services) -> str | None:
    """the members of the first digest chat (HRBOT_DIGEST_CHAT_IDS)"""
    chats = _settings(services).digest_chat_ids
    if not chats:
        return None
    await services.feishu.chat_member_ids(chats[0])
    return f"the members of chat {chats[0]}"


async def chats(services: Services) -> Mapping[str, Sequence[str]]:
    return {
        "HRBOT_DIGEST_CHAT_IDS": list(_settings(services).digest_chat_ids),
        "subscribed to the digest (订阅增减员摘要)": sorted(await subscriptions(services.store)),
    }


MANIFEST = Manifest(
    scopes=(
        *directory_needs("增减员, 增减员摘要: names"),
        ScopeNeed(
            "增减员摘要 (digest): walking the departments",
            "GET /contact/v3/departments/{id}/children",
            DEPARTMENT_SCOPES,
            probe_departments,
            note="The contacts range (通讯录权限范围) must cover HRBOT_DIGEST_DEPARTMENT_IDS (全部成员 for `0`)",
        ),
        ScopeNeed(
            "增减员摘要: members of each department",
            "GET /contact/v3/users/find_by_department",
            DEPARTMENT_SCOPES,
            probe_departments,
        ),
        ScopeNeed(
            "增减员, 增减员摘要: adjust records",
            "POST /compensation/v1/social_archive_adjust_record/query",
            ("corehr:compensation.social_adjust_record:read",),
            probe_adjust_records,
            note="Custom apps only; records exist only with 飞书人事 (企业版) and 飞书薪酬's 社保 module",
        ),
        ScopeNeed(
            "增减员: city names",
            "GET /corehr/v1/locations/{location_id}",
            ("corehr:locations:read", "corehr:corehr:readonly"),
            probe_location,
        ),
        ScopeNeed(
            "增减员: legal-entity names",
            "GET /corehr/v1/companies/{company_id}",
            ("corehr:corehr:readonly",),
            probe_company,
        ),
        ScopeNeed(
            "增减员: insurance-kind names",
            "GET /compensation/v1/social_insurances",
            ("corehr:compensation.insurance:read",),
            probe_insurances,
        ),
        ScopeNeed(
            "增减员: colleagues named by email or mobile",
            "POST /contact/v3/users/batch_get_id",
            ("contact:user.id:readonly",),
            probe_user_ids,
        ),
        ScopeNeed(
            "增减员摘要: all-HR check of digest chats",
            "GET /im/v1/chats/{chat_id}/members",
            CHAT_MEMBER_SCOPES,
            probe_digest_chat,
        ),
        ScopeNeed(
            "增减员摘要: 导出 Excel",
            "POST /im/v1/files, then a file message",
            UPLOAD_SCOPES,
            probe_upload,
        ),
    ),
    subscriptions=(
        Subscription(
            "im.chat.member.bot.deleted_v1",
            "机器人被移出群",
            "增减员摘要: a subscription ends when the bot is removed",
        ),
    ),
    chats=chats,
)
