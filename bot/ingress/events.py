"""From a verified envelope to a handler: parse, drop redeliveries, answer at once, work in the background.

Both ingress modes (webhook and long connection) hand their envelopes to the same `EventPipeline`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

import orjson

from bot.cancelling import cancel_and_wait
from bot.feishu.tenant_errors import user_error
from bot.lifecycle.services import Services
from bot.observability import metrics
from bot.routing import event_scope
from bot.routing.context import ActionContext, IncomingAction, IncomingMessage, Mention, MessageContext
from bot.routing.errors import Refusal, UserFacingError
from bot.routing.protocol import ActionResponse
from bot.routing.router import Dispatcher
from bot.state.inbox import Accepted, Inbox
from bot.trust.masking import log_excerpt, mask_tail

log = logging.getLogger("hrbot.events")

MESSAGE_RECEIVED = "im.message.receive_v1"
CARD_ACTION = "card.action.trigger"

GENERIC_FAILURE = "处理时出错了，请稍后再试；如果一直失败，请联系管理员"
# A command's arguments at most this long, checked before any handler (and so any provider call) runs;
# features cap their own fields tighter (company names: 100).
MAX_ARGUMENT_CHARS = 200
# Work cut short at shutdown gets this long to end once cancelled.
CANCELLED_WORK_SECONDS = 3.0


class MalformedEvent(ValueError):
    """The envelope is JSON but not a Feishu event we can read."""


def _require(mapping: Any, *path: str) -> Any:
    node = mapping
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise MalformedEvent(f"missing {'.'.join(path)}")
        node = node[key]
    return node


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise MalformedEvent("expected a string")
    return value


# Post elements whose `text` is what the reader sees; an `at` element carries the mention's key in `user_id`.
_POST_TEXT_TAGS = ("text", "a", "code_block", "md")


def post_text(content: Any) -> str:
    """The visible text of a rich-text (post) message, mentions as their keys (`@_user_1`), paragraphs on lines.

    Received posts hold `{"title", "content": [[element, ...], ...]}`; a language wrapper (`{"zh_cn": {...}}`) is
    read too, the first language given."""
    if not isinstance(content, dict):
        return ""
    if not isinstance(content.get("content"), list):
        wrapped = next((v for v in content.values() if isinstance(v, dict) and "content" in v), None)
        if wrapped is None:
            return ""
        content = wrapped
    lines = []
    for paragraph in content.get("content") or []:
        if not isinstance(paragraph, list):
            continue
        parts = []
        for element in paragraph:
            if not isinstance(element, dict):
                continue
            tag = element.get("tag")
            if tag in _POST_TEXT_TAGS and isinstance(element.get("text"), str):
                parts.append(element["text"])
            elif tag == "at" and isinstance(element.get("user_id"), str):
                parts.append(f" {element['user_id']} ")
        lines.append("".join(parts))
    return "\n".join(lines)


def addressed(envelope: dict[str, Any], bot_open_id: str) -> bool:
    """Whether a message is for the bot (a private chat, or the bot @-mentioned), read before anything else of it."""
    message = _require(envelope, "event", "message")
    if _text(_require(message, "chat_type")) == "p2p":
        return True
    mentions = message.get("mentions") or []
    if not isinstance(mentions, list):
        raise MalformedEvent("mentions is not a list")
    return bool(bot_open_id) and any(
        isinstance(m, dict) and isinstance(m.get("id"), dict) and m["id"].get("open_id") == bot_open_id
        for m in mentions
    )


def parse_message(envelope: dict[str, Any], bot_open_id: str) -> IncomingMessage:
    """The message as handlers read it: text without mentions, the bot's own mention dropped."""
    event = _require(envelope, "event")
    message = _require(event, "message")
    message_type = _text(_require(message, "message_type"))
    chat_type = _text(_require(message, "chat_type"))
    raw_mentions = message.get("mentions") or []
    if not isinstance(raw_mentions, list):
        raise MalformedEvent("mentions is not a list")
    mentions = []
    for item in raw_mentions:
        if not isinstance(item, dict):
            raise MalformedEvent("bad mention")
        ids = item.get("id") if isinstance(item.get("id"), dict) else {}
        mentions.append(
            Mention(str(item.get("key", "")), str(ids.get("open_id", "")), str(item.get("name", "")))
        )
    text = ""
    if message_type in ("text", "post"):
        try:
            content = orjson.loads(_text(_require(message, "content")))
        except ValueError as exc:
            # Also thousands of nested brackets: valid JSON, but deeper than the parser goes.
            raise MalformedEvent("content is not JSON") from exc
        if message_type == "post":
            text = post_text(content)
        else:
            text = str(content.get("text", "")) if isinstance(content, dict) else ""
        for mention in mentions:
            if mention.key:
                text = text.replace(mention.key, " ")
    sender_ids = _require(event, "sender", "sender_id")
    incoming = IncomingMessage(
        event_id=_text(_require(envelope, "header", "event_id")),
        message_id=_text(_require(message, "message_id")),
        chat_id=_text(_require(message, "chat_id")),
        chat_type=chat_type,
        sender_open_id=str(sender_ids.get("open_id", "")) if isinstance(sender_ids, dict) else "",
        # A post (a line break typed, or formatted text pasted) is read as the text it shows.
        message_type="text" if message_type == "post" else message_type,
        text=" ".join(text.split()),
        mentions=tuple(m for m in mentions if m.open_id != bot_open_id),
    )
    return incoming


