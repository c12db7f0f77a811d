"""Feishu's side of the long connection, as lark-oapi's ws client (lark_oapi/ws/client.py, 1.7.5) expects it.

POST /callback/ws/endpoint with {"AppID", "AppSecret"} → {"code": 0, "data": {"URL", "ClientConfig"}}; the URL's
query carries device_id and service_id; then a websocket of protobuf `Frame`s (lark_oapi/ws/pb/pbbp2.proto):
method 0 = control (headers type=ping / pong; a pong carries the ClientConfig as JSON), method 1 = data (headers
type, message_id, trace_id, sum, seq; a payload split in `sum` parts numbered by `seq`). The client answers a data
frame with the same frame whose payload is {"code": 200, "data": base64(JSON answer)}.

Rules from https://open.feishu.cn/document/ukTMukTMukTM/uYDNxYjL2QTM24iN0EjN/event-subscription-configure-/request-url-configuration-case
enforced here: an answer within 3 s, else the event is pushed again (超时重推); at most 50 connections per app;
cluster mode: each event goes to one randomly chosen client.
Assumptions (not documented): a frame whose connection closes before it is answered is pushed again at once on
another connection; an event is pushed at most MAX_ATTEMPTS times; a card action is never pushed again (the user
already saw it fail); a refused or over-limit handshake answers with lark's handshake-* headers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bot.ingress.lark_frames import frame_class

ENDPOINT_PATH = "/callback/ws/endpoint"
SOCKET_PATH = "/ws/v2"
MAX_CONNECTIONS = 50
ANSWER_SECONDS = 3.0
MAX_ATTEMPTS = 4
TICKET_SECONDS = 60.0

# lark_oapi/ws/const.py and ws/enum.py
OK, SYSTEM_BUSY, FORBIDDEN, AUTH_FAILED, EXCEED_CONN_LIMIT = 0, 1, 403, 514, 1000040350
CONTROL, DATA = 0, 1


@dataclass
class ClientConfig:
    """What the endpoint hands out; Feishu's defaults are 120 s pings, 120 s reconnect interval, 30 s nonce."""

    ping_interval: float = 1.0
    reconnect_interval: float = 1.0
    reconnect_nonce: float = 0.5
    reconnect_count: int = -1

    def to_json(self) -> dict[str, Any]:
        return {
            "PingInterval": self.ping_interval,
            "ReconnectInterval": self.reconnect_interval,
            "ReconnectNonce": self.reconnect_nonce,
            "ReconnectCount": self.reconnect_count,
        }


@dataclass(eq=False)
class Connection:
    device_id: str
    service_id: int
    socket: web.WebSocketResponse
    request: web.Request
    silent: bool = False
    frames_sent: int = 0
    pings: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None
    closed_at: float | None = None


@dataclass(eq=False)
class Delivery:
    payload: bytes
    card: bool
    answer: asyncio.Future[tuple[int, dict[str, Any]]]
    attempts: int = 0


def _handshake_refusal(status: int, code: int, message: str, auth_code: int = 0) -> web.Response:
    headers = {"handshake-status": str(code), "handshake-msg": message}
    if auth_code:
        headers["handshake-autherrcode"] = str(auth_code)
    return web.Response(status=status, headers=headers, text=message)


