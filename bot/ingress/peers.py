"""Who is asking: a request from this machine itself, not through a proxy and not from another site's page.

The sandbox's console and emulator API have no login, and the bot's detailed health is for operators: each answers
only a loopback peer that names a loopback Host (a DNS-rebinding page names its own), sends no foreign Origin, and
came through no proxy. A reverse proxy on the same host connects from loopback and may forward the client's Host
(deploy/nginx.conf does, with `server_name _`), so the proxy headers it adds (X-Forwarded-For, X-Real-IP,
Forwarded, Via) mark the request as someone else's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
PROXY_HEADERS = ("X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP", "Forwarded", "Via")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def loopback_name(host: str | None) -> bool:
    """`localhost:8000`, `127.0.0.1`, `[::1]:8000`: a name that can only mean this machine."""
    name = (host or "").strip().lower()
    if name.startswith("["):
        name = name.split("]", 1)[0] + "]"
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    return name in LOOPBACK_NAMES


def proxied(request: web.Request) -> bool:
    return any(header in request.headers for header in PROXY_HEADERS)


def refusal(request: web.Request) -> str | None:
    """Why `request` is not one from this machine's own pages and tools; None when it is."""
    if not is_loopback(request.remote) or proxied(request):
        return "the console answers on this machine only; set HRBOT_CONSOLE_PUBLIC=1 to open it"
    origin = request.headers.get("Origin")
    origin_host = origin.split("://", 1)[-1] if origin else None
    if not loopback_name(request.host) or (origin is not None and not loopback_name(origin_host)):
        return "the console answers pages of this machine only"
    return None


def local_only(handler: Handler) -> Handler:
    """Loopback peers only (see the module's doc), and JSON bodies only: a cross-site form or `text/plain` post
    cannot send `application/json` without a preflight nothing here answers."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        why = refusal(request)
        if why is not None:
            return web.json_response({"error": why}, status=403)
        if request.method == "POST" and request.content_type != "application/json":
            return web.json_response({"error": "expected application/json"}, status=415)
        return await handler(request)

    return guarded
