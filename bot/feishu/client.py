"""Feishu Open API client: one pooled aiohttp session, a cached tenant token, rate limits waited out as Feishu says.

aiohttp's client rather than httpx's: measured against the emulator (bench/ingress.py), httpx spent about 2 ms of
CPU per call choosing a pooled connection (every pooled connection's expiry checked, through anyio, on each request)
where aiohttp's client spends about 0.1 ms; a bot's every answer is such a call."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from bot.clock import Clock
from bot.feishu.chat_pacing import ChatPacer
from bot.observability import metrics
from bot.routing import event_scope
from cards.common import MAX_REQUEST_BYTES, card_json

log = logging.getLogger("hrbot.feishu")

RATE_LIMITED_CODE = 99991400
# Message API's frequency limit (5 messages a second to one chat or user; 5 updates a second to one message): the
# message was not sent, so it is waited out and repeated like any rate-limit answer.
MESSAGE_RATE_LIMITED_CODE = 230020
PER_TARGET_LIMITED_CODE = MESSAGE_RATE_LIMITED_CODE
# Invalid or expired tenant token: refresh once and repeat the call.
TOKEN_INVALID_CODES = frozenset({99991661, 99991663, 99991668})
# Refresh this long before the token's stated expiry, so no call carries a token that dies in flight.
TOKEN_REFRESH_MARGIN = 300.0
# Final answers to an update: the message was withdrawn (230011) or is older than Feishu lets a card be updated
# (230031, 14 days): the card goes out as a new message instead.
MESSAGE_GONE_CODES = frozenset({230011, 230031})
# Rate-limit doc (https://open.feishu.cn/document/server-docs/api-call-guide/frequency-control): a 429 / 99991400
# answer carries x-ogw-ratelimit-reset, the seconds until the limit resets. Waits are bounded by these.
MAX_RATE_LIMIT_WAIT = 10.0
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
RATE_LIMIT_BUDGET = 30.0
# A send or reply whose answer was lost is made again this many times in all (the uuid keeps it one message).
MESSAGE_ATTEMPTS = 3


class FeishuError(Exception):
    def __init__(self, code: int, msg: str, http_status: int | None = None) -> None:
        super().__init__(f"feishu error {code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status


class RateLimited(FeishuError):
    """HTTP 429, code 99991400 or 230020: the call was not performed, so repeating it is safe."""

    def __init__(self, code: int, msg: str, http_status: int | None, reset_after: float | None) -> None:
        super().__init__(code, msg, http_status)
        self.reset_after = reset_after


class MessageGone(FeishuError):
    """The message to update was withdrawn or is too old: retrying the patch cannot succeed."""


class CardTooLarge(ValueError):
    """A builder's bug, not the user's: cards must summarise long content themselves."""


class CredentialsRefused(FeishuError):
    """The token call answered with an error code: the app id or secret is wrong (or the app is disabled)."""


class FeishuUnreachable(ConnectionError):
    """No answer from Feishu (refused, reset, timed out): passing, and nothing is known to have been done.

    An `OSError`, as a network failure is, so callers catch it without naming the HTTP library."""


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class FeishuClient:
    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        app_secret: str,
        clock: Clock,
        timeout: float = 10.0,
        max_connections: int = 100,
        rate_limit_budget: float = RATE_LIMIT_BUDGET,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        # HTTP(S)_PROXY and NO_PROXY are honoured as httpx did, read once: aiohttp's trust_env reads them and
        # ~/.netrc in a thread on every request.
        self._proxy, self._proxy_headers = _env_proxy(self._base_url)
        self._app_id = app_id
        self._app_secret = app_secret
        self._clock = clock
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = asyncio.Lock()
        self._rate_limit_budget = rate_limit_budget
        self._pacer = ChatPacer()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the event loop it is made in.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                # As httpx's were: a bounded wait for a pooled connection and 5 s to connect, each read bounded.
                timeout=aiohttp.ClientTimeout(
                    connect=self._timeout, sock_connect=5.0, sock_read=self._timeout
                ),
            )
        return self._session

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        content: bytes | None = None,
        form: aiohttp.FormData | None = None,
        headers: dict[str, str] | None = None,
    ) -> _Answer:
        try:
            async with self._http().request(
                method,
                self._base_url + path,
                params=params,
                data=form or content,
                headers=headers,
                proxy=self._proxy,
                proxy_headers=self._proxy_headers,
            ) as response:
                answer = _Answer(response.status, response.headers, await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            metrics.outbound("feishu", "error")
            raise FeishuUnreachable(f"{method} {path}: {type(exc).__name__}") from exc
        metrics.outbound("feishu", answer.status)
        return answer

    # Token -----------------------------------------------------------------------------------------------------
    async def tenant_token(self) -> str:
        if self._token and self._clock.timestamp() < self._token_expires_at:
            return self._token
        async with self._token_lock:
            # Whoever held the lock before us may have refreshed already: one request for many waiters.
            if self._token and self._clock.timestamp() < self._token_expires_at:
                return self._token
            response = await self._request(
                "POST",
                "/open-apis/auth/v3/tenant_access_token/internal",
                content=_json_bytes({"app_id": self._app_id, "app_secret": self._app_secret}),
                headers=JSON_HEADERS,
            )
            body = _json(response)
            code = int(body.get("code", -1))
            if code != 0:
                # A 5xx or a rate limit is Feishu's trouble and passes; any other code is about the credentials.
                transient = response.status >= 500 or code == RATE_LIMITED_CODE
                error = FeishuError if transient else CredentialsRefused
                raise error(code, str(body.get("msg", "")), response.status)
            self._token = str(body["tenant_access_token"])
            lifetime = float(body.get("expire", 7200))
            self._token_expires_at = self._clock.timestamp() + max(
                lifetime - TOKEN_REFRESH_MARGIN, lifetime / 2
            )
            return self._token

    def _forget_token(self, token: str) -> None:
        if self._token == token:
            self._token = None

    # Calls -----------------------------------------------------------------------------------------------------
    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        files: Any = None,
        data: Any = None,
    ) -> dict[str, Any]:
        """One Open API call; returns its `data`. A rate limit is waited out as long as Feishu says (bounded), within
        a time budget; a stale token is refreshed once."""
        # The first attempt is made outside tenacity: setting up its retry state for every call was ~5 % of an
        # answered message's CPU, and nearly every call succeeds at once. A rate-limit answer enters the retry
        # machinery as its first attempt's outcome, so the waits and the budget are tenacity's as before.
        try:
            return await self._call_with_fresh_token(method, path, params, json_body, files, data)
        except RateLimited as limited:
            first: RateLimited | None = limited
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(RateLimited),
            wait=_rate_limit_wait,
            stop=stop_after_delay(self._rate_limit_budget),
            before_sleep=lambda state: metrics.rate_limited("feishu", state.upcoming_sleep),
            reraise=True,
        ):
            with attempt:
                if first is not None:
                    outcome, first = first, None
                    raise outcome
                return await self._call_with_fresh_token(method, path, params, json_body, files, data)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call_with_fresh_token(
        self, method: str, path: str, params: Any, json_body: Any, files: Any, data: Any
    ) -> dict[str, Any]:
        for first_try in (True, False):
            token = await self.tenant_token()
            headers = {"Authorization": f"Bearer {token}"}
            content = None
            if json_body is not None:
                content = _json_bytes(json_body)
                headers["Content-Type"] = JSON_HEADERS["Content-Type"]
            response = await self._request(
                method, path, params=params, content=content, form=_form(data, files), headers=headers
            )
            body = _json(response) if response.status != 429 else _json_or_empty(response)
            code = int(body.get("code", RATE_LIMITED_CODE if response.status == 429 else -1))
            if response.status == 429 or code in (RATE_LIMITED_CODE, MESSAGE_RATE_LIMITED_CODE):
                raise RateLimited(
                    code if code == MESSAGE_RATE_LIMITED_CODE else RATE_LIMITED_CODE,
                    str(body.get("msg", "rate limited")),
                    response.status,
                    _reset(response),
                )
            if code == 0:
                return body.get("data") or {}
            if code in TOKEN_INVALID_CODES and first_try:
                self._forget_token(token)
                continue
            gone = code in MESSAGE_GONE_CODES
            # A message that can no longer change is a final answer its callers handle (a new card is sent).
            log.log(
                logging.INFO if gone else logging.WARNING,
                "feishu %s %s failed: code=%s msg=%s",
                method,
                path,
                code,
                body.get("msg"),
            )
            error = MessageGone if gone else FeishuError
            raise error(code, str(body.get("msg", "")), response.status)
        raise AssertionError("unreachable")  # pragma: no cover

    # Messages --------------------------------------------------------------------------------------------------
    async def reply_card(self, message_id: str, card: dict[str, Any], *, chat_id: str | None = None) -> str:
        """Reply in a message's thread; `chat_id` (the message's chat) paces replies with the other sends to that
        chat. Within an event the uuid is keyed by the event and the reply's place, so a re-run of the handler lands
        no second reply."""
        async with self._pacer.slot(f"chat_id:{chat_id or message_id}"):
            data = await self._create_message(
                f"/open-apis/im/v1/messages/{message_id}/reply",
                {"msg_type": "interactive", "content": _card_content(card), "uuid": _uuid(None)},
            )
        return str(data.get("message_id", ""))

    async def send_card(
        self,
        receive_id: str,
        card: dict[str, Any],
        *,
        id_type: str = "chat_id",
        idempotency_key: str | None = None,
    ) -> str:
        """Send a card. Feishu lands sends with the same uuid once (for an hour): a retry, or a resend after a crash
        with the same `idempotency_key`, does not make a second message. Without a key, a send made while handling
        an event is keyed by the event and the send's place in the handler."""
        async with self._pacer.slot(f"{id_type}:{receive_id}"):
            data = await self._create_message(
                "/open-apis/im/v1/messages",
                {
                    "receive_id": receive_id,
                    "msg_type": "interactive",
                    "content": _card_content(card),
                    "uuid": _uuid(idempotency_key),
                },
                params={"receive_id_type": id_type},
            )
        return str(data.get("message_id", ""))

    async def _create_message(self, path: str, body: dict[str, Any], *, params: Any = None) -> dict[str, Any]:
        """A send or reply, repeated when Feishu's answer is lost (a timeout, a reset): it carries a uuid, so a
        message that did land is not landed again, and the handler gets its id instead of an error that would make
        it send an error card beside the answer."""
        for attempt in range(1, MESSAGE_ATTEMPTS + 1):
            try:
                return await self.call("POST", path, params=params, json_body=body)
            except FeishuUnreachable:
                if attempt == MESSAGE_ATTEMPTS:
                    raise
                log.info("feishu POST %s: no answer, sending again with the same uuid", path.split("/")[-1])
                await asyncio.sleep(0.5 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def patch_card(
        self, message_id: str, card: dict[str, Any], *, resend_to: str | None = None, id_type: str = "chat_id"
    ) -> str:
        """Update a card in place; returns the id of the message now showing it. When the message was withdrawn or is
        too old to update, the card goes to `resend_to` (of `id_type`) as a new message, if given."""
        try:
            await self.call(
                "PATCH", f"/open-apis/im/v1/messages/{message_id}", json_body={"content": _card_content(card)}
            )
        except MessageGone as gone:
            if not resend_to:
                raise
            log.info("message %s cannot be updated (code %s); sending the card anew", message_id, gone.code)
            # Keyed by the message and the card: two updaters at once (a button and the scheduled round, on any
            # replica) resend it once, while a later, different card still goes out.
            resend = f"resend:{message_id}:{_card_content(card)}"
            return await self.send_card(resend_to, card, id_type=id_type, idempotency_key=resend)
        return message_id

    async def upload_image(self, image: bytes, filename: str = "image.png") -> str:
        data = await self.call(
            "POST",
            "/open-apis/im/v1/images",
            data={"image_type": "message"},
            files={"image": (filename, image)},
        )
        return str(data["image_key"])

    async def upload_file(self, content: bytes, file_name: str, file_type: str = "stream") -> str:
        """Upload a file for a message (im/v1/files); returns its file_key."""
        data = await self.call(
            "POST",
            "/open-apis/im/v1/files",
            data={"file_type": file_type, "file_name": file_name},
            files={"file": (file_name, content)},
        )
        return str(data["file_key"])

    async def send_file(self, receive_id: str, file_key: str, *, id_type: str = "chat_id") -> str:
        async with self._pacer.slot(f"{id_type}:{receive_id}"):
            data = await self._create_message(
                "/open-apis/im/v1/messages",
                {
                    "receive_id": receive_id,
                    "msg_type": "file",
                    "content": json.dumps({"file_key": file_key}),
                    "uuid": _uuid(None),
                },
                params={"receive_id_type": id_type},
            )
        return str(data.get("message_id", ""))

    # Directory -------------------------------------------------------------------------------------------------
    async def bot_info(self) -> dict[str, Any]:
        token = await self.tenant_token()
        response = await self._request(
            "GET", "/open-apis/bot/v3/info", headers={"Authorization": f"Bearer {token}"}
        )
        body = _json(response)
        if body.get("code") != 0:
            raise FeishuError(int(body.get("code", -1)), str(body.get("msg", "")), response.status)
        return dict(body.get("bot") or {})

    async def chat_member_ids(self, chat_id: str) -> list[str]:
        """open_ids of the people in a chat (the API lists no bots), every page; the bot must be in the chat."""
        ids: list[str] = []
        token = ""
        while True:
            data = await self.call(
                "GET",
                f"/open-apis/im/v1/chats/{chat_id}/members",
                params={"member_id_type": "open_id", "page_size": 100, "page_token": token},
            )
            ids.extend(str(item.get("member_id") or "") for item in data.get("items") or [])
            token = str(data.get("page_token") or "")
            if not data.get("has_more") or not token:
                return [i for i in ids if i]

    async def users_by_open_ids(self, open_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """open_id → user (name, ...), 50 per request as the API allows."""
        ids = list(dict.fromkeys(open_ids))
        users: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 50):
            batch = ids[start : start + 50]
            data = await self.call(
                "GET",
                "/open-apis/contact/v3/users/batch",
                params=[("user_id_type", "open_id"), *(("user_ids", i) for i in batch)],
            )
            for item in data.get("items", []):
                users[str(item.get("open_id"))] = item
        return users

    async def names(self, open_ids: Iterable[str]) -> dict[str, str]:
        """open_id → name from the directory, for display. Names are a courtesy: when Feishu cannot say, the answer
        is empty (logged) and the caller shows what it has."""
        ids = list(open_ids)
        if not ids:
            return {}
        try:
            users = await self.users_by_open_ids(ids)
        except (FeishuError, OSError) as exc:
            log.warning("names could not be read from Feishu's directory (%s)", exc)
            return {}
        return {open_id: str(user["name"]) for open_id, user in users.items() if user.get("name")}


def _uuid(idempotency_key: str | None) -> str:
    # Feishu caps uuid at 50 characters; a digest keeps any caller's key within it.
    if idempotency_key is None:
        idempotency_key = event_scope.next_key("message")
    if idempotency_key is None:
        return str(uuid.uuid4())
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:48]


