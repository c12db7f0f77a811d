"""What the bot needs from a Feishu tenant, declared by the code that needs it: scopes (any-of groups, as each API's
权限要求 row lists them), events and callbacks, the chats the bot must be in, and the provider keys a feature uses.

Each feature's `Manifest` sits beside its router (`Feature.manifest`); the core declares its own (`CORE`). `hrbot
doctor` proves each scope group with its probe, one cheap read-only unbilled call, and deploy/README.md's permission
table is generated from these declarations (`python -m bot.manifest`), so the guide cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.lifecycle.services import Services

# A probe makes one read-only, unbilled call that needs the group's scope and says what it asked ("HR 李思's
# name"); None when nothing is configured to ask about (the check is then not applicable). A missing scope
# surfaces as Feishu's FeishuError 99991672, raised from the call.
Probe = Callable[["Services"], Awaitable[str | None]]
# The chats the bot must be a member of, by what names them (a setting, or "subscribed to the digest").
ChatsNeeded = Callable[["Services"], Awaitable[Mapping[str, Sequence[str]]]]

# Ids that exist nowhere: a probe that must not touch anything real sends them, and Feishu checks the scope before
# it looks the id up (a granted scope answers "not found", a missing one 99991672).
NOBODY_CHAT = "oc_hrbot_doctor_probe"
NOBODY_MESSAGE = "om_hrbot_doctor_probe"


@dataclass(frozen=True)
class ScopeNeed:
    """One use of one Feishu API and the scopes that allow it (any one of `any_of`)."""

    need: str  # what it is for, as the permission table says it: "增减员: names"
    api: str  # "GET /contact/v3/users/batch"
    any_of: tuple[str, ...]
    probe: Probe | None = None
    note: str = ""


@dataclass(frozen=True)
class Subscription:
    """An event or card callback the app subscribes to in 事件与回调."""

    name: str  # im.message.receive_v1
    label: str  # 接收消息, as the console lists it
    need: str
    callback: bool = False
    note: str = ""


@dataclass(frozen=True)
class Manifest:
    scopes: Sequence[ScopeNeed] = ()
    subscriptions: Sequence[Subscription] = ()
    chats: ChatsNeeded | None = None
    # Provider settings the feature cannot work without (presence and format are checked, never a call).
    provider_keys: Sequence[str] = ()
