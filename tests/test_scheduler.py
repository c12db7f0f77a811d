"""Jobs registered at every start keep their stored next run: restarts must not keep pushing them out."""

from __future__ import annotations

from bot.clock import Clock
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
