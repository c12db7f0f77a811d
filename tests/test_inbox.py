"""The pieces that make a re-run of an event harmless: uuids keyed by the event (and the emulator landing a uuid once
within the hour, as Feishu does), idempotent patches, billed calls keyed by the event, the sealed record, take-over
fenced by generation, the scheduler lease fenced likewise, and a flushed Redis that doubles nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from bot.clock import Clock
from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
from bot.feishu.client import FeishuClient
from bot.providers.juhe import billed_api
from bot.routing import event_scope
from bot.routing.context import ActionContext, IncomingAction
from bot.routing.protocol import ACTION_KEY, ActionResponse
from bot.routing.router import Router
from bot.sandbox.directory import EMPLOYEE, HR_GROUP, Directory
from bot.sandbox.server import Sandbox
from bot.state.inbox import Accepted, Inbox, Sealer, replicas
from bot.state.leader import Lease, leases
from bot.state.migrations import upgrade
from bot.state.redis_state import RedisState
from bot.state.store import Store, processed_events
from bot.trust.ledger import BILLED, CallInterrupted, ledger_calls
from cards.common import card, markdown
from tests.conftest import REDIS_URL, RunningBot, eventually, make_settings, open_store, running_bot
from tests.test_feishu_client import CARD, emulator_and_client

assert emulator_and_client

HOUR = timedelta(hours=1)


async def test_the_emulator_lands_a_uuid_once_within_the_hour_for_sends_and_replies(
    emulator_and_client,
) -> None:
    # im/v1/message/create and .../reply: 持有相同 uuid 的请求 1 小时内至多成功发送一条消息.
    emulator, client, clock = emulator_and_client
    chat = Directory.p2p_chat_of(EMPLOYEE)
    emulator.record_user_message("om_user_1", chat_id=chat, sender=EMPLOYEE, text="帮助")
    with event_scope.handling("event:e1"):
        reply = await client.reply_card("om_user_1", CARD)
        sent = await client.send_card(HR_GROUP, CARD)
    with event_scope.handling("event:e1"):  # the handler run again: same places, same uuids
        assert await client.reply_card("om_user_1", CARD) == reply
        assert await client.send_card(HR_GROUP, CARD) == sent
    assert len(emulator.replies_to("om_user_1")) == 1 and len(emulator.bot_messages(HR_GROUP)) == 1
    clock.advance(HOUR + timedelta(seconds=1))
    with event_scope.handling("event:e1"):  # past the hour Feishu no longer remembers the uuid
        assert await client.reply_card("om_user_1", CARD) != reply
        assert await client.send_card(HR_GROUP, CARD) != sent
    assert len(emulator.replies_to("om_user_1")) == 2 and len(emulator.bot_messages(HR_GROUP)) == 2


async def test_each_reply_of_an_event_has_its_own_place_and_outside_an_event_each_send_is_new(
    emulator_and_client,
) -> None:
    emulator, client, _clock = emulator_and_client
    emulator.record_user_message("om_user_2", chat_id=HR_GROUP, sender=EMPLOYEE, text="帮助")
    with event_scope.handling("event:e2"):
        first = await client.reply_card("om_user_2", CARD)
        second = await client.reply_card("om_user_2", CARD)
    assert first != second
    assert await client.send_card(HR_GROUP, CARD) != await client.send_card(HR_GROUP, CARD)


async def test_a_patch_is_idempotent_by_nature(emulator_and_client) -> None:
    """A re-run patches the card again with the same content: the same one message shows it, nothing is added."""
    emulator, client, _clock = emulator_and_client
    message_id = await client.send_card(HR_GROUP, CARD)
    before = len(emulator.messages)
    for _ in range(2):
        assert await client.patch_card(message_id, CARD, resend_to=HR_GROUP) == message_id
    assert len(emulator.messages) == before
    assert emulator.messages[message_id].content["header"] == CARD["header"]


def test_the_record_is_sealed_and_opens_only_with_the_same_secrets() -> None:
    sealer = Sealer("app-secret", "encrypt-key")
    sealed = sealer.seal({"text": "个人社保 110101199003071234"})
    assert b"110101" not in sealed and "个人社保".encode() not in sealed
    assert sealer.open(sealed) == {"text": "个人社保 110101199003071234"}
    with pytest.raises(ValueError):
        Sealer("other-secret", "encrypt-key").open(sealed)


async def _store(tmp_path: Path) -> Store:
    return await open_store(f"sqlite:///{tmp_path / 'inbox.db'}")


async def test_a_dead_replicas_event_is_taken_over_once_and_done_once(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    sealer = Sealer("s", "k")
    taken: list[tuple[str, Accepted]] = []
    try:
        dead = Inbox(store, sealer, home="test")
        await dead.beat()
        assert await store.claim(
            ["event:e3", "message:m3"], owner=dead.holder, payload=dead.payload("message", {"a": 1})
        )
        alive = [Inbox(store, sealer, home="test") for _ in range(2)]
        for inbox in alive:
            inbox._resume = lambda accepted, inbox=inbox: _record(taken, inbox.holder, accepted)
            await inbox.beat()
        # While the owner beats, its event is its own.
        assert [await inbox.take_over() for inbox in alive] == [0, 0]
        await store.changed(
            update(replicas).where(replicas.c.name == dead.holder).values(expires_at=store.clock.now() - HOUR)
        )
        assert sorted([await inbox.take_over() for inbox in alive]) == [0, 1]
        [(holder, accepted)] = taken
        assert accepted == Accepted("event:e3", "message", {"a": 1}, 1)
        # The dead owner's late write is fenced off; the new owner's lands.
        assert not await dead.done("event:e3", 0)
        assert await next(i for i in alive if i.holder == holder).done("event:e3", 1)
        async with store.engine.connect() as conn:
            row = (
                await conn.execute(select(processed_events).where(processed_events.c.key == "event:e3"))
            ).one()
        assert (row.state, row.payload) == ("done", None)
    finally:
        await store.dispose()


async def test_a_replica_shutting_down_hands_back_what_it_could_not_finish(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    sealer = Sealer("s", "k")
    taken: list[tuple[str, Accepted]] = []
    try:
        leaving, staying = Inbox(store, sealer, home="a"), Inbox(store, sealer, home="b")
        staying._resume = lambda accepted: _record(taken, staying.holder, accepted)
        for inbox in (leaving, staying):
            await inbox.beat()
        assert await store.claim(
            ["event:e6"], owner=leaving.holder, payload=leaving.payload("event", {"b": 2})
        )
        assert await staying.take_over() == 0
        await leaving.hand_back()  # SIGTERM, past the grace: its heartbeat goes at once
        assert await staying.take_over() == 1
        assert taken == [(staying.holder, Accepted("event:e6", "event", {"b": 2}, 1))]
    finally:
        await store.dispose()


async def _record(taken: list, holder: str, accepted: Accepted) -> None:
    taken.append((holder, accepted))


async def test_a_billed_call_is_not_made_twice_for_one_event(bot: RunningBot) -> None:
    services = bot.app.services
    api = billed_api(services, "social_security")
    with event_scope.handling("event:e4"):
        async with services.ledger.call(api, user=EMPLOYEE, chat="oc_x", feature="test"):
            pass
    with event_scope.handling("event:e4", resumed=True), pytest.raises(CallInterrupted):
        async with services.ledger.call(api, user=EMPLOYEE, chat="oc_x", feature="test"):
            raise AssertionError("the call was made again")
    async with services.store.engine.connect() as conn:
        outcomes = (await conn.execute(select(ledger_calls.c.outcome, ledger_calls.c.event_key))).all()
    assert [tuple(row) for row in outcomes] == [(BILLED, "event:e4:billed:juhe:social_security:0")]


async def test_the_scheduler_lease_is_fenced_by_generation(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    try:
        first, second = (Lease(store, on_gain=lambda: None, on_loss=lambda: None) for _ in range(2))
        await first._step()
        await second._step()
        assert first.leading and not second.leading and await first.holds()
        # The first leader stalls past its lease: the second takes it, one generation on.
        await store.changed(update(leases).values(expires_at=store.clock.now() - HOUR))
        await second._step()
        assert second.leading and second.generation == first.generation + 1
        assert not await first.holds()  # its jobs are skipped until its next step tells it so
        await first._step()
        assert not first.leading
    finally:
        await store.dispose()


@pytest.mark.skipif(not REDIS_URL, reason="Redis runs in CI's second pass")
async def test_a_flushed_redis_does_not_let_a_redelivery_through(tmp_path: Path) -> None:
    redis = RedisState(REDIS_URL, timedelta(hours=48))
    await redis.redis.flushdb()
    url = f"sqlite:///{tmp_path / 'inbox.db'}"
    upgrade(url)
    store = Store(url, Clock(), redis=redis)
    try:
        assert await store.claim(["event:e5", "message:m5"], owner="r1", payload=b"x")
        assert not await store.claim(["event:e5", "message:m5"])
        await redis.redis.flushdb()  # Redis lost everything: the database still knows the event
        assert not await store.claim(["event:e5", "message:m5"])
    finally:
        await store.dispose()


async def test_a_card_actions_late_work_left_by_a_dead_replica_runs_again_and_lands_once(
    tmp_path: Path, clock: Clock
) -> None:
    """A click answered with a toast whose `after_answer` work (a patch, a message) a dead replica may or may not
    have done: taken over, it runs again; run twice, the card shows the outcome and the message is there once."""
    late = Router("late_test")
    done_card = card("已完成", "green", [markdown("导出已发送")])

    @late.action("export")
    async def export(ctx: ActionContext) -> ActionResponse:
        ctx.after_answer(finish(ctx))
        return ActionResponse.toast("正在导出", "info")

    async def finish(ctx: ActionContext) -> None:
        await ctx.patch(done_card)
        await ctx.services.feishu.send_card(HR_GROUP, done_card)

    async with running_bot(make_settings(tmp_path), clock) as bot:
        services, inbox = bot.app.services, bot.app.inbox
        bot.app.dispatcher.include(late)
        clicked = await services.feishu.send_card(HR_GROUP, CARD)
        action = IncomingAction(
            event_id="ev-late",
            operator_open_id=EMPLOYEE,
            value={ACTION_KEY: "late_test.export"},
            form_value={},
            option=None,
            input_value=None,
            open_message_id=clicked,
            open_chat_id=HR_GROUP,
            token="c-token",
        )
        before = len(bot.feishu.bot_messages(HR_GROUP))
        for dead in ("gone:1:aaaaaa", "gone:2:bbbbbb"):
            # A replica accepted the click and died; the second time, after the first take-over had finished it.
            payload = inbox.payload("action", action)
            if not await services.store.claim(["event:ev-late"], owner=dead, payload=payload):
                await services.store.changed(
                    update(processed_events)
                    .where(processed_events.c.key == "event:ev-late")
                    .values(state="accepted", owner=dead, payload=payload)
                )
            assert await inbox.take_over() == 1

            async def finished() -> bool:
                async with services.store.engine.connect() as conn:
                    state = await conn.execute(
                        select(processed_events.c.state).where(processed_events.c.key == "event:ev-late")
                    )
                    return state.scalar_one() == "done"

            await eventually(finished, what="the taken-over click is done")
        assert bot.feishu.messages[clicked].content["header"] == done_card["header"]
        assert len(bot.feishu.bot_messages(HR_GROUP)) == before + 1


async def test_a_reply_whose_answer_is_lost_is_sent_again_and_lands_once() -> None:
    """Feishu took the reply but its answer never came back (a timeout): the client sends it again with the same
    uuid and gets the one message, where an error would have had the handler add an error card beside it."""
    sandbox = Sandbox(Clock(), employees=20)
    await sandbox.start("127.0.0.1", 0)
    client = FeishuClient(
        base_url=f"{sandbox.url}/feishu",
        app_id=SANDBOX_APP_ID,
        app_secret=SANDBOX_APP_SECRET,
        clock=Clock(),
        timeout=0.5,
    )
    chat = Directory.p2p_chat_of(EMPLOYEE)
    sandbox.feishu.record_user_message("om_user_lost", chat_id=chat, sender=EMPLOYEE, text="帮助")
    held = sandbox.holds.hold("/reply", after=True)
    try:

        async def release_on_the_second_try() -> None:
            async def sent_again() -> bool:
                return held.count >= 2

            await eventually(sent_again, within=10, what="the reply sent again")
            held.release()

        releasing = asyncio.create_task(release_on_the_second_try())
        with event_scope.handling("event:e7"):
            message_id = await client.reply_card("om_user_lost", CARD)
        await releasing
        assert [m.message_id for m in sandbox.feishu.replies_to("om_user_lost")] == [message_id]
    finally:
        sandbox.holds.release_all()
        await client.aclose()
        await sandbox.stop()


async def test_a_lease_the_database_will_not_take_back_still_lets_the_shutdown_finish(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await _store(tmp_path)
    try:
        lease = Lease(store, on_gain=lambda: None, on_loss=lambda: None)
        await lease.start()
        assert lease.leading

        async def locked() -> None:
            raise OperationalError("UPDATE leases", {}, Exception("database is locked"))

        lease.release = locked  # type: ignore[method-assign]
        await lease.stop()
        assert not lease.leading
        assert "could not hand the scheduler lease back" in caplog.text
    finally:
        await store.dispose()


async def test_a_heartbeat_the_database_will_not_withdraw_still_lets_the_shutdown_finish(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await _store(tmp_path)
    try:
        inbox = Inbox(store, Sealer("s", "k"), home="here")
        await inbox.beat()

        async def locked(_statement: object) -> int:
            raise OperationalError("DELETE FROM replicas", {}, Exception("database is locked"))

        store.changed = locked  # type: ignore[method-assign]
        await inbox.hand_back()
        assert "could not withdraw this replica's heartbeat" in caplog.text
    finally:
        await store.dispose()
