"""The console in a real browser with the bot on the long connection: it says so, and its fault switches work."""

from __future__ import annotations

from pathlib import Path

from bot.clock import Clock
from bot.sandbox.compose import SandboxedBot
from tests.conftest import eventually, make_settings
from tests.test_console_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, expect, playwright


async def test_the_console_shows_the_long_connection_and_drops_it(tmp_path: Path, clock: Clock) -> None:
    composed = SandboxedBot(make_settings(tmp_path), mode="ws", clock=clock, employees=200, env_file=None)
    app = await composed.start()
    try:
        assert app.longconn is not None
        longconn, hub = app.longconn, composed.sandbox.longconn

        async def up() -> bool:
            return longconn.state().status == "connected"

        await eventually(up, 15, what="long connection up")
        async with playwright.async_playwright() as driver:
            context = await driver.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS,
                headless=True,
                locale="zh-CN",
            )
            page = context.pages[0] if context.pages else await context.new_page()
            try:
                await page.goto(f"{app.url}/console")
                await expect(page.locator("body[data-ready]")).to_be_attached()
                ingress = page.locator("#ingress")
                await expect(ingress).to_contain_text("长连接 · 已连接 · 重连 0 次")
                await page.get_by_label("消息").fill("帮助")
                await page.get_by_label("消息").press("Enter")
                await expect(page.locator(".card", has_text="使用帮助")).to_be_visible()
                assert hub.frames_sent == 1

                await page.get_by_role("button", name="断开长连接").click()
                await expect(ingress).to_contain_text("已连接 · 重连 1 次", timeout=10_000)
                await page.get_by_label("消息").fill("帮助")
                await page.get_by_label("消息").press("Enter")
                await expect(page.locator(".card", has_text="使用帮助")).to_have_count(2)
                assert hub.frames_sent == 2
            finally:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "longconn.png"))
                await context.close()
    finally:
        await composed.stop()
