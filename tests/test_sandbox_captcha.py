"""The sandbox's captcha image shows its code: read back cell by cell, it spells IMAGE_CODE in the glyphs drawn."""

from __future__ import annotations

import struct
import zlib

from bot.sandbox.tcredit import _GLYPHS, _MARGIN, _SCALE, CAPTCHA_PNG, IMAGE_CODE


def _pixels(png: bytes) -> list[bytes]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert (depth, colour) == (8, 0)  # 8-bit greyscale
    data, offset = b"", 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        if png[offset + 4 : offset + 8] == b"IDAT":
            data += png[offset + 8 : offset + 8 + length]
        offset += 12 + length
    raw = zlib.decompress(data)
    stride = width + 1
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(row[0] == 0 for row in rows)  # no filter
    return [row[1:] for row in rows]


def test_captcha_shows_its_code_dark_on_light() -> None:
    pixels = _pixels(CAPTCHA_PNG)
    for index, char in enumerate(IMAGE_CODE):
        left = _MARGIN + index * (5 * _SCALE + 2 * _SCALE)
        seen = tuple(
            "".join(
                "X"
                if pixels[_MARGIN + row * _SCALE + _SCALE // 2][left + column * _SCALE + _SCALE // 2] < 100
                else "."
                for column in range(5)
            )
            for row in range(7)
        )
        assert seen == _GLYPHS[char], char
    assert min(min(row) for row in pixels) < 60 and max(max(row) for row in pixels) > 220  # contrast
