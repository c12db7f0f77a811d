"""What every provider client shares: one error type carrying a message fit for the user, and a pooled client."""

from __future__ import annotations

import httpx

from bot.errors import UserFacingError

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


def pooled_client(base_url: str, *, timeout: float = 10.0, max_connections: int = 50) -> httpx.AsyncClient:
    """One client per upstream, created at start and closed at shutdown; timeouts explicit."""
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/"),
        timeout=httpx.Timeout(timeout, connect=5.0),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
    )
