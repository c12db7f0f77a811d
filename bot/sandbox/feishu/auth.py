"""Authentication and the Open API gateway (https://open.feishu.cn/document/server-docs/authentication-management/
access-token/tenant_access_token_internal, https://open.feishu.cn/document/server-docs/api-call-guide/frequency-control).

Issues tenant access tokens with their expiry on the injected clock and Feishu's reuse margin, answers the bot's own
info, and, in front of every route, does what Feishu's gateway does: counts calls, refuses a call over an API's
frequency limit with HTTP 429 / 99991400 and its headers, and refuses a missing or expired token (99991663).
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from bot.sandbox.directory import BOT_OPEN_ID
from bot.sandbox.feishu.common import (
    EmulatorState,
    RateWindow,
    Route,
    fail,
)
from bot.sandbox.longconn import ENDPOINT_PATH, SOCKET_PATH

TOKEN_LIFETIME = 7200
# Tenant token doc (https://open.feishu.cn/document/server-docs/authentication-management/access-token/
# tenant_access_token_internal): 剩余有效期小于 30 分钟时，调用本接口会返回一个新的 token；否则返回原 token.
TOKEN_REUSE_MARGIN = 30 * 60
RATE_LIMITED = 99991400


def routes(api: AuthApi) -> list[Route]:
    return [
        ("POST", "/open-apis/auth/v3/tenant_access_token/internal", api._token),
        ("GET", "/open-apis/bot/v3/info", api._bot_info),
    ]


class AuthApi(EmulatorState):
    @web.middleware
    async def _count_calls(self, request: web.Request, handler: Any) -> web.StreamResponse:
        unmatched = request.match_info.http_exception
        if unmatched is not None:
            # Feishu answers unknown paths and wrong methods in its {code, msg} shape, which lark-oapi parses.
            return fail(unmatched.status, f"{unmatched.status} {unmatched.reason}", status=unmatched.status)
        route = (
            request.match_info.route.resource.canonical if request.match_info.route.resource else request.path
        )
        self.api_calls[route] = self.api_calls.get(route, 0) + 1
        window = self.rate_windows.get(route)
        if window is not None and not window.admit():
            # Rate-limit doc (https://open.feishu.cn/document/server-docs/api-call-guide/frequency-control):
            # HTTP 429, code 99991400, and headers saying the limit and the seconds until it resets.
            response = fail(RATE_LIMITED, "request trigger frequency limit", status=429)
            response.headers["x-ogw-ratelimit-limit"] = str(window.per_second)
            response.headers["x-ogw-ratelimit-reset"] = str(window.reset_after())
            return response
        public = route.endswith(("tenant_access_token/internal", ENDPOINT_PATH, SOCKET_PATH))
        if not public and not self._authorised(request):
            return fail(
                99991663, "Invalid access token for authorization. Please make a request with token attached."
            )
        return await handler(request)

    def limit(self, path: str, per_second: int) -> RateWindow:
        window = RateWindow(per_second)
        self.rate_windows[path] = window
        return window

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        expires = self.tokens.get(token)
        return expires is not None and expires > self.clock.timestamp()

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        body = await request.json()
        # Which credential is wrong, as Feishu's answers tell it (as operators report them: no doc lists both).
        if body.get("app_id") != self.app_id:
            return web.json_response({"code": 10003, "msg": "invalid param: app_id not found"})
        if body.get("app_secret") != self.app_secret:
            return web.json_response({"code": 10014, "msg": "app secret invalid"})
        now = self.clock.timestamp()
        token, expires = max(self.tokens.items(), key=lambda item: item[1], default=("", 0.0))
        if expires - now <= TOKEN_REUSE_MARGIN:
            token = f"t-{secrets.token_hex(16)}"
            expires = now + TOKEN_LIFETIME
            self.tokens[token] = expires
        return web.json_response(
            {"code": 0, "msg": "ok", "tenant_access_token": token, "expire": int(expires - now)}
        )

    async def _bot_info(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "code": 0,
                "msg": "ok",
                "bot": {"open_id": BOT_OPEN_ID, "app_name": "hrbot", "activate_status": 2},
            }
        )
