"""The HR digest over 10,000 employees against the sandbox emulator (paginated contacts, 10 QPS compensation API).

Prints wall time, requests made, the Excel export's time and size, the 10 QPS floor (requests / 10 s), their ratio, and rate-limit rejections.

    python bench/digest.py [--employees 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bot.config import Settings
from bot.providers.compensation import client
from bot.sandbox.compose import SandboxedBot
from handlers.adjust_records.collect import collect_records
from handlers.adjust_records.export import workbook_bytes

QUERY_PATH = "/open-apis/compensation/v1/social_archive_adjust_record/query"


async def main(employees: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None, hrbot_port=0, hrbot_database_url=f"sqlite:///{Path(tmp) / 'bench.db'}"
        )
        bot = SandboxedBot(settings, employees=employees, env_file=None)
        app = await bot.start()
        try:
            services = app.services
            feishu = bot.sandbox.feishu
            began = time.perf_counter()
            data = await collect_records(services)
            wall = time.perf_counter() - began
            began = time.perf_counter()
            workbook = workbook_bytes(data.lines, f"{services.clock.now():%Y-%m}")
            export_wall = time.perf_counter() - began
            requests = client(services).requests
            contact_calls = sum(n for path, n in feishu.api_calls.items() if "/contact/" in path)
            rejected = feishu.rate_windows[QUERY_PATH].rejected
        finally:
            await bot.stop()
    floor = requests / 10
    print(
        f"digest over {data.employees} employees: {len(data.lines)} record lines, {len(data.failed_parts)} failed parts"
    )
    print(f"wall time: {wall:.2f} s; compensation requests: {requests}; contact requests: {contact_calls}")
    print(f"10 QPS floor: {floor:.2f} s; ratio wall / floor: {wall / floor:.3f} (goal <= 1.15)")
    print(f"rate-limit rejections: {rejected} (goal 0)")
    print(f"export: {len(workbook) / 1024:.1f} KB .xlsx in {export_wall:.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--employees", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().employees))
