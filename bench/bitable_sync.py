"""10,000 增减员 records synced with the sandbox's 多维表格 (bot/sandbox/bitable.py), within Bitable's limits.

Three syncs: the first (fields created, every row added), one after HR changed 500 states in the table and the bot
500 others, and one with nothing to do. Each prints its wall time, the calls per API, and the calls the emulator
refused for the rate limits (which must be 0: the client paces itself, 500 records a call).

    python bench/bitable_sync.py [--records 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bot.config import Settings
from bot.sandbox.bitable import RATE_LIMITS, SANDBOX_APP_TOKEN, SANDBOX_TABLE_ID
from bot.sandbox.compose import SandboxedBot
from cards.adjust_records import RecordLine
from handlers.adjust_records.bitable import client, sync_table
from handlers.adjust_records.filing_state import FILED, mark, states
from handlers.adjust_records.tracking import record_fingerprints, with_filings


def lines(records: int) -> list[RecordLine]:
    """records / 2 people, each an 增员 of 社保 and 公积金."""
    return [
        RecordLine(
            key=f"ou_bench_{i:06d}:increase:2026-11",
            open_id=f"ou_bench_{i:06d}",
            name=f"员工{i:06d}",
            record_type="increase",
            month="2026-11",
            city=("上海", "深圳", "北京")[i % 3],
            city_code=("310000", "440300", "110000")[i % 3],
            entity="星河科技有限公司",
            insurance_types=("social_insurance", "provident_fund"),
            base_salary="15000",
            fingerprint=f"f{i}",
        )
        for i in range(records // 2)
    ]


async def main(records: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,
            hrbot_port=0,
            hrbot_metrics_port=0,
            hrbot_database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
        )
        bot = SandboxedBot(settings, employees=50, env_file=None)
        app = await bot.start()
        try:
            services = app.services
            table = bot.sandbox.bitable.table(SANDBOX_APP_TOKEN, SANDBOX_TABLE_ID)
            api = client(services)
            assert api is not None
            sample = lines(records)
            keys = [k for line in sample for k in record_fingerprints(line)]

            async def run(label: str) -> None:
                api.calls.clear()
                began = time.perf_counter()
                await with_filings(services, sample)
                wall = time.perf_counter() - began
                refused = sum(bot.sandbox.feishu.rate_windows[path].rejected for path in RATE_LIMITS)
                calls = ", ".join(f"{name} {count}" for name, count in sorted(api.calls.items()))
                print(f"{label}: {wall:.2f} s · calls: {calls} · refused for rate limits: {refused}")

            await run(f"first sync of {len(keys):,} records")
            assert len(table.records) == len(keys)
            for record_id in list(table.records)[:500]:
                table.edit(record_id, 申报状态="已申报")
            await mark(services.store, keys[-500:], FILED, by="ou_bench_hr", at=services.clock.now())
            await run("500 changed in the table, 500 in the bot")
            rows = await states(services.store, keys)
            assert sum(r.state == FILED for r in rows.values()) == 1000
            assert sum(cells.get("申报状态") == "已申报" for cells in table.records.values()) == 1000
            await run("nothing changed")
            assert await sync_table(services, None, {}) is False
        finally:
            await bot.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().records))
