"""POST /feishu/events answered before aiohttp's application sees it.

Every event Feishu sends comes here, most of them group messages not for the bot; the application's routing,
middleware chain and per-request app bookkeeping cost more than the rest of such an event (bench/ingress.py). The
direct route keeps what the application gave that path: the body deadline, the size cap (the request factory's
`client_max_size`), the Server header; an `Expect` header and every other method and path go through the
application as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from bot.ingress.limits import body_in_time, body_too_slow

EVENTS_PATH = "/feishu/events"

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def route_events_directly(server: web.Server, handle: Handler) -> None:
    """Before any connection is accepted (each connection's handler copies the server's at its start). The path is
    compared as the application's router compares it (still percent-encoded: `/feishu%2Fevents` is not it)."""
    through_app = server.request_handler

    async def dispatch(request: web.BaseRequest) -> web.StreamResponse:
        if (
            request.method == hdrs.METH_POST
            and request.rel_url.path_safe == EVENTS_PATH
            and hdrs.EXPECT not in request.headers
        ):
            if not await body_in_time(request):
                return body_too_slow()
            return await handle(request)
        return await through_app(request)

    server.request_handler = dispatch
