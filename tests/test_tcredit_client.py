"""The Tcredit client against the emulator on loopback, and against respx for the failures the emulator never gives."""

from __future__ import annotations

import hashlib
import logging
import struct
import traceback
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.clock import Clock
from bot.providers.base import SERVICE_UNAVAILABLE, ProviderError
from bot.providers.tcredit import INSURANCE_KEYS, TaskState, TcreditClient, token_key
from bot.sandbox.tcredit import (
    CODE_TIMEOUT,
    IMAGE_CODE,
    SMS_CODE,
    WRONG_CODE_MSG,
    TcreditEmulator,
)

PASSWORD = "Pw-7f3b!q9"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TERMINAL = {"done", "done_partial", "failed", "need_sms", "need_image"}
FAKE = "http://tcredit.test"


class Sandbox:
    def __init__(self, clock: Clock, emulator: TcreditEmulator, client: TcreditClient) -> None:
        self.clock = clock
        self.emulator = emulator
        self.client = client


async def _serve(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return server


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    clock = Clock()
    emulator = TcreditEmulator(clock)
    server = await _serve(emulator.app())
    client = TcreditClient(
        base_url=str(server.make_url("")), app_id=emulator.app_id, token_id=emulator.token_id
    )
    yield Sandbox(clock, emulator, client)
    await client.aclose()
    await server.close()


async def _poll(client: TcreditClient, tid: str) -> list[TaskState]:
    """Poll until the task ends or waits for a code; the emulator moves one state per poll."""
    states = [await client.task_state(tid)]
    while states[-1].kind not in TERMINAL:
        assert len(states) < 20, [s.code for s in states]
        states.append(await client.task_state(tid))
    return states


def _codes(states: list[TaskState]) -> list[int]:
    return [s.code for s in states]


def _id_number_valid(number: str) -> bool:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(d) * w for d, w in zip(number[:17], weights, strict=True))
    return len(number) == 18 and "10X98765432"[total % 11] == number[17].upper()


def test_token_key_matches_an_independent_md5() -> None:
    url = "http://api.tcredit.com/identity/createInsuranceSearchTaskB"
    params = {"login_type": "1", "password": "p", "area_code": "110000", "account": "zhang"}
    expected = hashlib.md5(
        b"http://api.tcredit.com/identity/createInsuranceSearchTaskBtok-1"
        b"account=zhang,area_code=110000,login_type=1,password=p"
    ).hexdigest()
    assert token_key(url, "tok-1", params) == expected
    assert token_key("https://api.tcredit.com/identity/getInsuranceCitysB", "t", {}) == (
        hashlib.md5(b"https://api.tcredit.com/identity/getInsuranceCitysBt").hexdigest()
    )


@respx.mock
async def test_token_key_is_made_from_the_url_actually_requested() -> None:
    route = respx.post(f"{FAKE}/identity/getInsuranceB").mock(
        return_value=httpx.Response(200, json={"status": 0, "data": {"code": 10001}})
    )
    client = TcreditClient(base_url=FAKE + "/", app_id="app", token_id="tok")
    await client.task_state("t-1")
    await client.aclose()
    form = {k: v[0] for k, v in parse_qs(route.calls.last.request.content.decode()).items()}
    assert form["appId"] == "app" and form["tid"] == "t-1"
    assert form["tokenKey"] == hashlib.md5(f"{FAKE}/identity/getInsuranceBtoktid=t-1".encode()).hexdigest()


async def test_cities_with_availability(sandbox: Sandbox) -> None:
    cities = {c.area_name: c for c in await sandbox.client.cities()}
    assert cities["杭州"].area_code == "310000" and cities["杭州"].status == 1
    assert not cities["杭州"].available and cities["杭州"].area_tips == "未注册用户请到杭州社保网站进行注册"
    assert cities["浙江省直"].available and cities["浙江省直"].area_code == "310000S"
    assert cities["北京"].available and cities["上海"].area_code == "310100"
    assert cities["深圳"].status == 2 and not cities["深圳"].available


async def test_login_methods_with_select_options(sandbox: Sandbox) -> None:
    beijing = await sandbox.client.login_methods("110000")
    assert [(m.login_type, m.login_name) for m in beijing] == [("1", "用户名"), ("2", "身份证号")]
    assert [(p.name, p.type, p.required) for p in beijing[0].params] == [
        ("account", "text", True),
        ("password", "password", True),
    ]
    assert [p.name for p in beijing[1].params] == ["id_card", "password"]
    assert all(not p.options for m in beijing for p in m.params)

    shanghai = await sandbox.client.login_methods("310100")
    sub_area = next(p for p in shanghai[0].params if p.name == "sub_area")
    assert sub_area.type == "select" and sub_area.label == "参保区县" and sub_area.required
    assert sub_area.options[:2] == (("310101", "黄浦区"), ("310104", "徐汇区"))


