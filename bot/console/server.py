"""The console's HTTP side, mounted under /console on the bot's own app in sandbox mode only.

The page talks to the sandbox's Feishu emulator: what a persona types and clicks goes through the bot's real
ingress (signed and encrypted), and every message the bot sends or patches is streamed back as server-sent events.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from bot.ingress.peers import local_only
from bot.lifecycle.features import ConsoleTask
from bot.routing.errors import UserFacingError
from bot.sandbox.directory import BOT_OPEN_ID, PERSONAS

if TYPE_CHECKING:
    from bot.lifecycle.app import BotApp
    from bot.lifecycle.services import Services
    from bot.sandbox.feishu import FeishuEmulator
    from bot.sandbox.server import Sandbox

STATIC = Path(__file__).with_name("static")
ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
ROLE_LABELS = {"employee": "员工", "hr": "HR", "manager": "经理"}
# A comment line now and then keeps proxies and the browser from dropping an idle stream.
HEARTBEAT_SECONDS = 15.0
MAX_TEXT = 2000
MAX_ADVANCE_MINUTES = 7 * 24 * 60
MAX_REFUSE_SECONDS = 600
IMAGE_TYPES = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}


def mount(app: web.Application, bot: BotApp, sandbox: Sandbox, *, public: bool = False) -> None:
    """Add the console's routes to the bot's aiohttp app (call only when the bot runs a sandbox).

    The console has no login: unless `public` (HRBOT_CONSOLE_PUBLIC=1), it answers loopback peers only.
    """
    console = Console(bot, sandbox)
    guard = (lambda handler: handler) if public else _loopback_only
    app.router.add_get("/", guard(_to_console))  # what a newcomer opens first
    app.router.add_get("/console", guard(console.page))
    app.router.add_get("/console/static/{name}", guard(console.static))
    app.router.add_get("/console/api/state", guard(console.state))
    app.router.add_post("/console/api/say", guard(console.say))
    app.router.add_post("/console/api/click", guard(console.click))
    app.router.add_get("/console/api/events", guard(console.events))
    app.router.add_get("/console/api/images/{key}", guard(console.image))
    app.router.add_get("/console/api/files/{key}", guard(console.file))
    app.router.add_post("/console/api/task", guard(console.run_task))
    app.router.add_post("/console/api/advance", guard(console.advance))
    app.router.add_get("/console/api/ingress", guard(console.ingress))
    app.router.add_post("/console/api/longconn/fault", guard(console.longconn_fault))
    app.router.add_get("/console/bitable", guard(console.bitable))
    app.router.add_post("/console/bitable", guard(console.bitable_edit))
    app.router.add_get("/console/api/tenant", guard(console.tenant))
    app.router.add_post("/console/api/tenant", guard(console.tenant))
    app.on_shutdown.append(console.close_streams)


async def _to_console(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/console")


# The guard lives in bot.peers, shared with the sandbox's emulator API and the bot's detailed health.
_loopback_only = local_only


def _error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "expected a JSON object"}), content_type="application/json"
        )
    return body


class Console:
    """The console's handlers, bound to one running sandbox bot."""

    def __init__(self, bot: BotApp, sandbox: Sandbox) -> None:
        self.bot = bot
        self.sandbox = sandbox
        self._streams: set[asyncio.Task[Any]] = set()
        # Each feature's console buttons, by an id the page sends back.
        self.tasks: dict[str, tuple[str, ConsoleTask]] = {
            f"{feature.name}.{number}": (label, task)
            for feature in bot.features
            for number, (label, task) in enumerate(feature.console_tasks.items())
        }

    @property
    def feishu(self) -> FeishuEmulator:
        return self.sandbox.feishu

    @property
    def services(self) -> Services:
        assert self.bot.services is not None
        return self.bot.services

    # Page ------------------------------------------------------------------------------------------------------
    async def page(self, _request: web.Request) -> web.Response:
        return self._file("console.html", "text/html")

    async def bitable(self, _request: web.Request) -> web.Response:
        """The emulated 多维表格 (bot/sandbox/bitable.py), as HR would see it in Feishu."""
        return web.Response(text=self.sandbox.bitable.html(), content_type="text/html")

    async def bitable_edit(self, request: web.Request) -> web.Response:
        """A cell changed on that page, as HR changes it in Feishu."""
        body = await _body(request)
        try:
            self.sandbox.bitable.edit_from_form({k: str(v) for k, v in body.items()})
        except KeyError:
            return _error("没有这一行或这一列")
        return web.json_response({"ok": True})

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in ASSETS:
            raise web.HTTPNotFound()
        return self._file(name, ASSETS[name])

    @staticmethod
    def _file(name: str, content_type: str) -> web.Response:
        # Read per request and never cached: editing the page needs no restart, and no build step exists.
        return web.Response(
            body=(STATIC / name).read_bytes(),
            content_type=content_type,
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    # State and actions -----------------------------------------------------------------------------------------
    async def state(self, _request: web.Request) -> web.Response:
        chats = self.feishu.directory.chats()
        by_chat: dict[str, list[dict[str, Any]]] = {chat.chat_id: [] for chat in chats}
        for message in sorted(self.feishu.messages.values(), key=lambda m: m.created_at):
            if message.chat_id in by_chat:
                by_chat[message.chat_id].append(message.to_json())
        return web.json_response(
            {
                "bot": {"open_id": BOT_OPEN_ID, "name": "hrbot"},
                "personas": [
                    {
                        "open_id": p.open_id,
                        "name": p.name,
                        "role": p.role,
                        "role_label": ROLE_LABELS.get(p.role, p.role),
                    }
                    for p in PERSONAS
                ],
                "chats": [
                    {
                        "chat_id": c.chat_id,
                        "name": c.name,
                        "chat_type": c.chat_type,
                        "members": list(c.members),
                    }
                    for c in chats
                ],
                "messages": by_chat,
                "commands": [
                    {"name": c.name, "example": c.example, "summary": c.summary}
                    for c in self.services.catalogue.commands
                ],
                "tasks": [{"id": task_id, "label": label} for task_id, (label, _) in self.tasks.items()],
                # Message times are shown in the bot's zone, like the times on its cards.
                "timezone": self.services.settings.hrbot_timezone,
                "clock_offset_minutes": self._offset_minutes(),
            }
        )

    async def say(self, request: web.Request) -> web.Response:
        body = await _body(request)
        text, user, chat_id = (str(body.get(key, "")).strip() for key in ("text", "user", "chat_id"))
        if not text or len(text) > MAX_TEXT:
            return _error(f"text must be 1 to {MAX_TEXT} characters")
        if not self.feishu.directory.has_user(user):
            return _error(f"unknown user {user!r}")
        try:
            message = await self.feishu.user_says(text, user=user, chat_id=chat_id)
        except KeyError:
            return _error(f"unknown chat {chat_id!r}")
        return web.json_response(message.to_json())

    async def click(self, request: web.Request) -> web.Response:
        body = await _body(request)
        message_id, user = str(body.get("message_id", "")), str(body.get("user", ""))
        value, form_value, option = body.get("value") or {}, body.get("form_value"), body.get("option")
        if message_id not in self.feishu.messages:
            return _error("unknown message", 404)
        if not self.feishu.directory.has_user(user):
            return _error(f"unknown user {user!r}")
        if not isinstance(value, dict) or not (form_value is None or isinstance(form_value, dict)):
            return _error("value and form_value must be objects")
        answer = await self.feishu.user_clicks(
            message_id,
            user=user,
            value=value,
            form_value=form_value,
            option=None if option is None else str(option),
            tag=str(body.get("tag") or "button"),
        )
        return web.json_response(answer)

    async def run_task(self, request: web.Request) -> web.Response:
        body = await _body(request)
        found = self.tasks.get(str(body.get("id")))
        if found is None:
            return _error("unknown task", 404)
        try:
            answer = await found[1](self.services)
        except UserFacingError as exc:
            return _error(exc.user_message, 409)
        names = {chat.chat_id: chat.name for chat in self.feishu.directory.chats()}
        message = answer.message.replace("{chats}", "、".join(names.get(c, c) for c in answer.chats))
        return web.json_response({"message": message, "kind": answer.kind, "open_chat": answer.open_chat})

    async def advance(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            minutes = float(body.get("minutes", 0))
        except (TypeError, ValueError):
            minutes = 0.0
        if not 0 < minutes <= MAX_ADVANCE_MINUTES:
            return _error(f"minutes must be within (0, {MAX_ADVANCE_MINUTES}]")
        self.sandbox.fast_forward(timedelta(minutes=minutes))
        assert self.services.scheduler is not None
        jobs = self.services.scheduler.run_pollers_now()
        return web.json_response({"jobs": jobs, "clock_offset_minutes": self._offset_minutes()})

    def _offset_minutes(self) -> int:
        return round((self.bot.clock.now() - datetime.now(UTC)).total_seconds() / 60)

    async def image(self, request: web.Request) -> web.Response:
        data = self.feishu.images.get(request.match_info["key"])
        if data is None:
            raise web.HTTPNotFound()
        kind = next(
            (t for magic, t in IMAGE_TYPES.items() if data.startswith(magic)), "application/octet-stream"
        )
        return web.Response(body=data, content_type=kind)

    async def file(self, request: web.Request) -> web.Response:
        """A file the bot sent (the 增减员 Excel export), downloaded under its own name."""
        found = self.feishu.files.get(request.match_info["key"])
        if found is None:
            raise web.HTTPNotFound()
        name, data = found
        return web.Response(
            body=data,
            content_type="application/octet-stream",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
        )

    # Ingress ---------------------------------------------------------------------------------------------------
    async def ingress(self, _request: web.Request) -> web.Response:
        """Which way events reach the bot: the webhook, or the long connection (the bot's and the emulator's view)."""
        longconn = self.bot.longconn
        return web.json_response(
            {
                "mode": self.bot.mode,
                "longconn": longconn.state().as_json() if longconn is not None else None,
                "sandbox": self.sandbox.longconn.status(),
            }
        )

    async def longconn_fault(self, request: web.Request) -> web.Response:
        body = await _body(request)
        hub, fault = self.sandbox.longconn, body.get("fault")
        try:
            seconds = float(body.get("seconds", 10))
        except (TypeError, ValueError):
            seconds = -1.0
        if fault == "drop":
            hub.drop()
        elif fault == "silent":
            hub.go_silent()
        elif fault == "refuse" and 0 < seconds <= MAX_REFUSE_SECONDS:
            hub.refuse_for(seconds)
        elif fault == "duplicate":
            hub.duplicate_next()
        else:
            return _error(
                f"fault must be drop, silent, refuse (0 < seconds <= {MAX_REFUSE_SECONDS}) or duplicate"
            )
        return web.json_response(hub.status())

    async def tenant(self, request: web.Request) -> web.Response:
        """A half-configured tenant's switches (bot/sandbox/tenant.py): GET reads them, POST changes some."""
        if request.method == "POST":
            self.sandbox.tenant.apply(await _body(request))
        return web.json_response(self.sandbox.tenant.state())

    # Live stream -----------------------------------------------------------------------------------------------
    async def events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        queue = self.feishu.subscribe()
        task = asyncio.current_task()
        assert task is not None
        self._streams.add(task)
        try:
            await response.write(b"retry: 1000\n\n")
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    await response.write(b": heartbeat\n\n")
                    continue
                await response.write(f"data: {json.dumps(item, ensure_ascii=False)}\n\n".encode())
        except ConnectionResetError:
            return response  # the page went away
        finally:
            self.feishu.unsubscribe(queue)
            self._streams.discard(task)

    async def close_streams(self, _app: web.Application) -> None:
        """Open streams never end by themselves; end them so shutdown does not wait out its timeout."""
        for task in list(self._streams):
            task.cancel()
