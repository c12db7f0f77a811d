"""The Juhe client against the Juhe emulator on loopback: seed examples, every error code, billed calls made once,
queryEncry encryption checked against an independent implementation, and keys kept out of logs and errors."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from aiohttp import web
from Crypto.Cipher import AES

from bot.clock import Clock
from bot.providers import juhe as juhe_module
from bot.providers.base import SERVICE_UNAVAILABLE, ProviderError
from bot.providers.juhe import (
    FOUR_FACTORS_PATHS,
    MICRO_ENT_QUERY_PATH,
    MICRO_ENT_RESULT_PATH,
    SOCIAL_SECURITY_PATH,
    FourFactorsMode,
    JuheClient,
    encrypt_field,
)
from bot.providers.juhe_errors import (
    FOUR_FACTORS_ERRORS,
    JUHE_ERRORS,
    MICRO_ENT_ERRORS,
    SOCIAL_SECURITY_ERRORS,
    SYSTEM_ERRORS,
)
from bot.sandbox.juhe import JuheEmulator

KEYS = {
    "social_security_key": "ss-key-5f1c0a9e",
    "micro_ent_key": "micro-key-83b2d4",
    "four_factors_key": "fourf-key-1a7e66",
}
OPENID = "JH-openid-0c4d2b"
WRONG_KEY = "wrong-key-9e9e9e"
SECRETS = (*KEYS.values(), OPENID, WRONG_KEY)

XIAOMI = ("小米科技有限责任公司", "91110108551385082Q", "雷军", "11010119691202123X")

# Juhe's documented example, 2019 item.
SEED_2019 = {
    "base_medical_down_balance": "0万元",
    "actual_endowment_amount": "47.014208万元",
    "injury_insurance_num": "168人",
    "injury_insurance_amount": "-",
    "insurance_num": "168人",
    "birth_num": "168人",
    "basic_medical_amount": "314.1832万元",
    "unemployment_insurance": "293.8388万元",
    "basic_endowment_num": "168人",
    "birth_insurance_count": "0万元",
    "unemployment_num": "168人",
    "birth_amount": "0万元",
    "actual_injury_amount": "2.065392万元",
    "endowment_base_amount": "293.8388万元",
    "birth_actual_amount": "0万元",
    "actual_medical_amount": "33.931795万元",
    "endowment_insurance_amount": "0万元",
    "actual_lost_amount": "2.350704万元",
    "unemployment_down_balance": "0万元",
    "company_injury_down_balance": "0万元",
}

SEED_MICRO_ENT = {
    "name": "成都成电光信科技股份有限公司",
    "credit_no": "9151010057463511XR",
    "reg_no": "-",
    "econ_kind": "股份有限公司(非上市、自然人投资或控股)",
    "start_date": "2011-05-27",
    "belong_org": "成都高新区市场监督管理局",
    "reg_capi": "5317万人民币",
    "l1_domain_name": "制造业",
    "l2_domain_name": "其他电子设备制造",
    "support_department": "-",
    "support_date": "-",
    "support_basis": "-",
    "support_content": "-",
    "support_amount": "-",
}


@dataclass
class Sandbox:
    emulator: JuheEmulator
    clock: Clock
    v_url: str
    apis_url: str

    def client(self, **overrides: str) -> JuheClient:
        settings = {**KEYS, "openid": OPENID, **overrides}
        return JuheClient(base_url=self.v_url, apis_base_url=self.apis_url, **settings)


@dataclass
class Juhe:
    sandbox: Sandbox
    client: JuheClient

    @property
    def emulator(self) -> JuheEmulator:
        return self.sandbox.emulator

    @property
    def clock(self) -> Clock:
        return self.sandbox.clock


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    clock = Clock()
    emulator = JuheEmulator(clock, **KEYS, openid=OPENID)
    runners: list[web.AppRunner] = []
    urls: list[str] = []
    try:
        for app in (emulator.v_app(), emulator.apis_app()):
            runner = web.AppRunner(app)
            runners.append(runner)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            urls.append(f"http://127.0.0.1:{runner.addresses[0][1]}")
        yield Sandbox(emulator, clock, urls[0], urls[1])
    finally:
        for runner in runners:
            await runner.cleanup()


def leaked_secrets(records: list[logging.LogRecord]) -> list[str]:
    return [record.getMessage() for record in records if any(s in record.getMessage() for s in SECRETS)]


@pytest.fixture
async def juhe(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Juhe]:
    """A client on the emulator; every test using it also checks that no log record carried a key."""
    caplog.set_level(logging.DEBUG)
    client = sandbox.client()
    try:
        yield Juhe(sandbox, client)
    finally:
        await client.aclose()
    assert not leaked_secrets(caplog.get_records("setup") + caplog.get_records("call"))


def assert_no_secret(exc: ProviderError) -> None:
    for text in (str(exc), repr(exc.args), exc.user_message, str(exc.code)):
        assert not any(secret in text for secret in SECRETS)


# Social security ---------------------------------------------------------------------------------------------------
async def test_seed_example_newest_year_first(juhe: Juhe) -> None:
    report = await juhe.client.social_security("小米科技有限责任公司")
    assert report.name == "小米科技有限责任公司"
    assert [year.report_year for year in report.years] == ["2019", "2018"]
    latest = report.years[0]
    assert latest.report_date == "2020-06-24"
    assert latest.social_security.insurance_num == "168人"
    assert latest.social_security.actual_endowment_amount == "47.014208万元"
    assert asdict(latest.social_security) == SEED_2019
    assert latest.social_security.labelled()[0] == ("单位参加失业保险缴费基数", "293.8388万元")
    assert len(latest.social_security.labelled()) == 20
    assert juhe.emulator.billed_calls[SOCIAL_SECURITY_PATH] == 1
    assert juhe.emulator.calls == [(SOCIAL_SECURITY_PATH, {"keyword": "小米科技有限责任公司"})]


async def test_social_security_by_credit_code(juhe: Juhe) -> None:
    report = await juhe.client.social_security("91110108551385082Q")
    assert report.name == "小米科技有限责任公司"
    assert report.years[0].social_security.insurance_num == "168人"


async def test_years_are_sorted_newest_first_whatever_the_upstream_order(juhe: Juhe) -> None:
    report = await juhe.client.social_security("上海示例信息技术有限公司")
    assert [year.report_year for year in report.years] == ["2021", "2020"]


async def test_unknown_company_says_to_check_the_full_name(juhe: Juhe) -> None:
    with pytest.raises(ProviderError) as raised:
        await juhe.client.social_security("不存在的公司")
    assert raised.value.provider == "juhe"
    assert raised.value.code == 258504
    assert raised.value.user_message == "未查询到该企业的社保信息，请检查企业名称是否为全称后重试"
    assert not raised.value.retryable
    assert juhe.emulator.billed_calls[SOCIAL_SECURITY_PATH] == 0


async def test_missing_keyword_is_258501(juhe: Juhe) -> None:
    with pytest.raises(ProviderError) as raised:
        await juhe.client.social_security("  ")
    assert raised.value.code == 258501


# Every code, forced through the emulator's `错误码:` keyword --------------------------------------------------------
async def _social_security(client: JuheClient, code: int) -> Any:
    return await client.social_security(f"错误码:{code}")


async def _micro_ent_submit(client: JuheClient, code: int) -> Any:
    return await client.micro_ent_submit(f"错误码:{code}")


async def _four_factors(client: JuheClient, code: int) -> Any:
    return await client.four_factors(f"错误码:{code}", XIAOMI[1], XIAOMI[2], XIAOMI[3], mode="plain")


CODE_CASES = [
    *((code, _social_security) for code in SOCIAL_SECURITY_ERRORS),
    *((code, _micro_ent_submit) for code in MICRO_ENT_ERRORS),
    *((code, _four_factors) for code in FOUR_FACTORS_ERRORS),
    *((code, _social_security) for code in SYSTEM_ERRORS),
]


@pytest.mark.parametrize(("code", "call"), CODE_CASES, ids=[str(code) for code, _ in CODE_CASES])
async def test_each_error_code_has_its_message_and_is_not_retried(
    juhe: Juhe, code: int, call: Callable[[JuheClient, int], Any]
) -> None:
    with pytest.raises(ProviderError) as raised:
        await call(juhe.client, code)
    assert raised.value.code == code
    assert raised.value.user_message == JUHE_ERRORS[code].message
    assert raised.value.retryable == JUHE_ERRORS[code].retryable
    assert len(juhe.emulator.calls) == 1  # billed endpoints: never repeated, even for retryable codes
    assert sum(juhe.emulator.billed_calls.values()) == 0
    assert_no_secret(raised.value)


def test_error_table_wording() -> None:
    for code in (10001, 10002, 10003, 10009):
        assert JUHE_ERRORS[code].message == "查询服务配置有误，请联系管理员"
    assert JUHE_ERRORS[10012].message == "今日查询次数已用完，请联系管理员"
    for code in (258500, 277700, 253507):
        assert "稍后再试" in JUHE_ERRORS[code].message
    retryable = {code for code, info in JUHE_ERRORS.items() if info.retryable}
    assert retryable == {10011, 10014, 10020, 258500, 258503, 277700, 277703, 277706, 253506, 253507}


async def test_unknown_code_names_the_code(juhe: Juhe) -> None:
    with pytest.raises(ProviderError) as raised:
        await juhe.client.social_security("错误码:99999")
    assert raised.value.user_message == "查询失败（错误码 99999），请联系管理员"
    assert not raised.value.retryable


async def test_wrong_key_is_a_configuration_problem_and_never_shown(juhe: Juhe) -> None:
    client = juhe.sandbox.client(
        social_security_key=WRONG_KEY, micro_ent_key=WRONG_KEY, four_factors_key=WRONG_KEY
    )
    calls: list[Callable[[], Any]] = [
        lambda: client.social_security("小米科技有限责任公司"),
        lambda: client.micro_ent_submit("成都成电光信科技股份有限公司"),
        lambda: client.micro_ent_result("micro_x"),
        lambda: client.four_factors(*XIAOMI, mode="v2"),
    ]
    try:
        for call in calls:
            with pytest.raises(ProviderError) as raised:
                await call()
            assert raised.value.code == 10001
            assert raised.value.user_message == "查询服务配置有误，请联系管理员"
            assert not raised.value.retryable
            assert_no_secret(raised.value)
    finally:
        await client.aclose()


# Upstream down: billed calls once, the free poll twice ---------------------------------------------------------------
FAILURES: dict[str, Callable[[], dict[str, Any]]] = {
    "timeout": lambda: {"side_effect": httpx.ReadTimeout("timed out")},
    "refused": lambda: {"side_effect": httpx.ConnectError("connection refused")},
    "http 502": lambda: {"return_value": httpx.Response(502, text="Bad Gateway")},
    "not json": lambda: {"return_value": httpx.Response(200, text="<html>系统维护</html>")},
}
BILLED: dict[str, tuple[str, Callable[[JuheClient], Any]]] = {
    "social_security": (SOCIAL_SECURITY_PATH, lambda c: c.social_security("小米科技有限责任公司")),
    "micro_ent_submit": (MICRO_ENT_QUERY_PATH, lambda c: c.micro_ent_submit("成都成电光信科技股份有限公司")),
    **{
        f"four_factors_{mode}": (path, lambda c, mode=mode: c.four_factors(*XIAOMI, mode=mode))
        for mode, path in FOUR_FACTORS_PATHS.items()
    },
}
V_HOST = "http://v.juhe.test"
APIS_HOST = "http://apis.juhe.test"


def offline_client() -> JuheClient:
    return JuheClient(base_url=V_HOST, apis_base_url=APIS_HOST, **KEYS, openid=OPENID, timeout=1.0)


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("endpoint", BILLED)
async def test_billed_call_is_made_once_when_upstream_fails(
    endpoint: str, failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path, call = BILLED[endpoint]
    host = APIS_HOST if path.startswith("/enterprise_four_factors") else V_HOST
    client = offline_client()
    try:
        with respx.mock(assert_all_called=True) as mock:
            route = mock.post(f"{host}{path}").mock(**FAILURES[failure]())
            with pytest.raises(ProviderError) as raised:
                await call(client)
    finally:
        await client.aclose()
    assert raised.value.code == "unavailable"
    assert raised.value.user_message == SERVICE_UNAVAILABLE
    assert raised.value.retryable
    assert route.call_count == 1
    assert not leaked_secrets(caplog.records)


async def test_result_poll_is_retried_once_after_a_network_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(juhe_module, "RETRY_PAUSE", 0)
    client = offline_client()
    try:
        with respx.mock() as mock:
            route = mock.post(f"{V_HOST}{MICRO_ENT_RESULT_PATH}").mock(
                side_effect=[
                    httpx.ConnectError("connection reset"),
                    httpx.Response(
                        200, json={"reason": "success", "result": SEED_MICRO_ENT, "error_code": 0}
                    ),
                ]
            )
            result = await client.micro_ent_result("micro_1")
    finally:
        await client.aclose()
    assert result is not None and asdict(result) == SEED_MICRO_ENT
    assert route.call_count == 2


async def test_result_poll_gives_up_after_the_second_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(juhe_module, "RETRY_PAUSE", 0)
    client = offline_client()
    try:
        with respx.mock() as mock:
            route = mock.post(f"{V_HOST}{MICRO_ENT_RESULT_PATH}").mock(return_value=httpx.Response(503))
            with pytest.raises(ProviderError) as raised:
                await client.micro_ent_result("micro_1")
    finally:
        await client.aclose()
    assert raised.value.user_message == SERVICE_UNAVAILABLE
    assert route.call_count == 2


# Micro-enterprise jobs ---------------------------------------------------------------------------------------------
async def test_micro_ent_job_is_pending_until_the_delay_has_passed(juhe: Juhe) -> None:
    jobid = await juhe.client.micro_ent_submit("成都成电光信科技股份有限公司")
    assert jobid.startswith("micro_")
    uuid.UUID(jobid.removeprefix("micro_"))
    assert await juhe.client.micro_ent_result(jobid) is None
    juhe.clock.advance(timedelta(seconds=119))
    assert await juhe.client.micro_ent_result(jobid) is None
    juhe.clock.advance(timedelta(seconds=2))
    result = await juhe.client.micro_ent_result(jobid)
    assert result is not None
    assert asdict(result) == SEED_MICRO_ENT
    assert juhe.emulator.billed_calls == {MICRO_ENT_QUERY_PATH: 1}
    assert len(juhe.emulator.calls_to(MICRO_ENT_RESULT_PATH)) == 3


async def test_complete_hooks_make_jobs_ready(juhe: Juhe) -> None:
    by_code = await juhe.client.micro_ent_submit("9151010057463511XR")
    by_name = await juhe.client.micro_ent_submit("成都成电光信科技股份有限公司")
    juhe.emulator.complete(by_code)
    first = await juhe.client.micro_ent_result(by_code)
    assert first is not None and first.credit_no == "9151010057463511XR"
    assert await juhe.client.micro_ent_result(by_name) is None
    juhe.emulator.complete_all()
    assert await juhe.client.micro_ent_result(by_name) is not None


async def test_company_without_micro_ent_data_is_277704_once_the_job_ends(juhe: Juhe) -> None:
    jobid = await juhe.client.micro_ent_submit("小米科技有限责任公司")
    juhe.emulator.complete(jobid)
    with pytest.raises(ProviderError) as raised:
        await juhe.client.micro_ent_result(jobid)
    assert raised.value.code == 277704
    assert raised.value.user_message == MICRO_ENT_ERRORS[277704].message


async def test_unknown_or_expired_jobid_is_277702(juhe: Juhe) -> None:
    with pytest.raises(ProviderError) as unknown:
        await juhe.client.micro_ent_result("micro_00000000-0000-0000-0000-000000000000")
    assert unknown.value.code == 277702
    jobid = await juhe.client.micro_ent_submit("成都成电光信科技股份有限公司")
    juhe.clock.advance(timedelta(hours=25))
    with pytest.raises(ProviderError) as expired:
        await juhe.client.micro_ent_result(jobid)
    assert expired.value.code == 277702
    assert expired.value.user_message == "查询参数有误或查询编号已失效，请重新发起查询"


# Four factors ------------------------------------------------------------------------------------------------------
ORDERID = re.compile(r"^JH535\d{14}\d{4,}$")


@pytest.mark.parametrize("mode", ["plain", "encrypted"])
async def test_four_factors_consistent(juhe: Juhe, mode: FourFactorsMode) -> None:
    result = await juhe.client.four_factors(*XIAOMI, mode=mode)
    assert result.consistent
    assert (result.state, result.detail_code, result.detail_desc) == (1, 7, "企业法人/负责人")
    assert result.mode == mode
    assert ORDERID.match(result.orderid)
    again = await juhe.client.four_factors(*XIAOMI, mode=mode)
    assert again.orderid != result.orderid
    assert juhe.emulator.billed_calls[FOUR_FACTORS_PATHS[mode]] == 2


MISMATCHES = [
    (("小米科技有限责任公司", "91110108551385082Q", "雷雷", "11010119691202123X"), -22, "姓名不一致"),
    (("小米科技有限责任公司", "91110108551385082Q", "雷军", "110101196912021248"), -23, "证件号码不一致"),
    (("小米科技有限责任公司", "91110108551385082Q", "张三", "110101199003071236"), -26, "具体不一致要素未知"),
    (("小米科技公司", "91110108551385082Q", "雷军", "11010119691202123X"), -24, "企业名称不一致"),
    (("小米科技有限责任公司", "91110108000000000X", "雷军", "11010119691202123X"), -25, "企业标识不一致"),
    (
        ("小米科技有限责任公司", "91310104MA1FR0000C", "雷军", "11010119691202123X"),
        -21,
        "企业名称与企业标识不符",
    ),
]


@pytest.mark.parametrize("mode", ["plain", "encrypted"])
@pytest.mark.parametrize(("factors", "code", "desc"), MISMATCHES, ids=[str(m[1]) for m in MISMATCHES])
async def test_four_factors_mismatch_says_which_factor(
    juhe: Juhe, factors: tuple[str, str, str, str], code: int, desc: str, mode: FourFactorsMode
) -> None:
    result = await juhe.client.four_factors(*factors, mode=mode)
    assert not result.consistent
    assert (result.state, result.detail_code, result.detail_desc) == (2, code, desc)


async def test_four_factors_v2_answers_res_and_sends_regstatus(juhe: Juhe) -> None:
    consistent = await juhe.client.four_factors(*XIAOMI, mode="v2")
    assert (consistent.consistent, consistent.res, consistent.regstatus) == (True, 1, "存续")
    assert consistent.detail_code is None and consistent.state is None
    assert ORDERID.match(consistent.orderid)
    inconsistent = await juhe.client.four_factors(
        "深圳沙箱贸易有限公司", "91440300MA5F000007", "李娜", "440305199001010018", mode="v2"
    )
    assert (inconsistent.consistent, inconsistent.res, inconsistent.regstatus) == (False, 2, "注销")
    assert all(params["regstatus"] == "1" for params in juhe.emulator.calls_to(FOUR_FACTORS_PATHS["v2"]))


@pytest.mark.parametrize("mode", ["plain", "encrypted", "v2"])
async def test_four_factors_unknown_company_is_253504(juhe: Juhe, mode: FourFactorsMode) -> None:
    with pytest.raises(ProviderError) as raised:
        await juhe.client.four_factors(
            "不存在的公司", "91000000000000000X", "张三", "110101199003071236", mode=mode
        )
    assert raised.value.code == 253504
    assert raised.value.user_message == "未找到该企业，请检查企业全称和统一社会信用代码"


def reference_encrypt(value: str, openid: str) -> str:
    """The API doc's rule written out: key = md5(openid) lowercase hex[:16], AES-ECB, PKCS#5 padding, base64."""
    key = hashlib.md5(openid.encode()).hexdigest().lower()[:16].encode()
    data = value.encode("utf-8")
    fill = 16 - len(data) % 16
    return base64.b64encode(AES.new(key, AES.MODE_ECB).encrypt(data + bytes([fill]) * fill)).decode()


