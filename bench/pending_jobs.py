"""10,000 pending micro-enterprise jobs: provider calls per poll round and peak RSS, while pending and once done.

Jobs are created straight in the emulator and the bot's table (the billed submit is not what is measured);
each has one watcher, so completion means 10,000 notices.

    python bench/pending_jobs.py [--jobs 10000] [--rounds 12]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from bot.config import Settings
from bot.sandbox.compose import SandboxedBot
from bot.sandbox.directory import HR_GROUP
from bot.sandbox.juhe import MICRO_ENT_RESULT_PATH, MicroEntJob
from handlers.micro_ent.router import next_delay, poll_round
from handlers.micro_ent.state import MicroJobs


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(count: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None, hrbot_port=0, hrbot_database_url=f"sqlite:///{Path(tmp) / 'bench.db'}"
        )
        bot = SandboxedBot(settings, employees=20, env_file=None)
        app = await bot.start()
        app.services.scheduler.remove("micro_ent.poll")  # this script drives the rounds itself
        try:
            await run(bot, count, rounds)
        finally:
            await bot.stop()


async def run(bot: SandboxedBot, count: int, rounds: int) -> None:
    assert bot.app is not None
    services, juhe, clock = bot.app.services, bot.sandbox.juhe, bot.clock
    jobs = MicroJobs(services.store)
    base_rss = peak_rss_mb()
    now = clock.now()
    for index in range(count):
        jobid = f"micro_{uuid.uuid4()}"
        juhe.jobs[jobid] = MicroEntJob(f"基准小微企业{index:05d}", now.timestamp(), now.timestamp() + 10**9)
        await jobs.create(jobid, f"基准小微企业{index:05d}", now, now + next_delay(60, 0))
        await jobs.add_watcher(jobid, "ou_bench", HR_GROUP, now)
    print(f"{count} pending jobs created; peak RSS so far {peak_rss_mb():.0f} MB (before: {base_rss:.0f} MB)")

    def result_calls() -> int:
        return len(juhe.calls_to(MICRO_ENT_RESULT_PATH))

    print("round  clock+s  provider calls  pending  peak RSS MB")
    elapsed = 0
    for number in range(1, rounds + 1):
        clock.advance(timedelta(seconds=30))
        elapsed += 30
        before = result_calls()
        await poll_round(services)
        pending = len(await jobs.due(clock.now() + timedelta(days=2), count + 1))
        print(
            f"{number:5d}  {elapsed:7d}  {result_calls() - before:14d}  {pending:7d}  {peak_rss_mb():11.0f}"
        )

    juhe.complete_all()
    began = time.perf_counter()
    done_rounds = 0
    while await jobs.due(clock.now() + timedelta(days=2), 1):
        clock.advance(timedelta(seconds=600))
        await poll_round(services)
        done_rounds += 1
    notices = len([m for m in bot.sandbox.feishu.bot_messages(HR_GROUP) if "小微企业查询" in str(m.content)])
    print(
        f"after completion: {done_rounds} rounds, {time.perf_counter() - began:.1f} s, {notices} notices "
        f"(one per job), peak RSS {peak_rss_mb():.0f} MB"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=12)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.jobs, arguments.rounds))
