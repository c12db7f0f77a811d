"""What a newcomer does: `hrbot serve` with no credentials, then `hrbot say`; and a bad setting stops start-up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FEISHU_", "HRBOT_", "JUHE_", "TCREDIT_"))
    }
    env.update({"HRBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", **extra})
    return env


def _hrbot(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.lifecycle.cli", *args]


def test_serve_in_sandbox_and_say(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(tmp_path, HRBOT_PORT=str(port))
    server = subprocess.Popen(_hrbot("serve"), env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        said = subprocess.run(
            _hrbot("say", "帮助"), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert said.returncode == 0, said.stderr
        assert "使用帮助" in said.stdout
        group = subprocess.run(
            _hrbot("say", "帮助", "--chat", "group", "--user", "ou_sandbox_hr"),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "使用帮助" in group.stdout
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=30)
    first_line = err.splitlines()[0]
    assert "sandbox mode" in first_line
    assert server.returncode == 0


def test_bad_setting_stops_start_up_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        _hrbot("serve"),
        env=_env(tmp_path, HRBOT_PORT="eighty"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "HRBOT_PORT" in lines[0] and "Traceback" not in result.stderr


def test_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("HRBOT_TIMEZONE=Nowhere/Land\n")
    result = subprocess.run(
        _hrbot("serve"), env=_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "HRBOT_TIMEZONE" in result.stderr


HEAVY = ("aiohttp", "sqlalchemy", "apscheduler", "pydantic", "httpx")


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_import_nothing_the_server_needs(flag: str) -> None:
    """They answer at once: none of what only `serve` (or the settings) needs is imported to print them."""
    probe = (
        "import sys\n"
        "from bot.lifecycle import cli\n"
        "try:\n"
        f"    cli.main([{flag!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    assert printed[-1] == "[]", printed
    assert ("hrbot " in printed[0]) if flag == "--version" else ("serve" in done.stdout)
