"""The core's versioned dialog state on a real database (SQLite here, PostgreSQL when HRBOT_TEST_DATABASE_URL is
set), migrated the way the bot migrates at start."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import Clock
from bot.state.dialogs import Dialog, Dialogs
from bot.state.migrations import upgrade
from bot.state.store import Store

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
LIFETIME = timedelta(minutes=30)
ACTIVE = ("city", "form", "running", "sms")


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    await asyncio.to_thread(upgrade, database_url)
    store = Store(database_url, Clock())
    try:
        yield store
    finally:
        await store.dispose()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def test_start_then_get(store: Store) -> None:
    dialogs = Dialogs(store, "personal_social")
    assert await dialogs.get("ou_a") is None
    started = await dialogs.start("ou_a", "oc_a", "city", T0, T0 + LIFETIME)
    assert started == Dialog("ou_a", "oc_a", None, "city", 1, T0 + LIFETIME, {}, updated_at=T0)
    assert started.expires_at.tzinfo is not None
    assert await dialogs.get("ou_a") == started
    await dialogs.set_message("ou_a", "om_card")
    assert (await dialogs.get("ou_a")).message_id == "om_card"  # type: ignore[union-attr]


async def test_starting_again_replaces_the_dialog_and_its_version_goes_on(store: Store) -> None:
    """A card of the replaced dialog carries an older version, so it can no longer take a step."""
    dialogs = Dialogs(store, "personal_social")
    first = await dialogs.start("ou_a", "oc_a", "city", T0, T0 + LIFETIME)
    await dialogs.set_message("ou_a", "om_old")
    moved = await dialogs.advance("ou_a", first.version, at(1), step="form", area_code="110000")
    assert moved is not None and moved.version == 2
    again = await dialogs.start("ou_a", "oc_b", "city", at(2), at(2) + LIFETIME)
    assert (again.version, again.step, again.chat_id, again.message_id, again.data) == (
        3,
        "city",
        "oc_b",
        None,
        {},
    )
    assert await dialogs.advance("ou_a", moved.version, at(3), step="running") is None
    assert await dialogs.get("ou_a") == again


async def test_advance_takes_a_step_only_from_the_version_the_caller_saw(store: Store) -> None:
    dialogs = Dialogs(store, "personal_social")
    started = await dialogs.start("ou_a", "oc_a", "city", T0, T0 + LIFETIME)
    form = await dialogs.advance("ou_a", started.version, at(1), step="form")
    assert form is not None and (form.step, form.version) == ("form", 2)
    # The same card clicked again, a stale version, a version from the future, another user: no step.
    assert await dialogs.advance("ou_a", started.version, at(2), step="running") is None
    assert await dialogs.advance("ou_a", 3, at(2), step="running") is None
    assert await dialogs.advance("ou_b", 1, at(2), step="running") is None
    assert await dialogs.get("ou_a") == form
    assert await dialogs.get("ou_b") is None


async def test_two_clicks_at_once_take_one_step(store: Store) -> None:
    dialogs = Dialogs(store, "personal_social")
    started = await dialogs.start("ou_a", "oc_a", "form", T0, T0 + LIFETIME)
    results = await asyncio.gather(
        *(dialogs.advance("ou_a", started.version, at(1), step="running", tid=f"t{n}") for n in range(2))
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert await dialogs.get("ou_a") == winners[0] and winners[0].version == 2


async def test_advance_returns_the_step_it_took_though_another_follows_at_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its caller shows that step (a card) only while the dialog is still at it: handed the next step's version, it
    would show its older card over the newer one."""
    dialogs = Dialogs(store, "personal_social")
    started = await dialogs.start("ou_a", "oc_a", "running", T0, T0 + LIFETIME)
    read = dialogs.get
    followed: list[Dialog | None] = []

    async def read_after_the_next_step(user: str) -> Dialog | None:
        if not followed:  # the next step lands between this advance's commit and any read of it
            followed.append(await dialogs.advance(user, started.version + 1, at(2), step="image"))
        return await read(user)

    monkeypatch.setattr(dialogs, "get", read_after_the_next_step)
    took = await dialogs.advance("ou_a", started.version, at(1), last_code="10001")
    assert took is not None and (took.version, took.step) == (2, "running")


async def test_advance_merges_data_and_keeps_what_it_is_not_given(store: Store) -> None:
    dialogs = Dialogs(store, "personal_social")
    d = await dialogs.start("ou_a", "oc_a", "city", T0, T0 + LIFETIME)
    d = await dialogs.advance("ou_a", d.version, at(1), step="form", area_code="110000", area_name="北京")
    assert d is not None
    d = await dialogs.advance("ou_a", d.version, at(2), tid="task-1", last_code=None)
    assert d is not None and d.step == "form" and d.expires_at == T0 + LIFETIME
    assert d.data == {"area_code": "110000", "area_name": "北京", "tid": "task-1", "last_code": None}
    d = await dialogs.advance("ou_a", d.version, at(3), step="running", expires_at=at(33), tid="task-2")
    assert d is not None and (d.step, d.expires_at, d.version) == ("running", at(33), 4)
    assert d.data == {"area_code": "110000", "area_name": "北京", "tid": "task-2", "last_code": None}
    assert await dialogs.get("ou_a") == d


