"""Names for the ids an adjust record carries: city (location_id), legal entity (company_id), insurance kind.

Seed 004 points each id at its API (获取地点信息, 获取公司主体, 获取险种配置列表). Names change rarely and the same
few ids repeat on every record, so each is asked once and kept a day (in the store, shared by replicas). An id
that cannot be named stays an id: the card shows it rather than nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.feishu.client import FeishuClient, FeishuError
from bot.state.store import Store

log = logging.getLogger("hrbot.names")

TTL = timedelta(hours=24)


@dataclass(frozen=True)
class Place:
    name: str  # the name, or the id when none was found
    code: str = ""  # the location's code (a city code such as 310000), when it has one


def _zh(names: Any) -> str:
    """CoreHR's i18n lists ([{lang, value}]) and compensation's i18n objects ({zh_cn, en_us})."""
    if isinstance(names, dict):
        return str(names.get("zh_cn") or names.get("en_us") or "")
    if isinstance(names, list):
        values = {
            str(n.get("lang", "")).lower(): str(n.get("value") or "") for n in names if isinstance(n, dict)
        }
        return values.get("zh-cn") or next((v for v in values.values() if v), "")
    return ""


class NameBook:
    def __init__(self, feishu: FeishuClient, store: Store) -> None:
        self.feishu = feishu
        self.store = store
        self._places: dict[str, Place] = {}
        self._insurances: dict[str, str] | None = None

    async def locations(self, ids: Iterable[str]) -> dict[str, Place]:
        return {i: await self._place("location", i) for i in dict.fromkeys(ids) if i}

    async def companies(self, ids: Iterable[str]) -> dict[str, Place]:
        return {i: await self._place("company", i) for i in dict.fromkeys(ids) if i}

    async def insurances(self) -> dict[str, str]:
        """insurance_id → name for every configured insurance kind."""
        if self._insurances is not None:
            return self._insurances
        key = "names:insurances"
        cached = await self.store.cache_get(key)
        if isinstance(cached, dict):
            self._insurances = {str(k): str(v) for k, v in cached.items()}
            return self._insurances
        try:
            data = await self.feishu.call("GET", "/open-apis/compensation/v1/social_insurances")
        except (FeishuError, OSError) as exc:
            log.warning("insurance kinds unavailable: %s", exc)
            return {}
        names = {str(i.get("id")): _zh(i.get("name")) for i in data.get("items") or [] if i.get("id")}
        self._insurances = {k: v for k, v in names.items() if v}
        await self.store.cache_set(key, self._insurances, TTL)
        return self._insurances

    async def _place(self, kind: str, ident: str) -> Place:
        key = f"names:{kind}:{ident}"
        if key in self._places:
            return self._places[key]
        cached = await self.store.cache_get(key)
        if isinstance(cached, dict):
            place = Place(str(cached.get("name") or ident), str(cached.get("code") or ""))
            self._places[key] = place
            return place
        path = f"/open-apis/corehr/v1/{'locations' if kind == 'location' else 'companies'}/{ident}"
        try:
            data = await self.feishu.call("GET", path)
        except (FeishuError, OSError) as exc:
            # Not kept: a permission granted later, or a network blip, should not leave the id for a day.
            log.warning("no name for %s %s: %s", kind, ident, exc)
            return Place(ident)
        common = (data.get(kind) or {}).get("hiberarchy_common") or {}
        place = Place(_zh(common.get("name")) or ident, str(common.get("code") or ""))
        self._places[key] = place
        await self.store.cache_set(key, {"name": place.name, "code": place.code}, TTL)
        return place