def _card_content(card: dict[str, Any]) -> str:
    return card_json(card)


def _json_bytes(body: Any) -> bytes:
    """The request body as sent: UTF-8 JSON, not ASCII-escaped; Feishu's 30 KB limit is measured on these bytes."""
    raw = orjson.dumps(body)
    if isinstance(body, dict) and "content" in body and len(raw) > MAX_REQUEST_BYTES:
        raise CardTooLarge(f"request body is {len(raw)} bytes, over the {MAX_REQUEST_BYTES} limit")
    return raw


def _env_proxy(base_url: str) -> tuple[str | None, dict[str, str] | None]:
    """The proxy the environment names for `base_url` (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), and the header carrying
    its credentials."""
    url = urllib.parse.urlsplit(base_url)
    if not url.hostname or urllib.request.proxy_bypass(url.hostname):
        return None, None
    proxy = urllib.request.getproxies().get(url.scheme)
    if not proxy:
        return None, None
    parsed = urllib.parse.urlsplit(proxy)
    if not parsed.username:
        return proxy, None
    credentials = f"{urllib.parse.unquote(parsed.username)}:{urllib.parse.unquote(parsed.password or '')}"
    header = {"Proxy-Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
    return parsed._replace(netloc=parsed.netloc.rpartition("@")[2]).geturl(), header


def _form(data: dict[str, str] | None, files: dict[str, tuple[str, bytes]] | None) -> aiohttp.FormData | None:
    """A multipart body (uploads): plain fields, then files as (file name, content)."""
    if data is None and files is None:
        return None
    form = aiohttp.FormData()
    for name, value in (data or {}).items():
        form.add_field(name, value)
    for name, (file_name, content) in (files or {}).items():
        form.add_field(name, content, filename=file_name, content_type="application/octet-stream")
    return form


def _reset(response: _Answer) -> float | None:
    try:
        return float(response.headers["x-ogw-ratelimit-reset"])
    except (KeyError, ValueError):
        return None


def _rate_limit_wait(state: RetryCallState) -> float:
    """As long as x-ogw-ratelimit-reset says (bounded); a jittered backoff when Feishu does not say."""
    error = state.outcome.exception() if state.outcome else None
    reset = error.reset_after if isinstance(error, RateLimited) else None
    if reset is not None:
        return min(max(reset, 0.0), MAX_RATE_LIMIT_WAIT)
    return _BACKOFF(state)


_BACKOFF = wait_exponential_jitter(multiplier=0.2, max=5.0)


def _json_or_empty(response: _Answer) -> dict[str, Any]:
    try:
        return _json(response)
    except FeishuError:
        return {}


def _json(response: _Answer) -> dict[str, Any]:
    try:
        body = orjson.loads(response.body)
    except ValueError:
        raise FeishuError(-1, f"non-JSON answer (HTTP {response.status})", response.status) from None
    if not isinstance(body, dict):
        raise FeishuError(-1, "unexpected answer", response.status)
    return body
