"""Where a running bot listens, left in the working directory for `hrbot say` and `hrbot whoami` in another shell.

`hrbot serve` writes `.hrbot-run.json` (its URL and process id) once it listens and removes it when it stops; the
commands read it when HRBOT_PORT is not set for them, so a bot started on another port is still found.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings

STATE_FILE = Path(".hrbot-run.json")


@dataclass(frozen=True)
class BotAddress:
    url: str
    how: str  # how it was found, in the words of an error message


def write(url: str, path: Path = STATE_FILE) -> None:
    try:
        path.write_text(json.dumps({"url": url, "pid": os.getpid()}) + "\n")
    except OSError:
        pass  # a read-only working directory: `say` and `whoami` then need HRBOT_PORT


def remove(path: Path = STATE_FILE) -> None:
    """Only this process's own record: a second bot started meanwhile keeps its own."""
    if _read(path).get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def _read(path: Path) -> dict[str, object]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def bot_address(settings: Settings, path: Path = STATE_FILE) -> BotAddress:
    """HRBOT_PORT when it is set; else the bot recorded in the working directory, if it still runs; else the
    default port."""
    configured = f"http://{settings.hrbot_host}:{settings.hrbot_port}"
    if "hrbot_port" in settings.model_fields_set:
        return BotAddress(configured, "HRBOT_PORT")
    found = _read(path)
    if isinstance(found.get("url"), str) and _alive(found.get("pid")):
        return BotAddress(str(found["url"]), f"the running bot recorded in ./{path}")
    return BotAddress(
        configured,
        f"the default port; no running bot recorded in ./{path}, set HRBOT_PORT if it runs elsewhere",
    )