@pytest.mark.parametrize(
    "value", ["雷军", "11010119691202123X", "小米科技有限责任公司", "91110108551385082Q", ""]
)
def test_encrypt_field_matches_the_documented_rule(value: str) -> None:
    assert encrypt_field(value, OPENID) == reference_encrypt(value, OPENID)
    assert encrypt_field(value, OPENID) != encrypt_field(value, OPENID + "x")


async def test_encrypted_fields_arrive_base64_exactly_once_url_encoded(juhe: Juhe) -> None:
    await juhe.client.four_factors(*XIAOMI, mode="encrypted")
    [sent] = juhe.emulator.calls_to(FOUR_FACTORS_PATHS["encrypted"])
    expected = {
        name: reference_encrypt(value, OPENID)
        for name, value in zip(("entname", "entmark", "realname", "idcard"), XIAOMI, strict=True)
    }
    assert sent == expected
    # '=' (and any '+' or '/') would be mangled by a missing or doubled url-encoding.
    assert any("=" in value for value in sent.values())


async def test_wrong_openid_does_not_decrypt_and_is_253501(juhe: Juhe) -> None:
    client = juhe.sandbox.client(openid="someone-elses-openid")
    try:
        with pytest.raises(ProviderError) as raised:
            await client.four_factors(*XIAOMI, mode="encrypted")
    finally:
        await client.aclose()
    assert raised.value.code == 253501
    assert juhe.emulator.billed_calls[FOUR_FACTORS_PATHS["encrypted"]] == 0