def parse_action(envelope: dict[str, Any]) -> IncomingAction:
    event = _require(envelope, "event")
    action = _require(event, "action")
    if not isinstance(action, dict):
        raise MalformedEvent("action is not an object")
    value = action.get("value") or {}
    form_value = action.get("form_value") or {}
    context = event.get("context") or {}
    if not isinstance(value, dict) or not isinstance(form_value, dict) or not isinstance(context, dict):
        raise MalformedEvent("bad action payload")
    operator = _require(event, "operator")
    return IncomingAction(
        event_id=_text(_require(envelope, "header", "event_id")),
        operator_open_id=str(operator.get("open_id", "")) if isinstance(operator, dict) else "",
        value=value,
        form_value=form_value,
        option=action.get("option") if isinstance(action.get("option"), str) else None,
        input_value=action.get("input_value") if isinstance(action.get("input_value"), str) else None,
        open_message_id=str(context.get("open_message_id", "")),
        open_chat_id=str(context.get("open_chat_id", "")),
        token=str(event.get("token", "")),
    )


class EventPipeline:
    def __init__(self, services: Services, dispatcher: Dispatcher, inbox: Inbox | None = None) -> None:
        self.services = services
        self.dispatcher = dispatcher
        # With an inbox, each claim is the event's durable record, marked done once handled (bot/state/inbox.py).
        self.inbox = inbox
        self._slots = asyncio.Semaphore(services.settings.hrbot_max_concurrency)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._accepting = True

    @property
    def accepting(self) -> bool:
        return self._accepting

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def handle(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """Answer one verified envelope; the returned dict is the HTTP (or long-connection) answer body."""
        started = time.perf_counter()
        header = _require(envelope, "header")
        event_type = _text(_require(header, "event_type"))
        event_id = _text(_require(header, "event_id"))
        try:
            parsed: Any = None
            if event_type == MESSAGE_RECEIVED:
                if not addressed(envelope, self.services.bot_open_id):
                    # Most of a busy group's traffic, and it causes nothing: no dedup record, no line at INFO.
                    _log_event(event_id, event_type, "", "not-addressed", started, level=logging.DEBUG)
                    return {}
                parsed = parse_message(envelope, self.services.bot_open_id)
            elif event_type == CARD_ACTION:
                parsed = parse_action(envelope)
        except (MalformedEvent, RecursionError, TypeError, ValueError):
            # A verified event we cannot read: claimed and answered, so Feishu does not redeliver it forever.
            if await self.services.store.claim([f"event:{event_id}"]):
                _log_event(event_id, event_type, "", "malformed", started)
            return {}
        if event_type == MESSAGE_RECEIVED:
            message = parsed
            keys = [f"event:{event_id}", f"message:{message.message_id}"]
            if not await self._claim(keys, "message", message):
                _log_event(event_id, event_type, "", "duplicate", started, message.sender_open_id)
                return {}
            self._spawn(self._run_message(message, started, keys[0], 0))
            return {}
        if event_type == CARD_ACTION:
            action = parsed
            if not await self._claim([f"event:{event_id}"], "action", action):
                _log_event(event_id, event_type, action.action, "duplicate", started, action.operator_open_id)
                return {}
            return await self._run_action(action, started, f"event:{event_id}", 0)
        handler = self.dispatcher.find_event(event_type)
        event = envelope.get("event")
        if handler is None or not isinstance(event, dict):
            _log_event(event_id, event_type, "", "ignored", started)
            return {}
        key = f"event:{event_id}"
        if await self._claim([key], "event", {"event_id": event_id, "type": event_type, "event": event}):
            self._spawn(self._run_event(handler, event_id, event_type, event, started, key, 0))
        return {}

    async def _claim(self, keys: list[str], kind: str, data: Any) -> bool:
        """Claim the keys; with an inbox, the first key's row is the event's record: accepted, with `data` (a
        dataclass or a dict) sealed."""
        if self.inbox is None:
            return await self.services.store.claim(keys)
        payload = self.inbox.payload(kind, data)
        return await self.services.store.claim(keys, owner=self.inbox.holder, payload=payload)

    async def _done(self, key: str, generation: int) -> None:
        if self.inbox is None:
            return
        try:
            await self.inbox.done(key, generation)
        except Exception:
            # The record stays accepted: a take-over runs the event again, and its keyed calls change nothing.
            log.exception("could not mark event %s done", key)

    async def resume(self, accepted: Accepted) -> None:
        """Run again an event a dead replica (or this process before a kill) accepted and did not finish."""
        started = time.perf_counter()
        data = accepted.data
        if accepted.kind == "message":
            mentions = tuple(Mention(**mention) for mention in data.get("mentions") or ())
            message = IncomingMessage(**{**data, "mentions": mentions})
            self._spawn(self._run_message(message, started, accepted.key, accepted.generation, resumed=True))
        elif accepted.kind == "action":
            self._spawn(self._resume_action(IncomingAction(**data), started, accepted))
        elif accepted.kind == "event":
            handler = self.dispatcher.find_event(data["type"])
            if handler is None:
                await self._done(accepted.key, accepted.generation)
                return
            self._spawn(
                self._run_event(
                    handler,
                    data["event_id"],
                    data["type"],
                    data["event"],
                    started,
                    accepted.key,
                    accepted.generation,
                    resumed=True,
                )
            )

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, grace_seconds: float) -> None:
        """Let in-flight work finish (graceful shutdown); cancel what is left after `grace_seconds`."""
        self._accepting = False
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
            if pending:
                # Waited for, so nothing cut short runs on while the inbox hands it back (a cancellation Python 3.11
                # loses is repeated); bounded, so a task that will not end cannot hold the shutdown.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CANCELLED_WORK_SECONDS):
                        await cancel_and_wait(*pending)

    # Messages --------------------------------------------------------------------------------------------------
    async def _run_message(
        self, message: IncomingMessage, started: float, key: str, generation: int, *, resumed: bool = False
    ) -> None:
        with event_scope.handling(key, resumed=resumed):
            await self._answer_message(message, started)
        # Not reached when cancelled (shutdown past its grace): the record stays accepted and is handed back.
        await self._done(key, generation)

    async def _answer_message(self, message: IncomingMessage, started: float) -> None:
        async with self._slots:
            dispatcher = self.dispatcher
            command, word, args = dispatcher.match(message.text)
            if message.message_type != "text":
                command = None
            outcome = "ok"
            ctx = MessageContext(self.services, message, command.name if command else word, args)
            try:
                if command is not None and len(args) > MAX_ARGUMENT_CHARS:
                    outcome = "too-long"
                    raise UserFacingError(
                        f"「{command.name}」后面的内容最多 {MAX_ARGUMENT_CHARS} 个字，这次没有查询，也不会收费。"
                        f"例：{command.example}",
                        title="内容太长",
                    )
                if command is not None:
                    await command.run(ctx)
                elif dispatcher.fallback is not None:
                    outcome = (
                        "non-text"
                        if message.message_type != "text"
                        else "unknown-command"
                        if word
                        else "empty"
                    )
                    await dispatcher.fallback(ctx)
            except Refusal as exc:
                outcome = exc.outcome
                await self._show_error(ctx, exc, exc.card)
            except UserFacingError as exc:
                outcome = exc.outcome
                # A tenant-setup error under it (a scope not granted) gets its own card: the fix for admins.
                await self._show_error(ctx, await user_error(exc.__cause__, self.services, ctx.user) or exc)
            except Exception as exc:
                outcome = "error"
                shown = await user_error(exc, self.services, ctx.user)
                if shown is None:
                    log.exception("handler failed for command %s", log_excerpt(ctx.command))
                await self._show_error(ctx, shown or UserFacingError(GENERIC_FAILURE))
            finally:
                name = command.name if command else ""
                _log_event(message.event_id, MESSAGE_RECEIVED, name, outcome, started, message.sender_open_id)

    async def _show_error(self, ctx: MessageContext, error: UserFacingError, card: Any = None) -> None:
        """The feature's own card for it, else the error view's card; a failure to send is only logged."""
        view = self.dispatcher.error_view
        if card is None and view is not None:
            card = view(error.title, error.user_message)
        if card is None:
            return
        try:
            await ctx.reply(card)
        except Exception:
            log.exception("could not send the error card")

    async def _run_event(
        self,
        handler: Any,
        event_id: str,
        event_type: str,
        event: dict[str, Any],
        started: float,
        key: str,
        generation: int,
        *,
        resumed: bool = False,
    ) -> None:
        with event_scope.handling(key, resumed=resumed):
            async with self._slots:
                outcome = "ok"
                try:
                    await handler(self.services, event)
                except Exception:
                    outcome = "error"
                    log.exception("handler for %s failed", event_type)
                _log_event(event_id, event_type, "", outcome, started)
        await self._done(key, generation)

    # Card actions ----------------------------------------------------------------------------------------------
    async def _run_action(
        self, action: IncomingAction, started: float, key: str, generation: int
    ) -> dict[str, Any]:
        # Tasks started inside (the handler, its late work) number their calls within the event.
        with event_scope.handling(key):
            return await self._answer_action(action, started, key, generation)

    async def _answer_action(
        self, action: IncomingAction, started: float, key: str, generation: int
    ) -> dict[str, Any]:
        handler = self.dispatcher.find_action(action.action)
        if handler is None:
            await self._done(key, generation)
            _log_event(
                action.event_id,
                CARD_ACTION,
                action.action,
                "unknown-action",
                started,
                action.operator_open_id,
            )
            return ActionResponse.toast("这个按钮已失效，请重新发起", "warning")
        ctx = ActionContext(self.services, action)
        task = asyncio.create_task(self._invoke(handler, ctx))
        try:
            # Feishu wants the answer within 3 s; slower handlers finish in the background and patch the card.
            response = await asyncio.wait_for(
                asyncio.shield(task), self.services.settings.hrbot_action_timeout
            )
        except TimeoutError:
            self._spawn(self._finish_late(task, ctx, key, generation))
            _log_event(
                action.event_id,
                CARD_ACTION,
                action.action,
                "answered-before-done",
                started,
                action.operator_open_id,
            )
            return ActionResponse.toast("正在处理，完成后会更新这张卡片", "info")
        if ctx.late:
            self._spawn(self._run_late(ctx, key, generation))
        else:
            await self._done(key, generation)
        _log_event(action.event_id, CARD_ACTION, action.action, "ok", started, action.operator_open_id)
        return dict(response or {})

    async def _invoke(self, handler: Any, ctx: ActionContext) -> ActionResponse | None:
        try:
            return await handler.run(ctx)
        except Refusal as exc:
            return ActionResponse.toast(exc.user_message, exc.kind)
        except UserFacingError as exc:
            shown = await user_error(exc.__cause__, self.services, ctx.user) or exc
            return ActionResponse.toast(shown.user_message, "error")
        except Exception as exc:
            shown = await user_error(exc, self.services, ctx.user)
            if shown is None:
                log.exception("card action %s failed", ctx.action.action)
            return ActionResponse.toast(shown.user_message if shown else GENERIC_FAILURE, "error")

    async def _resume_action(self, action: IncomingAction, started: float, accepted: Accepted) -> None:
        """A click whose callback was answered (or cut off) before its work finished: the work runs again, and the
        card is updated with the outcome as for a slow action."""
        handler = self.dispatcher.find_action(action.action)
        if handler is None:
            await self._done(accepted.key, accepted.generation)
            return
        with event_scope.handling(accepted.key, resumed=True):
            ctx = ActionContext(self.services, action)
            task = asyncio.create_task(self._invoke(handler, ctx))
            await self._finish_late(task, ctx, accepted.key, accepted.generation)
        _log_event(action.event_id, CARD_ACTION, action.action, "resumed", started, action.operator_open_id)

    async def _finish_late(
        self, task: asyncio.Task[ActionResponse | None], ctx: ActionContext, key: str, generation: int
    ) -> None:
        """The user was told the card would update: it does, or a short message says what failed."""
        response = await task
        card = response.card if isinstance(response, ActionResponse) else None
        toast = (response or {}).get("toast") or {}
        try:
            if card is not None and ctx.action.open_message_id:
                await ctx.patch(card)
            elif toast.get("type") == "error" and ctx.action.open_chat_id:
                view = self.dispatcher.error_view
                if view is not None:
                    await self.services.feishu.send_card(
                        ctx.action.open_chat_id, view("操作失败", toast["content"])
                    )
        except Exception:
            log.exception("could not report the outcome of a slow card action")
        await self._run_late(ctx, key, generation)

    async def _run_late(self, ctx: ActionContext, key: str, generation: int) -> None:
        for work in ctx.late:
            try:
                await work
            except Exception:
                log.exception("work after card action %s failed", ctx.action.action)
        ctx.late.clear()
        await self._done(key, generation)


MAX_LOGGED_COMMAND = 64


def _log_event(
    event_id: str,
    event_type: str,
    command: str,
    outcome: str,
    started: float,
    user: str = "",
    level: int = logging.INFO,
) -> None:
    seconds = time.perf_counter() - started
    metrics.event(event_type, outcome, command, seconds)
    if not log.isEnabledFor(level):
        return
    latency = round(seconds * 1000, 1)
    masked_user = mask_tail(user, 6) if user else "-"
    # An unknown action id is whatever the clicker's client sent (600 KB, say): a short masked prefix only.
    command = log_excerpt(command, MAX_LOGGED_COMMAND)
    log.log(
        level,
        "event %s type=%s user=%s command=%s outcome=%s latency_ms=%.1f",
        event_id,
        event_type,
        masked_user,
        command or "-",
        outcome,
        latency,
        extra={
            "event_id": event_id,
            "event_type": event_type,
            "user": masked_user,
            "command": command,
            "outcome": outcome,
            "latency_ms": latency,
        },
    )
