"""APScheduler 3 on the bot's own database: a restart picks up every pending job.

The job store keeps a job's id and arguments, never an import path: every stored job points at `stored_job`, and
the executor looks the id up among the routers' schedules and calls its handler with the services. Renaming or
moving a feature's module therefore strands no persisted job.
"""

from __future__ import annotations

import logging
import pickle
import sys
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.executors.base import run_coroutine_job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Column, LargeBinary, MetaData, Table, Unicode, create_engine, inspect, select, update
from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.observability import metrics
from bot.state.store import connect_args, scheduler_url

log = logging.getLogger("hrbot.scheduler")

SCHEDULER_TABLE = "scheduler_jobs"
JOB_REF = "bot.state.scheduler:stored_job"
# Where `stored_job` lived before bot/ was grouped into sub-packages: such jobs keep their arguments.
MOVED_JOB_REFS = frozenset({"bot.scheduler:stored_job"})

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


async def stored_job(*_args: Any) -> None:
    """What the job store points every job at; the executor runs the handler the job's id names instead."""
    raise RuntimeError("scheduled jobs run through the bot's scheduler")


JobRunner = Callable[..., Awaitable[Any]]


class _JobView:
    """A stored job as APScheduler's runner sees it, with the registered handler in place of `stored_job`."""

    def __init__(self, job: Any, func: JobRunner) -> None:
        self._job = job
        self.func = func

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


class _ByIdExecutor(AsyncIOExecutor):
    def __init__(self, run: JobRunner) -> None:
        super().__init__()
        self._run = run

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def done(future: Any) -> None:
            self._pending_futures.discard(future)
            try:
                events = future.result()
            except BaseException:
                self._run_job_error(job.id, *sys.exc_info()[1:])
            else:
                self._run_job_success(job.id, events)

        metrics.scheduler_lag(str(job.args[0]) if job.args else "-", run_times[-1])
        view = _JobView(job, self._run)
        future = self._eventloop.create_task(
            run_coroutine_job(view, job._jobstore_alias, run_times, self._logger.name)
        )
        future.add_done_callback(done)
        self._pending_futures.add(future)


class _PlannedStore(SQLAlchemyJobStore):
    """Remembers the next run time it last gave the scheduler: when the scheduler looks at the store next."""

    planned: datetime | None = None

    def get_next_run_time(self) -> datetime | None:
        self.planned = self.earliest()
        return self.planned

    def earliest(self) -> datetime | None:
        return super().get_next_run_time()


class Scheduler:
    """`run(job_id, *args)` is called for each due job; ids are the routers' schedule ids."""

    def __init__(self, settings: Settings, run: JobRunner) -> None:
        # Its job store runs synchronously on the loop: fail fast when the database stops answering.
        url = scheduler_url(settings.hrbot_database_url)
        self._engine = create_engine(url, pool_pre_ping=True, hide_parameters=True, **connect_args(url))
        self.timezone = settings.tz
        self._store = _PlannedStore(engine=self._engine, tablename=SCHEDULER_TABLE)
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": self._store},
            executors={"default": _ByIdExecutor(run)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
            timezone=settings.tz,
        )

    @property
    def engine(self) -> Engine:
        """The job store's (synchronous) engine, for readiness."""
        return self._engine

    def adopt(self, legacy: Mapping[str, str]) -> int:
        """Point jobs that an older version stored by import path (`legacy`: path → job id) at their id, and jobs
        stored at a former place of `stored_job` at its current one.

        Run before the scheduler loads its store: APScheduler drops a job whose import path no longer resolves.
        """
        table = Table(
            SCHEDULER_TABLE,
            MetaData(),
            Column("id", Unicode(191), primary_key=True),
            Column("job_state", LargeBinary, nullable=False),
        )
        adopted = 0
        with self._engine.begin() as conn:
            if not inspect(conn).has_table(SCHEDULER_TABLE):
                return 0
            for key, blob in conn.execute(select(table.c.id, table.c.job_state)).all():
                state = pickle.loads(blob)
                func = state.get("func")
                if func in MOVED_JOB_REFS:
                    state.update(func=JOB_REF)
                elif func in legacy:
                    state.update(func=JOB_REF, args=(legacy[func], *state.get("args", ())))
                else:
                    continue
                blob = pickle.dumps(state, pickle.HIGHEST_PROTOCOL)
                conn.execute(update(table).where(table.c.id == key).values(job_state=blob))
                adopted += 1
        if adopted:
            log.info("adopted %d job(s) stored by import path", adopted)
        return adopted

    def start(self) -> None:
        """Paused: every replica can add jobs to the shared store; only the lease holder runs them (`resume`)."""
        self.scheduler.start(paused=True)

    def resume(self) -> None:
        self.scheduler.resume()

    def pause(self) -> None:
        if self.scheduler.running:
            self.scheduler.pause()

    def wakeup(self) -> None:
        """Look at the store again when another replica added a job due sooner than this one plans to look.

        Called every lease renewal: one indexed query, where a full look at the store costs two and a lock.
        """
        earliest = self._store.earliest()
        if earliest is not None and (self._store.planned is None or earliest < self._store.planned):
            self.scheduler.wakeup()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self._engine.dispose()

    def every(self, job_id: str, interval: timedelta) -> None:
        """A recurring job, registered at every start."""
        self._add(job_id, IntervalTrigger(seconds=interval.total_seconds()), job_id, ())

    def cron(self, job_id: str, expression: str) -> None:
        self._add(job_id, crontab_trigger(expression, self.timezone), job_id, ())

    def at(self, job_id: str, when: datetime, *args: Any, key: str) -> None:
        """Run `job_id` once at `when` with `args`; `key` names this run (adding the same key again replaces it)."""
        self._add(key, DateTrigger(when), job_id, args)

    def _add(self, key: str, trigger: Any, job_id: str, args: tuple[Any, ...]) -> None:
        """One already stored with the same target and trigger keeps its next run time.

        Replacing it would recompute that time from now, so replicas restarting more often than a job's interval
        would keep pushing it out and it would never run.
        """
        stored_args = (job_id, *args)
        current = self.scheduler.get_job(key)
        if (
            current is not None
            and current.func_ref == JOB_REF
            and tuple(current.args) == stored_args
            and _same_trigger(current.trigger, trigger)
        ):
            return
        self.scheduler.add_job(JOB_REF, trigger, id=key, args=stored_args, replace_existing=True)

    def remove(self, key: str) -> None:
        """Remove the job stored under `key`, if there is one."""
        with suppress(JobLookupError):
            self.scheduler.remove_job(key)

    def run_pollers_now(self) -> int:
        """Bring every interval job (pollers, housekeeping) due now; the sandbox's fast-forward uses it."""
        now = datetime.now(self.scheduler.timezone)
        jobs = [job for job in self.scheduler.get_jobs() if isinstance(job.trigger, IntervalTrigger)]
        for job in jobs:
            job.modify(next_run_time=now)
        self.scheduler.wakeup()
        return len(jobs)
