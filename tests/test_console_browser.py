"""The sandbox console in a real browser: Debian's chromium driven by Playwright against a sandbox bot.

Each test leaves a screenshot in test-artifacts/console/<test>.png.
"""

from __future__ import annotations

import asyncio
import re
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.clock import Clock
from bot.lifecycle.app import BotApp
from bot.routing.context import ActionContext, MessageContext
from bot.routing.router import ActionResponse, Router
from bot.sandbox.directory import HR_GROUP
from bot.sandbox.server import Sandbox
from bot.sandbox.tenant import TenantFaults
from cards.common import (
    Card,
    action_value,
    button,
    button_row,
    card,
    divider,
    form,
    image,
    markdown,
    note,
    panel,
    plain,
    select,
    submit_button,
    table,
    text_input,
)
from tests import feishu_wire as wire
from tests.conftest import RunningBot, make_settings, running_bot

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)", allow_module_level=True)
playwright = pytest.importorskip("playwright.async_api", reason="pip install playwright")
expect = playwright.expect

# Without the background-networking flags chromium keeps trying to reach the internet (RECIPES.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "console"
DEMO = "控件演示"
UNSAFE_MARKDOWN = (
    "<script>window.injected = true</script> **粗体** `代码` ~~删除~~\n"
    "[安全链接](https://example.com/a?b=1&c=2) [坏链接](javascript:alert(1))\n"
    "- 第一项\n- 第二项 110***********1234 张*"
)


@dataclass
class Console:
    bot: RunningBot
    page: Any  # playwright Page

    async def send(self, text: str) -> None:
        box = self.page.get_by_label("消息")
        await box.fill(text)
        await box.press("Enter")
        # The page clears the box once the message is sent; Enter while a send is in flight would be lost.
        await expect(box).to_have_value("")

    def card(self, title: str) -> Any:
        return self.page.locator(".card", has_text=title)


DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 740}


def viewport_of(request: pytest.FixtureRequest) -> dict[str, int]:
    """`@pytest.mark.viewport(PHONE)` on a test opens the console at that size; desktop otherwise."""
    marker = request.node.get_closest_marker("viewport")
    return marker.args[0] if marker else DESKTOP


@pytest.fixture
async def console(tmp_path: Path, clock: Clock, request: pytest.FixtureRequest) -> AsyncIterator[Console]:
    async with running_bot(make_settings(tmp_path), clock) as bot, playwright.async_playwright() as driver:
        context = await driver.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=viewport_of(request),
            locale="zh-CN",
        )
        page = context.pages[0] if context.pages else await context.new_page()
        try:
            await page.goto(f"{bot.app.url}/console")
            await expect(page.locator("body[data-ready]")).to_be_attached()
            yield Console(bot, page)
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
            await context.close()


# A test-only feature whose card holds every interactive element ---------------------------------------------------
def _png(width: int = 48, height: int = 24) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes((51, 112, 255)) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def demo_card(title: str, template: str, status: str) -> Card:
    return card(
        title,
        template,
        [
            markdown(status),
            markdown(UNSAFE_MARKDOWN),
            plain("纯文本 <b>不加粗</b>"),
            divider(),
            table(
                [("city", "城市"), ("count", "人数")],
                [{"city": "北京", "count": 12}, {"city": "上海", "count": 7}],
                numbers={"count": 0},
            ),
            panel("**明细**", [markdown("面板里的内容")]),
            image("img_console_test", "测试图片"),
            select("pick_city", [("北京", "bj"), ("上海", "sh")], placeholder="选择城市")
            | {"behaviors": [{"type": "callback", "value": action_value("test.select")}]},
            button_row(button("确认", action_value("test.button", n=1), kind="primary")),
            form(
                "apply",
                [
                    text_input("name", "姓名", required=True),
                    select("city", [("北京", "bj"), ("上海", "sh")], placeholder="所在城市"),
                    submit_button("提交", action_value("test.form")),
                ],
            ),
            {
                "tag": "chart",
                "chart_spec": {
                    "type": "line",
                    "title": {"text": "<b>每日花费</b>"},
                    "data": {
                        "values": [
                            {"d": f"11-0{day}", "who": who, "yuan": day * (2 if who == "甲" else 1)}
                            for who in ("甲", "<i>乙</i>")
                            for day in range(1, 4)
                        ]
                    },
                    "xField": "d",
                    "yField": "yuan",
                    "seriesField": "who",
                },
            },
            {
                "tag": "interactive_container",
                "behaviors": [{"type": "open_url", "default_url": "https://example.com"}],
                "elements": [markdown("可点击的容器")],
            },
            note("数据来源：测试"),
        ],
    )


