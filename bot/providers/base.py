"""What every provider client shares: one error type carrying a message fit for the user, and a pooled client."""

from __future__ import annotations

from typing import Any

import httpx

from bot.observability import metrics
from bot.routing.errors import UserFacingError

SERVICE_UNAVAILABLE = "服务暂时不可用，请稍后再试"


class ProviderError(UserFacingError):
    """A provider call that did not produce data.

    `user_message` is short Simplified Chinese telling the user what failed and what to do next; it never holds
    keys, internal ids or stack traces. `retryable` says whether trying the same call later may succeed.
    """

    def __init__(self, provider: str, code: int | str, user_message: str, *, retryable: bool = False) -> None:
        super().__init__(user_message, title="查询失败")
        self.provider = provider
        self.code = code
        self.retryable = retryable

    def __str__(self) -> str:
        return f"{self.provider} error {self.code}"

    @property
    def outcome(self) -> str:
        return f"provider-error:{self.provider}:{self.code}"


class _CountedTransport(httpx.AsyncHTTPTransport):
    """Counts every call by upstream and HTTP status (`error` when no answer came) for /metrics."""

    def __init__(self, upstream: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.upstream = upstream

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except httpx.TransportError:
            metrics.outbound(self.upstream, "error")
            raise
        metrics.outbound(self.upstream, response.status_code)
        return response


def pooled_client(
    base_url: str, *, timeout: float = 10.0, max_connections: int = 50, upstream: str = "other"
) -> httpx.AsyncClient:
    """One client per upstream, created at start and closed at shutdown; timeouts explicit."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        timeout=httpx.Timeout(timeout, connect=5.0),
        transport=_CountedTransport(upstream, limits=limits),
    )
