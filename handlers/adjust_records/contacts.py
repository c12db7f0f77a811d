"""Walking the contact directory: departments recursively, members page by page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from bot.feishu.client import FeishuClient

PAGE_SIZE = 50


async def _pages(
    feishu: FeishuClient, path: str, params: dict[str, Any]
) -> AsyncIterator[list[dict[str, Any]]]:
    token = ""
    while True:
        data = await feishu.call("GET", path, params={**params, "page_size": PAGE_SIZE, "page_token": token})
        yield list(data.get("items") or [])
        token = str(data.get("page_token") or "")
        if not data.get("has_more") or not token:
            return


async def department_tree(feishu: FeishuClient, roots: Iterable[str]) -> list[str]:
    """The roots and every department below them, each once."""
    seen: list[str] = []
    pending = list(dict.fromkeys(roots))
    while pending:
        department = pending.pop()
        if department in seen:
            continue
        seen.append(department)
        async for page in _pages(
            feishu,
            f"/open-apis/contact/v3/departments/{department}/children",
            {"department_id_type": "open_department_id"},
        ):
            # We ask by open_department_id; `department_id` in the answer is the company's own custom id.
            pending.extend(str(d["open_department_id"]) for d in page if d.get("open_department_id"))
    return seen


async def members(feishu: FeishuClient, roots: Iterable[str]) -> AsyncIterator[dict[str, Any]]:
    """Every user directly in each department of the tree under `roots`, each once."""
    yielded: set[str] = set()
    for department in await department_tree(feishu, roots):
        async for page in _pages(
            feishu,
            "/open-apis/contact/v3/users/find_by_department",
            {
                "department_id": department,
                "user_id_type": "open_id",
                "department_id_type": "open_department_id",
            },
        ):
            for user in page:
                open_id = str(user.get("open_id") or "")
                if open_id and open_id not in yielded:
                    yielded.add(open_id)
                    yield user


async def open_ids_by_contact(
    feishu: FeishuClient, *, emails: Iterable[str] = (), mobiles: Iterable[str] = ()
) -> dict[str, str]:
    """Email or mobile (as given) → open_id, for those that name a person; 50 of each per request."""
    emails, mobiles = list(dict.fromkeys(emails)), list(dict.fromkeys(mobiles))
    found: dict[str, str] = {}
    for start in range(0, max(len(emails), len(mobiles)), 50):
        data = await feishu.call(
            "POST",
            "/open-apis/contact/v3/users/batch_get_id",
            params={"user_id_type": "open_id"},
            json_body={"emails": emails[start : start + 50], "mobiles": mobiles[start : start + 50]},
        )
        for item in data.get("user_list") or []:
            key = str(item.get("email") or item.get("mobile") or "")
            if item.get("user_id") and key:
                found[key] = str(item["user_id"])
    return found