def demo_router() -> Router:
    router = Router("test")

    @router.command(DEMO, summary="test")
    async def show(ctx: MessageContext) -> None:
        await ctx.reply(demo_card("控件演示", "orange", "等待操作"))

    @router.action("select")
    async def chose(ctx: ActionContext) -> ActionResponse:
        return ActionResponse.toast(f"已选择 {ctx.action.option}", "info")

    @router.action("button")
    async def pressed(ctx: ActionContext) -> ActionResponse:
        return ActionResponse.toast("按钮已收到", "success", card=demo_card("按钮已处理", "green", "按钮 ✓"))

    @router.action("form")
    async def submitted(ctx: ActionContext) -> ActionResponse:
        summary = f"{ctx.form.get('name')} / {ctx.form.get('city')}"

        async def finish() -> None:
            await asyncio.sleep(0.3)  # slow work, done after the answer
            await ctx.patch(card("处理完成", "green", [markdown(f"已处理：{summary}")]))

        ctx.after_answer(finish())
        return ActionResponse.toast(
            f"已提交：{summary}", "success", card=card("表单已提交", "blue", [markdown("处理中")])
        )

    return router


async def show_demo(console: Console) -> Any:
    console.bot.feishu.images["img_console_test"] = _png()
    console.bot.app.dispatcher.include(demo_router())
    await console.send(DEMO)
    demo = console.card("等待操作")
    await expect(demo).to_be_visible()
    return demo


# Tests ------------------------------------------------------------------------------------------------------------
async def test_help_card_in_the_private_chat(console: Console) -> None:
    await console.send("帮助")
    await expect(console.page.locator(".msg.mine .bubble", has_text="帮助")).to_be_visible()
    await expect(console.page.locator(".empty")).to_have_count(0)
    help_card = console.card("使用帮助")
    await expect(help_card).to_be_visible()
    await expect(help_card.locator(".card-header")).to_have_class(re.compile(r"\btpl-blue\b"))
    await expect(help_card.locator("strong", has_text="增减员").first).to_be_visible()
    await expect(help_card.locator(".md.notation")).to_contain_text("群里请先 @我")


async def test_digest_and_fast_forward_as_hr_in_the_hr_group(console: Console) -> None:
    page = console.page
    await page.get_by_role("radio", name="HR · 李思").click()
    await page.get_by_role("button", name="HR 群").click()
    await console.send("帮助")  # groups need the mention: the page adds it
    await expect(page.locator(".bubble", has_text="@hrbot 帮助")).to_be_visible()
    await expect(console.card("使用帮助")).to_be_visible()

    await page.get_by_role("button", name="▶ 立即运行摘要").click()
    digest = console.card("社保增减员摘要")
    await expect(digest).to_be_visible(timeout=15_000)
    await expect(digest).to_contain_text(re.compile(r"增员 \d+ 人"))
    await expect(page.locator(".toast", has_text="摘要已发送到 HR 群")).to_be_visible()
    month = digest.locator("details.panel").first
    await expect(month).to_have_attribute("open", "")  # a digest's months are open: at most 30 lines in all
    await month.locator("summary").click()
    await expect(month).not_to_have_attribute("open", "")

    await page.get_by_role("button", name=re.compile("快进 10 分钟")).click()
    await expect(page.locator(".toast", has_text="已快进 10 分钟")).to_be_visible()
    await expect(page.locator("#clock")).to_contain_text("+10 分钟")


