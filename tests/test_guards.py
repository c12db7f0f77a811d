"""Guards on registration: who may go on (members, HR, managers), and personal answers kept out of groups."""

from __future__ import annotations

import pytest

from bot.routing.context import MessageContext
from bot.routing.errors import Refusal
from bot.routing.guards import hr_only, managers_only, members_only, private_only
from bot.routing.protocol import Card
from bot.routing.router import Router
from tests.fakes import (
    GROUP,
    HR,
    MANAGER,
    USER,
    FakeFeishu,
    action_context,
    core_settings,
    fake_services,
    message_context,
)


def refusal_card() -> Card:
    return {"header": {"title": {"content": "无权限"}}}


def notice() -> Card:
    return {"header": {"title": {"content": "已私聊你"}}}


def answer() -> Card:
    return {"header": {"title": {"content": "你的记录"}}}


def services_with_roles():  # type: ignore[no-untyped-def]
    settings = core_settings(hrbot_hr_open_ids=f" {HR} , ou_hr2", hrbot_managers=f"{MANAGER},")
    return fake_services(settings=settings)


# Who may go on ------------------------------------------------------------------------------------------------
async def test_hr_only_lets_hr_through_and_refuses_others_with_the_features_card() -> None:
    services = services_with_roles()
    guard = hr_only("只有 HR 可以", refusal_card)
    await guard(message_context(services, user=HR))
    await guard(action_context(services, user="ou_hr2"))
    for ctx in (message_context(services, user=USER), action_context(services, user=MANAGER)):
        with pytest.raises(Refusal) as refused:
            await guard(ctx)
        assert refused.value.user_message == "只有 HR 可以" and refused.value.kind == "error"
        assert refused.value.card == refusal_card()
    assert services.feishu.sent == []  # a refusal is the core's to show, not the guard's


async def test_managers_only_lets_managers_through_and_refuses_others() -> None:
    services = services_with_roles()
    guard = managers_only("只有管理员可以")
    await guard(action_context(services, user=MANAGER))
    await guard(message_context(services, user=MANAGER, group=True))
    with pytest.raises(Refusal) as refused:
        await guard(action_context(services, user=HR))
    assert refused.value.user_message == "只有管理员可以" and refused.value.card is None


async def test_nobody_is_hr_or_a_manager_when_none_is_configured() -> None:
    services = fake_services()
    for guard in (hr_only("no"), managers_only("no")):
        with pytest.raises(Refusal):
            await guard(message_context(services, user=HR))


async def test_members_only_asks_the_services_who_may() -> None:
    """A feature's own list: `members` reads it from the services at each check."""
    services = fake_services()
    allowed = {"ou_a"}
    guard = members_only(lambda s: allowed if s is services else set(), "不在名单里")
    await guard(message_context(services, user="ou_a"))
    with pytest.raises(Refusal, match="不在名单里"):
        await guard(message_context(services, user="ou_b"))
    allowed.add("ou_b")
    await guard(message_context(services, user="ou_b"))


# Private only --------------------------------------------------------------------------------------------------
async def test_in_a_group_private_only_posts_the_notice_and_moves_replies_private() -> None:
    services = fake_services()
    feishu: FakeFeishu = services.feishu  # type: ignore[assignment]
    ctx = message_context(services, user=USER, group=True)
    await private_only(notice)(ctx)
    assert ctx.private
    await ctx.reply(answer())
    assert [(s.how, s.to, s.id_type, s.card) for s in feishu.sent] == [
        ("reply", ctx.message.message_id, "", notice()),  # in the group, under the question
        ("send", USER, "open_id", answer()),  # the answer, to the asker alone
    ]
    assert all(s.to != GROUP for s in feishu.sent)


async def test_in_a_private_chat_private_only_changes_nothing() -> None:
    services = fake_services()
    feishu: FakeFeishu = services.feishu  # type: ignore[assignment]
    ctx = message_context(services, user=USER)
    await private_only(notice)(ctx)
    assert not ctx.private
    await ctx.reply(answer())
    assert [(s.how, s.to, s.card) for s in feishu.sent] == [("reply", ctx.message.message_id, answer())]


async def test_a_click_is_answered_where_it_happened() -> None:
    services = fake_services()
    await private_only(notice)(action_context(services))
    assert services.feishu.sent == []


async def test_registered_guards_send_the_answer_private_and_a_refusal_comes_first() -> None:
    """As features register them: a refused asker gets no notice; an allowed one gets the notice in the group
    and the answer privately."""
    router = Router("demo")

    @router.command("记录", summary="s", guards=[hr_only("只有 HR 可以"), private_only(notice)])
    async def records(ctx: MessageContext) -> None:
        await ctx.reply(answer())

    services = services_with_roles()
    feishu: FakeFeishu = services.feishu  # type: ignore[assignment]
    with pytest.raises(Refusal):
        await router.commands[0].run(message_context(services, user=USER, group=True))
    assert feishu.sent == []
    await router.commands[0].run(message_context(services, user=HR, group=True))
    assert [(s.how, s.to, s.card) for s in feishu.sent] == [
        ("reply", "om_asked", notice()),
        ("send", HR, answer()),
    ]
