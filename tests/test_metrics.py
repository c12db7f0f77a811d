"""GET /metrics on its own loopback listener: Prometheus text the client library's own parser reads, counters that
move with the traffic; /readyz names the tenant token check and the replica's scheduler role."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.clock import Clock
from bot.sandbox.directory import EMPLOYEE, HR, HR_GROUP, Directory
from tests import feishu_wire as wire
from tests.conftest import RunningBot, make_settings, running_bot
from tests.processes import free_port

XIAOMI = "小米科技有限责任公司"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_parse_and_move_with_the_traffic(tmp_path: Path, clock: Clock) -> None:
    port = free_port()
    async with running_bot(make_settings(tmp_path, hrbot_metrics_port=port), clock) as bot:
        url = f"http://127.0.0.1:{port}/metrics"
        assert bot.app.metrics_url == url
        before = samples((await bot.http.get(url)).text)
        await bot.reply_text(await bot.say("帮助"))
        await bot.reply_text(await bot.say(f"企业社保 {XIAOMI}", user=EMPLOYEE))
        await bot.reply_text(await bot.say(f"企业社保 {XIAOMI}", user=EMPLOYEE))  # cached
        await bot.say("今天开会", user=HR, chat_id=HR_GROUP, chat_type="group")  # not for the bot
        await bot.idle()
        response = await bot.http.get(url)
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
        after = samples(response.text)

        def moved(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert moved("hrbot_events_total", type="im.message.receive_v1", outcome="ok") == 3
        assert moved("hrbot_handler_seconds_count", command="企业社保") == 2
        # Counted, but no handler ran: nothing in the handler histogram.
        assert moved("hrbot_events_total", type="im.message.receive_v1", outcome="not-addressed") == 1
        assert moved("hrbot_handler_seconds_count", command="-") == 0
        assert moved("hrbot_ack_seconds_count", ingress="webhook") >= 3
        assert (
            moved("hrbot_billed_calls_total", provider="juhe", api="social_security", outcome="billed") == 1
        )
        assert moved("hrbot_spend_yuan_total", provider="juhe") == pytest.approx(0.6)
        assert moved("hrbot_outbound_calls_total", upstream="juhe", code="200") == 1
        assert moved("hrbot_outbound_calls_total", upstream="feishu", code="200") >= 3
        assert value(after, "hrbot_breaker_state", provider="juhe") == 0
        assert value(after, "hrbot_scheduler_leader") == 1
        assert ("hrbot_pending_jobs", (("kind", "micro_ent"),)) in after

        # A redelivery is a dedup hit.
        hits = value(after, "hrbot_dedup_hits_total")
        message_id = await bot.say("帮助")
        await bot.replies(message_id)
        event = wire.message_event(
            "帮助", user=EMPLOYEE, chat_id=Directory.p2p_chat_of(EMPLOYEE), message_id=message_id
        )
        await bot.post_event("im.message.receive_v1", event)
        assert value(samples((await bot.http.get(url)).text), "hrbot_dedup_hits_total") == hits + 1

        # Never on the public events port.
        assert (await bot.http.get(f"{bot.app.url}/metrics")).status_code == 404


async def test_readyz_reports_the_tenant_token_and_the_scheduler_role(bot: RunningBot) -> None:
    answer = (await bot.http.get(f"{bot.app.url}/readyz")).json()
    assert answer["checks"]["tenant_token"] == "ok"
    assert answer["scheduler"] == "leader"


async def test_metrics_port_zero_serves_nothing(bot: RunningBot) -> None:
    assert bot.app.metrics_url == ""


async def test_a_taken_metrics_port_does_not_stop_the_bot(tmp_path: Path, clock: Clock) -> None:
    async with running_bot(make_settings(tmp_path, hrbot_metrics_port=free_port()), clock) as first:
        taken = first.app.settings.hrbot_metrics_port
        async with running_bot(make_settings(tmp_path / "b", hrbot_metrics_port=taken), Clock()) as second:
            assert second.app.metrics_url == ""
            assert "帮助" in await second.reply_text(await second.say("帮助"))


def test_the_dashboard_and_the_alerts_name_only_metrics_the_bot_exports() -> None:
    """deploy/grafana-dashboard.json and deploy/alerts.yaml stay in step with bot/observability/metrics.py."""
    import json
    import re

    from bot.observability.metrics import REGISTRY

    exported = set()
    for family in REGISTRY.collect():
        exported.add(family.name)
        exported.update(sample.name for sample in family.samples)
    exported |= {f"{name}_total" for name in exported} | {f"{name}_bucket" for name in exported}
    deploy = Path(__file__).resolve().parent.parent / "deploy"
    dashboard = json.loads((deploy / "grafana-dashboard.json").read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    exprs += re.findall(r"expr: (.+)", (deploy / "alerts.yaml").read_text(encoding="utf-8"))
    named = {name for expr in exprs for name in re.findall(r"\bhrbot_\w+", expr)}
    assert named and named <= exported, named - exported
    # rate() and increase() are for counters (a histogram's buckets are counters): on a gauge they mislead.
    kinds = {
        family.name + suffix: family.type
        for family in REGISTRY.collect()
        for suffix in ("", "_total", "_bucket", "_count", "_sum")
    }
    rated = {name for expr in exprs for name in re.findall(r"\b(?:rate|increase)\((hrbot_\w+)", expr)}
    assert {name for name in rated if kinds.get(name) not in ("counter", "histogram")} == set()
    for alert in (
        "HrbotBreakerOpen",
        "HrbotBudget80Percent",
        "HrbotSchedulerLag",
        "HrbotLongConnectionReconnects",
    ):
        assert alert in (deploy / "alerts.yaml").read_text(encoding="utf-8")