async def test_select_button_and_form_answer_with_toasts_and_updated_cards(console: Console) -> None:
    page = console.page
    demo = await show_demo(console)

    await demo.get_by_role("combobox").first.select_option("sh")
    await expect(page.locator(".toast", has_text="已选择 sh")).to_be_visible()

    await demo.get_by_role("button", name="确认").click()
    await expect(page.locator(".toast", has_text="按钮已收到")).to_be_visible()
    demo = console.card("按钮已处理")
    await expect(demo.locator(".card-header")).to_have_class(re.compile(r"\btpl-green\b"))

    await demo.get_by_role("button", name="提交").click()  # the name is required
    await expect(page.locator(".toast", has_text="请填写：姓名")).to_be_visible()
    await demo.get_by_placeholder("请输入姓名").fill("张三")
    await demo.get_by_role("combobox").nth(1).select_option("bj")
    await demo.get_by_role("button", name="提交").click()
    await expect(page.locator(".toast", has_text="已提交：张三 / bj")).to_be_visible()
    # Patched later, in place: still one bot message.
    await expect(console.card("处理完成")).to_contain_text("已处理：张三 / bj")
    await expect(page.locator(".msg.from-bot")).to_have_count(1)


async def test_every_element_renders_and_unsupported_ones_show_a_placeholder(console: Console) -> None:
    demo = await show_demo(console)
    await expect(demo.locator(".unsupported")).to_have_text("不支持的元素：interactive_container")
    # The chart: one line per series, its title and legend as text, never markup.
    chart = demo.locator("figure.card-chart")
    await expect(chart.locator("polyline.chart-series")).to_have_count(2)
    await expect(chart.locator(".chart-title")).to_have_text("<b>每日花费</b>")
    await expect(chart.locator(".chart-legend-item")).to_have_text(["甲", "<i>乙</i>"])
    await expect(chart.locator("i, b")).to_have_count(0)
    await expect(demo.locator(".card-header")).to_have_class(re.compile(r"\btpl-orange\b"))
    # Markdown is escaped before formatting: no injected markup, only the safe subset.
    assert await console.page.evaluate("window.injected") is None
    await expect(demo.locator("script")).to_have_count(0)
    await expect(demo).to_contain_text("<script>window.injected = true</script>")
    await expect(demo.locator("strong", has_text="粗体")).to_be_visible()
    await expect(demo.locator("code", has_text="代码")).to_be_visible()
    await expect(demo.locator("del", has_text="删除")).to_be_visible()
    await expect(demo.locator("a", has_text="安全链接")).to_have_attribute(
        "href", "https://example.com/a?b=1&c=2"
    )
    await expect(demo.locator("a", has_text="坏链接")).to_have_count(0)
    await expect(demo.locator("li")).to_have_count(2)
    await expect(demo.locator("li").nth(1)).to_have_text("第二项 110***********1234 张*")
    await expect(demo).to_contain_text("纯文本 <b>不加粗</b>")
    await expect(demo.locator("hr")).to_have_count(1)
    await expect(demo.locator("table tbody tr")).to_have_count(2)
    await expect(demo.locator("th").first).to_have_text("城市")
    panel_body = demo.locator("details.panel .panel-body")
    await expect(panel_body).to_be_hidden()
    await demo.locator("details.panel summary").click()
    await expect(panel_body).to_have_text("面板里的内容")
    await expect(demo.locator(".column-set .card-btn")).to_have_text("确认")
    await expect(demo.locator("input[type=text]")).to_have_count(1)
    await expect(demo.locator(".md.notation")).to_have_text("数据来源：测试")
    picture = demo.locator("img.card-img")
    await expect(picture).to_have_attribute("alt", "测试图片")
    assert await picture.evaluate("img => img.complete && img.naturalWidth") == 48


