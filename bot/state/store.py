"""The bot's state in one database (SQLite file by default, PostgreSQL by URL): tables and the few queries on them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, overload

import psycopg
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Executable,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.clock import Clock
from bot.state.redis_state import RedisState

metadata = MetaData()

processed_events = Table(
    "processed_events",
    metadata,
    # "event:<event_id>" or "message:<message_id>": Feishu redelivers, sometimes with a new event_id.
    Column("key", String(128), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    # An event's progress (bot/state/inbox.py), on its "event:" row: accepted → done; NULL on rows that only dedup.
    Column("state", String(16), nullable=True, index=True),
    # The replica running it, and how many times it was taken over (a stale owner's writes are fenced off by it).
    Column("owner", String(128), nullable=True),
    Column("generation", Integer, nullable=False, server_default="0"),
    # What the handler needs, sealed (AES-GCM); cleared once done.
    Column("payload", LargeBinary, nullable=True),
)

cache_entries = Table(
    "cache_entries",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Append-only from the bot's side (bot/trust/audit.py writes, the retention job deletes): every view of someone else's data.
audit_records = Table(
    "audit_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("outcome", String(64), nullable=False),
    Column("ref", String(128), nullable=True),
    Column("detail", JSON, nullable=True),
    # Whose data was seen (an open_id; empty for a delivery to a chat), where it was shown, and for a delivery how
    # many people it held.
    Column("subject_id", String(128), nullable=True, index=True),
    Column("place", String(160), nullable=True),
    Column("people", Integer, nullable=True),
)


def async_url(url: str) -> str:
    """The async driver for a plain URL: sqlite → aiosqlite, postgresql → psycopg (3, async-capable)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def sync_url(url: str) -> str:
    """The sync driver for APScheduler's job store on the same database."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def scheduler_url(url: str) -> str:
    """Where APScheduler keeps its jobs: the same database, except on SQLite, where it is a sibling file.

    APScheduler 3 writes its job store synchronously on the event loop. SQLite has one writer per file: an async
    transaction holding the lock across an await would wait for the blocked loop, and the loop for the lock, until
    SQLite's busy timeout. Separate files cannot contend; PostgreSQL locks rows and needs no such split.
    """
    parsed = make_url(sync_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return sync_url(url)
    path = Path(parsed.database)
    return parsed.set(database=str(path.with_name(f"{path.stem}-scheduler{path.suffix}"))).render_as_string(
        hide_password=False
    )


def connect_args(url: str) -> dict[str, Any]:
    """A database that stops answering must fail fast, not hold the event loop."""
    if make_url(url).get_backend_name() == "postgresql":
        return {"connect_args": {"connect_timeout": 3}}
    return {}


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the scheduler's sync connection and the bot's async one work side by side.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> AsyncEngine:
    # hide_parameters: a failing statement's log line must not carry names or ID numbers. A pooled connection to a
    # server may have been dropped (a restart, a failover): pinged before use. A SQLite file's cannot be, and on
    # aiosqlite the ping costs four thread hand-offs per checkout.
    sqlite = make_url(url).get_backend_name() == "sqlite"
    engine = create_async_engine(
        async_url(url), pool_pre_ping=not sqlite, hide_parameters=True, **connect_args(url)
    )
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
    return engine


# One dedup row to write: key, and for an event's own row its progress (state, owner, sealed payload).
ClaimRow = tuple[str, str | None, str | None, bytes | None]
# An event handled: done, its payload dropped, unless another run took it over since (a newer generation).
FINISH_SQLITE = (
    "UPDATE processed_events SET state = 'done', payload = NULL "
    "WHERE key = ? AND generation = ? AND state = 'accepted'"
)
FINISH_POSTGRES = (
    "UPDATE processed_events AS p SET state = 'done', payload = NULL "
    "FROM unnest(%s::text[], %s::int[]) AS t(k, g) "
    "WHERE p.key = t.k AND p.generation = t.g AND p.state = 'accepted' RETURNING p.key"
)


# The longest a finish waits for claims to be written with (Store.finish).
FINISH_GATHER_SECONDS = 0.025
# The longest closing the store waits for the last write.
DISPOSE_WRITE_SECONDS = 5.0


@dataclass
class Written:
    """What one write did: the claims' new keys and the events marked done, or the error each kind met (on
    PostgreSQL the two statements commit apart, so one may fail after the other committed)."""

    inserted: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    claims_error: Exception | None = None
    finishes_error: Exception | None = None


class _SqliteClaims:
    """Dedup writes on SQLite: one connection in a thread of its own, each batch in one hop there (BEGIN, INSERT,
    COMMIT). Through aiosqlite and SQLAlchemy a batch took a dozen thread hops (checkout, ping, cursor, execute,
    fetch, commit, reset): ~1.5 ms of CPU for a claim made alone, ~0.2 ms here."""

    # SQLite before 3.32 binds at most 999 variables per statement: five per key.
    CHUNK = 190

    def __init__(self, engine: AsyncEngine) -> None:
        self._connect_args = engine.dialect.create_connect_args(engine.url)
        dialect = engine.dialect
        stamp = processed_events.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        self._stamp: Callable[[datetime], Any] = stamp or (lambda value: value)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="hrbot-claims")
        self._connection: sqlite3.Connection | None = None

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._connect)

    async def write(
        self, claims: list[ClaimRow], created_at: datetime, finishes: list[tuple[str, int]]
    ) -> Written:
        """Claims inserted and events finished, in one hop and one transaction: both written, or neither."""
        loop = asyncio.get_running_loop()
        inserted, finished = await loop.run_in_executor(
            self._thread, self._write, claims, self._stamp(created_at), finishes
        )
        return Written(inserted, finished)

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            cargs, cparams = self._connect_args
            connection = sqlite3.connect(*cargs, **{**cparams, "isolation_level": None})
            _tune_sqlite(connection, None)
            # A first read maps the write-ahead log, which then stays open with the connection.
            connection.execute("SELECT 1 FROM processed_events LIMIT 0").fetchall()
            self._connection = connection
        return self._connection

    def _write(
        self, claims: list[ClaimRow], created_at: Any, finishes: list[tuple[str, int]]
    ) -> tuple[set[str], set[str]]:
        connection = self._connect()
        inserted: set[str] = set()
        finished: set[str] = set()
        connection.execute("BEGIN")
        try:
            for start in range(0, len(claims), self.CHUNK):
                chunk = claims[start : start + self.CHUNK]
                rows = connection.execute(
                    "INSERT INTO processed_events (key, created_at, state, owner, generation, payload) VALUES "
                    + ", ".join(["(?, ?, ?, ?, 0, ?)"] * len(chunk))
                    + " ON CONFLICT (key) DO NOTHING RETURNING key",
                    [
                        value
                        for key, state, owner, payload in chunk
                        for value in (key, created_at, state, owner, payload)
                    ],
                )
                inserted.update(row[0] for row in rows)
            for key, generation in finishes:
                if connection.execute(FINISH_SQLITE, (key, generation)).rowcount:
                    finished.add(key)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return inserted, finished

    async def aclose(self) -> None:
        if self._connection is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._connection.close)
            self._connection = None
        self._thread.shutdown(wait=False)


class _PostgresClaims:
    """Dedup writes on PostgreSQL: a connection of their own in autocommit, each batch one statement (psycopg
    prepares it after a few runs). Through SQLAlchemy's pool a batch took four round trips (ping, BEGIN, INSERT,
    COMMIT); here one, and a ping only after the connection sat idle (a restart, a dropped idle connection)."""

    INSERT = (
        "INSERT INTO processed_events (key, created_at, state, owner, generation, payload) "
        "SELECT k, %s, s, o, 0, p FROM unnest(%s::text[], %s::text[], %s::text[], %s::bytea[]) AS t(k, s, o, p) "
        "ON CONFLICT (key) DO NOTHING RETURNING key"
    )
    PING_AFTER_SECONDS = 10.0

    def __init__(self, engine: AsyncEngine, url: str) -> None:
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        self._connect_args = (cargs, {**cparams, **connect_args(url).get("connect_args", {})})
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._used_at = 0.0

    async def open(self) -> None:
        await self._connected()

    async def write(
        self, claims: list[ClaimRow], created_at: datetime, finishes: list[tuple[str, int]]
    ) -> Written:
        """Each kind in its own statement (autocommit): a finish that fails leaves the committed claims claimed,
        and the other way round."""
        written = Written()
        if claims:
            keys, states, owners, payloads = (list(column) for column in zip(*claims, strict=True))
            try:
                rows = await self._run(self.INSERT, (created_at, keys, states, owners, payloads))
                written.inserted = {row[0] for row in rows}
            except Exception as exc:
                written.claims_error = exc
        if finishes:
            keys, generations = (list(column) for column in zip(*finishes, strict=True))
            try:
                written.finished = {row[0] for row in await self._run(FINISH_POSTGRES, (keys, generations))}
            except Exception as exc:
                written.finishes_error = exc
        return written

    async def _run(self, statement: str, parameters: tuple[Any, ...]) -> list[Any]:
        connection = await self._connected()
        try:
            cursor = await connection.execute(statement, parameters)
            rows = await cursor.fetchall()
        except psycopg.OperationalError:
            await connection.close()  # the next statement connects anew
            raise
        self._used_at = time.monotonic()
        return rows

    async def _connected(self) -> psycopg.AsyncConnection[Any]:
        connection = self._connection
        if connection is not None and time.monotonic() - self._used_at > self.PING_AFTER_SECONDS:
            try:
                await connection.execute("SELECT 1")
            except psycopg.OperationalError:
                await connection.close()
        if connection is None or connection.closed:
            cargs, cparams = self._connect_args
            connection = await psycopg.AsyncConnection.connect(*cargs, **cparams, autocommit=True)
            self._connection = connection
        return connection

    async def aclose(self) -> None:
        if self._connection is not None:
            await self._connection.close()


def _claims_writer(engine: AsyncEngine, url: str) -> _SqliteClaims | _PostgresClaims:
    if engine.dialect.name == "sqlite":
        return _SqliteClaims(engine)
    if engine.dialect.name == "postgresql":
        return _PostgresClaims(engine, url)
    raise ValueError(f"unsupported database {engine.dialect.name!r}: use SQLite or PostgreSQL")


class Store:
    """The database, and Redis for dedup and caches when `redis` is given."""

    def __init__(self, url: str, clock: Clock, *, redis: RedisState | None = None) -> None:
        self.url = url
        self.clock = clock
        self.engine = make_engine(url)
        self.redis = redis
        self._claims: list[tuple[list[ClaimRow], asyncio.Future[bool]]] = []
        # Locks vanish once nobody holds or waits for them, so one per company name does not pile up.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._finishes: list[tuple[str, int, asyncio.Future[bool]]] = []
        # Finishes wait for the next claims' write, or FINISH_GATHER_SECONDS at most (then they are "due").
        self._finishes_due = False
        self._finish_timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._writer: asyncio.Task[None] | None = None
        self._claims_db = _claims_writer(self.engine, url)

    async def open(self) -> None:
        """Open the connection dedup claims are written through, once migrations have run: from then on it holds
        the database the bot started with (a SQLite file deleted while running keeps answering, as the pool does).
        Without this call it opens at the first claim."""
        await self._claims_db.open()

    async def dispose(self) -> None:
        # Finishes still gathering are written before the connection goes; later ones are refused (a task whose
        # cancellation was lost can still come): their events stay accepted, and a take-over runs them again.
        self._closed = True
        if self._finish_timer is not None:
            self._finish_timer.cancel()
        self._finishes_now()
        if self._writer is not None and not self._writer.done():
            # Bounded: a database that stopped answering must not hold the shutdown.
            await asyncio.wait({self._writer}, timeout=DISPOSE_WRITE_SECONDS)
        await self._claims_db.aclose()
        await self.engine.dispose()
        if self.redis is not None:
            await self.redis.aclose()

    # Dedup -----------------------------------------------------------------------------------------------------
    async def claim(self, keys: list[str], *, owner: str | None = None, payload: bytes | None = None) -> bool:
        """Record keys as processed; False when any was already there (a redelivery). With `owner`, the first key's
        row is the event's durable record (bot/state/inbox.py): accepted by `owner`, with the sealed `payload`.

        Claims that arrive while a write is in flight are written together in the next one (group commit), so a
        burst of events costs a few transactions, not one each, and an idle bot adds no delay. Redis, when
        configured, turns most redeliveries away without a write; the database decides the rest, so a flushed
        Redis doubles nothing. Redis learns a claim only once the database holds it: a replica killed in between
        leaves nothing that would turn the redelivery away.
        """
        if self.redis is not None and await self.redis.seen(keys):
            return False
        state = "accepted" if owner is not None else None
        rows: list[ClaimRow] = [
            (key, state, owner, payload) if index == 0 else (key, None, None, None)
            for index, key in enumerate(keys)
        ]
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._claims.append((rows, future))
        self._wake_writer()
        fresh = await future
        if fresh and self.redis is not None:
            await self.redis.claim(keys)
        return fresh

    def _wake_writer(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        """Claims and finishes that arrived while a write was in flight go in the next one, together: one
        transaction (on SQLite, one commit) for both."""
        while self._claims or (self._finishes and self._finishes_due):
            claims, self._claims = self._claims, []
            finishes, self._finishes = self._finishes, []
            self._finishes_due = False
            first: dict[str, ClaimRow] = {}
            for rows, _ in claims:
                for row in rows:
                    first.setdefault(row[0], row)
            try:
                written = await self._claims_db.write(
                    list(first.values()),
                    self.clock.now(),
                    [(key, generation) for key, generation, _ in finishes],
                )
            except Exception as exc:
                written = Written(claims_error=exc, finishes_error=exc)
            inserted = written.inserted
            for rows, future in claims:
                # Within a batch the first claim of a key wins; later ones are redeliveries.
                keys = [row[0] for row in rows]
                fresh = all(key in inserted for key in keys)
                inserted.difference_update(keys)
                if future.done():
                    continue
                if written.claims_error is not None:
                    future.set_exception(written.claims_error)
                else:
                    future.set_result(fresh)
            for key, _generation, future in finishes:
                if future.done():
                    continue
                if written.finishes_error is not None:
                    future.set_exception(written.finishes_error)
                else:
                    future.set_result(key in written.finished)

    async def finish(self, key: str, generation: int) -> bool:
        """Mark an accepted event done (bot/state/inbox.py) unless another run took it over since; written with the
        next claims, or on its own after FINISH_GATHER_SECONDS.

        Nothing waits on a finish but the event's own task, so it need not have a commit of its own: written alone
        as they came, finishes were most of the commits of a busy bot (bench/ingress.py), and a commit is most of a
        claim's cost on SQLite. A process killed before the finish is written leaves the event accepted, as one
        killed a moment earlier would: a take-over runs it again, and its keyed calls change nothing."""
        if self._closed:
            return False
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._finishes.append((key, generation, future))
        if self._finish_timer is None:
            self._finish_timer = loop.call_later(FINISH_GATHER_SECONDS, self._finishes_now)
        return await future

    def _finishes_now(self) -> None:
        self._finish_timer = None
        if self._finishes:
            self._finishes_due = True
            self._wake_writer()

    async def claimed(self, key: str) -> bool:
        """Whether `key` was claimed (and not yet purged)."""
        if self.redis is not None and await self.redis.claimed(key):
            return True
        async with self.engine.connect() as conn:
            found = await conn.execute(select(processed_events.c.key).where(processed_events.c.key == key))
            return found.first() is not None

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """One holder of `name` at a time: within this process, and across replicas through Redis when configured,
        else PostgreSQL (an advisory lock). Held around "look for an answer we already have, else make the billed
        call"; Redis's lock holds no database connection for those seconds, so many at once cannot drain the pool."""
        local = self._locks.setdefault(name, asyncio.Lock())
        async with local:
            if self.redis is not None:
                async with self.redis.lock(name):
                    yield
                return
            if self.engine.dialect.name != "postgresql":
                yield
                return
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT pg_advisory_lock(hashtext(:name))"), {"name": name})
                try:
                    yield
                finally:
                    await conn.execute(text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": name})

    async def changed(self, statement: Executable) -> int:
        """Run one INSERT, UPDATE or DELETE in a transaction of its own: how many rows it changed."""
        async with self.engine.begin() as conn:
            result = await conn.execute(statement)
        return result.rowcount or 0

    async def purge_processed(self, retention: timedelta) -> int:
        return await self.changed(
            delete(processed_events).where(processed_events.c.created_at < self.clock.now() - retention)
        )

    # Cache of provider answers ---------------------------------------------------------------------------------
    async def cache_get(self, key: str) -> Any | None:
        if self.redis is not None:
            return await self.redis.cache_get(key, self.clock.now())
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(cache_entries.c.value, cache_entries.c.expires_at).where(
                        cache_entries.c.key == key
                    )
                )
            ).first()
        if row is None or aware(row.expires_at) <= self.clock.now():
            return None
        return json.loads(row.value)

    async def cache_set(self, key: str, value: Any, ttl: timedelta) -> None:
        if self.redis is not None:
            await self.redis.cache_set(key, value, ttl, self.clock.now() + ttl)
            return
        payload = json.dumps(value, ensure_ascii=False)
        expires = self.clock.now() + ttl
        async with self.engine.begin() as conn:
            await conn.execute(delete(cache_entries).where(cache_entries.c.key == key))
            await conn.execute(insert(cache_entries).values(key=key, value=payload, expires_at=expires))

    async def purge_cache(self) -> int:
        """Provider answers past their time (HRBOT_CACHE_HOURS, or the caller's TTL), by the bot's clock."""
        now = self.clock.now()
        if self.redis is not None:
            return await self.redis.purge_cache(now)
        return await self.changed(delete(cache_entries).where(cache_entries.c.expires_at <= now))

    # Audit -----------------------------------------------------------------------------------------------------
    async def audit(
        self,
        *,
        actor: str,
        action: str,
        subject: str,
        outcome: str,
        ref: str | None = None,
        detail: dict[str, Any] | None = None,
        subject_id: str | None = None,
        place: str | None = None,
        people: int | None = None,
    ) -> None:
        await self.audit_many(
            [
                {
                    "actor": actor,
                    "action": action,
                    "subject": subject,
                    "outcome": outcome,
                    "ref": ref,
                    "detail": detail,
                    "subject_id": subject_id,
                    "place": place,
                    "people": people,
                }
            ]
        )

    async def audit_many(self, rows: list[dict[str, Any]]) -> None:
        """Rows written together, stamped with one time."""
        if not rows:
            return
        now = self.clock.now()
        async with self.engine.begin() as conn:
            await conn.execute(insert(audit_records), [{"at": now, **row} for row in rows])

    async def audit_rows(self, action: str | None = None) -> list[dict[str, Any]]:
        query = select(audit_records).order_by(audit_records.c.id)
        if action:
            query = query.where(audit_records.c.action == action)
        async with self.engine.connect() as conn:
            return [dict(row._mapping) for row in await conn.execute(query)]


def _dialect_insert(dialect: str) -> Any:
    """INSERT with ON CONFLICT for the databases the bot supports."""
    if dialect == "sqlite":
        return sqlite.insert
    if dialect == "postgresql":
        return postgresql.insert
    raise ValueError(f"unsupported database {dialect!r}: use SQLite or PostgreSQL")


@overload
def aware(value: datetime) -> datetime: ...


@overload
def aware(value: None) -> None: ...


def aware(value: datetime | None) -> datetime | None:
    """A stored time as read back: SQLite hands back naive datetimes, and everything stored is UTC."""
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
