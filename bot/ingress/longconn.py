"""Long-connection ingress: lark-oapi's ws client in its own thread, handing envelopes to the bot's loop.

lark_oapi.ws.client takes a module-level event loop at import and blocks in `start()`, so it gets a thread with a fresh
loop of its own (oapi-sdk-python issues #96, #133). Its handlers run synchronously in that thread; they wait on the
bot's loop for the answer, which for card actions is the callback response.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

from bot.config import Settings
from bot.ingress.events import EventPipeline, MalformedEvent

log = logging.getLogger("hrbot.longconn")

# Feishu waits 3 s for a card action's answer; leave room for the frame's way back.
ANSWER_TIMEOUT = 2.9
MESSAGE_EVENTS = ("im.message.receive_v1",)


class LongConnection:
    def __init__(
        self, pipeline: EventPipeline, settings: Settings, bot_loop: asyncio.AbstractEventLoop
    ) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.bot_loop = bot_loop
        self._thread: threading.Thread | None = None
        self._ws_loop: asyncio.AbstractEventLoop | None = None

    def handler(self) -> Any:
        """The lark dispatcher the ws client calls with each frame's payload."""
        import lark_oapi as lark

        builder = lark.EventDispatcherHandler.builder("", "")
        for event_type in MESSAGE_EVENTS:
            builder = builder.register_p2_customized_event(event_type, self._on_event)
        return builder.register_p2_card_action_trigger(self._on_card_action).build()

    def _answer(self, lark_object: Any) -> dict[str, Any]:
        import lark_oapi as lark

        envelope = json.loads(lark.JSON.marshal(lark_object))
        future = asyncio.run_coroutine_threadsafe(self.pipeline.handle(envelope), self.bot_loop)
        try:
            return future.result(timeout=ANSWER_TIMEOUT)
        except MalformedEvent:
            log.warning("dropped a malformed long-connection event")
            return {}
        except TimeoutError:
            future.cancel()
            log.warning("long-connection event not answered in time")
            return {}

    def _on_event(self, event: Any) -> None:
        self._answer(event)

    def _on_card_action(self, event: Any) -> Any:
        from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTriggerResponse

        return P2CardActionTriggerResponse(self._answer(event))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lark-ws", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import lark_oapi as lark
        import lark_oapi.ws.client as ws_client

        self._ws_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._ws_loop)
        ws_client.loop = self._ws_loop
        client = lark.ws.Client(
            self.settings.feishu_app_id,
            self.settings.feishu_app_secret,
            event_handler=self.handler(),
            domain=self.settings.feishu_base_url,
            log_level=lark.LogLevel.INFO,
        )
        try:
            client.start()
        except Exception:
            log.exception("long connection stopped")

    def stop(self) -> None:
        # lark's client has no stop(); ending its loop ends the daemon thread's work.
        if self._ws_loop is not None:
            self._ws_loop.call_soon_threadsafe(self._ws_loop.stop)