async def test_live_mode_serves_no_console(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sandboxed").mkdir()
    async with running_bot(make_settings(tmp_path / "sandboxed"), Clock()) as sandboxed:
        assert f"console: {sandboxed.app.url}/console" in capsys.readouterr().out

    upstream = Sandbox(Clock(), employees=10)
    await upstream.start("127.0.0.1", 0)
    settings = make_settings(
        tmp_path,
        **upstream.feishu_settings(),
        feishu_encrypt_key=wire.ENCRYPT_KEY,
        feishu_verification_token=wire.TOKEN,
    )
    live = BotApp(settings)
    try:
        await live.start()
        async with httpx.AsyncClient(base_url=live.url) as http:
            assert (await http.get("/healthz")).json()["mode"] == "live"
            for path in ("/console", "/console/api/state", "/console/static/console.js"):
                assert (await http.get(path)).status_code == 404, path
        assert "console:" not in capsys.readouterr().out
    finally:
        await live.stop()
        await upstream.stop()


# The features, driven as a person would ----------------------------------------------------------------------------
AS_EMPLOYEE = "员工 · 张小明"
AS_HR = "HR · 李思"
AS_MANAGER = "经理 · 王建国"
COMPANY = "小米科技有限责任公司"
FOUR_FACTORS = f"企业核验 {COMPANY} 91110108551385082Q 雷军 11010119691202123X"
# Typed into the 个人社保 login form: it must never reach the page again.
PASSWORD = "Pw-console-7f3a!"
# Everything the page holds: its HTML, what is typed in its inputs, and its storage.
PAGE_TEXT = """() => [
    document.documentElement.outerHTML,
    ...[...document.querySelectorAll("input, textarea")].map((input) => input.value),
    JSON.stringify(localStorage),
    JSON.stringify(sessionStorage),
].join("\\n")"""
# The bot polls Tcredit every 2 s and the emulator moves a task one state per poll.
POLLED = 15_000


async def be(console: Console, persona: str, chat: str | None = None) -> None:
    """Pick who you are (and a chat: the private chat with the bot unless told)."""
    page = console.page
    await page.get_by_role("radio", name=persona).click()
    await expect(page.get_by_role("radio", name=persona)).to_have_attribute("aria-checked", "true")
    await page.get_by_role("button", name=chat or "与 hrbot 私聊").click()
    title = chat or f"与 hrbot 私聊 · {persona.split(' · ')[1]}"
    await expect(page.locator("#chat-title")).to_have_text(title)


def toast(console: Console, text: str) -> Any:
    return console.page.locator(".toast", has_text=text)


async def test_enterprise_social_for_the_example_company(console: Console) -> None:
    await be(console, AS_EMPLOYEE)
    await console.send(f"企业社保 {COMPANY}")
    report = console.card(f"企业社保缴纳 · {COMPANY}")
    await expect(report).to_be_visible(timeout=10_000)
    await expect(report.locator(".card-header")).to_have_class(re.compile(r"\btpl-green\b"))
    await expect(report.locator(".md").first).to_contain_text("2019 年报：参保 168 人")  # the answer first
    # The newest year is the card's table; older years are collapsed panels (tables only at the root in Feishu).
    await expect(report).to_contain_text("2019 年报 · 2020-06-24 发布")
    older = report.locator("details.panel").nth(0)
    pension = report.locator("tbody tr", has_text="养老")
    await expect(pension).to_be_visible()
    await expect(pension.locator("td.num").first).to_have_text("168")
    await expect(pension).to_contain_text("470,142.08")  # a number column, Feishu's separator
    await expect(older.locator("summary")).to_contain_text("2018 年报")
    await expect(older.locator(".panel-body")).to_be_hidden()  # older years start collapsed
    await expect(report.locator(".md.notation").last).to_contain_text("数据来源：聚合数据")


async def test_only_a_manager_verifies_from_the_managers_group(console: Console) -> None:
    page = console.page
    await be(console, AS_EMPLOYEE)
    await console.send(FOUR_FACTORS)
    asked = console.card(f"企业核验申请 · {COMPANY}")
    await expect(asked).to_contain_text("110***********123X", timeout=10_000)
    await expect(asked).to_contain_text("法人/负责人：雷*")
    # The copy for the managers arrives in 经理群 while another chat is open: an unread badge.
    await expect(page.get_by_role("button", name="经理群").locator(".badge")).to_have_text("1")

    await be(console, AS_HR, "经理群")
    copy = console.card(f"企业核验申请 · {COMPANY}")
    await expect(copy).to_contain_text("申请人：张**")
    await expect(copy).not_to_contain_text("11010119691202123X")
    await copy.get_by_role("button", name="核验", exact=True).click()
    await expect(toast(console, "只有管理员可以核验或驳回企业核验申请")).to_be_visible()
    await expect(page.locator(".toast.error")).to_have_count(1)
    # Unchanged: still the request, both buttons, never replaced.
    await expect(copy.locator(".card-title")).to_have_text(f"企业核验申请 · {COMPANY}")
    await expect(copy.get_by_role("button", name="驳回")).to_be_enabled()
    await expect(page.locator(".msg.updated")).to_have_count(0)

    await be(console, AS_MANAGER, "经理群")
    await copy.get_by_role("button", name="核验", exact=True).click()
    await expect(toast(console, "正在核验，完成后会更新卡片")).to_be_visible()
    result = console.card(f"企业核验一致 · {COMPANY}")
    await expect(result).to_contain_text("一致：此人是该企业登记的法人/负责人", timeout=10_000)
    await expect(result.locator(".card-header")).to_have_class(re.compile(r"\btpl-green\b"))
    await expect(result).to_contain_text(re.compile(r"流水号：JH\d{21}"))
    await expect(result).to_contain_text("核验人：王**")
    # Done: no 核验 / 驳回 any more, only the next step.
    await expect(result.get_by_role("button")).to_have_text(["发起新的核验"])
    orderid = re.search(r"JH\d{21}", await result.inner_text())
    assert orderid is not None

    # The asker's copy in the private chat shows the same verdict.
    await be(console, AS_EMPLOYEE)
    mine = console.card(f"企业核验一致 · {COMPANY}")
    await expect(mine).to_contain_text(f"流水号：{orderid.group()}")
    await expect(console.card("企业核验申请")).to_have_count(0)


async def test_personal_social_through_the_sms_step(console: Console) -> None:
    page = console.page
    await be(console, AS_EMPLOYEE)
    await console.send("个人社保")
    flow = console.card("个人社保查询")
    await expect(flow).to_contain_text("请选择你参保的城市", timeout=10_000)
    await expect(flow).to_contain_text("深圳（开发中）")
    await flow.get_by_role("combobox").select_option(label="北京")

    await expect(flow.locator(".card-title")).to_have_text("个人社保查询 · 北京")
    await flow.get_by_role("textbox", name="用户名").fill("sms")
    await flow.get_by_label("用户密码").fill(PASSWORD)
    await expect(flow.get_by_label("用户密码")).to_have_attribute("type", "password")
    assert PASSWORD in await page.evaluate(PAGE_TEXT)  # the probe sees a typed password
    await flow.get_by_role("button", name="登录查询").click()
    await expect(flow).to_contain_text("登录中")
    await expect(flow.get_by_label("用户密码")).to_have_count(0)
    assert PASSWORD not in await page.evaluate(PAGE_TEXT)

    await expect(flow).to_contain_text("社保网站已向你的手机发送短信验证码", timeout=POLLED)
    await flow.get_by_label("短信验证码").fill("123456")
    await flow.get_by_role("button", name="提交验证码").click()
    # The answer says 验证码已提交; the next poll (any moment now) may already have moved it on.
    await expect(flow).to_contain_text(re.compile("验证码已提交|登录成功"))
    await expect(flow.get_by_label("短信验证码")).to_have_count(0)

    await expect(flow.locator(".card-subtitle")).to_have_text("查询完成", timeout=POLLED)
    await expect(flow.locator(".card-header")).to_have_class(re.compile(r"\btpl-green\b"))
    await expect(flow).to_contain_text("姓名：张小明")
    await expect(flow).to_contain_text("身份证号：110***********002X")
    await expect(flow.locator("details.panel summary", has_text="养老保险")).to_be_visible()
    shown = await page.evaluate(PAGE_TEXT)
    assert PASSWORD not in shown and "11010519811231002X" not in shown
    await expect(page.locator(".msg.from-bot")).to_have_count(1)  # one card, updated in place


async def test_the_root_opens_the_console_and_an_updated_card_comes_into_view(console: Console) -> None:
    page = console.page
    await page.goto(f"{console.bot.app.url}/")
    await expect(page).to_have_url(f"{console.bot.app.url}/console")
    await expect(page.locator("body[data-ready]")).to_be_attached()

    await show_demo(console)
    (demo_message,) = console.bot.feishu.bot_messages()
    for _ in range(3):
        await console.send("帮助")
    await expect(console.card("使用帮助")).to_have_count(3)
    await expect(console.card("等待操作").locator(".card-header")).not_to_be_in_viewport()

    # A slow job finishes: the card scrolled out of sight is patched, and the page brings its title into view.
    assert console.bot.app.services is not None
    await console.bot.app.services.feishu.patch_card(
        demo_message.message_id, demo_card("后台已更新", "green", "按钮 ✓")
    )
    updated = console.card("后台已更新")
    await expect(updated.locator(".card-header")).to_be_in_viewport(ratio=1)

    await updated.get_by_role("button", name="确认").click()
    await expect(page.locator(".toast", has_text="按钮已收到")).to_be_visible()
    title = await console.card("按钮已处理").locator(".card-header").bounding_box()
    toast_box = await page.locator(".toast", has_text="按钮已收到").bounding_box()
    assert title is not None and toast_box is not None
    overlap_x = min(title["x"] + title["width"], toast_box["x"] + toast_box["width"]) - max(
        title["x"], toast_box["x"]
    )
    overlap_y = min(title["y"] + title["height"], toast_box["y"] + toast_box["height"]) - max(
        title["y"], toast_box["y"]
    )
    assert overlap_x <= 0 or overlap_y <= 0, (title, toast_box)


async def no_horizontal_scroll(page: Any) -> None:
    widths = await page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
    )
    assert max(widths[:2]) <= widths[2], f"the page scrolls sideways: {widths}"


