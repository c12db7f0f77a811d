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

from bot.sandbox.directory import BOT_OPEN_ID, PERSONAS
from handlers.adjust_records_audience import digest_chats
from handlers.adjust_records_digest import post_digest

if TYPE_CHECKING:
    from bot.app import BotApp
    from bot.runtime import Services
    from bot.sandbox.feishu import FeishuEmulator
    from bot.sandbox.server import Sandbox

STATIC = Path(__file__).with_name("static")
ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
ROLE_LABELS = {"employee": "员工", "hr": "HR", "manager": "经理"}
# A comment line now and then keeps proxies and the browser from dropping an idle stream.
HEARTBEAT_SECONDS = 15.0
MAX_TEXT = 2000
MAX_ADVANCE_MINUTES = 7 * 24 * 60
IMAGE_TYPES = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}


def mount(app: web.Application, bot: BotApp) -> None:
    """Add the console's routes to the bot's aiohttp app (call only when the bot runs a sandbox)."""
    console = Console(bot)
    app.router.add_get("/console", console.page)
    app.router.add_get("/console/static/{name}", console.static)
    app.router.add_get("/console/api/state", console.state)
    app.router.add_post("/console/api/say", console.say)
    app.router.add_post("/console/api/click", console.click)
    app.router.add_get("/console/api/events", console.events)
    app.router.add_get("/console/api/images/{key}", console.image)
    app.router.add_get("/console/api/files/{key}", console.file)
    app.router.add_post("/console/api/digest", console.digest)
    app.router.add_post("/console/api/advance", console.advance)
    app.on_shutdown.append(console.close_streams)


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

    def __init__(self, bot: BotApp) -> None:
        self.bot = bot
        self._streams: set[asyncio.Task[Any]] = set()

    @property
    def sandbox(self) -> Sandbox:
        assert self.bot.sandbox is not None
        return self.bot.sandbox

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
                    for c in self.services.dispatcher.commands
                ],
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

    async def digest(self, _request: web.Request) -> web.Response:
        services = self.services
        chats = await digest_chats(services)
        if not chats:
            return _error("no digest chat is configured (HRBOT_DIGEST_CHAT_IDS)", 409)
        # The digest claims its slot once; a slot per second lets every click post a fresh one.
        slot = services.clock.now().astimezone(services.settings.tz).replace(microsecond=0)
        posted = await post_digest(services, slot)
        return web.json_response({"posted": posted, "chat_ids": chats})

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
