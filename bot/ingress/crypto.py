"""Feishu event encryption and request signatures (https://open.feishu.cn/document/server-docs/event-subscription-guide/event-subscription-configure-/encrypt-key-encryption-configuration-case): AES-256-CBC with key = SHA-256(encrypt_key)."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import threading
from typing import Any

from Crypto.Cipher import AES
from Crypto.Util.Padding import pad
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class DecryptError(ValueError):
    """The body's `encrypt` field is not something this encrypt key produced."""


def _key(encrypt_key: str) -> bytes:
    return hashlib.sha256(encrypt_key.encode()).digest()


@functools.lru_cache(maxsize=16)
def _block_decryptor(encrypt_key: str, _thread: int) -> Any:
    """AES block decryption, made once per key (and thread: a context is not to be shared between threads).
    cryptography's ECB context keeps nothing between calls on whole blocks, and one call costs ~0.4 µs where
    pycryptodome's ECB object spent ~3 µs in its buffer handling."""
    return Cipher(algorithms.AES(_key(encrypt_key)), modes.ECB()).decryptor()


def decrypt(ciphertext_b64: str, encrypt_key: str) -> str:
    try:
        return decrypt_bytes(ciphertext_b64, encrypt_key).decode()
    except UnicodeDecodeError as exc:
        raise DecryptError("bad text") from exc


def decrypt_bytes(ciphertext_b64: str, encrypt_key: str) -> bytes:
    """The plaintext's bytes, for a reader that checks UTF-8 itself (orjson does, as it parses)."""
    try:
        # Strict: only the alphabet, padding only at the end. base64.b64decode(validate=True) checked the alphabet
        # with a regular expression first, half of this function's time.
        raw = binascii.a2b_base64(ciphertext_b64, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise DecryptError("not base64") from exc
    if len(raw) < 32 or len(raw) % AES.block_size:
        raise DecryptError("bad length")
    # CBC as defined: each block's AES decryption XOR the ciphertext block before it (the IV first). One block
    # cipher made once serves every event; a CBC cipher object per event cost more than the rest of the ingress
    # (bench/ingress.py: ~40 of ~160 µs of CPU per event).
    body = raw[AES.block_size :]
    blocks = int.from_bytes(_block_decryptor(encrypt_key, threading.get_ident()).update(body), "big")
    plain = (blocks ^ int.from_bytes(raw[: -AES.block_size], "big")).to_bytes(len(body), "big")
    # PKCS#7, checked as Crypto.Util.Padding.unpad checks it.
    padding = plain[-1]
    if not 1 <= padding <= AES.block_size or plain[-padding:] != bytes((padding,)) * padding:
        raise DecryptError("bad padding")
    return plain[:-padding]


def encrypt(plaintext: str, encrypt_key: str) -> str:
    """What Feishu does; used by the sandbox, `hrbot say` and tests."""
    iv = os.urandom(AES.block_size)
    cipher = AES.new(_key(encrypt_key), AES.MODE_CBC, iv)
    return base64.b64encode(iv + cipher.encrypt(pad(plaintext.encode(), AES.block_size))).decode()


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    digest = hashlib.sha256((timestamp + nonce + encrypt_key).encode())
    digest.update(body)  # not copied into one string with the rest first
    return digest.hexdigest()


def signature_valid(timestamp: str, nonce: str, encrypt_key: str, body: bytes, given: str) -> bool:
    return hmac.compare_digest(signature(timestamp, nonce, encrypt_key, body), given.lower())


def tokens_match(expected: str, given: object) -> bool:
    """An unset expected token matches nothing: a blank configuration must not open the door."""
    return (
        bool(expected) and isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())
    )