@pytest.mark.viewport(PHONE)
async def test_on_a_phone_nothing_scrolls_sideways_and_every_button_is_reachable(console: Console) -> None:
    page = console.page
    await console.send("帮助")
    help_card = console.card("使用帮助")
    await expect(help_card).to_be_visible()
    await no_horizontal_scroll(page)
    # Every button on the page (sidebar, composer, card) can be scrolled to, lies inside the screen and takes a click.
    buttons = page.locator("button:visible")
    assert await buttons.count() > 10
    for index in range(await buttons.count()):
        target = buttons.nth(index)
        await target.scroll_into_view_if_needed()
        box = await target.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5, box
        await target.click(trial=True)
    # A help button really answers at this size: the usage replaces the list, 返回 brings it back.
    await help_card.get_by_role("button", name="企业社保").click()
    usage = console.card("hrbot · 企业社保")
    await expect(usage).to_contain_text("发送：")
    await no_horizontal_scroll(page)
    await usage.get_by_role("button", name="返回全部命令").click()
    await expect(console.card("使用帮助")).to_be_visible()


async def test_the_tenant_switches_make_the_emulator_a_half_configured_tenant(console: Console) -> None:
    tenant = console.bot.sandbox.tenant
    button = console.page.get_by_role("button", name="机器人未进群（第一个群）")
    await button.click()
    await expect(button).to_have_attribute("aria-pressed", "true")
    assert tenant.state()["bot_not_in"] == [HR_GROUP]
    capability = console.page.get_by_role("button", name="机器人能力未开启")
    await capability.click()
    await expect(capability).to_have_attribute("aria-pressed", "true")
    assert tenant.bot_capability_off
    await console.page.get_by_role("button", name="全部恢复").click()
    await expect(capability).to_have_attribute("aria-pressed", "false")
    assert tenant.state() == TenantFaults(tenant.app_id, tenant.directory).state()


