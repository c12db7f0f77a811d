"""Billed provider calls: one ledger row each, quotas and budgets checked first, a circuit breaker per provider.

A feature wraps each billed call (never a cache hit, never refused input) in `services.ledger.call(...)`:

    async with services.ledger.call(juhe.billed_api(services, "social_security"), user=..., chat=..., feature=...) as entry:
        report = await client(services).social_security(keyword)
        entry.ref = ...  # the provider's order, job or task id, when there is one

Before the call: the breaker and the quotas are checked (a `Refusal` with a card when over, no call made), then a
`pending` row is committed. After it: the row says `billed`, `unbilled` (the provider answered with an error, which
it does not charge) or `unknown` (no answer: it may have charged), with the latency, and the breaker is fed. A crash
in between leaves the row `pending`; `mark_lost` turns such rows `unknown` once no call can still be running.
The row never holds what was queried: provider, API, price, who, where, outcome, when.

State lives in the database, so every replica sees the same quotas, spend and breaker.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from bot.clock import Clock
from bot.config import Settings
from bot.observability import metrics
from bot.providers.base import ProviderError
from bot.providers.juhe_errors import OUTAGE_CODES as JUHE_OUTAGES
from bot.providers.tcredit_errors import OUTAGE_CODES as TCREDIT_OUTAGES
from bot.routing import event_scope
from bot.routing.errors import Refusal, UserFacingError
from bot.routing.roles import Role, Roles
from bot.state.store import Store, _dialect_insert, aware, metadata
from cards.common import error_card, markdown
from cards.safe import Markup

log = logging.getLogger("hrbot.ledger")

PENDING, BILLED, UNBILLED, UNKNOWN = "pending", "billed", "unbilled", "unknown"
# What may cost money: counted against budgets, summed as spend.
CHARGED = (PENDING, BILLED, UNKNOWN)
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
# A pending row older than this belongs to a call that can no longer be running (client timeouts are 10-15 s).
LOST_AFTER = timedelta(minutes=10)
# A half-open probe that never reported back (its replica died) lets another probe through after this long.
PROBE_TIMEOUT = timedelta(minutes=2)
BUDGET_WARNING_SHARE = 0.8
ADMIN_MENTIONS = 3

ledger_calls = Table(
    "ledger_calls",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("provider", String(32), nullable=False),
    Column("api", String(64), nullable=False),
    Column("feature", String(64), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("price", Numeric(12, 4, asdecimal=False), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error", String(64), nullable=True),
    Column("ref", String(128), nullable=True),
    Column("latency_ms", Integer, nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Index("ix_ledger_calls_started_at", "started_at"),
    Index("ix_ledger_calls_user_id_started_at", "user_id", "started_at"),
    Index("ix_ledger_calls_chat_id_started_at", "chat_id", "started_at"),
    Index("ix_ledger_calls_provider_ref", "provider", "ref"),
    # The event and the call's place in its handler (bot/routing/event_scope.py): a re-run of the event finds the call made.
    Column("event_key", String(160), nullable=True),
    Index("ix_ledger_calls_event_key", "event_key", unique=True),
)

ledger_breakers = Table(
    "ledger_breakers",
    metadata,
    Column("provider", String(32), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("open_until", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One row per warning already sent (budget 80 % per provider and month): sent once across replicas.
ledger_notices = Table(
    "ledger_notices",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
)


def _off(value: object) -> object:
    """ "off", "none" or an empty value: no limit."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "off", "none")):
        return None
    return value


# A limit setting: a positive number, or "off" / 0 for none.
Limit = Annotated[float | None, BeforeValidator(_off)]


@dataclass(frozen=True)
class BilledApi:
    """One billed API of a provider, as its settings price it."""

    provider: str  # "juhe", "tcredit"
    provider_name: str  # 聚合数据, 天创
    api: str  # "social_security", ...
    price: float  # yuan per billed call
    monthly_budget: float | None  # yuan per month for the whole provider; None: no budget
    api_name: str = ""  # 企业社保缴纳查询, as an export names it


@dataclass
class Entry:
    """The ledger row of one call in progress; the caller sets `ref` once the provider gave one."""

    id: str
    ref: str | None = None


@dataclass(frozen=True)
class Breaker:
    provider: str
    state: str
    failures: int
    open_until: datetime | None


BudgetListener = Callable[[BilledApi, float, str], Awaitable[None]]


