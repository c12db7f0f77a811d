"""lark-oapi's own client, unchanged, against the emulator: what works against Feishu works against the sandbox.

lark-oapi's calls are synchronous (`requests`), so they run in a thread while the emulator serves on this loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import lark_oapi as lark
import pytest
from aiohttp import web
from lark_oapi.api.compensation.v1 import (
    ListSocialInsuranceRequest,
    QuerySocialArchiveAdjustRecordRequest,
    QuerySocialArchiveAdjustRecordRequestBody,
)
from lark_oapi.api.contact.v3 import (
    BatchGetIdUserRequest,
    BatchGetIdUserRequestBody,
    BatchUserRequest,
    ChildrenDepartmentRequest,
    FindByDepartmentUserRequest,
    GetUserRequest,
)
from lark_oapi.api.corehr.v1 import GetCompanyRequest, GetLocationRequest
from lark_oapi.api.im.v1 import (
    CreateFileRequest,
    CreateFileRequestBody,
    CreateImageRequest,
    CreateImageRequestBody,
    CreateMessageRequest,
    CreateMessageRequestBody,
    GetChatMembersRequest,
    ListChatRequest,
    PatchMessageRequest,
    PatchMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)
from lark_oapi.core.cache import LocalCache
from lark_oapi.core.model import RawRequest
from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTriggerResponse

from bot.clock import Clock
from bot.config import SANDBOX_APP_ID, SANDBOX_APP_SECRET
from bot.sandbox.directory import (
    BOT_OPEN_ID,
    EMPLOYEE,
    HR,
    HR_GROUP,
    MANAGER,
    MANAGER_GROUP,
    Directory,
)
from bot.sandbox.feishu import DeliveryTarget, FeishuEmulator
from bot.sandbox.server import Sandbox
from cards.common import card, markdown
from tests.conftest import eventually

CONTENT = json.dumps(card("测试", "blue", [markdown("你好")]), ensure_ascii=False)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def emulator_at_an_origin() -> AsyncIterator[tuple[FeishuEmulator, Any]]:
    emulator = FeishuEmulator(Clock(), SANDBOX_APP_ID, SANDBOX_APP_SECRET)
    runner = web.AppRunner(emulator.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    # A plain origin: lark-oapi refuses a domain with a path.
    origin = f"http://127.0.0.1:{runner.addresses[0][1]}"
    # Its own token cache: lark-oapi's default one is process-wide and would carry another test's token.
    client = (
        lark.Client.builder()
        .app_id(SANDBOX_APP_ID)
        .app_secret(SANDBOX_APP_SECRET)
        .domain(origin)
        .cache(LocalCache())
        .build()
    )
    try:
        yield emulator, client
    finally:
        await runner.cleanup()


def ok(response: Any) -> Any:
    assert response.success(), (response.code, response.msg)
    assert response.code == 0
    return getattr(response, "data", None)  # a patch answers no data


async def test_token_send_reply_patch_image_and_users_through_lark_oapi(emulator_at_an_origin) -> None:
    emulator, client = emulator_at_an_origin
    im = client.im.v1

    send = (
        CreateMessageRequest.builder()
        .receive_id_type("chat_id")
        .request_body(
            CreateMessageRequestBody.builder()
            .receive_id(HR_GROUP)
            .msg_type("interactive")
            .content(CONTENT)
            .uuid("conformance-1")
            .build()
        )
    )
    sent = ok(await asyncio.to_thread(im.message.create, send.build()))
    assert sent.message_id in emulator.messages and sent.chat_id == HR_GROUP

    reply = (
        ReplyMessageRequest.builder()
        .message_id(sent.message_id)
        .request_body(ReplyMessageRequestBody.builder().msg_type("interactive").content(CONTENT).build())
    )
    replied = ok(await asyncio.to_thread(im.message.reply, reply.build()))
    assert emulator.messages[replied.message_id].reply_to == sent.message_id

    patched_content = json.dumps(card("已更新", "green", [markdown("新内容")]), ensure_ascii=False)
    patch = (
        PatchMessageRequest.builder()
        .message_id(sent.message_id)
        .request_body(PatchMessageRequestBody.builder().content(patched_content).build())
    )
    await asyncio.to_thread(lambda: ok(im.message.patch(patch.build())) or True)
    assert emulator.messages[sent.message_id].content["header"]["title"]["content"] == "已更新"

    upload = CreateImageRequest.builder().request_body(
        CreateImageRequestBody.builder().image_type("message").image(io.BytesIO(PNG)).build()
    )
    uploaded = ok(await asyncio.to_thread(im.image.create, upload.build()))
    assert emulator.images[uploaded.image_key] == PNG

    users = BatchUserRequest.builder().user_ids([EMPLOYEE]).user_id_type("open_id").build()
    found = ok(await asyncio.to_thread(client.contact.v3.user.batch, users))
    assert [u.open_id for u in found.items] == [EMPLOYEE] and found.items[0].name

    # One token served all of it (the emulator hands the same one back while more than 30 minutes are left).
    assert emulator.token_requests == 1


async def test_refusals_reach_lark_oapi_as_codes_and_messages(emulator_at_an_origin) -> None:
    emulator, client = emulator_at_an_origin
    invalid = json.dumps({"schema": "2.0", "body": {"elements": [{"tag": "note", "elements": []}]}})
    send = (
        CreateMessageRequest.builder()
        .receive_id_type("chat_id")
        .request_body(
            CreateMessageRequestBody.builder()
            .receive_id(HR_GROUP)
            .msg_type("interactive")
            .content(invalid)
            .build()
        )
    )
    refused = await asyncio.to_thread(client.im.v1.message.create, send.build())
    assert not refused.success()
    assert refused.code == 230099 and "body.elements[0].tag" in refused.msg
    assert emulator.bot_messages() == []


# Every Open API call the bot makes, through lark-oapi's own client and models, at the sandbox's Feishu origin -------
@pytest.fixture
async def sandbox_and_client() -> AsyncIterator[tuple[Sandbox, Any]]:
    sandbox = Sandbox(Clock(), employees=20)
    await sandbox.start("127.0.0.1", 0)
    client = (
        lark.Client.builder()
        .app_id(SANDBOX_APP_ID)
        .app_secret(SANDBOX_APP_SECRET)
        .domain(sandbox.feishu_url)  # the Feishu origin: lark-oapi refuses a domain with a path
        .cache(LocalCache())
        .build()
    )
    try:
        yield sandbox, client
    finally:
        await sandbox.stop()


def _every_call(client: Any) -> dict[str, Any]:
    """The bot's calls in the order a day of work makes them; each answer parsed into lark-oapi's model."""
    im, contact = client.im.v1, client.contact.v3
    seen: dict[str, Any] = {}

    def message(id_type: str, receive_id: str, msg_type: str = "interactive", content: str = CONTENT) -> Any:
        body = CreateMessageRequestBody.builder().receive_id(receive_id).msg_type(msg_type).content(content)
        request = CreateMessageRequest.builder().receive_id_type(id_type).request_body(body.build()).build()
        return ok(im.message.create(request))

    info = client.request(
        lark.BaseRequest.builder()
        .http_method(lark.HttpMethod.GET)
        .uri("/open-apis/bot/v3/info")
        .token_types({lark.AccessTokenType.TENANT})
        .build()
    )
    seen["bot"] = json.loads(info.raw.content)["bot"]
    seen["to_group"] = message("chat_id", HR_GROUP)
    seen["to_open_id"] = message("open_id", EMPLOYEE)
    seen["to_user_id"] = message("user_id", "u_employee")
    reply = ReplyMessageRequestBody.builder().msg_type("interactive").content(CONTENT).build()
    seen["reply"] = ok(
        im.message.reply(
            ReplyMessageRequest.builder().message_id(seen["to_group"].message_id).request_body(reply).build()
        )
    )
    patch = PatchMessageRequestBody.builder().content(CONTENT).build()
    ok(
        im.message.patch(
            PatchMessageRequest.builder().message_id(seen["to_group"].message_id).request_body(patch).build()
        )
    )
    image = CreateImageRequestBody.builder().image_type("message").image(io.BytesIO(PNG)).build()
    seen["image"] = ok(im.image.create(CreateImageRequest.builder().request_body(image).build()))
    # lark-oapi's documented upload: the file part carries no filename.
    upload = (
        CreateFileRequestBody.builder()
        .file_type("stream")
        .file_name("增减员.xlsx")
        .file(io.BytesIO(b"PK\x03\x04x"))
    )
    seen["file"] = ok(im.file.create(CreateFileRequest.builder().request_body(upload.build()).build()))
    seen["file_message"] = message(
        "open_id", EMPLOYEE, "file", json.dumps({"file_key": seen["file"].file_key})
    )
    seen["chats"] = ok(im.chat.list(ListChatRequest.builder().page_size(20).build()))
    for id_type in ("open_id", "user_id"):
        members = GetChatMembersRequest.builder().chat_id(HR_GROUP).member_id_type(id_type).page_size(100)
        seen[f"members_{id_type}"] = ok(im.chat_members.get(members.build()))
    seen["users"] = ok(
        contact.user.batch(
            BatchUserRequest.builder().user_ids([EMPLOYEE, HR]).user_id_type("open_id").build()
        )
    )
    seen["users_by_user_id"] = ok(
        contact.user.batch(
            BatchUserRequest.builder().user_ids(["u_employee"]).user_id_type("user_id").build()
        )
    )
    seen["user"] = ok(
        contact.user.get(GetUserRequest.builder().user_id(EMPLOYEE).user_id_type("open_id").build())
    )
    by_email = (
        BatchGetIdUserRequestBody.builder().emails(["u_hr@sandbox.example.com", "nobody@example.com"]).build()
    )
    seen["ids"] = ok(
        contact.user.batch_get_id(
            BatchGetIdUserRequest.builder().user_id_type("open_id").request_body(by_email).build()
        )
    )
    seen["children"] = ok(
        contact.department.children(ChildrenDepartmentRequest.builder().department_id("0").build())
    )
    seen["in_department"] = ok(
        contact.user.find_by_department(FindByDepartmentUserRequest.builder().department_id("od_rd").build())
    )
    records = (
        QuerySocialArchiveAdjustRecordRequestBody.builder()
        .user_id_list([EMPLOYEE])
        .record_type("increase")
        .build()
    )
    seen["records"] = ok(
        client.compensation.v1.social_archive_adjust_record.query(
            QuerySocialArchiveAdjustRecordRequest.builder()
            .user_id_type("open_id")
            .request_body(records)
            .build()
        )
    )
    seen["insurances"] = ok(
        client.compensation.v1.social_insurance.list(ListSocialInsuranceRequest.builder().build())
    )
    corehr = client.corehr.v1
    seen["location"] = ok(
        corehr.location.get(GetLocationRequest.builder().location_id("7152398273176192556").build())
    )
    seen["company"] = ok(
        corehr.company.get(GetCompanyRequest.builder().company_id("7096372135576618540").build())
    )
    return seen


async def test_every_api_the_bot_uses_answers_lark_oapi_with_the_documented_fields(
    sandbox_and_client,
) -> None:
    sandbox, client = sandbox_and_client
    seen = await asyncio.to_thread(_every_call, client)
    assert seen["bot"]["open_id"] == BOT_OPEN_ID
    p2p = Directory.p2p_chat_of(EMPLOYEE)
    for key, chat in (("to_group", HR_GROUP), ("to_open_id", p2p), ("to_user_id", p2p)):
        sent = seen[key]  # create answers the whole Message
        assert sent.message_id and sent.chat_id == chat and sent.msg_type == "interactive"
        assert sent.create_time and sent.sender.sender_type == "app" and json.loads(sent.body.content)
    assert seen["reply"].parent_id == seen["to_group"].message_id
    assert seen["reply"].root_id == seen["to_group"].message_id
    assert sandbox.feishu.images[seen["image"].image_key] == PNG
    assert sandbox.feishu.files[seen["file"].file_key] == ("增减员.xlsx", b"PK\x03\x04x")
    assert seen["file_message"].msg_type == "file"
    assert {c.chat_id for c in seen["chats"].items} == {HR_GROUP, MANAGER_GROUP}
    assert [m.member_id for m in seen["members_open_id"].items] == [HR]
    assert [m.member_id for m in seen["members_user_id"].items] == ["u_hr"]
    assert [(u.open_id, u.user_id) for u in seen["users"].items] == [(EMPLOYEE, "u_employee"), (HR, "u_hr")]
    assert [u.open_id for u in seen["users_by_user_id"].items] == [EMPLOYEE]
    assert seen["user"].user.open_id == EMPLOYEE and seen["user"].user.name == "张小明"
    assert [u.user_id for u in seen["ids"].user_list] == [HR, None]
    assert seen["children"].items and all(d.open_department_id and d.name for d in seen["children"].items)
    assert seen["in_department"].items and all(u.open_id for u in seen["in_department"].items)
    assert seen["records"].records[0].user_id == EMPLOYEE and seen["records"].records[0].details
    assert {i.name.zh_cn for i in seen["insurances"].items} >= {"养老保险", "住房公积金"}
    assert seen["location"].location.hiberarchy_common.name[0].value == "北京"
    assert seen["company"].company.hiberarchy_common.name[0].value == "星河科技有限公司"


# Events through lark-oapi's own dispatcher (signature, decryption, parsing into its models) ---------------------
ENCRYPT_KEY, VERIFICATION_TOKEN = "conformance-key", "conformance-token"


@pytest.fixture
async def dispatched() -> AsyncIterator[tuple[Sandbox, dict[str, list[Any]]]]:
    sandbox = Sandbox(Clock(), employees=20)
    await sandbox.start("127.0.0.1", 0)
    seen: dict[str, list[Any]] = {}

    def keep(kind: str) -> Any:
        def handle(data: Any) -> Any:
            seen.setdefault(kind, []).append(data)
            if kind == "card":
                return P2CardActionTriggerResponse({"toast": {"type": "info", "content": "收到"}})
            return None

        return handle

    handler = (
        lark.EventDispatcherHandler.builder(ENCRYPT_KEY, VERIFICATION_TOKEN)
        .register_p2_im_message_receive_v1(keep("message"))
        .register_p2_card_action_trigger(keep("card"))
        .register_p2_im_chat_member_bot_added_v1(keep("added"))
        .register_p2_im_chat_member_bot_deleted_v1(keep("deleted"))
        .register_p2_im_chat_access_event_bot_p2p_chat_entered_v1(keep("entered"))
        .build()
    )

    async def events(request: web.Request) -> web.Response:
        raw = RawRequest()
        raw.uri, raw.headers, raw.body = request.path, dict(request.headers), await request.read()
        answer = await asyncio.to_thread(handler.do, raw)
        return web.Response(status=answer.status_code, body=answer.content, headers=answer.headers)

    app = web.Application()
    app.router.add_post("/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    sandbox.feishu.target = DeliveryTarget(
        f"http://127.0.0.1:{runner.addresses[0][1]}/events", ENCRYPT_KEY, VERIFICATION_TOKEN, SANDBOX_APP_ID
    )
    try:
        yield sandbox, seen
    finally:
        await runner.cleanup()
        await sandbox.stop()


async def test_a_message_with_mentions_parses_with_feishu_fields_and_keys_in_text_order(dispatched) -> None:
    sandbox, seen = dispatched
    await sandbox.feishu.user_says("@李思 看看 @bot 帮助", user=MANAGER, chat_id=MANAGER_GROUP)
    event = seen["message"][0].event
    assert event.sender.tenant_key == "sandbox-tenant"
    assert (event.sender.sender_id.open_id, event.sender.sender_id.user_id) == (MANAGER, "u_manager")
    assert event.sender.sender_id.union_id
    message = event.message
    assert json.loads(message.content)["text"] == "@_user_1 看看 @_user_2 帮助"
    assert [(m.key, m.id.open_id, m.mentioned_type) for m in message.mentions] == [
        ("@_user_1", HR, "user"),
        ("@_user_2", BOT_OPEN_ID, "bot"),
    ]
    assert message.mentions[0].id.user_id == "u_hr" and message.mentions[0].tenant_key == "sandbox-tenant"
    assert message.update_time and message.user_agent
    # Message events' create_time is in milliseconds.
    assert abs(int(seen["message"][0].header.create_time) / 1000 - time.time()) < 60


async def test_a_person_mentioned_in_a_private_chat_is_the_first_key(dispatched) -> None:
    sandbox, seen = dispatched
    await sandbox.feishu.user_says("增减员 @张小明", user=HR, chat_id=Directory.p2p_chat_of(HR))
    mentions = seen["message"][0].event.message.mentions
    assert [(m.key, m.id.open_id) for m in mentions] == [("@_user_1", EMPLOYEE)]


async def test_a_card_action_parses_with_operator_tenant_timezone_and_input(dispatched) -> None:
    sandbox, seen = dispatched
    feishu = sandbox.feishu
    sent = feishu._new_message(
        chat_id=HR_GROUP,
        sender=BOT_OPEN_ID,
        msg_type="interactive",
        content=json.loads(CONTENT),
        created_at=feishu.clock.timestamp(),
    )
    answer = await feishu.user_clicks(
        sent.message_id, user=HR, value={"k": 1}, tag="input", input_value="三月"
    )
    assert answer["status"] == 200 and answer["toast"]["content"] == "收到"
    trigger = seen["card"][0]
    assert trigger.event.operator.tenant_key == "sandbox-tenant" and trigger.event.operator.user_id == "u_hr"
    assert trigger.event.action.timezone == "Asia/Shanghai" and trigger.event.action.input_value == "三月"
    assert trigger.event.context.open_message_id == sent.message_id
    # The card callback doc's example create_time is in microseconds.
    assert abs(int(trigger.header.create_time) / 1_000_000 - time.time()) < 60


async def test_a_click_on_a_card_older_than_14_days_is_not_delivered(dispatched) -> None:
    sandbox, seen = dispatched
    feishu = sandbox.feishu
    sent = feishu._new_message(
        chat_id=HR_GROUP,
        sender=BOT_OPEN_ID,
        msg_type="interactive",
        content=json.loads(CONTENT),
        created_at=feishu.clock.timestamp(),
    )
    sandbox.clock.advance(timedelta(days=14, minutes=1))
    answer = await feishu.user_clicks(sent.message_id, user=HR, value={"k": 1})
    assert answer.get("expired") and "card" not in seen
    assert feishu.expired_clicks == [sent.message_id]


async def test_chat_events_parse(dispatched) -> None:
    sandbox, seen = dispatched
    await sandbox.feishu.user_opens_private_chat(EMPLOYEE)
    await sandbox.feishu.remove_bot(HR_GROUP, operator=HR)
    await sandbox.feishu.add_bot(HR_GROUP, operator=HR)
    assert seen["entered"][0].event.chat_id == Directory.p2p_chat_of(EMPLOYEE)
    assert seen["entered"][0].event.operator_id.user_id == "u_employee"
    assert seen["deleted"][0].event.chat_id == HR_GROUP and seen["deleted"][0].event.operator_tenant_key
    assert seen["added"][0].event.chat_id == HR_GROUP and seen["added"][0].event.name == "HR 群"


# The long connection, through lark-oapi's own ws client ---------------------------------------------------------
async def test_messages_and_card_actions_reach_lark_oapi_ws_client(sandbox_and_client) -> None:
    import lark_oapi.ws.client as ws_client

    sandbox, _client = sandbox_and_client
    sandbox.deliver_over_longconn()
    # lark-oapi's client drops type=card frames (the bot's own client answers both kinds; see test_longconn).
    sandbox.longconn.card_frame_types = ("event",)
    seen: dict[str, list[Any]] = {"message": [], "card": []}

    def on_card(data: Any) -> Any:
        seen["card"].append(data)
        return P2CardActionTriggerResponse({"toast": {"type": "success", "content": "好"}})

    handler = (
        lark.EventDispatcherHandler.builder("", "")
        .register_p2_im_message_receive_v1(seen["message"].append)
        .register_p2_card_action_trigger(on_card)
        .build()
    )
    ws_loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(ws_loop)
        ws_client.loop = ws_loop  # its module-level loop (oapi-sdk-python issues #96, #133)
        client = lark.ws.Client(
            SANDBOX_APP_ID,
            SANDBOX_APP_SECRET,
            event_handler=handler,
            domain=sandbox.feishu_url,
            log_level=lark.LogLevel.ERROR,
        )
        with contextlib.suppress(RuntimeError):  # "Event loop stopped before Future completed."
            client.start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        await eventually(_connected(sandbox), 15, what="lark's ws client connected")
        asked = await sandbox.feishu.user_says("帮助", user=EMPLOYEE, chat_id=Directory.p2p_chat_of(EMPLOYEE))
        assert seen["message"][0].event.message.message_id == asked.message_id
        sent = sandbox.feishu._new_message(
            chat_id=HR_GROUP,
            sender=BOT_OPEN_ID,
            msg_type="interactive",
            content=json.loads(CONTENT),
            created_at=sandbox.clock.timestamp(),
        )
        answer = await sandbox.feishu.user_clicks(sent.message_id, user=HR, value={"k": 1})
        assert answer["toast"] == {"type": "success", "content": "好"}
        assert seen["card"][0].event.operator.open_id == HR
    finally:
        ws_loop.call_soon_threadsafe(ws_loop.stop)
        thread.join(5)


def _connected(sandbox: Sandbox) -> Any:
    async def probe() -> bool:
        return bool(sandbox.longconn.connections)

    return probe
