"""A database the previous main made (schema 0003, jobs stored by import path) and a bot of this version started on
it: the renamed table's request, the 个人社保 flow as a dialog and its card's old button, and the stored jobs all
keep working. Runs on SQLite, and on PostgreSQL when HRBOT_TEST_DATABASE_URL is set."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import ref_to_obj

import bot.state.migrations
from bot.clock import Clock
from bot.sandbox.directory import BOT_OPEN_ID, EMPLOYEE, HR_GROUP, MANAGER, MANAGER_GROUP, Directory
from bot.sandbox.feishu import SandboxMessage
from bot.state.dialogs import Dialogs
from bot.state.migrations import owned
from bot.state.scheduler import JOB_REF, SCHEDULER_TABLE, crontab_trigger
from bot.state.store import metadata, scheduler_url, sync_url
from cards.text import card_text
from handlers.four_factors.state import Verifications
from handlers.personal_social.router import poll_flows
from handlers.personal_social.state import Flows
from tests.conftest import RunningBot, eventually, make_settings, running_bot, wait_for

REQUEST = "0123456789abcdef0123456789abcdef"
ASKER_COPY, MANAGERS_COPY = "om_old_request_asker", "om_old_request_managers"
FLOW_CARD = "om_old_flow_card"
SLOT = "2026-11-27T09:00:00+08:00"
CATCH_UP_KEY = "adjust_records.digest.catch-up"


def previous_main_database(url: str, now: datetime) -> dict[str, datetime]:
    """Schema 0003 with a pending verification request, a 个人社保 flow waiting at its login form, and the jobs
    the previous main stored by import path. Returns the stored jobs' next run times."""
    command.upgrade(bot.state.migrations.alembic_config(url), "0003")
    engine = sa.create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(sa.insert(OLD_REQUESTS).values(**REQUEST_ROW, created_at=now - timedelta(hours=2)))
        conn.execute(
            sa.insert(OLD_FLOWS).values(
                **FLOW_ROW, updated_at=now - timedelta(minutes=3), expires_at=now + timedelta(minutes=27)
            )
        )
    engine.dispose()
    return store_jobs_the_old_way(url, now)


def _old_table(name: str, row: dict[str, Any], **typed: Any) -> sa.TableClause:
    """A table of schema 0003 as the previous main wrote to it."""
    return sa.table(name, *(sa.column(c, typed.get(c)) for c in dict.fromkeys([*row, *typed])))


REQUEST_ROW: dict[str, Any] = {
    "id": REQUEST,
    "requester": EMPLOYEE,
    "chat_id": Directory.p2p_chat_of(EMPLOYEE),
    "entname": "小米科技有限责任公司",
    "entmark": "91110108551385082Q",
    "realname": "雷军",
    "idcard": "11010119691202123X",
    "masked_name": "雷*",
    "masked_idcard": "110***********123X",
    "status": "pending",
    "attempt": 0,
    "message_ids": [ASKER_COPY, MANAGERS_COPY],
    "outcome": None,
    "decided_by": None,
    "decided_at": None,
}
FLOW_ROW: dict[str, Any] = {
    "user": EMPLOYEE,
    "chat_id": Directory.p2p_chat_of(EMPLOYEE),
    "message_id": FLOW_CARD,
    "state": "form",
    "version": 3,
    "area_code": "110000",
    "area_name": "北京",
    "login_type": "1",
    "tid": None,
    "last_code": None,
}
TIME = sa.DateTime(timezone=True)
OLD_REQUESTS = _old_table(
    "four_factor_requests",
    REQUEST_ROW,
    created_at=TIME,
    decided_at=TIME,
    message_ids=sa.JSON(),
    outcome=sa.JSON(),
)
OLD_FLOWS = _old_table("personal_flows", FLOW_ROW, updated_at=TIME, expires_at=TIME)