class LongConnHub:
    """Accepts the bot's long connections and pushes events down them, with fault switches for tests and the console."""

    def __init__(self, app_id: str, app_secret: str, config: ClientConfig | None = None) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.config = config or ClientConfig()
        # Events go down the long connection only when the app subscribes that way (a developer-console setting).
        self.subscribed = False
        self.connections: list[Connection] = []
        self.closed_connections: list[Connection] = []
        self.frames_sent = 0
        self.redeliveries = 0
        self.fragment_size = 0  # 0: whole payloads; n: payloads split in parts of at most n bytes
        # Card callbacks arrive as type=event frames, and sometimes as type=card (reported on lark's Python SDK):
        # the hub takes turns, so a bot must answer both. lark-oapi's own client drops type=card frames; a test
        # driving it sets ("event",).
        self.card_frame_types: tuple[str, ...] = ("event", "card")
        self.card_frames_sent: dict[str, int] = {}
        self._card_turn = 0
        self._tickets: dict[str, float] = {}
        self._in_flight: dict[str, Delivery] = {}
        self._pending: set[Delivery] = set()
        self._refuse_until = 0.0
        self._duplicates = 0
        self._drop_after = 0
        self._changed = asyncio.Condition()
        self._pushes: set[asyncio.Task[None]] = set()
        self._seq = 0

    # Fault switches --------------------------------------------------------------------------------------------
    def drop(self, after_frames: int = 0) -> None:
        """Cut every connection without a close frame: now, or right after `after_frames` more data frames."""
        if after_frames:
            self._drop_after = after_frames
            return
        for connection in list(self.connections):
            transport = connection.request.transport
            if transport is not None:
                transport.abort()

    def go_silent(self) -> None:
        """Current connections keep their socket and protocol keepalive but get no pong and no event any more."""
        for connection in self.connections:
            connection.silent = True

    def refuse_for(self, seconds: float) -> None:
        self._refuse_until = time.monotonic() + seconds

    def duplicate_next(self, count: int = 1) -> None:
        """Push the next `count` events twice (to another client when there is one), as a redelivery would."""
        self._duplicates += count

    def status(self) -> dict[str, Any]:
        return {
            "subscribed": self.subscribed,
            "connections": len(self.connections),
            "silent": sum(1 for c in self.connections if c.silent),
            "refusing_for": round(max(0.0, self._refuse_until - time.monotonic()), 1),
            "pending": len(self._pending),
            "frames_sent": self.frames_sent,
            "redeliveries": self.redeliveries,
        }

    @property
    def pending(self) -> int:
        return len(self._pending)

    def healthy(self) -> list[Connection]:
        return [c for c in self.connections if not c.silent and not c.socket.closed]

    # Delivering ------------------------------------------------------------------------------------------------
    async def deliver(self, envelope: dict[str, Any], *, card: bool) -> tuple[int, dict[str, Any]]:
        """Push one event; returns (status, answer) once answered, or (504, {}) after 3 s (an event keeps being pushed)."""
        loop = asyncio.get_running_loop()
        delivery = Delivery(json.dumps(envelope, ensure_ascii=False).encode(), card, loop.create_future())
        self._pending.add(delivery)
        pushing = asyncio.create_task(self._push(delivery))
        self._pushes.add(pushing)
        pushing.add_done_callback(self._pushes.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(delivery.answer), ANSWER_SECONDS)
        except TimeoutError:
            if card:
                pushing.cancel()
            return 504, {}

    async def _push(self, delivery: Delivery) -> None:
        try:
            while delivery.attempts < MAX_ATTEMPTS and not delivery.answer.done():
                async with self._changed:
                    await self._changed.wait_for(lambda: bool(self.healthy()))
                targets = self.healthy()
                connection = random.choice(targets)
                if delivery.attempts:
                    self.redeliveries += 1
                delivery.attempts += 1
                await self._send_event(connection, delivery)
                if self._duplicates and not delivery.card:
                    self._duplicates -= 1
                    others = [c for c in targets if c is not connection] or [connection]
                    await self._send_event(random.choice(others), delivery)
                closed = asyncio.ensure_future(connection.closed.wait())
                await asyncio.wait(
                    {delivery.answer, closed}, timeout=ANSWER_SECONDS, return_when="FIRST_COMPLETED"
                )
                closed.cancel()
                if delivery.card:
                    break
        finally:
            self._pending.discard(delivery)

    def _frame_type(self, delivery: Delivery) -> str:
        if not delivery.card:
            return "event"
        kind = self.card_frame_types[self._card_turn % len(self.card_frame_types)]
        self._card_turn += 1
        self.card_frames_sent[kind] = self.card_frames_sent.get(kind, 0) + 1
        return kind

    async def _send_event(self, connection: Connection, delivery: Delivery) -> None:
        message_id = uuid.uuid4().hex
        frame_type = self._frame_type(delivery)
        self._in_flight[message_id] = delivery
        size = self.fragment_size or len(delivery.payload) or 1
        parts = [delivery.payload[i : i + size] for i in range(0, len(delivery.payload), size)] or [b""]
        Frame = frame_class()
        for seq, part in enumerate(parts):
            frame = Frame()
            self._seq += 1
            frame.SeqID, frame.LogID, frame.service, frame.method = (
                self._seq,
                self._seq,
                connection.service_id,
                DATA,
            )
            headers = {
                "type": frame_type,
                "message_id": message_id,
                "trace_id": uuid.uuid4().hex,
                "sum": str(len(parts)),
                "seq": str(seq),
            }
            for key, value in headers.items():
                frame.headers.add(key=key, value=value)
            frame.payload = part
            try:
                await connection.socket.send_bytes(frame.SerializeToString())
            except (ConnectionError, RuntimeError):
                return  # the connection is going; the push is retried on another
        connection.frames_sent += 1
        self.frames_sent += 1
        if self._drop_after:
            self._drop_after -= 1
            if not self._drop_after:
                self.drop()

    # HTTP side -------------------------------------------------------------------------------------------------
    async def endpoint(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response({"code": FORBIDDEN, "msg": "bad request"}, status=400)
        if time.monotonic() < self._refuse_until:
            return web.json_response({"code": SYSTEM_BUSY, "msg": "system busy"})
        if body.get("AppID") != self.app_id or body.get("AppSecret") != self.app_secret:
            return web.json_response({"code": AUTH_FAILED, "msg": "app_id or app_secret is invalid"})
        # The protobuf module loads once, off the loop.
        await asyncio.to_thread(frame_class)
        ticket = secrets.token_urlsafe(16)
        self._tickets[ticket] = time.monotonic() + TICKET_SECONDS
        query = f"device_id={uuid.uuid4().hex}&service_id={random.randint(1, 2**24)}&ticket={ticket}"
        url = f"ws://{request.host}{SOCKET_PATH}?{query}"
        return web.json_response(
            {"code": OK, "msg": "ok", "data": {"URL": url, "ClientConfig": self.config.to_json()}}
        )

    async def socket(self, request: web.Request) -> web.StreamResponse:
        if time.monotonic() < self._refuse_until:
            return _handshake_refusal(503, SYSTEM_BUSY, "system busy")
        expires = self._tickets.pop(request.query.get("ticket", ""), 0.0)
        if expires < time.monotonic():
            return _handshake_refusal(403, FORBIDDEN, "invalid or expired ticket")
        if len(self.connections) >= MAX_CONNECTIONS:
            return _handshake_refusal(403, AUTH_FAILED, "exceed connection limit", EXCEED_CONN_LIMIT)
        try:
            service_id = int(request.query.get("service_id", ""))
        except ValueError:
            return _handshake_refusal(403, FORBIDDEN, "bad service_id")
        # autoping: protocol-level pings are answered even by a silent connection, as the fault demands.
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        connection = Connection(request.query.get("device_id", ""), service_id, socket, request)
        await self._track(connection, add=True)
        try:
            async for message in socket:
                if message.type == WSMsgType.BINARY:
                    await self._on_frame(connection, message.data)
        finally:
            connection.close_code = socket.close_code
            connection.closed_at = time.monotonic()
            connection.closed.set()
            await self._track(connection, add=False)
        return socket

    async def close_all(self, _app: web.Application | None = None) -> None:
        """Close every connection with 1001 (going away), so a shutting-down sandbox does not wait on them."""
        for connection in list(self.connections):
            await connection.socket.close(code=1001, message=b"server shutdown")

    async def _track(self, connection: Connection, *, add: bool) -> None:
        async with self._changed:
            if add:
                self.connections.append(connection)
            else:
                self.connections.remove(connection)
                self.closed_connections.append(connection)
            self._changed.notify_all()

    async def _on_frame(self, connection: Connection, data: bytes) -> None:
        frame = frame_class()()
        try:
            frame.ParseFromString(data)
        except Exception:  # protobuf's DecodeError; a bad frame is ignored as Feishu would
            return
        headers = {h.key: h.value for h in frame.headers}
        if frame.method == CONTROL:
            if headers.get("type") == "ping":
                connection.pings += 1
                if not connection.silent:
                    await self._pong(connection, frame.service)
            return
        delivery = self._in_flight.pop(headers.get("message_id", ""), None)
        if delivery is None or delivery.answer.done():
            return
        try:
            response = json.loads(frame.payload)
            data_field = response.get("data")
            answer = json.loads(base64.b64decode(data_field)) if data_field else {}
            code = int(response.get("code", 0))
        except (ValueError, TypeError, AttributeError):
            return  # unreadable: as good as no answer, so it is pushed again
        if code == 200:
            delivery.answer.set_result((code, answer if isinstance(answer, dict) else {}))

    async def _pong(self, connection: Connection, service: int) -> None:
        frame = frame_class()()
        frame.SeqID, frame.LogID, frame.service, frame.method = 0, 0, service, CONTROL
        frame.headers.add(key="type", value="pong")
        frame.payload = json.dumps(self.config.to_json()).encode()
        try:
            await connection.socket.send_bytes(frame.SerializeToString())
        except (ConnectionError, RuntimeError):
            pass