@pytest.mark.viewport(PHONE)
async def test_on_a_phone_a_wide_table_scrolls_inside_its_card_and_says_so(console: Console) -> None:
    """As in Feishu's mobile client: the table keeps its columns and scrolls sideways within the card, a shadow
    showing there is more; the page itself never scrolls sideways; the chat keeps most of the screen."""
    page = console.page
    await be(console, AS_EMPLOYEE)
    await console.send(f"企业社保 {COMPANY}")
    report = console.card(f"企业社保缴纳 · {COMPANY}")
    await expect(report).to_be_visible(timeout=10_000)
    table = report.locator(".table-wrap").first
    scroller = table.locator(".table-scroll")
    last_header = table.locator("th").last
    await expect(last_header).to_have_text("累计欠缴（元）")
    await expect(table).to_have_class(
        re.compile(r"\bmore-right\b")
    )  # the shadow on the side with more columns
    await no_horizontal_scroll(page)
    widths = await scroller.evaluate("(node) => [node.scrollWidth, node.clientWidth]")
    assert widths[0] > widths[1], f"at 375 px the five columns are wider than the card: {widths}"
    for width in await table.locator("th").evaluate_all("(cells) => cells.map((c) => c.offsetWidth)"):
        assert width >= 80, "a column is at least 80 px wide, as Feishu draws it"

    await scroller.evaluate("(node) => { node.scrollLeft = node.scrollWidth; }")
    await expect(table).to_have_class(re.compile(r"\bmore-left\b"))
    await expect(table).not_to_have_class(re.compile(r"\bmore-right\b"))
    card_box, header_box = await report.bounding_box(), await last_header.bounding_box()
    assert (
        card_box
        and header_box
        and header_box["x"] + header_box["width"] <= card_box["x"] + card_box["width"] + 1
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await report.screenshot(path=str(ARTIFACTS / "phone-table-scrolled-to-the-last-column.png"))

    messages = await page.locator("#messages").bounding_box()
    assert messages and messages["height"] >= 0.55 * PHONE["height"], f"the chat gets {messages}"


@pytest.mark.viewport(PHONE)
async def test_on_a_phone_plain_text_keeps_its_line_breaks_and_files_show_their_names(
    console: Console,
) -> None:
    await be(console, AS_EMPLOYEE)
    await console.send("增减员")
    own = console.card("社保增减员记录 · 张小明")
    await expect(own).to_be_visible(timeout=10_000)
    lines = own.locator(".div-text", has_text="申报基数").first
    shown = await lines.evaluate("(node) => node.innerText")
    assert "申报基数：14,911.00 元\n" in shown and "\n参保城市：北京" in shown, shown

    await be(console, AS_HR, "HR 群")
    await console.send("增减员摘要")
    digest = console.card("社保增减员摘要").last
    await expect(digest.get_by_role("button", name="导出 Excel")).to_be_visible(timeout=20_000)
    await digest.get_by_role("button", name="导出 Excel").click()
    file = console.page.locator("a.file").last
    await expect(file).to_have_text(re.compile(r"^📎 增减员-\d{8}-\d{4}\.xlsx$"), timeout=20_000)
    await no_horizontal_scroll(console.page)
