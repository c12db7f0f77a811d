"""APScheduler 3 on the bot's own database: a restart picks up every pending job."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import create_engine

from bot.config import Settings
from bot.store import connect_args, scheduler_url

log = logging.getLogger("hrbot.scheduler")

SCHEDULER_TABLE = "scheduler_jobs"

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _same_trigger(stored: Any, wanted: Any) -> bool:
    # A cron's text leaves out its time zone; a changed HRBOT_TIMEZONE must replace the job.
    return str(stored) == str(wanted) and str(getattr(stored, "timezone", "")) == str(
        getattr(wanted, "timezone", "")
    )


def crontab_trigger(expression: str, timezone: Any) -> CronTrigger:
    """A standard five-field crontab. APScheduler 3 reads day-of-week 0 as Monday; crontab means Sunday (0 or 7)."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields, got {len(fields)}")
    minute, hour, day, month, day_of_week = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_weekday_names(day_of_week),
        timezone=timezone,
    )


def _weekday_names(field: str) -> str:
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            low, high = (_weekday_number(x) for x in span.split("-", 1))
        else:
            low = high = _weekday_number(span)
        if high < low or step < 1:
            raise ValueError(f"bad day-of-week range {part!r}")
        days.update(d % 7 for d in range(low, high + 1, step))
    return ",".join(_WEEKDAYS[d] for d in sorted(days))


def _weekday_number(token: str) -> int:
    if token in _WEEKDAYS:
        return _WEEKDAYS.index(token)
    number = int(token)
    if not 0 <= number <= 7:
        raise ValueError(f"day of week {token!r} out of range")
    return number


class Scheduler:
    """Jobs are stored by function reference ("module:function"), so they must be module-level coroutines."""

    def __init__(self, settings: Settings) -> None:
        # Its job store runs synchronously on the loop: fail fast when the database stops answering.
        url = scheduler_url(settings.hrbot_database_url)
        self._engine = create_engine(url, pool_pre_ping=True, hide_parameters=True, **connect_args(url))
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self._engine, tablename=SCHEDULER_TABLE)},
            executors={"default": AsyncIOExecutor()},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
            timezone=settings.tz,
        )

    def start(self) -> None:
        """Paused: every replica can add jobs to the shared store; only the lease holder runs them (`resume`)."""
        self.scheduler.start(paused=True)

    def resume(self) -> None:
        self.scheduler.resume()

    def pause(self) -> None:
        self.scheduler.pause()

    def wakeup(self) -> None:
        """Look at the store again: another replica may have added a job due sooner than this one knows."""
        self.scheduler.wakeup()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self._engine.dispose()

    def every(self, job_id: str, func: str, interval: timedelta, **kwargs: Any) -> None:
        """A recurring job, registered at every start."""
        self.add(func, IntervalTrigger(seconds=interval.total_seconds()), job_id=job_id, **kwargs)

    def add(self, func: str, trigger: Any, *, job_id: str, **kwargs: Any) -> None:
        """Register a job; one already stored with the same function and trigger keeps its next run time.

        Replacing it would recompute that time from now, so replicas restarting more often than a job's interval
        would keep pushing it out and it would never run.
        """
        current = self.scheduler.get_job(job_id)
        if current is not None and current.func_ref == func and _same_trigger(current.trigger, trigger):
            return
        self.scheduler.add_job(func, trigger, id=job_id, replace_existing=True, **kwargs)

    def remove(self, job_id: str) -> None:
        job = self.scheduler.get_job(job_id)
        if job is not None:
            job.remove()

    def run_pollers_now(self) -> int:
        """Bring every interval job (pollers, housekeeping) due now; the sandbox's fast-forward uses it."""
        now = datetime.now(self.scheduler.timezone)
        jobs = [job for job in self.scheduler.get_jobs() if isinstance(job.trigger, IntervalTrigger)]
        for job in jobs:
            job.modify(next_run_time=now)
        self.scheduler.wakeup()
        return len(jobs)

    def has(self, job_id: str) -> bool:
        return self.scheduler.get_job(job_id) is not None
