"""Where a running bot listens, left in the working directory for `hrbot say` and `hrbot whoami` in another shell.

`hrbot serve` writes `.hrbot-run.json` (its URL and process id) once it listens and removes it when it stops; the
commands read it when HRBOT_PORT is not set for them, so a bot started on another port is still found. In a directory
others can write to, the file is trusted only when it is a plain file of this user, writable by nobody else, naming a
running process of this user: otherwise another local user could send `say`'s words elsewhere.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Settings

STATE_FILE = Path(".hrbot-run.json")


@dataclass(frozen=True)
class BotAddress:
    url: str
    how: str  # how it was found, in the words of an error message


def write(url: str, path: Path = STATE_FILE) -> None:
    """Written beside and renamed over: a symlink planted at `path` is replaced, never followed."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}")
    try:
        temporary.unlink(missing_ok=True)  # a leftover of a bot that died with this pid
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        os.fchmod(descriptor, 0o644)  # whatever the umask: the reader refuses a file others may write
        with os.fdopen(descriptor, "w") as file:
            file.write(json.dumps({"url": url, "pid": os.getpid()}) + "\n")
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(
            missing_ok=True
        )  # a read-only working directory: `say` and `whoami` then need HRBOT_PORT


def remove(path: Path = STATE_FILE) -> None:
    """Only this process's own record: a second bot started meanwhile keeps its own."""
    if _read(path).get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def _read(path: Path) -> dict[str, object]:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return {}
    try:
        info = os.fstat(descriptor)
        mine = stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid()
        if not mine or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return {}
        with os.fdopen(descriptor, closefd=False) as file:
            found = json.loads(file.read(4096))
    except (OSError, ValueError):
        return {}
    finally:
        os.close(descriptor)
    return found if isinstance(found, dict) else {}


def _alive(pid: object) -> bool:
    """A running process of this user (signal 0 to another user's process is refused)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def bot_address(settings: Settings, path: Path = STATE_FILE) -> BotAddress:
    """HRBOT_PORT when it is set; else the bot recorded in the working directory, if it still runs; else the
    default port."""
    port_set = "hrbot_port" in settings.model_fields_set
    return _address(settings.hrbot_host, settings.hrbot_port, port_set=port_set, path=path)


class AddressError(ValueError):
    """HRBOT_PORT is not a port number; the message names it as the settings would."""


def address_from_environment(
    environ: Mapping[str, str], env_file: Path | None = Path(".env"), path: Path = STATE_FILE
) -> BotAddress:
    """As `bot_address`, from HRBOT_HOST and HRBOT_PORT alone (the environment, else `.env`, names in any case, as
    the settings read them): `hrbot say` needs no more, and importing the settings' model costs ~0.1 s."""
    found: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        from dotenv import dotenv_values

        found.update({k.upper(): v for k, v in dotenv_values(env_file).items() if v is not None})
    found.update({k.upper(): v for k, v in environ.items()})
    host = found.get("HRBOT_HOST", DEFAULT_HOST)
    given = found.get("HRBOT_PORT")
    if given is None:
        return _address(host, DEFAULT_PORT, port_set=False, path=path)
    try:
        port = int(given.strip())
    except ValueError:
        raise AddressError(
            "invalid setting HRBOT_PORT: Input should be a valid integer, unable to parse string as an integer"
        ) from None
    if not 0 <= port <= 65535:
        raise AddressError("invalid setting HRBOT_PORT: must be a port number between 0 and 65535")
    return _address(host, port, port_set=True, path=path)


# As bot.config.Settings's defaults (tests/test_cli_say.py holds them equal).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def _address(host: str, port: int, *, port_set: bool, path: Path) -> BotAddress:
    configured = f"http://{host}:{port}"
    if port_set:
        return BotAddress(configured, "HRBOT_PORT")
    found = _read(path)
    url = found.get("url")
    if isinstance(url, str) and url.startswith(("http://", "https://")) and _alive(found.get("pid")):
        return BotAddress(url, f"the running bot recorded in ./{path}")
    return BotAddress(
        configured,
        f"the default port; no running bot recorded in ./{path}, set HRBOT_PORT if it runs elsewhere",
    )
