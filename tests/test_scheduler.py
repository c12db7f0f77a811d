"""Jobs registered at every start keep their stored next run: restarts must not keep pushing them out."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import sqlalchemy as sa

from bot.clock import Clock
from bot.state.scheduler import JOB_REF, SCHEDULER_TABLE
from bot.state.store import scheduler_url
from handlers.personal_social.router import POLL_JOB
from tests.conftest import make_settings, running_bot


async def test_a_restart_keeps_each_recurring_jobs_next_run(tmp_path, database_url) -> None:
    settings = make_settings(tmp_path)
    async with running_bot(settings, Clock()) as first:
        before = {job.id: job.next_run_time for job in first.app.services.scheduler.scheduler.get_jobs()}
    async with running_bot(settings, Clock()) as second:
        after = {job.id: job.next_run_time for job in second.app.services.scheduler.scheduler.get_jobs()}
    hourly = "maintenance.purge_processed_events"
    assert hourly in before and after[hourly] == before[hourly]
    assert after["adjust_records.digest"] == before["adjust_records.digest"]


async def test_a_changed_schedule_replaces_the_job(tmp_path, database_url) -> None:
    async with running_bot(make_settings(tmp_path), Clock()):
        pass
    async with running_bot(make_settings(tmp_path), Clock(), hrbot_digest_cron="30 8 * * *") as bot:
        job = bot.app.services.scheduler.scheduler.get_job("adjust_records.digest")
        assert job.next_run_time.hour == 8 and job.next_run_time.minute == 30


async def test_jobs_stored_where_the_scheduler_lived_before_are_kept(tmp_path, database_url) -> None:
    """The previous main stored every job at `bot.scheduler:stored_job`; after bot/ was grouped into sub-packages
    that path no longer resolves, and APScheduler would drop such jobs at start."""
    settings = make_settings(tmp_path)
    async with running_bot(settings, Clock()) as first:
        before = {
            job.id: (job.next_run_time, job.args) for job in first.app.services.scheduler.scheduler.get_jobs()
        }
    engine = sa.create_engine(scheduler_url(database_url))
    table = sa.Table(SCHEDULER_TABLE, sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        for key, blob in conn.execute(sa.select(table.c.id, table.c.job_state)).all():
            state = pickle.loads(blob)
            state["func"] = "bot.scheduler:stored_job"
            conn.execute(sa.update(table).where(table.c.id == key).values(job_state=pickle.dumps(state)))
    engine.dispose()
    async with running_bot(settings, Clock()) as second:
        restarted = datetime.now(UTC)
        jobs = second.app.services.scheduler.scheduler.get_jobs()
        after = {job.id: (job.next_run_time, job.args) for job in jobs}
        assert {job.func_ref for job in jobs} == {JOB_REF}
    # 个人社保's poll job removes itself once it finds no flow in progress, and every start stores it again.
    assert after.keys() - {POLL_JOB} == before.keys() - {POLL_JOB}
    for job_id, (next_run, args) in after.items():
        if job_id not in before:
            continue
        was, args_before = before[job_id]
        assert args == args_before, job_id
        # A job due while the bot restarted (the 2 s polls, on a busy machine) has run and moved on; the others keep
        # the time they had: a job made anew would start its count again.
        assert next_run == was or (next_run > was and was <= restarted), job_id
