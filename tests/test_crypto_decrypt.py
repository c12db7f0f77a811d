"""Event decryption through one AES block context per key: the same text as AES-CBC, the same refusals."""

from __future__ import annotations

import base64
import hashlib
import os
import threading

import pytest
from Crypto.Cipher import AES
from Crypto.Util.Padding import pad

from bot.ingress.crypto import DecryptError, decrypt, decrypt_bytes, encrypt

KEY = "test-encrypt-key"


def _cbc(plain: bytes, iv: bytes) -> str:
    cipher = AES.new(hashlib.sha256(KEY.encode()).digest(), AES.MODE_CBC, iv)
    return base64.b64encode(iv + cipher.encrypt(plain)).decode()


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 31, 32, 500, 4096])
def test_any_length_decrypts_to_what_was_encrypted(size: int) -> None:
    text = ("事件" * size)[:size]
    assert decrypt(encrypt(text, KEY), KEY) == text


def test_bad_padding_and_text_are_refused() -> None:
    iv = os.urandom(16)
    for plain in (b"x" * 15 + b"\x00", b"x" * 15 + b"\x11", b"x" * 14 + b"\x01\x02", b"\xff" * 15 + b"\x01"):
        with pytest.raises(DecryptError):
            decrypt(_cbc(plain, iv), KEY)
    assert decrypt(_cbc(pad("好".encode(), 16), iv), KEY) == "好"


def test_threads_decrypt_alike() -> None:
    texts = [f"线程 {n} " * n for n in range(1, 40)]
    sealed = [encrypt(t, KEY) for t in texts]
    failures: list[str] = []

    def work() -> None:
        for _ in range(50):
            failures.extend(t for t, s in zip(texts, sealed, strict=True) if decrypt(s, KEY) != t)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


def test_only_strict_base64_is_read() -> None:
    sealed = encrypt("{}", KEY)
    assert decrypt_bytes(sealed, KEY) == b"{}"
    for broken in (
        sealed[:8] + "=" + sealed[8:],
        sealed + "=",
        sealed[:8] + "\n" + sealed[8:],
        "中" + sealed,
    ):
        with pytest.raises(DecryptError):
            decrypt_bytes(broken, KEY)
