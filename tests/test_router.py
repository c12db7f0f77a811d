"""The router and dispatcher without a running bot: ids carry the router's name, old ids stay reachable through
aliases, nothing registers twice, guards run before handlers, the fallback and error view come from routers, and
schedules read their values from settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.config import SettingsModel
from bot.ingress.events import GENERIC_FAILURE, EventPipeline
from bot.lifecycle.app import BotApp
from bot.lifecycle.features import build_dispatcher, discover
from bot.lifecycle.services import Services
from bot.routing.context import ActionContext, MessageContext
from bot.routing.errors import Refusal, UserFacingError
from bot.routing.protocol import ActionResponse, Card
from bot.routing.router import Dispatcher, Router, split_command
from tests import feishu_wire as wire
from tests.conftest import eventually
from tests.fakes import P2P, USER, action_context, core_settings, fake_services, message_context


def view_card(title: str, message: str) -> Card:
    return {"header": {"title": {"content": title}}, "body": {"elements": [{"content": message}]}}


async def nothing(_ctx: Any) -> None:
    return None


# Ids --------------------------------------------------------------------------------------------------------------
def test_action_and_job_ids_carry_the_routers_name_and_command_words_do_not() -> None:
    router = Router("demo")
    router.command("示例", "demo", summary="s")(nothing)
    router.action("go")(nothing)
    router.every(timedelta(minutes=5), id="tick")(nothing)
    router.cron("0 9 * * 1-5", id="daily")(nothing)
    router.job(id="later", legacy="handlers.demo:later")(nothing)

    assert router.qualified("go") == "demo.go"
    assert set(router.actions) == {"demo.go"} and router.actions["demo.go"].id == "demo.go"
    assert set(router.schedules) == {"demo.tick", "demo.daily", "demo.later"}
    assert router.schedules["demo.later"].legacy == "handlers.demo:later"
    assert [c.words for c in router.commands] == [("示例", "demo")]

    dispatcher = Dispatcher()
    dispatcher.include(router)
    assert dispatcher.find_action("demo.go") is router.actions["demo.go"]
    assert dispatcher.find_action("go") is None
    assert dispatcher.find_command("DEMO") is dispatcher.find_command("示例") is router.commands[0]
    assert set(dispatcher.schedules) == {"demo.tick", "demo.daily", "demo.later"}


async def test_an_alias_reaches_the_same_action_under_its_new_id() -> None:
    """Buttons on cards already in chats carry the old id."""
    router = Router("personal")
    clicks: list[str] = []

    @router.action("submit", aliases=["tcredit.submit"])
    async def submit(ctx: ActionContext) -> ActionResponse:
        clicks.append(ctx.action.action)
        return ActionResponse.toast("ok")

    dispatcher = Dispatcher()
    dispatcher.include(router)
    old, new = dispatcher.find_action("tcredit.submit"), dispatcher.find_action("personal.submit")
    assert old is new and old is not None and old.id == "personal.submit"
    services = fake_services(dispatcher)
    assert await old.run(action_context(services, "tcredit.submit")) == ActionResponse.toast("ok")
    assert clicks == ["tcredit.submit"]
    assert dispatcher.find_action("tcredit.other") is None


# Registering twice ------------------------------------------------------------------------------------------------
def test_the_same_action_or_job_in_one_router_is_refused() -> None:
    router = Router("demo")
    router.action("go")(nothing)
    router.every(timedelta(minutes=1), id="tick")(nothing)
    with pytest.raises(ValueError, match=r"demo\.go"):
        router.action("go")(nothing)
    with pytest.raises(ValueError, match=r"demo\.go"):
        router.action("stop", aliases=["demo.go"])(nothing)
    with pytest.raises(ValueError, match=r"demo\.tick"):
        router.cron("0 9 * * *", id="tick")(nothing)
    with pytest.raises(ValueError, match=r"demo\.tick"):
        router.job(id="tick")(nothing)
    # What was registered first still answers.
    assert router.actions["demo.go"].handler is nothing and router.schedules["demo.tick"].every is not None


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (lambda r: r.command("查询", summary="s"), lambda r: r.command("查询", summary="s"), "command"),
        (lambda r: r.command("Help", summary="s"), lambda r: r.command("x", "help", summary="s"), "command"),
        (lambda r: r.action("go"), lambda r: r.action("other", aliases=["a.go"]), "card action"),
        (lambda r: r.every(timedelta(1), id="t"), lambda r: r.job(id="t"), "job"),
        (lambda r: r.on_fallback, lambda r: r.on_fallback, "fallback"),
        (lambda r: r.on_error, lambda r: r.on_error, "error_view"),
    ],
    ids=["command", "command-alias-any-case", "action-alias", "job", "fallback", "error-view"],
)
def test_the_same_listener_from_two_routers_is_refused(first: Any, second: Any, message: str) -> None:
    one, two = Router("a"), Router("a" if message == "job" else "b")
    first(one)(nothing)
    second(two)(nothing)
    dispatcher = Dispatcher()
    dispatcher.include(one)
    with pytest.raises(ValueError, match=message):
        dispatcher.include(two)


# Guards -----------------------------------------------------------------------------------------------------------
async def test_guards_run_in_order_before_the_handler() -> None:
    router = Router("demo")
    calls: list[str] = []

    def guard(name: str) -> Any:
        async def check(_ctx: Any) -> None:
            calls.append(name)

        return check

    @router.command("示例", summary="s", guards=[guard("first"), guard("second")])
    async def command(_ctx: MessageContext) -> None:
        calls.append("handler")

    @router.action("go", guards=[guard("first"), guard("second")])
    async def action(_ctx: ActionContext) -> ActionResponse:
        calls.append("handler")
        return ActionResponse.toast("done")

    services = fake_services()
    await router.commands[0].run(message_context(services))
    assert calls == ["first", "second", "handler"]
    calls.clear()
    assert await router.actions["demo.go"].run(action_context(services)) == ActionResponse.toast("done")
    assert calls == ["first", "second", "handler"]


async def test_a_refusal_stops_the_handler_and_later_guards() -> None:
    router = Router("demo")
    calls: list[str] = []

    async def refuse(_ctx: Any) -> None:
        calls.append("refuse")
        raise Refusal("不行", "error")

    async def after(_ctx: Any) -> None:
        calls.append("after")

    @router.command("示例", summary="s", guards=[refuse, after])
    async def command(_ctx: MessageContext) -> None:
        calls.append("handler")

    @router.action("go", guards=[refuse, after])
    async def action(_ctx: ActionContext) -> None:
        calls.append("handler")

    services = fake_services()
    with pytest.raises(Refusal, match="不行"):
        await router.commands[0].run(message_context(services))
    with pytest.raises(Refusal, match="不行"):
        await router.actions["demo.go"].run(action_context(services))
    assert calls == ["refuse", "refuse"]


# Fallback and error view, through the event pipeline ----------------------------------------------------------------
def help_router() -> Router:
    router = Router("help")

    @router.on_fallback
    async def fallback(ctx: MessageContext) -> None:
        await ctx.reply(view_card("帮助", f"unknown: {ctx.command}"))

    @router.on_error
    def error_view(title: str, message: str) -> Card:
        return view_card(title, message)

    return router


def failing_router() -> Router:
    router = Router("demo")

    @router.command("坏了", summary="s")
    async def crash(_ctx: MessageContext) -> None:
        raise RuntimeError("internal detail /srv/app.py")

    @router.command("没钱", summary="s")
    async def broke(_ctx: MessageContext) -> None:
        raise UserFacingError("余额不足，请联系管理员", title="查询失败")

    async def refuse_with_card(_ctx: Any) -> None:
        raise Refusal("只有 HR 可以", card=view_card("自己的卡片", "只有 HR 可以"))

    @router.command("机密", summary="s", guards=[refuse_with_card])
    async def secret(_ctx: MessageContext) -> None:
        raise AssertionError("the guard refused: the handler must not run")

    @router.action("go", guards=[refuse_with_card])
    async def go(_ctx: ActionContext) -> None:
        raise AssertionError("the guard refused: the handler must not run")

    return router


async def answer_to(dispatcher: Dispatcher, text: str) -> list[tuple[str, str]]:
    """Post a private message through the pipeline; (title, first line) of each card the bot answered with."""
    services = fake_services(dispatcher)
    pipeline = EventPipeline(services, dispatcher)
    event = wire.message_event(text, user=USER, chat_id=P2P)
    assert await pipeline.handle(wire.envelope("im.message.receive_v1", event)) == {}

    async def settled() -> bool:
        return pipeline.in_flight == 0

    await eventually(settled, what="the message handled")
    feishu: Any = services.feishu
    assert all(s.how == "reply" and s.to == event["message"]["message_id"] for s in feishu.sent)
    return [
        (s.card["header"]["title"]["content"], s.card["body"]["elements"][0]["content"]) for s in feishu.sent
    ]


async def test_the_fallback_comes_from_the_router_that_registered_it() -> None:
    dispatcher = Dispatcher()
    dispatcher.include(failing_router(), help_router())
    assert await answer_to(dispatcher, "什么") == [("帮助", "unknown: 什么")]


async def test_errors_are_shown_with_the_routers_error_view() -> None:
    dispatcher = Dispatcher()
    dispatcher.include(help_router(), failing_router())
    assert await answer_to(dispatcher, "没钱") == [("查询失败", "余额不足，请联系管理员")]
    assert await answer_to(dispatcher, "坏了") == [("处理失败", GENERIC_FAILURE)]
    # A refusal with its own card shows that card, not the view.
    assert await answer_to(dispatcher, "机密") == [("自己的卡片", "只有 HR 可以")]


async def test_without_an_error_view_or_fallback_nothing_is_sent() -> None:
    dispatcher = Dispatcher()
    dispatcher.include(Router("bare"))
    assert dispatcher.fallback is None and dispatcher.error_view is None
    only_failures = Dispatcher()
    only_failures.include(failing_router())
    assert await answer_to(dispatcher, "什么") == []
    assert await answer_to(only_failures, "坏了") == []


async def test_a_refused_click_is_a_toast_and_the_handler_does_not_run() -> None:
    dispatcher = Dispatcher()
    dispatcher.include(help_router(), failing_router())
    pipeline = EventPipeline(fake_services(dispatcher), dispatcher)
    click = wire.action_event(user=USER, value={"action": "demo.go"}, message_id="om_card", chat_id=P2P)
    answer = await pipeline.handle(wire.envelope("card.action.trigger", click))
    assert answer == {"toast": {"type": "warning", "content": "只有 HR 可以"}}


# Schedules ---------------------------------------------------------------------------------------------------------
class DemoSettings(SettingsModel):
    hrbot_demo_poll_seconds: float = 30.0
    hrbot_demo_cron: str = "0 9 * * 1-5"


def demo_schedules() -> Router:
    router = Router("demo")

    @router.every(lambda s: timedelta(seconds=s.settings_of(DemoSettings).hrbot_demo_poll_seconds), id="poll")
    async def poll(_services: Services) -> None: ...

    @router.cron(lambda s: s.settings_of(DemoSettings).hrbot_demo_cron, id="digest")
    async def digest(_services: Services) -> None: ...

    @router.every(timedelta(hours=1), id="hourly")
    async def hourly(_services: Services) -> None: ...

    @router.job(id="later")
    async def later(_services: Services, slot: str) -> None: ...

    return router


def test_a_schedules_value_may_come_from_settings() -> None:
    schedules = demo_schedules().schedules
    configured = fake_services(
        feature_settings={"hrbot_demo_poll_seconds": 5, "hrbot_demo_cron": "30 8 * * *"}
    )
    defaults = fake_services()
    assert schedules["demo.poll"].value(configured) == timedelta(seconds=5)
    assert schedules["demo.poll"].value(defaults) == timedelta(seconds=30)
    assert schedules["demo.digest"].value(configured) == "30 8 * * *"
    assert schedules["demo.digest"].value(defaults) == "0 9 * * 1-5"
    assert schedules["demo.hourly"].value(configured) == timedelta(hours=1)
    later = schedules["demo.later"]
    assert later.every is None and later.cron is None and later.value(configured) is None


class RecordingScheduler:
    def __init__(self) -> None:
        self.removed: list[str] = []

    def remove(self, key: str) -> None:
        self.removed.append(key)


async def test_a_stored_job_id_runs_its_handler_with_the_services_and_stored_args() -> None:
    router = Router("demo")
    runs: list[tuple[Any, ...]] = []

    @router.job(id="later")
    async def later(services: Services, slot: str) -> None:
        runs.append((services, slot))

    dispatcher = Dispatcher()
    dispatcher.include(router)
    services = fake_services(dispatcher)
    services.scheduler = RecordingScheduler()  # type: ignore[assignment]
    app = BotApp(core_settings(), features=[])
    app.services, app.dispatcher = services, dispatcher
    await app._run_job("demo.later", "2026-11-27T09:00:00+08:00")
    assert runs == [(services, "2026-11-27T09:00:00+08:00")]
    # A job a removed feature left in the store is dropped, not retried.
    await app._run_job("gone.job")
    assert services.scheduler.removed == ["gone.job"] and len(runs) == 1  # type: ignore[union-attr]


def test_every_command_word_is_found_with_a_space_or_colon_and_joined_only_to_what_it_takes() -> None:
    """Chinese users type 企业社保：小米… or 企业社保 小米… (a full-width space works as well), and 企业社保小米…: joined,
    the word is the command only when the command declares that what follows is its argument."""
    dispatcher = build_dispatcher(discover())
    for command in dispatcher.commands:
        for word in command.words:
            for text in (
                f"{word} 参数",
                f"{word}\u3000参数",
                f"{word}：参数",
                f"{word}: 参数",
                f" {word}\n参数",
            ):
                expected = (
                    (command, word.casefold(), "参数") if command.takes_args else (None, *split_command(text))
                )
                assert dispatcher.match(text) == expected, text
            # Nothing joined is an argument unless the command says so; never after a two-character word.
            joined = f"{word}是什么？"
            assert dispatcher.match(joined) == (None, joined, ""), joined
            assert dispatcher.match(word)[0] is command and dispatcher.match(word)[2] == ""
            if not command.takes_args:
                assert (
                    dispatcher.match(f"{word}。")[0] is command
                    and dispatcher.match(f"{word} !")[0] is command
                )
    assert dispatcher.match("增减员摘要")[0] is dispatcher.find_command("增减员摘要"), "the longest word wins"
    assert dispatcher.match("小微企业成都某某有限公司")[2] == "成都某某有限公司"
    assert dispatcher.match("小微成都某某有限公司")[0] is None and dispatcher.match("小微 成都")[2] == "成都"
    # A Latin word needs a boundary: `helpful` is nobody's command.
    assert dispatcher.match("helpful") == (None, "helpful", "")
    assert dispatcher.match("吃饭了吗 今天") == (None, "吃饭了吗", "今天")
