"""`hrbot say` against a running sandbox (`hrbot serve` in its own process), typed the way a newcomer types it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.lifecycle.cli import main
from bot.lifecycle.run_state import BotAddress
from bot.sandbox import say as say_module
from tests.processes import free_port

Hrbot = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def sandbox_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working directory `hrbot serve` runs in (where it leaves .hrbot-run.json)."""
    return tmp_path_factory.mktemp("say")


@pytest.fixture(scope="module")
def sandbox_port(sandbox_home: Path) -> Iterator[int]:
    home = sandbox_home
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FEISHU_", "HRBOT_", "JUHE_", "TCREDIT_"))
    }
    env.update({"HRBOT_PORT": str(port), "HRBOT_DATABASE_URL": f"sqlite:///{home / 'hrbot.db'}"})
    server = subprocess.Popen(
        [sys.executable, "-m", "bot.lifecycle.cli", "serve"], env=env, cwd=home, stderr=subprocess.DEVNULL
    )
    try:
        # The run file is written once the bot has finished starting (it answers /healthz a little before).
        deadline = time.monotonic() + 60
        while not (home / ".hrbot-run.json").exists():
            assert time.monotonic() < deadline and server.poll() is None, "the sandbox did not start"
            time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def hrbot(
    sandbox_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Hrbot:
    """Run `hrbot ARGS...` in this process against the sandbox; returns (exit status, stdout, stderr)."""
    for name in list(os.environ):
        if name.startswith(("FEISHU_", "HRBOT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HRBOT_PORT", str(sandbox_port))
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            status = main(list(args))
        except SystemExit as exit_:
            status = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_unquoted_words_are_one_message_printed_without_markup(hrbot: Hrbot) -> None:
    status, out, err = hrbot("say", "企业社保", "小米科技有限责任公司")
    assert status == 0, err
    assert "【企业社保缴纳 · 小米科技有限责任公司】" in out
    assert "2019 年报" in out and "**" not in out


def test_group_messages_mention_the_bot_even_with_another_mention(hrbot: Hrbot) -> None:
    status, out, err = hrbot("say", "增减员 @王建国", "--chat", "group", "--user", "hr")
    assert status == 0, err
    assert "已私聊发给你" in out


def test_a_mention_in_a_private_chat_names_that_person(hrbot: Hrbot) -> None:
    status, out, err = hrbot("say", "增减员", "@王建国", "--user", "李思")
    assert status == 0, err
    assert "社保增减员记录 · 王" in out


def test_a_mention_of_nobody_in_the_sandbox_is_refused_with_the_names(hrbot: Hrbot) -> None:
    status, out, err = hrbot("say", "增减员", "@张三")
    assert status == 2 and out == ""
    assert "张三" in err and "@张小明" in err and "@李思" in err


def test_an_unknown_user_lists_the_personas(hrbot: Hrbot) -> None:
    status, _out, err = hrbot("say", "帮助", "--user", "nobody")
    assert status == 2
    assert "ou_sandbox_employee" in err and "ou_sandbox_hr" in err and "ou_sandbox_manager" in err
    status, _out, err = hrbot("say", "帮助", "--user", "ou_nobody")
    assert status == 2 and "ou_sandbox_hr" in err  # the sandbox refuses open_ids it does not know


def test_no_answer_is_said_and_fails(hrbot: Hrbot) -> None:
    status, out, err = hrbot("say", "帮助", "--wait", "0")
    assert status == 1 and out == ""
    assert "no answer within 0 s" in err


def test_help_version_and_chat_choices(hrbot: Hrbot) -> None:
    status, out, _err = hrbot("--version")
    assert status == 0 and out.startswith("hrbot ")
    status, out, _err = hrbot("say", "--help")
    assert status == 0
    assert "private chat" in out and "HR group" in out and "managers" in out


def test_whoami_prints_the_bots_groups_and_their_peoples_open_ids(hrbot: Hrbot) -> None:
    status, out, err = hrbot("whoami")
    assert status == 0, err
    assert "open_id ou_sandbox_bot" in out
    assert "chat oc_sandbox_hr  HR 群" in out and "chat oc_sandbox_managers  经理群" in out
    assert "ou_sandbox_manager  王建国" in out and "ou_sandbox_hr  李思" in out
    assert "oc_p2p_" not in out  # Feishu lists groups only
    assert "batch_get_id" in out  # how to find someone in no chat with the bot


def test_whoami_without_credentials_or_sandbox_says_what_to_do(
    hrbot: Hrbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.processes import free_port

    monkeypatch.setenv("HRBOT_PORT", str(free_port()))
    status, _out, err = hrbot("whoami")
    assert status == 1 and "FEISHU_APP_ID" in err and "hrbot serve" in err


def test_output_piped_into_a_reader_that_stops_is_no_traceback(sandbox_port: int, tmp_path: Path) -> None:
    """`hrbot say 帮助 | head -3`: the reader goes before the card is printed; the command just stops."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("FEISHU_", "HRBOT_", "JUHE_", "TCREDIT_"))
    }
    env["HRBOT_PORT"] = str(sandbox_port)
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: the first line printed meets a closed pipe
    try:
        run = subprocess.run(
            [sys.executable, "-m", "bot.lifecycle.cli", "say", "帮助"],
            env=env,
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in run.stderr and "BrokenPipeError" not in run.stderr, run.stderr
    assert run.returncode == 1


def test_terminal_control_sequences_in_an_answer_are_not_printed(hrbot: Hrbot) -> None:
    # The unknown command is echoed on the help card: a window title (OSC), a colour and a right-to-left override.
    typed = "\x1b]0;pwned\x07\x1b[31m红色\u202e命令"
    status, out, err = hrbot("say", typed)
    assert status == 0, err
    assert "红色" in out and "命令" in out
    assert not any(ch in out for ch in ("\x1b", "\x07", "\u202e", "\x9b"))


def test_say_and_whoami_find_a_bot_on_another_port_through_its_run_file(
    hrbot: Hrbot, sandbox_home: Path, sandbox_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second shell in the bot's directory, without HRBOT_PORT: the bot's .hrbot-run.json says where it runs."""
    run_file = sandbox_home / ".hrbot-run.json"
    deadline = time.monotonic() + 30
    while not run_file.exists():  # written once the bot has finished starting, just after it answers /healthz
        assert time.monotonic() < deadline, "no .hrbot-run.json"
        time.sleep(0.05)
    recorded = json.loads(run_file.read_text())
    assert recorded["url"] == f"http://127.0.0.1:{sandbox_port}"
    monkeypatch.delenv("HRBOT_PORT")
    monkeypatch.chdir(sandbox_home)
    status, out, _err = hrbot("say", "帮助")
    assert status == 0 and "使用帮助" in out
    status, out, _err = hrbot("whoami")
    assert status == 0 and "open_id ou_sandbox_bot" in out


def test_without_a_run_file_or_hrbot_port_the_message_says_both(
    hrbot: Hrbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.processes import free_port

    monkeypatch.delenv("HRBOT_PORT")
    monkeypatch.setenv("HRBOT_HOST", "127.0.0.3")  # the default port there: no bot of anyone's
    (Path.cwd() / ".hrbot-run.json").write_text(
        json.dumps({"url": f"http://127.0.0.1:{free_port()}", "pid": 0})
    )
    status, _out, err = hrbot("say", "帮助")
    assert status == 1 and "no running bot recorded in ./.hrbot-run.json" in err and "HRBOT_PORT" in err


def test_a_card_in_the_making_is_printed_once_it_is_done(hrbot: Hrbot) -> None:
    """The digest says 正在生成 at once and is replaced seconds later: `say` prints the digest."""
    status, out, err = hrbot("say", "增减员摘要", "--chat", "group", "--user", "hr")
    assert status == 0, err
    assert "社保增减员摘要" in out and " · 基数 " in out and "正在生成" not in out


def test_say_imports_nothing_the_server_needs(sandbox_port: int, tmp_path: Path) -> None:
    """`hrbot say` answers in a fraction of a second: no settings model, HTTP library or server module is imported."""
    from tests.test_cli import HEAVY

    heavy = (*HEAVY, "pydantic_settings", "bot.config", "asyncio")
    probe = (
        "import sys\n"
        "from bot.lifecycle import cli\n"
        "status = cli.main(['say', '帮助'])\n"
        f"print(status, sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEISHU_", "HRBOT_"))}
    env["HRBOT_PORT"] = str(sandbox_port)
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "使用帮助" in done.stdout
    assert done.stdout.splitlines()[-1] == "0 []", done.stdout


def test_say_reads_hrbot_port_from_dotenv_and_refuses_a_bad_one(
    hrbot: Hrbot, sandbox_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the settings read it: the environment first, else `.env` (any case); a bad value is named."""
    monkeypatch.delenv("HRBOT_PORT")
    Path(".env").write_text(f"hrbot_port={sandbox_port}\n")
    status, out, _err = hrbot("say", "帮助")
    assert status == 0 and "使用帮助" in out
    monkeypatch.setenv("HRBOT_PORT", "80000")
    status, _out, err = hrbot("say", "帮助")
    assert status == 2 and "HRBOT_PORT" in err and "port number" in err


def test_say_defaults_are_the_settings_defaults() -> None:
    from bot.config import Settings
    from bot.lifecycle import run_state

    fields = Settings.model_fields
    assert (run_state.DEFAULT_HOST, run_state.DEFAULT_PORT) == (
        fields["hrbot_host"].default,
        fields["hrbot_port"].default,
    )


def test_say_typed_while_the_bot_is_still_starting_waits_for_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hrbot serve` answers /healthz a moment before its sandbox can deliver to it: `say` right after waits."""
    tries: list[str] = []

    def sandbox(method: str, url: str, body: object = None, timeout: float = 10.0) -> tuple[int, bytes]:
        if url.endswith("/healthz"):
            return 200, json.dumps({"sandbox_url": "http://sandbox", "in_flight": 0}).encode()
        if url.endswith("/sandbox/api/say"):
            tries.append(url)
            if len(tries) < 3:
                return 503, json.dumps({"error": "the bot is still starting; try again in a moment"}).encode()
            return 200, json.dumps({"message_id": "om_1"}).encode()
        reply = {"msg_type": "text", "content": {"text": "你好"}}
        return 200, json.dumps([reply], ensure_ascii=False).encode()

    monkeypatch.setattr(say_module, "_request", sandbox)
    code = say_module.say(BotAddress("http://bot", "HRBOT_PORT"), ["帮助"], "employee", "p2p", 5.0)
    assert (code, capsys.readouterr().out.strip(), len(tries)) == (0, "你好", 3)
