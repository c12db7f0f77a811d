"""The webhook's 200 answer, written as one prebuilt byte string.

Most of what Feishu posts is answered `{}` (a group message not for the bot), and aiohttp's general response
(headers in a multidict, checked, serialised, then the body) cost about as much CPU as the rest of such an event
(bench/ingress.py). This answer carries what aiohttp's carried: status line, Content-Type, Content-Length, Date and
the version-less Server header, on a kept-alive HTTP/1.1 connection; anything else (HTTP/1.0, `Connection: close`)
gets aiohttp's own response.
"""

from __future__ import annotations

import time
from email.utils import formatdate

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion11

from bot.ingress.limits import SERVER_NAME

_HEAD = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nDate: {date}\r\nServer: {server}\r\n\r\n"
_date_second = -1
_date = ""


def _http_date() -> str:
    """RFC 9110's IMF-fixdate, formatted once a second."""
    global _date_second, _date
    now = int(time.time())
    if now != _date_second:
        _date_second, _date = now, formatdate(now, usegmt=True)
    return _date


class _Prebuilt(web.StreamResponse):
    def __init__(self, body: bytes) -> None:
        super().__init__()
        self._answer = body
        self._keep_alive = True

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self._eof_sent:
            return None
        if self._payload_writer is None:
            self._req = request
            self._payload_writer = request.writer
        return self._payload_writer

    async def write_eof(self, data: bytes = b"") -> None:
        if self._eof_sent:
            return
        writer = self._payload_writer
        assert writer is not None, "Response has not been started"
        body = self._answer
        head = _HEAD.format(length=len(body), date=_http_date(), server=SERVER_NAME).encode()
        await writer.write_eof(head + body)
        self._eof_sent = True
        self._req = None
        self._body_length = len(body)
        self._payload_writer = None


def json_answer(request: web.BaseRequest, body: bytes) -> web.StreamResponse:
    """200 with `body` (JSON), prebuilt where the connection allows it."""
    if request.version == HttpVersion11 and request.keep_alive:
        return _Prebuilt(body)
    return web.Response(body=body, content_type="application/json")
