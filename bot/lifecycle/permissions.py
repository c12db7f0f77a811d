"""The declarations of every feature and the core, collected: scope needs merged by any-of set (one probe proves
a group), the event subscriptions, and deploy/README.md's permission table (`python -m bot.lifecycle.permissions`
prints it)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.lifecycle.core_manifest import CORE
from bot.lifecycle.features import Feature
from bot.lifecycle.manifest import Manifest, Probe, ScopeNeed, Subscription


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
    from bot.lifecycle.features import discover

    print(permission_table(discover()))


if __name__ == "__main__":
    main()
