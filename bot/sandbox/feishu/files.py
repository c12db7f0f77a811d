"""Images and files (https://open.feishu.cn/document/server-docs/im-v1/image/create, …/im-v1/file/create).

Uploads of message images and of files (the exports), refused as Feishu refuses them (wrong type, empty, over
30 MB), kept so that a message can name them by image_key or file_key.
"""

from __future__ import annotations

import secrets

from aiohttp import BodyPartReader, web

from bot.sandbox.feishu.common import (
    EmulatorState,
    Route,
    fail,
    ok,
)

# Upload a file (https://open.feishu.cn/document/server-docs/im-v1/file/create): these file_type values, at most
# 30 MB, no empty file.
FILE_TYPES = frozenset({"opus", "mp4", "pdf", "doc", "xls", "ppt", "stream"})
MAX_FILE_BYTES = 30 * 1024 * 1024


def routes(api: FilesApi) -> list[Route]:
    return [
        ("POST", "/open-apis/im/v1/images", api._upload_image),
        ("POST", "/open-apis/im/v1/files", api._upload_file),
    ]


class FilesApi(EmulatorState):
    async def _upload_image(self, request: web.Request) -> web.Response:
        fields = await _parts(request)
        if fields is None or fields.get("image_type") != b"message" or "image" not in fields:
            return fail(234001, "invalid image upload")
        data = fields["image"]
        if not data:
            return fail(234001, "empty image")
        key = f"img_v3_{secrets.token_hex(8)}"
        self.images[key] = data
        return ok({"image_key": key})

    async def _upload_file(self, request: web.Request) -> web.Response:
        fields = await _parts(request)
        if fields is None:
            return fail(234001, "invalid file upload")
        name = fields.get("file_name", b"").decode("utf-8", "replace")
        if (
            fields.get("file_type", b"").decode("utf-8", "replace") not in FILE_TYPES
            or not name
            or "file" not in fields
        ):
            return fail(234001, "invalid file upload")
        data = fields["file"]
        if not data or len(data) > MAX_FILE_BYTES:
            return fail(234001, "the file is empty or over 30 MB")
        key = f"file_v3_{secrets.token_hex(8)}"
        self.files[key] = (name, data)
        return ok({"file_key": key})


async def _parts(request: web.Request) -> dict[str, bytes] | None:
    """A multipart body's parts by name, as bytes. Read part by part: lark-oapi sends the image and the file as parts
    without a filename (its documented call), which aiohttp's request.post() would try to decode as text."""
    fields: dict[str, bytes] = {}
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name:
                fields[part.name] = await part.read()
    except (ValueError, AssertionError):
        return None
    return fields