async def test_unknown_city_is_a_parameter_error(sandbox: Sandbox) -> None:
    with pytest.raises(ProviderError) as caught:
        await sandbox.client.login_methods("999999")
    assert caught.value.code == 2 and not caught.value.retryable


async def test_success_runs_to_a_full_result(sandbox: Sandbox) -> None:
    tid = await sandbox.client.create_task("110000", "1", {"account": "success", "password": PASSWORD})
    states = await _poll(sandbox.client, tid)
    assert _codes(states) == [10001, 10002, 20001, 30001, 40001]
    assert [s.kind for s in states[:-1]] == ["in_progress"] * 4
    done = states[-1]
    assert done.kind == "done" and done.text == "查询完成" and done.image is None and not done.fail
    assert done.base_info["name"] == "张小明" and _id_number_valid(done.base_info["idcard"])
    assert done.base_info["company"] and done.base_info["socialInsuranceNum"]
    assert set(done.records) == set(INSURANCE_KEYS)
    assert all(len(done.records[key]) > 6 for key in INSURANCE_KEYS)
    assert {"payMonthly", "company", "salary", "payCompany", "payPerson"} <= set(
        done.records["oldageInsuranceInfos"][0]
    )
    assert done.create_time
    assert sandbox.emulator.created_tasks == 1


async def test_id_card_login_with_a_district(sandbox: Sandbox) -> None:
    fields = {"id_card": "110105194912310021", "password": PASSWORD, "sub_area": "310104"}
    tid = await sandbox.client.create_task("310100", "2", fields)
    assert (await _poll(sandbox.client, tid))[-1].kind == "done"


async def test_sms_code_path(sandbox: Sandbox) -> None:
    tid = await sandbox.client.create_task("110000", "1", {"account": "sms", "password": PASSWORD})
    states = await _poll(sandbox.client, tid)
    assert _codes(states) == [10001, 10003]
    assert states[-1].kind == "need_sms" and states[-1].image is None and "短信" in states[-1].text
    await sandbox.client.submit_code(tid, SMS_CODE)
    assert _codes(await _poll(sandbox.client, tid)) == [10002, 20001, 40001]
    assert sandbox.emulator.codes_received == 1


async def test_image_code_path_carries_a_real_png(sandbox: Sandbox) -> None:
    tid = await sandbox.client.create_task("110000", "1", {"account": "captcha", "password": PASSWORD})
    states = await _poll(sandbox.client, tid)
    assert _codes(states) == [10001, 10004]
    image = states[-1].image
    assert states[-1].kind == "need_image" and "图片" in states[-1].text
    assert image is not None and image.startswith(PNG_SIGNATURE)
    assert image[12:16] == b"IHDR" and struct.unpack(">II", image[16:24]) == (120, 44)
    await sandbox.client.submit_code(tid, IMAGE_CODE)
    final = await _poll(sandbox.client, tid)
    assert _codes(final) == [10002, 20001, 40001] and final[-1].kind == "done"


async def test_wrong_password_fails_and_says_it_is_not_billed(sandbox: Sandbox) -> None:
    tid = await sandbox.client.create_task("110000", "1", {"account": "wrongpass", "password": PASSWORD})
    states = await _poll(sandbox.client, tid)
    assert _codes(states) == [10001, 50004]
    assert states[-1].kind == "failed"
    assert "用户名或密码错误" in states[-1].text and "不收费" in states[-1].text


async def test_partial_result_names_what_is_missing(sandbox: Sandbox) -> None:
    tid = await sandbox.client.create_task("110000", "1", {"account": "partial", "password": PASSWORD})
    states = await _poll(sandbox.client, tid)
    assert _codes(states) == [10001, 20001, 40002]
    partial = states[-1]
    assert partial.kind == "done_partial" and "部分数据缺失" in partial.text
    assert partial.fail == ("medicalInsuranceInfos",) and partial.records["medicalInsuranceInfos"] == []
    assert partial.records["oldageInsuranceInfos"]


async def test_a_wrong_code_fails_the_task_with_50009_as_documented(sandbox: Sandbox) -> None:
    tid = await sandbox.client.create_task("110000", "1", {"account": "sms", "password": PASSWORD})
    await _poll(sandbox.client, tid)
    await sandbox.client.submit_code(tid, "000000")
    state = await sandbox.client.task_state(tid)
    assert (state.code, state.kind) == (50009, "failed")
    assert "验证码不正确" in state.text and "不收费" in state.text


