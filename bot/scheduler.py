"""APScheduler 3 on the bot's own database: a restart picks up every pending job."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import create_engine

from bot.config import Settings
from bot.store import sync_url

log = logging.getLogger("hrbot.scheduler")


class Scheduler:
    """Jobs are stored by function reference ("module:function"), so they must be module-level coroutines."""

    def __init__(self, settings: Settings) -> None:
        self._engine = create_engine(sync_url(settings.hrbot_database_url), pool_pre_ping=True)
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self._engine, tablename="scheduler_jobs")},
            executors={"default": AsyncIOExecutor()},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
            timezone=settings.tz,
        )

    def start(self) -> None:
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self._engine.dispose()

    def every(self, job_id: str, func: str, interval: timedelta, **kwargs: Any) -> None:
        """A recurring job; re-adding on every start keeps one copy (same id)."""
        self.scheduler.add_job(
            func,
            IntervalTrigger(seconds=interval.total_seconds()),
            id=job_id,
            replace_existing=True,
            **kwargs,
        )

    def at(self, job_id: str, func: str, when: datetime, **kwargs: Any) -> None:
        self.scheduler.add_job(func, "date", run_date=when, id=job_id, replace_existing=True, **kwargs)

    def add(self, func: str, trigger: Any, *, job_id: str, **kwargs: Any) -> None:
        self.scheduler.add_job(func, trigger, id=job_id, replace_existing=True, **kwargs)

    def remove(self, job_id: str) -> None:
        job = self.scheduler.get_job(job_id)
        if job is not None:
            job.remove()

    def has(self, job_id: str) -> bool:
        return self.scheduler.get_job(job_id) is not None
