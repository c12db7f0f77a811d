from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import sqlalchemy
from sqlalchemy.engine import make_url

from bot.clock import Clock
from bot.config import Settings
from bot.lifecycle.app import BotApp
from bot.lifecycle.features import Feature
from bot.sandbox.compose import SandboxedBot
from bot.sandbox.directory import EMPLOYEE, PERSONAS, Directory
from bot.sandbox.feishu import FeishuEmulator, SandboxMessage
from bot.sandbox.server import Sandbox
from bot.state.migrations import upgrade
from bot.state.store import Store, sync_url
from bot.trust.consent import Consents
from cards.text import card_text
from tests import feishu_wire as wire

# The second CI run sets these: every test that asks for a database gets a fresh PostgreSQL one and a flushed Redis.
PG_ADMIN_URL = os.environ.get("HRBOT_TEST_DATABASE_URL", "")
# pytest-xdist's workers (gw0, gw1, …) each flush a Redis database of their own: the given one plus the worker's number.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def _redis_for_worker(url: str) -> str:
    if not url or not _WORKER:
        return url
    base, _, db = url.rpartition("/")
    return f"{base}/{int(db or 0) + int(_WORKER.removeprefix('gw'))}"


REDIS_URL = _redis_for_worker(os.environ.get("HRBOT_TEST_REDIS_URL", ""))
# .ci/run: the SQLite pass writes the ids of the tests that asked for a database (or Redis) to this file; the
# PostgreSQL + Redis pass runs only those (HRBOT_TEST_ONLY_LISTED). The others run the same code in both passes.
RECORD_DATABASE_TESTS = os.environ.get("HRBOT_TEST_RECORD_DATABASE_TESTS", "")
ONLY_LISTED = os.environ.get("HRBOT_TEST_ONLY_LISTED", "")


class _TestDatabase:
    """The current test's database, made on first use: a test that never asks costs no CREATE/DROP DATABASE."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.url = ""
        self.pg_name = ""

    def get(self) -> str:
        if self.url:
            return self.url
        if not PG_ADMIN_URL:
            self.url = f"sqlite:///{self.tmp_path / 'hrbot.db'}"
        else:
            self.pg_name = f"hrbot_test_{uuid.uuid4().hex[:12]}"
            admin = sqlalchemy.create_engine(sync_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as connection:
                    connection.execute(sqlalchemy.text(f'CREATE DATABASE "{self.pg_name}"'))
            finally:
                admin.dispose()
            self.url = make_url(PG_ADMIN_URL).set(database=self.pg_name).render_as_string(hide_password=False)
            if REDIS_URL:
                redis.Redis.from_url(REDIS_URL).flushdb()
        return self.url

    def drop(self) -> None:
        if not self.pg_name:
            return
        admin = sqlalchemy.create_engine(sync_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))
        finally:
            admin.dispose()


_test_database: _TestDatabase | None = None
_database_tests: list[str] = []


def current_database() -> str:
    """The running test's database URL (SQLite in its tmp_path, or a fresh PostgreSQL database), made now if new."""
    assert _test_database is not None, "only inside a test"
    return _test_database.get()


@pytest.fixture(autouse=True)
def _database_per_test(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    global _test_database
    _test_database = _TestDatabase(tmp_path)
    try:
        yield
    finally:
        if _test_database.url:
            _database_tests.append(request.node.nodeid)
        _test_database.drop()
        _test_database = None


@pytest.fixture
def database_url() -> str:
    return current_database()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not ONLY_LISTED:
        return
    listed = set(Path(ONLY_LISTED).read_text().splitlines())  # ids may hold spaces (parameters)
    kept = [item for item in items if item.nodeid in listed]
    config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in listed])
    items[:] = kept