async def test_a_site_that_asks_again_checks_then_waits_until_the_last_try_fails_with_50009(
    sandbox: Sandbox,
) -> None:
    sandbox.emulator.code_tries = 3
    tid = await sandbox.client.create_task("110000", "1", {"account": "sms", "password": PASSWORD})
    assert (await _poll(sandbox.client, tid))[-1].msg == ""
    for _ in range(2):
        await sandbox.client.submit_code(tid, "000000")
        checking = await sandbox.client.task_state(tid)
        assert (checking.code, checking.kind) == (10001, "in_progress")
        state = await sandbox.client.task_state(tid)
        assert (state.code, state.kind) == (10003, "need_sms") and state.msg == WRONG_CODE_MSG
    await sandbox.client.submit_code(tid, "000000")
    state = await sandbox.client.task_state(tid)
    assert (state.code, state.kind) == (50009, "failed")


async def test_no_code_in_time_fails_with_50008(sandbox: Sandbox) -> None:
    tid = await sandbox.client.create_task("110000", "1", {"account": "captcha", "password": PASSWORD})
    await _poll(sandbox.client, tid)
    sandbox.clock.advance(timedelta(seconds=CODE_TIMEOUT - 1))
    assert (await sandbox.client.task_state(tid)).code == 10004
    sandbox.clock.advance(timedelta(seconds=2))
    state = await sandbox.client.task_state(tid)
    assert (state.code, state.kind) == (50008, "failed")
    assert "超时" in state.text and "不收费" in state.text


async def test_missing_required_field_creates_nothing(sandbox: Sandbox) -> None:
    with pytest.raises(ProviderError) as caught:
        await sandbox.client.create_task("110000", "1", {"account": "success"})
    assert caught.value.code == "create:-2" and "不收费" in caught.value.user_message
    assert sandbox.emulator.created_tasks == 0


async def test_wrong_token_id_is_status_5(sandbox: Sandbox) -> None:
    wrong = TcreditClient(base_url=sandbox.client.base_url, app_id=sandbox.emulator.app_id, token_id="nope")
    with pytest.raises(ProviderError) as caught:
        await wrong.cities()
    await wrong.aclose()
    assert caught.value.code == 5 and "请联系管理员" in caught.value.user_message


async def test_emulator_checks_the_url_under_a_path_prefix() -> None:
    # The sandbox mounts the emulator under /tcredit/; the signed URL then carries that prefix.
    clock = Clock()
    emulator = TcreditEmulator(clock)
    root = web.Application()
    root.add_subapp("/tcredit/", emulator.app())
    server = await _serve(root)
    client = TcreditClient(
        base_url=str(server.make_url("/tcredit")), app_id=emulator.app_id, token_id=emulator.token_id
    )
    try:
        assert await client.cities()
        assert await client.login_methods("310000S")
    finally:
        await client.aclose()
        await server.close()


async def test_hooks_advance_and_finish(sandbox: Sandbox) -> None:
    emulator = sandbox.emulator
    plain = await sandbox.client.create_task("110000", "1", {"account": "success", "password": PASSWORD})
    sms = await sandbox.client.create_task("110000", "1", {"account": "sms", "password": PASSWORD})
    emulator.advance(plain)
    assert emulator.tasks[plain].code == 10002 and emulator.tasks[sms].code == 10001
    emulator.advance()
    assert emulator.tasks[plain].code == 20001 and emulator.tasks[sms].code == 10003
    emulator.advance()
    assert emulator.tasks[sms].code == 10003  # a code wait is not skipped
    emulator.finish_all()
    assert (await sandbox.client.task_state(plain)).kind == "done"
    assert (await sandbox.client.task_state(sms)).kind == "need_sms"


async def test_emulator_keeps_no_password(sandbox: Sandbox) -> None:
    await sandbox.client.create_task("110000", "1", {"account": "captcha", "password": PASSWORD})
    kept = repr(vars(sandbox.emulator)) + repr([vars(task) for task in sandbox.emulator.tasks.values()])
    assert PASSWORD not in kept


def _status(status: int) -> httpx.Response:
    return httpx.Response(200, json={"status": status, "message": "x", "seqNum": "1"})


@respx.mock
async def test_status_9_asks_for_a_recharge() -> None:
    respx.post(f"{FAKE}/identity/getInsuranceCitysB").mock(return_value=_status(9))
    client = TcreditClient(base_url=FAKE, app_id="a", token_id="t")
    with pytest.raises(ProviderError) as caught:
        await client.cities()
    await client.aclose()
    assert caught.value.code == 9 and not caught.value.retryable
    assert "查询服务余额不足，请联系管理员充值" in caught.value.user_message


