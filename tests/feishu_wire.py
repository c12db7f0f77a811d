"""Feishu's side of the wire, written independently of the bot's code: envelopes, AES-256-CBC, signatures."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from typing import Any

from Crypto.Cipher import AES

from bot.config import SANDBOX_ENCRYPT_KEY, SANDBOX_VERIFICATION_TOKEN

ENCRYPT_KEY = SANDBOX_ENCRYPT_KEY
TOKEN = SANDBOX_VERIFICATION_TOKEN


def encrypt_body(payload: dict[str, Any], key: str = ENCRYPT_KEY) -> bytes:
    plain = json.dumps(payload, ensure_ascii=False).encode()
    padding = 16 - len(plain) % 16
    iv = os.urandom(16)
    cipher = AES.new(hashlib.sha256(key.encode()).digest(), AES.MODE_CBC, iv)
    sealed = cipher.encrypt(plain + bytes([padding]) * padding)
    return json.dumps({"encrypt": base64.b64encode(iv + sealed).decode()}).encode()


def sign(
    body: bytes, key: str = ENCRYPT_KEY, timestamp: str | None = None, nonce: str | None = None
) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or uuid.uuid4().hex[:16]
    digest = hashlib.sha256((timestamp + nonce + key).encode() + body).hexdigest()
    return {
        "X-Lark-Request-Timestamp": timestamp,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": digest,
        "Content-Type": "application/json",
    }


def envelope(
    event_type: str, event: dict[str, Any], *, event_id: str | None = None, token: str = TOKEN
) -> dict:
    return {
        "schema": "2.0",
        "header": {
            "event_id": event_id or uuid.uuid4().hex,
            "token": token,
            "create_time": str(int(time.time() * 1000)),
            "event_type": event_type,
            "tenant_key": "tenant",
            "app_id": "cli_test",
        },
        "event": event,
    }


def message_event(
    text: str,
    *,
    user: str,
    chat_id: str,
    chat_type: str = "p2p",
    message_id: str | None = None,
    mentions: list[dict[str, Any]] | None = None,
    message_type: str = "text",
    content: str | None = None,
) -> dict[str, Any]:
    return {
        "sender": {"sender_id": {"open_id": user, "user_id": "", "union_id": ""}, "sender_type": "user"},
        "message": {
            "message_id": message_id or f"om_{uuid.uuid4().hex}",
            "root_id": "",
            "parent_id": "",
            "create_time": str(int(time.time() * 1000)),
            "chat_id": chat_id,
            "chat_type": chat_type,
            "message_type": message_type,
            "content": content if content is not None else json.dumps({"text": text}, ensure_ascii=False),
            "mentions": mentions or [],
        },
    }


def mention(key: str, open_id: str, name: str) -> dict[str, Any]:
    return {"key": key, "id": {"open_id": open_id, "user_id": "", "union_id": ""}, "name": name}


def action_event(
    *,
    user: str,
    value: dict[str, Any],
    message_id: str,
    chat_id: str,
    form_value: dict[str, Any] | None = None,
    option: str | None = None,
) -> dict[str, Any]:
    action: dict[str, Any] = {"value": value, "tag": "button"}
    if form_value is not None:
        action["form_value"] = form_value
    if option is not None:
        # A select_static's callback: the option picked.
        action.update(tag="select_static", option=option)
    return {
        "operator": {"open_id": user, "user_id": "", "union_id": ""},
        "token": f"c-{uuid.uuid4().hex}",
        "action": action,
        "host": "im_message",
        "context": {"open_message_id": message_id, "open_chat_id": chat_id},
    }
