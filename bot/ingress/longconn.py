"""Long-connection ingress: a small client of Feishu's long-connection protocol, on the bot's own event loop.

Why not lark-oapi's `ws.Client`: it takes a module-level loop at import, blocks forever in `start()`, has no stop,
fetches its endpoint with blocking `requests` without a timeout, runs handlers synchronously on its loop, and never
checks that its pings get pongs, so a connection that stays open but delivers nothing goes unnoticed. Wrapping it
would need a thread, a bridge to this loop and patches for each of those; speaking its protocol directly (its
protobuf `Frame` from lark_oapi.ws.pb, the endpoint call, ping/pong, fragment reassembly, response frames) takes
less code and every await here is non-blocking, so it shares the bot's loop like the webhook does.

Watchdog: no frame at all (pong or data) for `hrbot_ws_watchdog_pings` ping intervals (at most
`hrbot_ws_watchdog_max_seconds`) → close and reconnect. Reconnects follow the server's client config: the first after
a random delay within ReconnectNonce, then growing up to ReconnectInterval, each with that jitter. ReconnectCount is
not honoured: a bot that gives up stays deaf; `state()` reports the outage for readiness instead.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import aiohttp
import orjson

from bot.cancelling import cancel_and_wait
from bot.config import Settings
from bot.ingress.events import EventPipeline, MalformedEvent
from bot.ingress.lark_frames import frame_class
from bot.observability import metrics

log = logging.getLogger("hrbot.longconn")

ENDPOINT_PATH = "/callback/ws/endpoint"
CONTROL, DATA = 0, 1
# Feishu wants a frame answered within 3 s (else it pushes the event again); leave room for the way back.
ANSWER_TIMEOUT = 2.9
# The websocket's own keepalive, as the websockets library lark uses defaults to: catches a dead TCP peer.
PROTOCOL_HEARTBEAT = 20.0
# Frames are parsed defensively (Feishu is trusted, a proxy or a bug in between is not): a frame and a whole event
# at most as big as a webhook body; a payload in at most MAX_PARTS parts; at most MAX_PARTIAL events and
# MAX_PARTIAL_BYTES waiting for their other parts, each for FRAGMENT_SECONDS; a pong's ClientConfig is small.
MAX_FRAME_BYTES = 1024 * 1024
MAX_PARTS = 64
MAX_PARTIAL = 32
MAX_PARTIAL_BYTES = 4 * 1024 * 1024
MAX_PONG_BYTES = 4096
FRAGMENT_SECONDS = 10.0
WARN_SECONDS = 10.0
# Answers in progress (at most ANSWER_TIMEOUT) plus this keep a stop within Feishu-friendly 5 s.
CLOSE_TIMEOUT = 1.5


class EndpointRefused(Exception):
    """The endpoint call answered with a non-zero code (busy, bad credentials)."""


@dataclass
class ClientConfig:
    ping_interval: float = 120.0
    reconnect_interval: float = 120.0
    reconnect_nonce: float = 30.0

    def update(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            return
        for name, key in (
            ("ping_interval", "PingInterval"),
            ("reconnect_interval", "ReconnectInterval"),
            ("reconnect_nonce", "ReconnectNonce"),
        ):
            value = raw.get(key)
            if isinstance(value, int | float) and value >= 0:
                setattr(self, name, float(value))


@dataclass(frozen=True)
class ConnectionState:
    """The long connection as /healthz and readiness see it; times are UTC ISO strings or None."""

    status: str  # connecting | connected | reconnecting | stopped
    connected_since: str | None
    last_frame_at: str | None
    down_since: str | None
    down_seconds: float
    reconnects: int
    last_error: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def ready(self, max_down_seconds: float) -> bool:
        """False once the connection has been down (never up, or reconnecting) for longer than allowed."""
        return self.status == "connected" or self.down_seconds <= max_down_seconds


def _iso(stamp: float | None) -> str | None:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds") if stamp else None


class LongConnection:
    def __init__(self, pipeline: EventPipeline, settings: Settings) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.config = ClientConfig()
        self._status = "connecting"
        self._connected_since: float | None = None
        self._last_frame: float | None = None
        self._down_since = time.time()
        self._reconnects = 0
        self._last_error = ""
        self._stopping = False
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._answers: set[asyncio.Task[None]] = set()
        self._parts: dict[str, tuple[float, list[bytes | None]]] = {}
        self._warned: dict[str, float] = {}
        self._frame: Any = None

    # Lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="longconn")
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """The connection task never ends on its own: if it does, say so, show it in health, and start it again."""
        if self._stopping:
            return
        why = "cancelled" if task.cancelled() else type(task.exception()).__name__
        log.error("long connection: the connection task ended (%s); starting it again", why)
        self._set("reconnecting", f"task ended: {why}")
        asyncio.get_running_loop().call_later(self._backoff(0), self._restart)

    def _restart(self) -> None:
        if not self._stopping:
            self.start()

    @property
    def running(self) -> bool:
        """The connection task is alive (health says otherwise at once when it is not)."""
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Stop taking frames, let the ones being answered answer, close with 1000; unanswered frames go elsewhere."""
        self._stopping = True
        if self._answers:
            await asyncio.wait(set(self._answers), timeout=ANSWER_TIMEOUT)
        socket = self._socket
        if socket is not None and not socket.closed:
            try:
                await asyncio.wait_for(socket.close(code=1000, message=b"shutting down"), CLOSE_TIMEOUT)
            except TimeoutError:
                log.warning("long connection: the server did not acknowledge the close")
        if self._task is not None:
            await cancel_and_wait(self._task)
        self._set("stopped")

    def state(self) -> ConnectionState:
        status = self._status
        if status == "connected" and not self.running and not self._stopping:
            status = "reconnecting"
        down = round(time.time() - self._down_since, 1) if status != "connected" else 0.0
        return ConnectionState(
            status=status,
            connected_since=_iso(self._connected_since),
            last_frame_at=_iso(self._last_frame),
            down_since=_iso(self._down_since) if status != "connected" else None,
            down_seconds=down,
            reconnects=self._reconnects,
            last_error=self._last_error,
        )

    def ready(self) -> bool:
        """For /readyz: false once reconnecting has failed for longer than HRBOT_WS_UNREADY_AFTER_SECONDS."""
        return self.state().ready(self.settings.hrbot_ws_unready_after_seconds)

    def _set(self, status: str, error: str = "") -> None:
        """Every state change is logged once; repeated failures in the same state are not."""
        if error:
            self._last_error = error
        if status == self._status:
            log.debug("long connection still %s: %s", status, error)
            return
        previous, self._status = self._status, status
        now = time.time()
        if status == "connected":
            self._connected_since = now
            if previous == "reconnecting":
                self._reconnects += 1
                metrics.LONGCONN_RECONNECTS.inc()
        elif previous == "connected":
            self._down_since = now
            self._connected_since = None
        extra = {"longconn_status": status, "reconnects": self._reconnects}
        if status == "reconnecting":
            log.warning("long connection: reconnecting (%s)", self._last_error, extra=extra)
        else:
            log.info("long connection: %s", status, extra=extra)

    # Connecting ------------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        # Off the loop: loading the frame module still takes ~0.15 s.
        self._frame = await asyncio.to_thread(frame_class)
        timeout = aiohttp.ClientTimeout(total=None, connect=10.0, sock_connect=10.0)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            failures = 0
            while not self._stopping:
                try:
                    url = await self._endpoint(session)
                    service_id = int((parse_qs(urlparse(url).query).get("service_id") or ["0"])[0])
                    async with session.ws_connect(
                        url, heartbeat=PROTOCOL_HEARTBEAT, max_msg_size=MAX_FRAME_BYTES
                    ) as socket:
                        self._socket = socket
                        self._set("connected")
                        failures = 0
                        error = await self._serve(socket, service_id)
                except aiohttp.WSServerHandshakeError as exc:
                    message = exc.headers.get("handshake-msg", "") if exc.headers else ""
                    error = f"handshake refused: {exc.status} {message}".strip()
                except (aiohttp.ClientError, EndpointRefused, OSError, TimeoutError, ValueError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    # A bug or a frame nobody foresaw must not end the task: logged once, then a fresh connection.
                    log.exception("long connection: the connection task failed; reconnecting")
                    error = f"task failed: {type(exc).__name__}"
                finally:
                    self._socket = None
                    self._parts.clear()
                if self._stopping:
                    break
                self._set("reconnecting", error)
                await asyncio.sleep(self._backoff(failures))
                failures += 1

    async def _endpoint(self, session: aiohttp.ClientSession) -> str:
        url = self.settings.feishu_base_url.rstrip("/") + ENDPOINT_PATH
        body = {"AppID": self.settings.feishu_app_id, "AppSecret": self.settings.feishu_app_secret}
        async with session.post(url, json=body, headers={"locale": "zh"}, timeout=10.0) as response:
            answer = await response.json(content_type=None)
        if not isinstance(answer, dict) or answer.get("code") != 0:
            code = answer.get("code") if isinstance(answer, dict) else response.status
            message = answer.get("msg", "") if isinstance(answer, dict) else ""
            raise EndpointRefused(f"endpoint answered {code} {message}".strip())
        data = answer.get("data") or {}
        self.config.update(data.get("ClientConfig"))
        return str(data["URL"])

    def _backoff(self, failures: int) -> float:
        jitter = random.uniform(0, self.config.reconnect_nonce)
        if failures == 0:
            return jitter
        interval = self.config.reconnect_interval
        return min(interval, interval / 8 * 2**failures) + jitter

    def _silence_limit(self) -> float:
        settings = self.settings
        return min(
            settings.hrbot_ws_watchdog_pings * self.config.ping_interval,
            settings.hrbot_ws_watchdog_max_seconds,
        )

    async def _serve(self, socket: aiohttp.ClientWebSocketResponse, service_id: int) -> str:
        """Ping, read and watch one connection until it ends; returns why it ended."""
        loop = asyncio.get_running_loop()
        last_frame = next_ping = loop.time()
        while not self._stopping:
            now = loop.time()
            if now >= next_ping:
                await socket.send_bytes(self._ping(service_id))
                next_ping = now + self.config.ping_interval
            limit = self._silence_limit()
            if now - last_frame >= limit:
                await socket.close(code=1000, message=b"watchdog")
                return f"watchdog: no frame and no pong for {now - last_frame:.1f} s"
            try:
                message = await socket.receive(timeout=max(0.01, min(next_ping, last_frame + limit) - now))
            except TimeoutError:
                continue
            if message.type == aiohttp.WSMsgType.BINARY:
                last_frame = loop.time()
                self._last_frame = time.time()
                self._on_frame(socket, message.data)
            elif message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
            ):
                return f"connection closed ({socket.close_code})"
            elif message.type == aiohttp.WSMsgType.ERROR:
                return f"connection error: {socket.exception()}"
        return "stopping"

    def _ping(self, service_id: int) -> bytes:
        frame = self._frame()
        frame.SeqID, frame.LogID, frame.service, frame.method = 0, 0, service_id, CONTROL
        frame.headers.add(key="type", value="ping")
        return frame.SerializeToString()

    # Frames ----------------------------------------------------------------------------------------------------
    def _on_frame(self, socket: aiohttp.ClientWebSocketResponse, data: bytes) -> None:
        frame = self._frame()
        try:
            frame.ParseFromString(data)
        except Exception:  # protobuf's DecodeError
            log.warning("long connection: dropped an unreadable frame")
            return
        headers = {h.key: h.value for h in frame.headers}
        if frame.method == CONTROL:
            if headers.get("type") == "pong" and frame.payload:
                try:
                    if len(frame.payload) > MAX_PONG_BYTES:
                        raise ValueError("too large")
                    self.config.update(orjson.loads(frame.payload))
                except ValueError:
                    self._warn("pong", "long connection: ignored an unreadable pong")
            return
        if frame.method != DATA or headers.get("type") not in ("event", "card") or self._stopping:
            return  # a frame left unanswered while stopping is pushed again to another connection
        payload = self._combine(headers, frame.payload)
        if payload is None:
            return
        task = asyncio.create_task(self._answer(socket, frame, payload))
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)

    def _combine(self, headers: dict[str, str], part: bytes) -> bytes | None:
        """The whole payload once every `seq` of `sum` parts is in; parts older than a few seconds are dropped."""
        try:
            total, seq = int(headers.get("sum", "1")), int(headers.get("seq", "0"))
        except ValueError:
            return None
        if total <= 1:
            return part
        if total > MAX_PARTS or not 0 <= seq < total:
            self._warn("parts", "long connection: dropped a frame announcing part %d of %d", seq, total)
            return None
        now = time.monotonic()
        for key in [k for k, (born, _) in self._parts.items() if now - born > FRAGMENT_SECONDS]:
            del self._parts[key]
        message_id = headers.get("message_id", "")
        if message_id not in self._parts and len(self._parts) >= MAX_PARTIAL:
            self._warn(
                "partial", "long connection: dropped a part: %d events already wait for theirs", MAX_PARTIAL
            )
            return None
        waiting = sum(len(p or b"") for _born, parts in self._parts.values() for p in parts)
        if waiting + len(part) > MAX_PARTIAL_BYTES:
            self._warn("bytes", "long connection: dropped a part: parts waiting hold %d bytes", waiting)
            return None
        _born, parts = self._parts.setdefault(message_id, (now, [None] * total))
        if len(parts) != total:
            return None
        parts[seq] = part
        if any(p is None for p in parts):
            return None
        del self._parts[message_id]
        return b"".join(p for p in parts if p is not None)

    def _warn(self, kind: str, message: str, *args: Any) -> None:
        """One line per kind of dropped frame per WARN_SECONDS: a flood of bad frames does not flood the log."""
        now = time.monotonic()
        if now - self._warned.get(kind, -WARN_SECONDS) >= WARN_SECONDS:
            self._warned[kind] = now
            log.warning(message, *args)

    async def _answer(self, socket: aiohttp.ClientWebSocketResponse, frame: Any, payload: bytes) -> None:
        started = time.perf_counter()
        code, answer = 200, {}
        try:
            # orjson, as the webhook reads its body: nesting deeper than it allows is a ValueError, not a crash.
            envelope = orjson.loads(payload) if len(payload) <= MAX_FRAME_BYTES else None
            if not isinstance(envelope, dict):
                raise MalformedEvent("not an object")
            answer = await asyncio.wait_for(self.pipeline.handle(envelope), ANSWER_TIMEOUT)
        except (ValueError, UnicodeDecodeError):  # MalformedEvent included: pushing it again would not help
            # As the webhook answers an unreadable body: 400, so it is not pushed again.
            log.warning("long connection: dropped a malformed event")
            code = 400
        except TimeoutError:
            log.warning("long connection: an event was not answered in time")
        except Exception:
            # Anything else (the database away, say): answer 500 so Feishu pushes it again.
            log.exception("long connection: handling an event failed")
            code = 500
        frame.headers.add(key="biz_rt", value=str(round((time.perf_counter() - started) * 1000)))
        metrics.ack("ws", started)
        data = base64.b64encode(json.dumps(answer, ensure_ascii=False).encode()).decode()
        frame.payload = json.dumps({"code": code, "headers": {}, "data": data}).encode()
        try:
            await socket.send_bytes(frame.SerializeToString())
        except (ConnectionError, RuntimeError):
            log.info("long connection: closed before an answer went out; Feishu will push the event again")