def store_jobs_the_old_way(url: str, now: datetime) -> dict[str, datetime]:
    """What the previous main's scheduler wrote (APScheduler's own pickled jobs, added the way it added them),
    pointing at the module paths those functions had then; those paths resolve only while the jobs are written."""
    bot.state.migrations._create_scheduler_table(url)
    engine = sa.create_engine(scheduler_url(url))
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=SCHEDULER_TABLE)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone="Asia/Shanghai",
    )
    jobs = {
        # The micro-enterprise poller, registered at every start (its next run is kept across restarts).
        "micro_ent.poll": (
            "handlers.micro_ent:poll_round",
            IntervalTrigger(seconds=15.0),
            (),
            now + timedelta(minutes=7),
        ),
        # The digest's cron job, and a catch-up a crash had left for its slot.
        "adjust_records.digest": (
            "handlers.adjust_records:run_scheduled_digest",
            crontab_trigger("0 9 * * 1-5", "Asia/Shanghai"),
            (),
            now + timedelta(hours=20),
        ),
        CATCH_UP_KEY: (
            "handlers.adjust_records:run_scheduled_digest",
            DateTrigger(now + timedelta(hours=1)),
            [SLOT],
            now + timedelta(hours=1),
        ),
    }
    old_functions = {"handlers.micro_ent": "poll_round", "handlers.adjust_records": "run_scheduled_digest"}
    scheduler.start(paused=True)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for module, name in old_functions.items():
                patch.setattr(f"{module}.{name}", _old_function, raising=False)
            for key, (ref, trigger, args, next_run) in jobs.items():
                scheduler.add_job(
                    ref, trigger, id=key, args=args, next_run_time=next_run, replace_existing=True
                )
    finally:
        scheduler.shutdown(wait=False)
        engine.dispose()
    # Today those paths are gone: without adoption APScheduler would drop these jobs at start.
    for module, name in old_functions.items():
        with pytest.raises(LookupError):
            ref_to_obj(f"{module}:{name}")
    return {key: next_run for key, (_ref, _trigger, _args, next_run) in jobs.items()}


async def _old_function(*_args: Any) -> None:
    raise AssertionError("only its import path is stored")


def put_old_card(bot: RunningBot, message_id: str, chat_id: str, card: dict[str, Any]) -> SandboxMessage:
    """A card the previous version had posted, still in the chat (shared, as every card of the bot's is)."""
    shared = {"config": {"update_multi": True}, **card}
    message = SandboxMessage(
        message_id, chat_id, BOT_OPEN_ID, "interactive", shared, bot.feishu.clock.timestamp()
    )
    bot.feishu.messages[message_id] = message
    return message


def old_form_card() -> dict[str, Any]:
    """The previous main's 个人社保 login form: its button carries the old action id."""
    submit = {
        "tag": "button",
        "text": {"tag": "plain_text", "content": "登录查询"},
        "behaviors": [{"type": "callback", "value": {"action": "tcredit.submit", "v": 3, "login_type": "1"}}],
    }
    return {
        "schema": "2.0",
        "header": {"title": {"content": "个人社保查询 · 北京"}},
        "body": {"elements": [submit]},
    }