async def test_lapsed_finds_dialogs_whose_time_is_up_at_the_given_steps(store: Store) -> None:
    dialogs = Dialogs(store, "personal_social")
    for user, step, expires in [
        ("ou_old", "running", at(-1)),
        ("ou_exact", "sms", at(0)),
        ("ou_fresh", "running", at(10)),
        ("ou_done", "done", at(-5)),  # final: not the feature's to expire again
    ]:
        await dialogs.start(user, f"oc_{user}", step, at(-40), expires)
    lapsed = {d.user for d in await dialogs.lapsed(ACTIVE, T0, limit=10)}
    assert lapsed == {"ou_old", "ou_exact"}
    assert len(await dialogs.lapsed(ACTIVE, T0, limit=1)) == 1
    # A step taken keeps the dialog alive; expiring it is a step too.
    old = await dialogs.get("ou_old")
    assert old is not None
    assert await dialogs.advance("ou_old", old.version, T0, expires_at=at(30))
    exact = await dialogs.get("ou_exact")
    assert exact is not None
    assert await dialogs.advance("ou_exact", exact.version, T0, step="expired")
    assert await dialogs.lapsed(ACTIVE, T0, limit=10) == []
    assert {d.user for d in await dialogs.lapsed(ACTIVE, at(11), limit=10)} == {"ou_fresh"}


async def test_in_steps_gives_the_least_recently_updated_first(store: Store) -> None:
    dialogs = Dialogs(store, "personal_social")
    await dialogs.start("ou_b", "oc_b", "running", at(2), at(60))
    await dialogs.start("ou_a", "oc_a", "running", at(1), at(60))
    await dialogs.start("ou_c", "oc_c", "sms", at(3), at(60))
    await dialogs.start("ou_d", "oc_d", "form", at(0), at(60))  # not polled
    polled = ("running", "sms")
    assert [d.user for d in await dialogs.in_steps(polled, 10)] == ["ou_a", "ou_b", "ou_c"]
    # Looked at without news: to the back of the queue, so every dialog gets its turn.
    await dialogs.touch("ou_a", at(4))
    assert [d.user for d in await dialogs.in_steps(polled, 10)] == ["ou_b", "ou_c", "ou_a"]
    b = await dialogs.get("ou_b")
    assert b is not None and await dialogs.advance("ou_b", b.version, at(5), last_code="10002")
    assert [d.user for d in await dialogs.in_steps(polled, 2)] == ["ou_c", "ou_a"]
    # touch moves the dialog in the queue without taking a step.
    a = await dialogs.get("ou_a")
    assert a is not None and a.version == 1


async def test_two_features_dialogs_for_the_same_user_are_independent(store: Store) -> None:
    social, other = Dialogs(store, "personal_social"), Dialogs(store, "leave_requests")
    mine = await social.start("ou_a", "oc_a", "running", T0, at(-1))
    theirs = await other.start("ou_a", "oc_a", "running", T0, at(60))
    assert mine.version == theirs.version == 1
    assert await social.advance("ou_a", 1, at(1), tid="t", expires_at=at(-1))
    assert await other.get("ou_a") == theirs
    again = await other.start("ou_a", "oc_x", "ask", at(2), at(60))
    assert again.version == 2 and (await social.get("ou_a")).data == {"tid": "t"}  # type: ignore[union-attr]
    assert [d.version for d in await social.in_steps(["running"], 10)] == [2]
    assert await other.in_steps(["running"], 10) == []
    assert [d.user for d in await social.lapsed(["running"], T0, 10)] == ["ou_a"]
    assert await other.lapsed(["running", "ask"], T0, 10) == []
    await other.touch("ou_a", at(9))
    await other.set_message("ou_a", "om_other")
    assert (await social.get("ou_a")).message_id is None  # type: ignore[union-attr]


async def test_two_starts_at_once_give_two_versions(store: Store) -> None:
    """A message sent twice: both starts succeed, each with its own version, so the older card is recognised."""
    dialogs = Dialogs(store, "personal_social")
    first, second = await asyncio.gather(
        *(dialogs.start("ou_1", "oc_1", "city", at(0), at(30)) for _ in range(2))
    )
    assert {first.version, second.version} <= {1, 2} and (await dialogs.get("ou_1")).version == 2
