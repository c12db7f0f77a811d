"""The sandbox's synthetic company: a few named personas, their chats, and a deterministic org of employees."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property

BOT_OPEN_ID = "ou_sandbox_bot"
EMPLOYEE = "ou_sandbox_employee"
HR = "ou_sandbox_hr"
MANAGER = "ou_sandbox_manager"

HR_GROUP = "oc_sandbox_hr"
MANAGER_GROUP = "oc_sandbox_managers"

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国思雨欣怡浩然子涵梓轩宇航晨曦嘉怡雪梅海峰志强晓东"


@dataclass(frozen=True)
class Person:
    open_id: str
    user_id: str
    name: str
    department_id: str
    role: str = "employee"


@dataclass(frozen=True)
class Department:
    department_id: str
    name: str
    parent: str


@dataclass(frozen=True)
class Chat:
    chat_id: str
    name: str
    chat_type: str  # "p2p" | "group"
    members: tuple[str, ...]


PERSONAS = (
    Person(EMPLOYEE, "u_employee", "张小明", "od_rd", "employee"),
    Person(HR, "u_hr", "李思", "od_hr", "hr"),
    Person(MANAGER, "u_manager", "王建国", "od_rd", "manager"),
)


@dataclass
class Directory:
    """`employees` synthetic people in departments under the root "0", plus the personas."""

    employees: int = 200
    seed: int = 20261123
    _people: dict[str, Person] = field(default_factory=dict, init=False)
    _departments: dict[str, Department] = field(default_factory=dict, init=False)
    # Chats change: people join a group, the bot is removed from one (tests and the console drive this).
    joined: dict[str, list[str]] = field(default_factory=dict, init=False)
    bot_removed_from: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        top = [
            ("od_rd", "研发中心"),
            ("od_hr", "人力资源部"),
            ("od_sales", "销售部"),
            ("od_ops", "运营部"),
            ("od_fin", "财务部"),
        ]
        for dep_id, name in top:
            self._departments[dep_id] = Department(dep_id, name, "0")
            for index in range(1, 4):
                sub_id = f"{dep_id}_{index}"
                self._departments[sub_id] = Department(sub_id, f"{name}{index}组", dep_id)
        for person in PERSONAS:
            self._people[person.open_id] = person
        leaves = [d.department_id for d in self._departments.values()]
        for number in range(1, self.employees + 1):
            name = rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))
            open_id = f"ou_emp_{number:05d}"
            self._people[open_id] = Person(open_id, f"u{number:05d}", name, leaves[number % len(leaves)])

    # People ----------------------------------------------------------------------------------------------------
    @property
    def people(self) -> list[Person]:
        return list(self._people.values())

    def has_user(self, open_id: str) -> bool:
        return open_id in self._people

    def person(self, open_id: str) -> Person:
        return self._people[open_id]

    def find(self, id_type: str, value: str) -> Person | None:
        """The person `value` names as an id of `id_type` (open_id, user_id, union_id or email); None when no one has
        that id of that type, as Feishu finds no one for an open_id passed as a user_id."""
        if id_type == "open_id":
            return self._people.get(value)
        return self._by_id(id_type).get(value)

    @cached_property
    def _ids(self) -> dict[str, dict[str, Person]]:
        return {
            "user_id": {p.user_id: p for p in self._people.values()},
            "union_id": {union_of(p): p for p in self._people.values()},
            "email": {email_of(p): p for p in self._people.values()},
        }

    def _by_id(self, id_type: str) -> dict[str, Person]:
        return self._ids.get(id_type, {})

    def user_json(self, open_id: str) -> dict[str, object]:
        person = self._people[open_id]
        return {
            "open_id": person.open_id,
            "user_id": person.user_id,
            "union_id": union_of(person),
            "name": person.name,
            "email": email_of(person),
            "mobile": mobile_of(person),
            "department_ids": [person.department_id],
            "status": {"is_activated": True, "is_resigned": False},
        }

    def mentioned_people(self, text: str) -> list[tuple[str, Person]]:
        """`@name` markers in typed text that name a persona."""
        return [(f"@{p.name}", p) for p in PERSONAS if f"@{p.name}" in text]

    # Departments -----------------------------------------------------------------------------------------------
    def children_of(self, department_id: str) -> list[Department]:
        return [d for d in self._departments.values() if d.parent == department_id]

    @cached_property
    def _members(self) -> dict[str, list[Person]]:
        members: dict[str, list[Person]] = {}
        for person in self._people.values():
            members.setdefault(person.department_id, []).append(person)
        return members

    def members_of(self, department_id: str) -> list[Person]:
        """Direct members only, as the contact API's find_by_department returns them."""
        return self._members.get(department_id, [])

    # Chats -----------------------------------------------------------------------------------------------------
    @staticmethod
    def p2p_chat_of(open_id: str) -> str:
        return f"oc_p2p_{open_id}"

    def chat(self, chat_id: str) -> Chat:
        if chat_id in self.bot_removed_from:
            raise KeyError(chat_id)
        joined = tuple(self.joined.get(chat_id, ()))
        if chat_id == HR_GROUP:
            return Chat(HR_GROUP, "HR 群", "group", (HR, BOT_OPEN_ID, *joined))
        if chat_id == MANAGER_GROUP:
            return Chat(MANAGER_GROUP, "经理群", "group", (MANAGER, HR, BOT_OPEN_ID, *joined))
        if chat_id.startswith("oc_p2p_") and chat_id.removeprefix("oc_p2p_") in self._people:
            person = self._people[chat_id.removeprefix("oc_p2p_")]
            return Chat(chat_id, f"与 hrbot 的私聊（{person.name}）", "p2p", (person.open_id, BOT_OPEN_ID))
        raise KeyError(chat_id)

    def chats(self) -> list[Chat]:
        """The chats the bot is in: the personas' private chats and the groups it was not removed from."""
        ids = [self.p2p_chat_of(p.open_id) for p in PERSONAS] + [HR_GROUP, MANAGER_GROUP]
        return [self.chat(chat_id) for chat_id in ids if chat_id not in self.bot_removed_from]


def union_of(person: Person) -> str:
    """A union_id per person (on_…), distinct from the open_id as Feishu's are."""
    return "on_" + person.open_id.removeprefix("ou_")


def email_of(person: Person) -> str:
    return f"{person.user_id}@sandbox.example.com"


def mobile_of(person: Person) -> str:
    """A deterministic mainland mobile number per person (E.164 with +86, as the contact API returns it)."""
    digits = "".join(ch for ch in person.user_id if ch.isdigit()) or str(sum(map(ord, person.user_id)))
    return f"+86138{int(digits) % 10**8:08d}"