async def test_a_bot_of_this_version_on_the_previous_mains_database(
    tmp_path: Path, database_url: str
) -> None:
    clock = Clock()
    now = clock.now()
    stored = await asyncio.to_thread(previous_main_database, database_url, now)

    async with running_bot(make_settings(tmp_path), clock) as bot:
        services = bot.app.services
        assert services is not None and services.scheduler is not None

        # The schema is today's, and the old tables are gone.
        engine = sa.create_engine(sync_url(database_url))
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": owned})
            assert compare_metadata(context, metadata) == []
            tables = set(sa.inspect(conn).get_table_names())
        engine.dispose()
        assert {"four_factors_requests", "dialogs"} <= tables
        assert not {"four_factor_requests", "personal_flows"} & tables

        # 企业核验: the request, through the feature's state, under its new table name.
        request = await Verifications(services.store).get(REQUEST)
        assert request is not None
        assert (request.entname, request.entmark, request.realname, request.idcard) == (
            "小米科技有限责任公司",
            "91110108551385082Q",
            "雷军",
            "11010119691202123X",
        )
        assert (request.status, request.attempt, request.message_ids) == (
            "pending",
            0,
            (ASKER_COPY, MANAGERS_COPY),
        )
        assert request.created_at == now - timedelta(hours=2) and request.requester == EMPLOYEE

        # 个人社保: the flow is the feature's dialog now, at the same step and version, with its data.
        flow = await Flows(services.store).get(EMPLOYEE)
        assert flow is not None
        assert (
            flow.state,
            flow.version,
            flow.message_id,
            flow.area_code,
            flow.area_name,
            flow.login_type,
        ) == (
            "form",
            3,
            FLOW_CARD,
            "110000",
            "北京",
            "1",
        )
        assert flow.expires_at == now + timedelta(minutes=27) and flow.chat_id == FLOW_ROW["chat_id"]
        dialog = await Dialogs(services.store, "personal_social").get(EMPLOYEE)
        assert dialog is not None and dialog.data == {
            "area_code": "110000",
            "area_name": "北京",
            "login_type": "1",
            "tid": None,
            "last_code": None,
        }

        # Jobs stored by import path now point at their ids; the poller keeps its next run.
        jobs = services.scheduler.scheduler
        catch_up = jobs.get_job(CATCH_UP_KEY)
        assert catch_up is not None
        assert (catch_up.func_ref, tuple(catch_up.args)) == (JOB_REF, ("adjust_records.send", SLOT))
        poll = jobs.get_job("micro_ent.poll")
        assert (poll.func_ref, tuple(poll.args)) == (JOB_REF, ("micro_ent.poll",))
        assert poll.next_run_time == stored["micro_ent.poll"]
        digest = jobs.get_job("adjust_records.digest")
        assert (digest.func_ref, tuple(digest.args)) == (JOB_REF, ("adjust_records.digest",))
        assert all(job.func_ref == JOB_REF for job in jobs.get_jobs())

        await the_old_login_form_still_submits(bot)
        await the_old_request_card_still_rejects(bot)
        await the_catch_up_posts_its_slots_digest(bot)


async def the_old_login_form_still_submits(bot: RunningBot) -> None:
    card = put_old_card(bot, FLOW_CARD, FLOW_ROW["chat_id"], old_form_card())
    answer = await bot.feishu.user_clicks(
        FLOW_CARD,
        user=EMPLOYEE,
        value={"action": "tcredit.submit", "v": 3, "login_type": "1"},
        form_value={"account": "zhangsan", "password": "pw-from-before"},
    )
    assert "card" not in answer and "登录中" in card_text(card.content), answer  # shown by the card's update
    assert bot.sandbox.tcredit.created_tasks == 1

    async def done() -> bool:
        await poll_flows(bot.app.services)
        return "查询完成" in card_text(card.content)

    await eventually(done, within=15, what="查询完成 on the old card")


async def the_old_request_card_still_rejects(bot: RunningBot) -> None:
    services = bot.app.services
    asker = put_old_card(
        bot, ASKER_COPY, REQUEST_ROW["chat_id"], {"header": {"title": {"content": "企业核验申请"}}}
    )
    managers = put_old_card(
        bot, MANAGERS_COPY, MANAGER_GROUP, {"header": {"title": {"content": "企业核验申请"}}}
    )
    value = {"action": "four_factors.reject", "request": REQUEST, "attempt": 0}
    answer = await bot.feishu.user_clicks(managers.message_id, user=MANAGER, value=value)
    assert answer["toast"]["content"] == "已驳回" and "已驳回" in card_text(managers.content)
    await wait_for(lambda: [1] if "已驳回" in card_text(asker.content) else [])
    request = await Verifications(services.store).get(REQUEST)
    assert request is not None and request.status == "rejected"
    assert request.realname is None and request.idcard is None


async def the_catch_up_posts_its_slots_digest(bot: RunningBot) -> None:
    """The adopted one-off runs the job its id names, with the slot it was stored with."""
    services = bot.app.services
    scheduler = services.scheduler
    scheduler.scheduler.get_job(CATCH_UP_KEY).modify(next_run_time=datetime.now(UTC))
    scheduler.wakeup()

    async def posted() -> bool:
        return await services.store.claimed(f"digest:{SLOT}")

    await eventually(posted, within=20, what="the catch-up digest for its slot")
    digests = [m for m in bot.feishu.bot_messages(HR_GROUP) if "2026-11-27" in card_text(m.content)]
    assert len(digests) == 1
    assert scheduler.scheduler.get_job(CATCH_UP_KEY) is None
