"""`.hrbot-run.json`: written without following a planted link, and trusted only when it is this user's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings
from bot.lifecycle import run_state

URL = "http://127.0.0.1:8123"


def _settings() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
def _no_port(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("HRBOT_"):
            monkeypatch.delenv(name)


def test_the_bot_written_is_found(tmp_path: Path) -> None:
    path = tmp_path / ".hrbot-run.json"
    run_state.write(URL, path)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    assert run_state.bot_address(_settings(), path).url == URL
    run_state.remove(path)
    assert not path.exists()


def test_a_planted_link_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    path = tmp_path / ".hrbot-run.json"
    path.symlink_to(victim)
    run_state.write(URL, path)
    assert victim.read_text() == "keep me"
    assert not path.is_symlink() and json.loads(path.read_text())["url"] == URL


def test_a_link_to_a_run_file_is_not_read(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"url": "http://198.51.100.7:80", "pid": os.getpid()}))
    path = tmp_path / ".hrbot-run.json"
    path.symlink_to(elsewhere)
    assert run_state.bot_address(_settings(), path).url == "http://127.0.0.1:8000"


def test_a_file_others_may_write_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / ".hrbot-run.json"
    path.write_text(json.dumps({"url": "http://198.51.100.7:80", "pid": os.getpid()}))
    path.chmod(0o666)
    address = run_state.bot_address(_settings(), path)
    assert address.url == "http://127.0.0.1:8000" and "no running bot recorded" in address.how


def test_a_process_that_has_ended_or_no_url_is_not_trusted(tmp_path: Path) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    path = tmp_path / ".hrbot-run.json"
    for record in ({"url": URL, "pid": ended.pid}, {"url": "file:///etc/passwd", "pid": os.getpid()}):
        path.write_text(json.dumps(record))
        path.chmod(0o644)
        assert run_state.bot_address(_settings(), path).url == "http://127.0.0.1:8000"
