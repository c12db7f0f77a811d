"""Contacts (https://open.feishu.cn/document/server-docs/contact-v3/user/batch, …/user/batch_get_id,
…/user/find_by_department, …/department/children).

The directory as the contact API shows it: users by id, by email or mobile, by department, and a department's
children, paged and capped as Feishu caps them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.sandbox.directory import Person, email_of, mobile_of
from bot.sandbox.feishu.common import (
    FIELD_INVALID,
    EmulatorState,
    Route,
    fail,
    ok,
)

USER_ID_TYPES = frozenset({"open_id", "union_id", "user_id"})
# Get user doc's error for an id that names no user (as users report it; unverified).
USER_NOT_FOUND = 41050


def routes(api: ContactsApi) -> list[Route]:
    return [
        ("GET", "/open-apis/contact/v3/users/batch", api._users_batch),
        ("POST", "/open-apis/contact/v3/users/batch_get_id", api._user_ids_by_contact),
        ("GET", "/open-apis/contact/v3/users/find_by_department", api._users_by_department),
        ("GET", "/open-apis/contact/v3/departments/{department_id}/children", api._department_children),
        # After the fixed paths: aiohttp matches in order, and batch and find_by_department are not user ids.
        ("GET", "/open-apis/contact/v3/users/{user_id}", api._user),
    ]


class ContactsApi(EmulatorState):
    async def _user_ids_by_contact(self, request: web.Request) -> web.Response:
        """Users by email or mobile (https://open.feishu.cn/document/server-docs/contact-v3/user/batch_get_id):
        at most 50 of each; a mobile without a country code is a mainland number; unknown ones come back without
        a user_id."""
        try:
            body = await request.json()
        except ValueError:
            return fail(40001, "body is not JSON")
        emails, mobiles = body.get("emails") or [], body.get("mobiles") or []
        if (
            not isinstance(emails, list)
            or not isinstance(mobiles, list)
            or len(emails) > 50
            or len(mobiles) > 50
        ):
            return fail(40001, "at most 50 emails and 50 mobiles")
        # user_id_type (open_id by default) says which id each found user is answered with.
        id_type = request.query.get("user_id_type", "open_id")
        if id_type not in USER_ID_TYPES:
            return fail(FIELD_INVALID, f"field validation failed: user_id_type {id_type!r}")
        by_email = {email_of(p).casefold(): p for p in self.directory.people}
        by_mobile = {mobile_of(p): p for p in self.directory.people}
        found: list[dict[str, Any]] = []
        for email in emails:
            person = by_email.get(str(email).casefold())
            found.append({"email": email, **({"user_id": self._id_of(person, id_type)} if person else {})})
        for mobile in mobiles:
            number = str(mobile) if str(mobile).startswith("+") else f"+86{mobile}"
            person = by_mobile.get(number)
            found.append({"mobile": mobile, **({"user_id": self._id_of(person, id_type)} if person else {})})
        return ok({"user_list": found})

    def _id_of(self, person: Person, id_type: str) -> str:
        return str(self.directory.user_json(person.open_id)[id_type])

    def _person_of(self, request: web.Request, user_id: str) -> Person | web.Response | None:
        """The person `user_id` names as an id of the request's user_id_type (open_id by default, as the contact
        API's doc says); an id of another type names no one."""
        id_type = request.query.get("user_id_type", "open_id")
        if id_type not in USER_ID_TYPES:
            return fail(FIELD_INVALID, f"field validation failed: user_id_type {id_type!r}")
        return self.directory.find(id_type, user_id)

    async def _users_batch(self, request: web.Request) -> web.Response:
        """Users by id (https://open.feishu.cn/document/server-docs/contact-v3/user/batch): at most 50, of the
        user_id_type given; unknown ones are left out."""
        ids = request.query.getall("user_ids", [])
        if len(ids) > 50:
            return fail(40001, "at most 50 user_ids")
        items = []
        for user_id in ids:
            person = self._person_of(request, user_id)
            if isinstance(person, web.Response):
                return person
            if person is not None:
                items.append(self.directory.user_json(person.open_id))
        return ok({"items": items})

    async def _user(self, request: web.Request) -> web.Response:
        """One user (https://open.feishu.cn/document/server-docs/contact-v3/user/get): data.user."""
        person = self._person_of(request, request.match_info["user_id"])
        if isinstance(person, web.Response):
            return person
        if person is None:
            return fail(USER_NOT_FOUND, "user not found", status=404)
        return ok({"user": self.directory.user_json(person.open_id)})

    async def _users_by_department(self, request: web.Request) -> web.Response:
        department_id = request.query.get("department_id", "0")
        page_size = min(int(request.query.get("page_size", "50") or 50), 50)
        offset = int(request.query.get("page_token") or 0)
        members = self.directory.members_of(department_id)
        page = members[offset : offset + page_size]
        more = offset + page_size < len(members)
        return ok(
            {
                "items": [self.directory.user_json(u.open_id) for u in page],
                "has_more": more,
                "page_token": str(offset + page_size) if more else "",
            }
        )

    async def _department_children(self, request: web.Request) -> web.Response:
        department_id = request.match_info["department_id"]
        page_size = min(int(request.query.get("page_size", "50") or 50), 50)
        offset = int(request.query.get("page_token") or 0)
        children = self.directory.children_of(department_id)
        page = children[offset : offset + page_size]
        more = offset + page_size < len(children)
        return ok(
            {
                "items": [
                    {
                        # As Feishu answers: the id of the requested type, and the company's own custom id.
                        "open_department_id": d.department_id,
                        "department_id": f"custom-{d.department_id}",
                        "name": d.name,
                        "parent_department_id": d.parent,
                    }
                    for d in page
                ],
                "has_more": more,
                "page_token": str(offset + page_size) if more else "",
            }
        )
