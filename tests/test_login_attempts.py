"""个人社保 is no password oracle: failed logins are counted per account (whoever types it) and per person, with a
cool-down that says when to try again, and tries left told only to the person typing."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import Clock
from bot.sandbox.directory import EMPLOYEE, HR
from bot.sandbox.feishu import SandboxMessage
from cards.text import card_text
from handlers.personal_social.attempts import ACCOUNT_TRIES, COOL_DOWN, PERSON_TRIES
from handlers.personal_social.router import poll_flows
from handlers.personal_social.state import Flows
from tests.conftest import RunningBot, eventually
from tests.test_personal_social import value_of


async def _card(bot: RunningBot, city: str, user: str) -> SandboxMessage:
    card = (await bot.replies(await bot.say(f"个人社保 {city}", user=user)))[0]
    flows = Flows(bot.app.services.store)

    async def recorded() -> bool:
        flow = await flows.get(user)
        return flow is not None and flow.message_id == card.message_id

    await eventually(recorded, what="the dialog records its card")
    return card


async def _login(bot: RunningBot, user: str, account: str, password: str, city: str = "北京") -> str:
    """One login typed into a fresh dialog; the card's text once it ends (or as the submit left it)."""
    card = await _card(bot, city, user)
    form = {"account": account, "password": password}
    if city == "上海":
        form["sub_area"] = "310104"
    await bot.feishu.user_clicks(
        card.message_id, user=user, value=value_of(card.content, "button", "登录查询"), form_value=form
    )

    async def ended() -> str:
        # Polled as the scheduler does; the scheduled poll runs too, and its update may be waiting out Feishu's
        # per-card rate limit: the card, not a count of polls, says when the login has ended.
        text = card_text(card.content)
        if "查询失败" in text or "查询完成" in text:
            return text
        await poll_flows(bot.app.services)
        return ""

    try:
        return await eventually(ended, within=15, what="the login's end")
    except AssertionError:
        raise AssertionError(card_text(card.content)) from None


async def test_failed_logins_on_one_account_lock_it_for_everyone_and_say_until_when(
    bot: RunningBot, clock: Clock
) -> None:
    tcredit = bot.sandbox.tcredit
    first = await _login(bot, EMPLOYEE, "wrongpass", "guess-1")
    assert "用户名或密码错误" in first and f"还可以再试 {ACCOUNT_TRIES - 1} 次" in first
    await _login(bot, EMPLOYEE, "wrongpass", "guess-2")
    # A second person on the same account: the account's count goes on, whoever types it.
    third = await _login(bot, HR, "wrongpass", "guess-3")
    assert "登录失败次数过多" in third and "后再试" in third
    assert tcredit.created_tasks == ACCOUNT_TRIES

    # Ten more guesses by either person: refused before Tcredit hears of them, with the time to try again.
    for n in range(10):
        text = await _login(bot, EMPLOYEE if n % 2 else HR, "wrongpass", f"guess-{4 + n}")
        until = bot.app.services.local(clock.now() + COOL_DOWN)
        assert "登录失败次数过多" in text and "还可以再试" not in text
        assert f"{until:%H}:" in text
    assert tcredit.created_tasks == ACCOUNT_TRIES

    # Another account still logs in; the locked one again once the cool-down is over.
    assert "查询完成" in await _login(bot, EMPLOYEE, "zhangsan", "right")
    clock.advance(COOL_DOWN + timedelta(seconds=1))
    assert "还可以再试" in await _login(bot, HR, "wrongpass", "after-the-cool-down")


async def test_one_person_guessing_across_accounts_is_stopped_and_told_tries_left(bot: RunningBot) -> None:
    tcredit = bot.sandbox.tcredit
    seen: list[str] = []
    # The same account name in different cities is a different account: only the per-person count stops this.
    cities = ["北京", "上海", "浙江省直", "北京", "上海"]
    for city in cities[:PERSON_TRIES]:
        seen.append(await _login(bot, EMPLOYEE, "wrongpass", "guess", city))
    assert "还可以再试 2 次" in seen[0] and "还可以再试 1 次" in seen[3]
    assert "登录失败次数过多" in seen[-1]
    assert "登录失败次数过多" in await _login(bot, EMPLOYEE, "zhangsan", "right", "浙江省直")
    assert tcredit.created_tasks == PERSON_TRIES
    # Someone else is not affected by this person's guesses on other accounts.
    assert "查询完成" in await _login(bot, HR, "zhangsan", "right")


async def test_failed_logins_count_against_the_daily_quota_though_not_charged(tmp_path, clock) -> None:
    from tests.conftest import make_settings, running_bot

    settings = make_settings(tmp_path, hrbot_quota_user_daily=2)
    async with running_bot(settings, clock) as bot:
        await _login(bot, EMPLOYEE, "wrongpass", "a", "北京")
        await _login(bot, EMPLOYEE, "wrongpass", "b", "上海")
        text = await _login(bot, EMPLOYEE, "someone", "c", "浙江省直")
        assert "今天的查询已达 2 次上限" in text
        assert bot.sandbox.tcredit.created_tasks == 2


async def test_starting_again_before_the_answer_does_not_hide_a_guess(bot: RunningBot) -> None:
    """Each guess in a fresh dialog, before Tcredit's answer is polled: every submit counted at once."""
    answers = []
    for n in range(ACCOUNT_TRIES + 2):
        card = await _card(bot, "北京", EMPLOYEE)
        await bot.feishu.user_clicks(
            card.message_id,
            user=EMPLOYEE,
            value=value_of(card.content, "button", "登录查询"),
            form_value={"account": "wrongpass", "password": f"quick-{n}"},
        )
        answers.append(card_text(card.content))
    # Each of the first went to Tcredit (the scheduled poll may already show its answer); the rest did not.
    assert all("登录中" in a or "用户名或密码错误" in a for a in answers[:ACCOUNT_TRIES]), answers
    assert all("登录失败次数过多" in a for a in answers[ACCOUNT_TRIES:]), answers
    assert bot.sandbox.tcredit.created_tasks == ACCOUNT_TRIES