@dataclass
class Ledger:
    store: Store
    settings: Settings
    clock: Clock
    roles: Roles
    # Told once per provider and month when spend reaches 80 % of the budget: (api, spent, "YYYY-MM").
    budget_listeners: list[BudgetListener] = field(default_factory=list)

    # The call --------------------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def call(self, api: BilledApi, *, user: str, chat: str, feature: str) -> AsyncIterator[Entry]:
        entry = await self._admit(api, user, chat, feature)
        started = time.monotonic()
        try:
            yield entry
        except ProviderError as exc:
            outcome = UNKNOWN if exc.code in ("unavailable", "unknown") else UNBILLED
            await self._finish(api, entry, outcome, started, error=str(exc.code)[:64])
            await self._feed_breaker(api.provider, failed=is_outage(exc))
            raise
        except Exception:
            # A bug around the call: whether the provider charged is not known.
            await self._finish(api, entry, UNKNOWN, started, error="error")
            raise
        # Cancelled (shutdown): the row stays pending, and `mark_lost` says unknown later, as after a crash.
        else:
            await self._finish(api, entry, BILLED, started)
            await self._feed_breaker(api.provider, failed=False)
            await self._check_budget(api)

    async def _admit(self, api: BilledApi, user: str, chat: str, feature: str) -> Entry:
        event_key = event_scope.next_key(f"billed:{api.provider}:{api.api}")
        if event_key is not None and await self._made(event_key):
            raise CallInterrupted()
        now = self.clock.now()
        # Check and pending row in one critical section (across replicas on PostgreSQL): two calls at once
        # cannot both take the last unit of a quota.
        async with self.store.exclusive("ledger:admit"):
            # Quotas first: a caller they refuse must not take the breaker's one half-open probe.
            await self._within_quotas(api, user, chat, now)
            await self._pass_breaker(api, now)
            entry = Entry(uuid.uuid4().hex)
            try:
                async with self.store.engine.begin() as conn:
                    await conn.execute(
                        insert(ledger_calls).values(
                            id=entry.id,
                            provider=api.provider,
                            api=api.api,
                            feature=feature,
                            user_id=user,
                            chat_id=chat,
                            price=api.price,
                            outcome=PENDING,
                            started_at=now,
                            event_key=event_key,
                        )
                    )
            except IntegrityError:
                # Another run of the same event (it was taken over meanwhile) made this call.
                raise CallInterrupted() from None
        return entry

    async def _made(self, event_key: str) -> bool:
        async with self.store.engine.connect() as conn:
            found = await conn.execute(select(ledger_calls.c.id).where(ledger_calls.c.event_key == event_key))
            return found.first() is not None

    async def _finish(
        self, api: BilledApi, entry: Entry, outcome: str, started: float, *, error: str | None = None
    ) -> None:
        latency = round((time.monotonic() - started) * 1000)
        async with self.store.engine.begin() as conn:
            await conn.execute(
                update(ledger_calls)
                .where(ledger_calls.c.id == entry.id)
                .values(
                    outcome=outcome,
                    error=error,
                    ref=(entry.ref or None) and entry.ref[:128],
                    latency_ms=latency,
                    finished_at=self.clock.now(),
                )
            )
        metrics.billed(api.provider, api.api, outcome, api.price if outcome in CHARGED else 0.0)

    async def refund(self, provider: str, ref: str) -> None:
        """The provider does not charge this call after all (a failed Tcredit task is rolled back)."""
        async with self.store.engine.begin() as conn:
            await conn.execute(
                update(ledger_calls)
                .where(
                    ledger_calls.c.provider == provider,
                    ledger_calls.c.ref == ref,
                    ledger_calls.c.outcome.in_((BILLED, UNKNOWN)),
                )
                .values(outcome=UNBILLED)
            )

    # Quotas and budgets ----------------------------------------------------------------------------------------
    async def _within_quotas(self, api: BilledApi, user: str, chat: str, now: datetime) -> None:
        day, next_day = day_bounds(now, self.settings)
        month, next_month = month_bounds(now, self.settings)
        # Quotas count every call, charged or not: a refunded failed login or a free "not found" answer is still a
        # guess at someone's password or a probe of the provider (docs/security.md).
        checks = [
            (self.settings.hrbot_quota_user_daily, ledger_calls.c.user_id, user, "你今天的查询"),
            (self.settings.hrbot_quota_chat_daily, ledger_calls.c.chat_id, chat, "这个会话今天的查询"),
        ]
        async with self.store.engine.connect() as conn:
            for cap, column, who, what in checks:
                if not cap or not who:
                    continue
                used = (
                    await conn.execute(
                        select(func.count())
                        .select_from(ledger_calls)
                        .where(column == who, ledger_calls.c.started_at >= _utc(day))
                    )
                ).scalar_one()
                if used >= cap:
                    reset = next_day.astimezone(self.settings.tz)
                    await self._refuse(
                        "已达今日查询上限",
                        f"{what}已达 {cap:g} 次上限，{reset:%m-%d %H:%M} 重置。这次没有查询，也不会收费。",
                        "quota",
                    )
            budget = api.monthly_budget
            if budget:
                spent = await self._spent(conn, api.provider, month)
                if spent + api.price > budget + 1e-9:
                    reset = next_month.astimezone(self.settings.tz)
                    await self._refuse(
                        "本月查询预算已用完",
                        f"{api.provider_name}本月预算 {budget:,.2f} 元已用 {spent:,.2f} 元，不够这次查询"
                        f"（{api.price:,.2f} 元），{reset:%m-%d %H:%M} 重置。这次没有查询，也不会收费。",
                        "budget",
                    )

    async def _refuse(self, title: str, reason: str, kind: str) -> None:
        admins = sorted(await self.roles.members(Role.ADMINS))[:ADMIN_MENTIONS]
        whom = Markup("、".join(f"<at id={open_id}></at>" for open_id in admins)) if admins else ""
        log.info("billed call refused: %s", kind)
        raise Refusal(
            f"{reason}如需提高额度，请联系管理员。",
            "warning",
            title=title,
            card=error_card(
                title,
                reason,
                "如需提高额度，请联系管理员。",
                extra=[markdown(Markup(f"管理员：{whom}"))] if whom else [],
            ),
        )

    async def _spent(self, conn: Any, provider: str, since: datetime) -> float:
        total = (
            await conn.execute(
                select(func.coalesce(func.sum(ledger_calls.c.price), 0)).where(
                    ledger_calls.c.provider == provider,
                    ledger_calls.c.outcome.in_(CHARGED),
                    ledger_calls.c.started_at >= _utc(since),
                )
            )
        ).scalar_one()
        return float(total or 0)

    async def _check_budget(self, api: BilledApi) -> None:
        budget = api.monthly_budget
        if not budget:
            return
        now = self.clock.now()
        month, _next = month_bounds(now, self.settings)
        async with self.store.engine.connect() as conn:
            spent = await self._spent(conn, api.provider, month)
        if round(spent, 4) < round(BUDGET_WARNING_SHARE * budget, 4):  # 0.8 × 1.5 is 1.2000000000000002
            return
        label = f"{month.astimezone(self.settings.tz):%Y-%m}"
        if not await self._first_notice(f"budget80:{api.provider}:{label}", now):
            return
        log.warning("%s spend %.2f of the monthly budget %.2f", api.provider, spent, budget)
        for listener in self.budget_listeners:
            try:
                await listener(api, spent, label)
            except Exception:
                log.exception("budget warning could not be delivered")

    async def _first_notice(self, key: str, now: datetime) -> bool:
        statement = _dialect_insert(self.store.engine.dialect.name)(ledger_notices)
        statement = statement.on_conflict_do_nothing(index_elements=["key"])
        async with self.store.engine.begin() as conn:
            result = await conn.execute(statement.values(key=key, at=now))
        return bool(result.rowcount)

    # Breaker ---------------------------------------------------------------------------------------------------
    async def _pass_breaker(self, api: BilledApi, now: datetime) -> None:
        """Closed: go. Open and cooling down: refused at once. Cooled down: one caller probes (half-open)."""
        breaker = await self.breaker(api.provider)
        if breaker.state == CLOSED:
            return
        open_until = breaker.open_until or now
        if now < open_until:
            minutes = max(1, math.ceil((open_until - now).total_seconds() / 60))
            log.info("breaker for %s is %s: call refused", api.provider, breaker.state)
            raise Refusal(
                f"服务暂时不可用，{minutes} 分钟后再试",
                "warning",
                title="服务暂时不可用",
                card=error_card(
                    "服务暂时不可用",
                    f"{api.provider_name}连续出错，已暂停查询。服务暂时不可用，{minutes} 分钟后再试",
                    "这次没有查询，也不会收费。",
                ),
            )
        # This caller is the probe; others are held off until it reports back (or PROBE_TIMEOUT passes).
        async with self.store.engine.begin() as conn:
            await conn.execute(
                update(ledger_breakers)
                .where(ledger_breakers.c.provider == api.provider)
                .values(state=HALF_OPEN, open_until=now + PROBE_TIMEOUT, updated_at=now)
            )
        log.info("breaker for %s half-open: probing", api.provider)

    async def breaker(self, provider: str) -> Breaker:
        async with self.store.engine.connect() as conn:
            row = (
                await conn.execute(select(ledger_breakers).where(ledger_breakers.c.provider == provider))
            ).first()
        if row is None:
            return Breaker(provider, CLOSED, 0, None)
        return Breaker(provider, row.state, row.failures, aware(row.open_until))

    async def _feed_breaker(self, provider: str, *, failed: bool) -> None:
        # Calls in flight when a provider goes down fail together: read-count-write one at a time (across replicas
        # on PostgreSQL), else counts are lost and the first row is inserted twice.
        async with self.store.exclusive(f"ledger:breaker:{provider}"):
            await self._count_outcome(provider, failed=failed)

    async def _count_outcome(self, provider: str, *, failed: bool) -> None:
        now = self.clock.now()
        threshold = self.settings.hrbot_breaker_failures
        async with self.store.engine.begin() as conn:
            row = (
                await conn.execute(
                    select(ledger_breakers).where(ledger_breakers.c.provider == provider).with_for_update()
                )
            ).first()
            if row is None:
                if not failed:
                    return
                await conn.execute(
                    insert(ledger_breakers).values(
                        provider=provider, state=CLOSED, failures=0, open_until=None, updated_at=now
                    )
                )
                state, failures = CLOSED, 0
            else:
                state, failures = row.state, row.failures
            if not failed:
                if state != CLOSED or failures:
                    if state != CLOSED:
                        log.info("breaker for %s closed again", provider)
                    await conn.execute(
                        update(ledger_breakers)
                        .where(ledger_breakers.c.provider == provider)
                        .values(state=CLOSED, failures=0, open_until=None, updated_at=now)
                    )
                return
            failures += 1
            opens = state == HALF_OPEN or (threshold and failures >= threshold)
            values: dict[str, Any] = {"failures": failures, "updated_at": now}
            if opens:
                cooldown = timedelta(seconds=self.settings.hrbot_breaker_cooldown_seconds)
                values.update(state=OPEN, open_until=now + cooldown)
                log.warning("breaker for %s open for %s after %d failure(s)", provider, cooldown, failures)
            await conn.execute(
                update(ledger_breakers).where(ledger_breakers.c.provider == provider).values(**values)
            )

    # Housekeeping ------------------------------------------------------------------------------------------------
    async def mark_lost(self) -> int:
        """Rows left pending by a crash (or a shutdown mid-call): the outcome is unknown."""
        before = self.clock.now() - LOST_AFTER
        return await self.store.changed(
            update(ledger_calls)
            .where(ledger_calls.c.outcome == PENDING, ledger_calls.c.started_at < before)
            .values(outcome=UNKNOWN, error="lost")
        )

    async def purge(self) -> int:
        """Rows older than HRBOT_LEDGER_RETENTION_DAYS (kept a bit over a year, for accounting)."""
        before = self.clock.now() - timedelta(days=self.settings.hrbot_ledger_retention_days)
        return await self.store.changed(delete(ledger_calls).where(ledger_calls.c.started_at < before))

    # Reading -----------------------------------------------------------------------------------------------------
    async def rows(self, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
        query = select(ledger_calls).where(ledger_calls.c.started_at >= _utc(since))
        if until is not None:
            query = query.where(ledger_calls.c.started_at < _utc(until))
        async with self.store.engine.connect() as conn:
            found = await conn.execute(query.order_by(ledger_calls.c.started_at))
            return [
                {**row._mapping, "started_at": aware(row.started_at), "finished_at": aware(row.finished_at)}
                for row in found
            ]

    async def spent(self, provider: str, since: datetime) -> float:
        async with self.store.engine.connect() as conn:
            return await self._spent(conn, provider, since)


class CallInterrupted(UserFacingError):
    """A re-run of an event (its first run was cut off by a crash) reached a billed call the first run had already
    made. The answer is in the feature's cache when the first run got that far; when it did not, the call is not
    made again (it may have been charged): the user is told and asks again if they want."""

    def __init__(self) -> None:
        super().__init__(
            "这次查询在服务重启时中断了。为避免重复查询，没有再次发起；如仍需要，请重新发送。",
            title="查询中断",
        )

    @property
    def outcome(self) -> str:
        return "interrupted"


def is_outage(exc: ProviderError) -> bool:
    """Failures that say the provider is down or overloaded (timeouts, 5xx, "system busy" codes), not that the
    query was wrong."""
    codes = {"juhe": JUHE_OUTAGES, "tcredit": TCREDIT_OUTAGES}.get(exc.provider, frozenset())
    return exc.code in ("unavailable", "unknown") or exc.code in codes


def day_bounds(now: datetime, settings: Settings) -> tuple[datetime, datetime]:
    """The local day (HRBOT_TIMEZONE) around `now`: its start and the next day's."""
    local = now.astimezone(settings.tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def month_bounds(now: datetime, settings: Settings) -> tuple[datetime, datetime]:
    local = now.astimezone(settings.tz)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, (start + timedelta(days=32)).replace(day=1)


def _utc(value: datetime) -> datetime:
    """Stored times are UTC (SQLite compares them as text): bounds in local time are converted first."""
    return value.astimezone(UTC)
