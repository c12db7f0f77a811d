"""What an operator sees when `hrbot serve` cannot start: one line naming the setting and the cause, a non-zero exit,
no traceback (unless HRBOT_LOG_LEVEL=DEBUG)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.processes import bot_env, free_port, sandbox_for


def _sandbox_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FEISHU_", "HRBOT_", "JUHE_", "TCREDIT_"))
    }
    env.update(
        {"HRBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'hrbot.db'}", "HRBOT_PORT": str(free_port()), **extra}
    )
    return env


def _serve(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.lifecycle.cli", "serve"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_line(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The failure is the last line, said once, with every fragment, and no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    last = lines[-1]
    assert last.startswith("hrbot: "), result.stderr
    assert [line for line in lines if line.startswith("hrbot: ")] == [last], result.stderr
    for fragment in fragments:
        assert fragment in last, last
    return last


def test_sqlite_file_that_cannot_be_opened(tmp_path: Path) -> None:
    env = _sandbox_env(tmp_path, HRBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'no-such-dir' / 'hrbot.db'}")
    result = _serve(env, tmp_path)
    assert result.returncode == 2
    _one_line(result, "HRBOT_DATABASE_URL", "no-such-dir", "unable to open database file")


def test_unknown_database_scheme(tmp_path: Path) -> None:
    result = _serve(_sandbox_env(tmp_path, HRBOT_DATABASE_URL="mysql://hrbot:pw@127.0.0.1/hrbot"), tmp_path)
    assert result.returncode == 2
    _one_line(result, "HRBOT_DATABASE_URL", "'mysql'", "postgresql+psycopg://")
    assert result.stderr.count("\n") == 1  # refused before anything starts


def test_postgresql_unreachable(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://hrbot:s3cret-pw@127.0.0.1:{free_port()}/hrbot"
    result = _serve(_sandbox_env(tmp_path, HRBOT_DATABASE_URL=url), tmp_path)
    assert result.returncode == 1
    _one_line(result, "HRBOT_DATABASE_URL", "PostgreSQL", "Connection refused")
    assert "s3cret-pw" not in result.stderr


def test_redis_unreachable(tmp_path: Path) -> None:
    port = free_port()
    result = _serve(_sandbox_env(tmp_path, HRBOT_REDIS_URL=f"redis://127.0.0.1:{port}/0"), tmp_path)
    assert result.returncode == 1
    _one_line(result, "HRBOT_REDIS_URL", f"127.0.0.1:{port}")


def test_debug_level_shows_the_traceback_too(tmp_path: Path) -> None:
    env = _sandbox_env(
        tmp_path, HRBOT_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", HRBOT_LOG_LEVEL="DEBUG"
    )
    result = _serve(env, tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("hrbot: HRBOT_REDIS_URL")


async def test_feishu_refusing_the_app_credentials(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    upstream = await sandbox_for(port, employees=10)
    try:
        env = bot_env(upstream, port, database_url, FEISHU_APP_SECRET="not-the-secret", HRBOT_REDIS_URL="")
        result = await asyncio.to_thread(_serve, env, tmp_path)
    finally:
        await upstream.stop()
    assert result.returncode == 2
    _one_line(result, "FEISHU_APP_SECRET", "10014")
    assert "not-the-secret" not in result.stderr
