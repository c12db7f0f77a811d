"""Mistakes an operator makes, refused or said at start-up: the Encrypt Key or Verification Token without the app's
credentials, a credential of only spaces, and the HR chat used as a digest chat."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import Settings, load_settings
from bot.sandbox.directory import HR_GROUP
from tests.conftest import make_settings, running_bot
from tests.test_hardening import _serve


@pytest.mark.parametrize(
    "env, named",
    [
        ({"FEISHU_ENCRYPT_KEY": "k"}, "FEISHU_ENCRYPT_KEY"),
        ({"FEISHU_VERIFICATION_TOKEN": "t"}, "FEISHU_VERIFICATION_TOKEN"),
        ({"FEISHU_ENCRYPT_KEY": "k", "FEISHU_APP_ID": "  ", "FEISHU_APP_SECRET": "\t"}, "FEISHU_ENCRYPT_KEY"),
    ],
)
def test_keys_without_the_app_are_refused_with_one_line(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    result = _serve(tmp_path, **env)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert named in lines[0] and "FEISHU_APP_ID" in lines[0] and "Traceback" not in result.stderr


def test_a_credential_of_only_spaces_counts_as_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _serve(
        tmp_path,
        FEISHU_APP_ID="cli_real",
        FEISHU_APP_SECRET="secret",
        FEISHU_VERIFICATION_TOKEN="token",
        FEISHU_ENCRYPT_KEY="   ",
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "missing setting FEISHU_ENCRYPT_KEY" in lines[0]
    monkeypatch.setenv("FEISHU_APP_ID", " ")
    monkeypatch.setenv("FEISHU_APP_SECRET", " ")
    settings = load_settings(Settings, env_file=None)
    assert settings.sandbox and settings.feishu_app_id == ""


async def test_the_hr_chat_as_a_digest_chat_is_warned_at_start(tmp_path: Path, clock, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="hrbot.adjust_records")
    settings = make_settings(tmp_path, hrbot_hr_chat_id=HR_GROUP)
    async with running_bot(settings, clock, hrbot_digest_chat_ids=HR_GROUP):
        pass
    [line] = [r.getMessage() for r in caplog.records if "HRBOT_HR_CHAT_ID" in r.getMessage()]
    assert HR_GROUP in line and "never masked" in line
    caplog.clear()
    async with running_bot(make_settings(tmp_path), clock, hrbot_digest_chat_ids=HR_GROUP):
        pass
    assert not [r for r in caplog.records if "HRBOT_HR_CHAT_ID" in r.getMessage()]