@respx.mock
async def test_status_10_is_worth_trying_later() -> None:
    respx.post(f"{FAKE}/identity/getInsuranceB").mock(return_value=_status(10))
    client = TcreditClient(base_url=FAKE, app_id="a", token_id="t")
    with pytest.raises(ProviderError) as caught:
        await client.task_state("t-1")
    await client.aclose()
    assert caught.value.retryable and "稍后再试" in caught.value.user_message


@respx.mock
@pytest.mark.parametrize(
    "answer",
    [
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(200, text="<html>not json</html>"),
    ],
)
async def test_read_only_failures_are_service_unavailable(answer: object) -> None:
    route = respx.post(f"{FAKE}/identity/getInsuranceCitysB").mock(side_effect=[answer, answer])
    client = TcreditClient(base_url=FAKE, app_id="a", token_id="t")
    with pytest.raises(ProviderError) as caught:
        await client.cities()
    await client.aclose()
    assert caught.value.user_message == SERVICE_UNAVAILABLE and caught.value.retryable
    # Network errors are tried once more; an answer that arrived is not.
    assert route.call_count == (2 if isinstance(answer, httpx.TransportError) else 1)


@respx.mock
async def test_read_only_call_recovers_on_its_retry() -> None:
    route = respx.post(f"{FAKE}/identity/getInsuranceB").mock(
        side_effect=[
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json={"status": 0, "data": {"code": 20001}}),
        ]
    )
    client = TcreditClient(base_url=FAKE, app_id="a", token_id="t")
    state = await client.task_state("t-1")
    await client.aclose()
    assert (state.code, state.kind) == (20001, "in_progress") and route.call_count == 2


@respx.mock
@pytest.mark.parametrize("answer", [httpx.ReadTimeout("slow"), httpx.Response(503)])
async def test_billed_create_is_never_retried(answer: object) -> None:
    route = respx.post(f"{FAKE}/identity/createInsuranceSearchTaskB").mock(side_effect=[answer, answer])
    client = TcreditClient(base_url=FAKE, app_id="a", token_id="t")
    with pytest.raises(ProviderError) as caught:
        await client.create_task("110000", "1", {"account": "a", "password": PASSWORD})
    await client.aclose()
    assert route.call_count == 1
    assert caught.value.code == "unknown" and not caught.value.retryable
    assert "结果未知" in caught.value.user_message and "重复收费" in caught.value.user_message


@respx.mock
async def test_create_failure_inside_data_is_an_error() -> None:
    respx.post(f"{FAKE}/identity/createInsuranceSearchTaskB").mock(
        return_value=httpx.Response(
            200, json={"status": 0, "data": {"success": False, "status": -1, "message": "异常"}}
        )
    )
    client = TcreditClient(base_url=FAKE, app_id="a", token_id="t")
    with pytest.raises(ProviderError) as caught:
        await client.create_task("110000", "1", {"account": "a", "password": PASSWORD})
    await client.aclose()
    assert caught.value.code == "create:-1" and "不收费" in caught.value.user_message


def _exception_texts(exc: BaseException) -> str:
    return "\n".join(
        [str(exc), repr(exc), getattr(exc, "user_message", ""), *traceback.format_exception(exc)]
    )


async def test_password_and_captcha_answer_are_never_logged(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_answer = "Zq9x"
    texts = []
    tid = await sandbox.client.create_task("110000", "1", {"account": "captcha", "password": PASSWORD})
    texts.append(repr(await _poll(sandbox.client, tid)))
    await sandbox.client.submit_code(tid, IMAGE_CODE)
    texts.append(repr(await _poll(sandbox.client, tid)))

    tid = await sandbox.client.create_task("110000", "1", {"account": "captcha", "password": PASSWORD})
    await _poll(sandbox.client, tid)
    await sandbox.client.submit_code(tid, wrong_answer)
    texts.append(repr(await sandbox.client.task_state(tid)))

    with respx.mock:
        respx.post(f"{FAKE}/identity/createInsuranceSearchTaskB").mock(side_effect=httpx.ReadTimeout("slow"))
        respx.post(f"{FAKE}/identity/securityUserCode").mock(return_value=_status(2))
        client = TcreditClient(base_url=FAKE, app_id="a", token_id="t")
        with pytest.raises(ProviderError) as timed_out:
            await client.create_task("110000", "1", {"account": "a", "password": PASSWORD})
        with pytest.raises(ProviderError) as rejected:
            await client.submit_code("t-1", IMAGE_CODE)
        texts.append(repr(client))
        await client.aclose()
    texts += [_exception_texts(timed_out.value), _exception_texts(rejected.value)]

    assert any(r.name == "hrbot.tcredit" for r in caplog.records)
    logged = [f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records]
    for secret in (PASSWORD, IMAGE_CODE, wrong_answer):
        assert not any(secret in line for line in logged), secret
        assert not any(secret in text for text in texts), secret
