"""Feishu's answers that mean the tenant is not set up yet (a scope not granted, the bot capability off, the bot not in
a chat), read into the fix an admin applies in the developer console, and the card a user sees when one hits them.

A call without a granted scope answers HTTP 400, code 99991672, `msg` "Access denied. One of the following scopes is
required: [a, b]. 应用尚未开通所需的应用身份权限：[a, b]，点击链接申请并开通任一权限即可：https://open.feishu.cn/app/
<app_id>/auth?q=a,b&op_from=openapi&token_type=tenant" (see /work/shared/FEISHU.md, "Facts gathered for go-live").
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.feishu.client import FeishuError
from bot.routing.errors import UserFacingError
from bot.routing.roles import Role

if TYPE_CHECKING:
    from bot.lifecycle.services import Services

log = logging.getLogger("hrbot.tenant")

SCOPE_MISSING = 99991672
# What the send-message doc's error table says when the app has no bot capability (230006, "Bot ability is not
# activated"); the same answer is emulated for the bot-info call, whose doc says it needs the capability.
BOT_CAPABILITY_OFF = 230006
# Chat members: the bot is not in the chat (or the chat does not exist).
BOT_NOT_IN_CHAT = 232011
# Sending to a chat the bot is not in (the send doc's error table: the bot must be in the chat).
SENDER_NOT_IN_CHAT = 230002

_SCOPES = re.compile(r"required: \[([^\]]*)\]")
_LINK = re.compile(r"https://open\.(?:feishu\.cn|larksuite\.com)/app/\S+?/auth\S*")


@dataclass(frozen=True)
class MissingScope:
    scopes: tuple[str, ...]
    link: str

    @property
    def fix(self) -> str:
        """The admin's fix, in the console's words."""
        where = f": {self.link}" if self.link else ""
        return (
            f"grant one of {', '.join(self.scopes)} in 开发者后台 → 权限管理, then publish a version "
            f"(版本管理与发布){where}"
        )


def missing_scope(exc: BaseException) -> MissingScope | None:
    """The scopes and console link a 99991672 answer names; None for any other error."""
    if not isinstance(exc, FeishuError) or exc.code != SCOPE_MISSING:
        return None
    found = _SCOPES.search(exc.msg)
    scopes = tuple(s.strip() for s in found.group(1).split(",") if s.strip()) if found else ()
    link = _LINK.search(exc.msg)
    return MissingScope(scopes, link.group(0).rstrip("。，,.") if link else "")


def admin_fix(exc: BaseException) -> str | None:
    """One line naming the console fix for a tenant-setup error, or None when `exc` is not one."""
    scope = missing_scope(exc)
    if scope is not None:
        return scope.fix
    if isinstance(exc, FeishuError) and exc.code == BOT_CAPABILITY_OFF:
        return "turn the bot capability on (开发者后台 → 添加应用能力 → 机器人), then publish a version"
    if isinstance(exc, FeishuError) and exc.code in (SENDER_NOT_IN_CHAT, BOT_NOT_IN_CHAT):
        return (
            "add the bot to the chat its settings name (群设置 → 群机器人 → 添加机器人), or fix the chat_id "
            "(`hrbot doctor` names it)"
        )
    return None


EMPLOYEE_SENTENCE = "机器人在飞书里的设置还不完整，这次没有办成。请把这条消息转告管理员，设置好后再试。"


async def user_error(exc: BaseException, services: Services, user: str) -> UserFacingError | None:
    """The card for a user whose request hit a tenant-setup error: a plain sentence for an employee; an admin (or
    manager) also reads the fix. None when `exc` is not such an error. Logged once as a WARNING naming the fix."""
    fix = admin_fix(exc)
    if fix is None:
        return None
    log.warning("a user's request failed because the Feishu app is not set up: %s", fix)
    if await _is_admin(services, user):
        scope = missing_scope(exc)
        what = f"缺少权限 {'、'.join(scope.scopes)}" if scope and scope.scopes else "机器人能力或所在的群"
        return UserFacingError(
            f"机器人在飞书里的设置还不完整（{what}），这次没有办成。\n管理员请处理：{fix}",
            title="飞书应用设置不完整",
        )
    return UserFacingError(EMPLOYEE_SENTENCE, title="暂时无法完成")


async def _is_admin(services: Services, user: str) -> bool:
    try:
        return await services.roles.has(Role.ADMINS, user)
    except (FeishuError, OSError):
        return False