BOT_LOG_LINES = 60


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that ran bot processes (tests/processes.py) shows each one's last log lines (every `*.log` beside
    the test's files): what the bot did while the test waited, also when the failure happened on a CI machine."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    tmp_path = getattr(item, "funcargs", {}).get("tmp_path")
    if report.when != "call" or not report.failed or tmp_path is None:
        return
    for log in sorted(Path(tmp_path).glob("*.log")):
        lines = [line[:300] for line in log.read_text(errors="replace").splitlines()[-BOT_LOG_LINES:]]
        report.sections.append((f"{log.name}, last {len(lines)} lines", "\n".join(lines)))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Each xdist worker writes its part (FILE.gwN); the controller (or a run without workers) writes FILE from its
    own tests and the parts."""
    if not RECORD_DATABASE_TESTS:
        return
    record = Path(RECORD_DATABASE_TESTS)
    if _WORKER:
        Path(f"{record}.{_WORKER}").write_text("".join(f"{nodeid}\n" for nodeid in _database_tests))
        return
    found = set(_database_tests)
    for part in record.parent.glob(f"{record.name}.gw*"):
        found.update(part.read_text().splitlines())
        part.unlink()
    record.write_text("".join(f"{nodeid}\n" for nodeid in sorted(found)))


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """The core's sandbox settings, isolated from the developer's environment and .env (features' settings are
    given to `running_bot`)."""
    values: dict[str, Any] = {
        "feishu_app_id": "",
        "feishu_app_secret": "",
        "feishu_encrypt_key": "",
        "feishu_verification_token": "",
        "hrbot_port": 0,
        "hrbot_metrics_port": 0,  # off unless a test asks for it: parallel bots would want the same port
        "hrbot_database_url": current_database(),
        "hrbot_redis_url": REDIS_URL,
        "hrbot_log_level": "INFO",
    }
    unknown = set(overrides) - set(Settings.model_fields)
    assert not unknown, f"not core settings (give them to running_bot): {unknown}"
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class RunningBot:
    """A started bot plus the ways a test talks to it like Feishu and looks at what users see."""

    def __init__(self, app: BotApp, sandbox: Sandbox, http: httpx.AsyncClient) -> None:
        self.app = app
        self.sandbox = sandbox
        self.http = http

    @property
    def feishu(self) -> FeishuEmulator:
        return self.sandbox.feishu

    @property
    def events_url(self) -> str:
        return f"{self.app.url}/feishu/events"

    async def post_raw(self, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.post(self.events_url, content=body, headers=headers or {})

    async def post_event(self, event_type: str, event: dict[str, Any], **envelope_kw: Any) -> httpx.Response:
        message = event.get("message")
        if event_type == "im.message.receive_v1" and isinstance(message, dict) and "message_id" in message:
            self.feishu.record_user_message(
                message["message_id"],
                chat_id=message.get("chat_id", ""),
                sender="user",
                text=message.get("content", ""),
            )
        body = wire.encrypt_body(wire.envelope(event_type, event, **envelope_kw))
        return await self.post_raw(body, wire.sign(body))

    async def say(self, text: str, *, user: str = EMPLOYEE, chat_id: str | None = None, **kw: Any) -> str:
        """Post a signed, encrypted text message; returns its message_id."""
        event = wire.message_event(text, user=user, chat_id=chat_id or Directory.p2p_chat_of(user), **kw)
        response = await self.post_event("im.message.receive_v1", event)
        assert response.status_code == 200, response.text
        return event["message"]["message_id"]

    async def click(self, message: SandboxMessage, *, user: str, value: dict[str, Any], **kw: Any) -> dict:
        event = wire.action_event(
            user=user, value=value, message_id=message.message_id, chat_id=message.chat_id, **kw
        )
        response = await self.post_event("card.action.trigger", event)
        assert response.status_code == 200, response.text
        return response.json()

    async def replies(self, message_id: str, count: int = 1, within: float = 5.0) -> list[SandboxMessage]:
        """Wait until the bot has sent `count` replies to a message."""
        return await wait_for(lambda: self.feishu.replies_to(message_id), count, within)

    async def idle(self, within: float = 5.0) -> None:
        """Wait until no event is being handled: what a test then sees is all the bot did with what it got."""
        pipeline = self.app.pipeline
        assert pipeline is not None

        async def nothing_in_flight() -> bool:
            return pipeline.in_flight == 0

        await eventually(nothing_in_flight, within, what="no event in flight")

    async def reply_text(self, message_id: str, within: float = 5.0) -> str:
        return card_text((await self.replies(message_id, 1, within))[0].content)

    async def settled_text(self, message: SandboxMessage, within: float = 15.0) -> str:
        """The card's text once it no longer says it is being made (正在生成…, e.g. a digest)."""

        async def settled() -> str:
            text = card_text(message.content)
            return "" if "正在生成" in text else text

        return await eventually(settled, within, what="the card's final state")

    async def settled_reply_text(self, message_id: str, within: float = 15.0) -> str:
        return await self.settled_text((await self.replies(message_id, 1, within))[0], within)


async def wait_for(probe: Callable[[], list[Any]], count: int = 1, within: float = 5.0) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = probe()
        if len(found) >= count:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"expected {count}, found {len(found)}: {json.dumps([str(f) for f in found])[:500]}"
            )
        await asyncio.sleep(0.02)


def card_buttons(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A card's buttons: shown text → callback value."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("tag") == "button":
                found[node["text"]["content"]] = node["behaviors"][0]["value"]
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(card)
    return found


async def eventually(
    probe: Callable[[], Awaitable[Any]], within: float = 5.0, what: str = "condition"
) -> Any:
    """Await `probe` until it returns something truthy; fail naming `what` after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached within {within} s (last: {found!r})")
        await asyncio.sleep(0.02)


async def give_consent(app: BotApp, *open_ids: str) -> None:
    """These people have agreed to every feature's consent notice."""
    assert app.services is not None
    consents = Consents(app.services.store)
    for feature in app.features:
        for notice in feature.notices:
            for open_id in open_ids:
                await consents.agree(open_id, notice)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings,
    clock: Clock | None = None,
    *,
    features: Sequence[Feature] | None = None,
    consented: bool = True,
    **feature_settings: Any,
) -> AsyncIterator[RunningBot]:
    """A sandboxed bot with every installed feature (or `features`); `feature_settings` set features' and
    providers' settings. `consented`: the personas have agreed to every consent notice already (tests of a
    feature's flow start past the notice; tests of consent pass False)."""
    composed = SandboxedBot(
        settings, features=features, clock=clock, employees=200, env_file=None, overrides=feature_settings
    )
    try:
        app = await composed.start()
        if consented:
            await give_consent(app, *(p.open_id for p in PERSONAS))
        async with httpx.AsyncClient(timeout=10.0) as http:
            yield RunningBot(app, composed.sandbox, http)
    finally:
        await composed.stop()


@pytest.fixture
async def bot(settings: Settings, clock: Clock) -> AsyncIterator[RunningBot]:
    async with running_bot(settings, clock) as running:
        yield running


async def open_store(url: str) -> Store:
    """A migrated database and its store, the claims connection open."""
    upgrade(url)
    store = Store(url, Clock())
    await store.open()
    return store
