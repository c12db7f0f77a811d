"""What the bot needs from a Feishu tenant, declared by the code that needs it: scopes (any-of groups, as each API's
权限要求 row lists them), events and callbacks, the chats the bot must be in, and the provider keys a feature uses.

Each feature's `Manifest` sits beside its router (`Feature.manifest`); the core declares its own (`CORE`). `hrbot
doctor` proves each scope group with its probe, one cheap read-only unbilled call, and deploy/README.md's permission
table is generated from these declarations (`python -m bot.manifest`), so the guide cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.features import Feature
    from bot.services import Services

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


@dataclass
class ScopeGroup:
    """Every declared use of one any-of set of scopes: one probe proves them all."""

    any_of: tuple[str, ...]
    needs: list[ScopeNeed] = field(default_factory=list)

    @property
    def probes(self) -> list[Probe]:
        """Every declared probe, tried in order until one finds something configured to ask about."""
        return list(dict.fromkeys(need.probe for need in self.needs if need.probe is not None))

    @property
    def label(self) -> str:
        return " or ".join(self.any_of)


def manifests(features: Iterable[Feature]) -> list[Manifest]:
    from bot.core_manifest import CORE

    return [CORE, *(feature.manifest for feature in features if feature.manifest is not None)]


def scope_groups(features: Iterable[Feature]) -> list[ScopeGroup]:
    """Declared scope needs merged by any-of set, in declaration order (core first)."""
    groups: dict[tuple[str, ...], ScopeGroup] = {}
    for manifest in manifests(features):
        for need in manifest.scopes:
            groups.setdefault(need.any_of, ScopeGroup(need.any_of)).needs.append(need)
    return list(groups.values())


def subscriptions(features: Iterable[Feature]) -> list[Subscription]:
    found: dict[str, Subscription] = {}
    for manifest in manifests(features):
        for subscription in manifest.subscriptions:
            found.setdefault(subscription.name, subscription)
    return list(found.values())


def permission_table(features: Iterable[Feature]) -> str:
    """deploy/README.md's permission table (Markdown), from the declarations."""
    features = list(features)
    rows = [
        "| needed for | API / event | scope (any one) | `hrbot doctor` proves it with |",
        "|---|---|---|---|",
    ]
    for group in scope_groups(features):
        proof = " or ".join(_first_line(probe) for probe in group.probes) or "– (check in the console)"
        scopes = ", ".join(f"`{scope}`" for scope in group.any_of)
        by_api: dict[str, list[ScopeNeed]] = {}
        for need in group.needs:
            by_api.setdefault(need.api, []).append(need)
        for api, needs in by_api.items():
            notes = "".join(f". {note}" for note in dict.fromkeys(n.note for n in needs if n.note))
            used_by = "; ".join(dict.fromkeys(n.need for n in needs))
            rows.append(f"| {used_by} | `{api}` | {scopes}{notes} | {proof} |")
    for subscription in subscriptions(features):
        kind = "callback" if subscription.callback else "event"
        rest = subscription.note or "subscribe in 事件与回调; no API can probe it"
        rows.append(
            f"| {subscription.need} | {kind} `{subscription.name}` ({subscription.label}) | {rest} | – |"
        )
    return "\n".join(rows)


def _first_line(probe: Probe) -> str:
    return (probe.__doc__ or probe.__name__).strip().splitlines()[0]


def main() -> None:
    from bot.features import discover

    print(permission_table(discover()))


if __name__ == "__main__":
    main()
