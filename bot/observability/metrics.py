"""Prometheus metrics (prometheus_client), recorded with cheap calls from the few places that see each thing.

Counters and histograms live in one registry for the process; gauges that describe shared state (breakers, pending
jobs, the long connection) are read when scraped (`BotApp`'s metrics listener calls `refresh` first). Label values
are bounded: command names, action ids the router knows, upstream names, codes.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

EVENTS = Counter(
    "hrbot_events", "Events handled, by event type and outcome.", ["type", "outcome"], registry=REGISTRY
)
DEDUP_HITS = Counter("hrbot_dedup_hits", "Redelivered events dropped by the dedup store.", registry=REGISTRY)
ACK_SECONDS = Histogram(
    "hrbot_ack_seconds",
    "Time to answer Feishu (HTTP 200 or the long connection's answer frame).",
    ["ingress"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 5.0),
    registry=REGISTRY,
)
HANDLER_SECONDS = Histogram(
    "hrbot_handler_seconds",
    "From receipt to the handler's end, by command or card action.",
    ["command"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=REGISTRY,
)
OUTBOUND = Counter(
    "hrbot_outbound_calls",
    "HTTP calls to upstreams (feishu, juhe, tcredit), by HTTP status or `error` when no answer came.",
    ["upstream", "code"],
    registry=REGISTRY,
)
RATE_LIMIT_WAITS = Counter(
    "hrbot_rate_limit_waits", "Waits before a call because of a rate limit.", ["upstream"], registry=REGISTRY
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "hrbot_rate_limit_wait_seconds", "Seconds waited because of rate limits.", ["upstream"], registry=REGISTRY
)
BILLED_CALLS = Counter(
    "hrbot_billed_calls",
    "Billed provider calls by outcome (billed, unbilled, unknown).",
    ["provider", "api", "outcome"],
    registry=REGISTRY,
)
SPEND = Counter(
    "hrbot_spend_yuan", "Yuan spent (or possibly spent) on billed calls.", ["provider"], registry=REGISTRY
)
BREAKER_STATE = Gauge(
    "hrbot_breaker_state",
    "Circuit breaker per provider: 0 closed, 1 half-open (probing), 2 open.",
    ["provider"],
    registry=REGISTRY,
)
BUDGET_USED = Gauge(
    "hrbot_budget_used_ratio",
    "Share of the provider's monthly budget spent this month (0 when it has none).",
    ["provider"],
    registry=REGISTRY,
)
SCHEDULER_LAG = Histogram(
    "hrbot_scheduler_lag_seconds",
    "How late a scheduled job started after its planned time.",
    ["job"],
    buckets=(0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0),
    registry=REGISTRY,
)
PENDING_JOBS = Gauge(
    "hrbot_pending_jobs", "Asynchronous work waiting to finish, by kind.", ["kind"], registry=REGISTRY
)
SCHEDULER_LEADER = Gauge(
    "hrbot_scheduler_leader", "1 when this replica holds the scheduler lease.", registry=REGISTRY
)
LONGCONN_CONNECTED = Gauge(
    "hrbot_longconn_connected", "1 while the long connection is up (ws mode only).", registry=REGISTRY
)
LONGCONN_RECONNECTS = Counter(
    "hrbot_longconn_reconnects", "Reconnects of the long connection (ws mode only).", registry=REGISTRY
)

BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}


@functools.lru_cache(maxsize=1024)
def _labelled(metric: Any, *values: str) -> Any:
    """A metric's child for these label values, looked up once: `labels()` takes a lock and builds a key on every
    call, ~1 µs twice per event on the ingress's hot path. (A metric's `remove()` or `clear()` would leave a
    detached child here; nothing calls them.)"""
    return metric.labels(*values)


# Events no handler ran for: counted, but kept out of the handler histogram (an unknown action id also comes from
# outside, so it is no label value there).
NO_HANDLER = frozenset({"not-addressed", "malformed", "duplicate", "ignored", "unknown-action"})


def event(event_type: str, outcome: str, command: str, seconds: float) -> None:
    _labelled(EVENTS, event_type, outcome).inc()
    if outcome == "duplicate":
        DEDUP_HITS.inc()
    if outcome not in NO_HANDLER:
        _labelled(HANDLER_SECONDS, command or "-").observe(seconds)


def ack(ingress: str, started: float) -> None:
    _labelled(ACK_SECONDS, ingress).observe(time.perf_counter() - started)


def outbound(upstream: str, code: int | str) -> None:
    _labelled(OUTBOUND, upstream, str(code)).inc()


def rate_limited(upstream: str, seconds: float) -> None:
    RATE_LIMIT_WAITS.labels(upstream).inc()
    RATE_LIMIT_WAIT_SECONDS.labels(upstream).inc(max(seconds, 0.0))


def billed(provider: str, api: str, outcome: str, yuan: float) -> None:
    BILLED_CALLS.labels(provider, api, outcome).inc()
    if yuan:
        SPEND.labels(provider).inc(yuan)


def scheduler_lag(job: str, planned: datetime) -> None:
    SCHEDULER_LAG.labels(job).observe(max((datetime.now(planned.tzinfo) - planned).total_seconds(), 0.0))


def exposition() -> bytes:
    return generate_latest(REGISTRY)