# Logs ---------------------------------------------------------------------------------------------------------------
async def test_logs_carry_no_key_and_mask_personal_data(juhe: Juhe, caplog: pytest.LogCaptureFixture) -> None:
    await juhe.client.social_security("小米科技有限责任公司")
    for mode in FOUR_FACTORS_PATHS:
        await juhe.client.four_factors(*XIAOMI, mode=mode)
    wrong = juhe.sandbox.client(social_security_key=WRONG_KEY)
    try:
        with pytest.raises(ProviderError):
            await wrong.social_security("小米科技有限责任公司")
    finally:
        await wrong.aclose()
    juhe_records = [r for r in caplog.records if r.name == "hrbot.juhe"]
    assert len(juhe_records) == 5
    assert not leaked_secrets(caplog.records)
    messages = "\n".join(record.getMessage() for record in caplog.records)
    assert XIAOMI[3] not in messages and XIAOMI[2] not in messages
    assert "110***********123X" in messages


# The emulator itself -----------------------------------------------------------------------------------------------
async def test_emulator_accepts_php_suffix_and_get_query(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.v_url) as http:
        response = await http.get(
            f"{SOCIAL_SECURITY_PATH}.php",
            params={"key": KEYS["social_security_key"], "keyword": "小米科技有限责任公司"},
        )
    body = response.json()
    assert body["error_code"] == 0
    assert body["result"]["items"][0]["social_security"] == SEED_2019
    assert sandbox.emulator.calls == [(SOCIAL_SECURITY_PATH, {"keyword": "小米科技有限责任公司"})]
