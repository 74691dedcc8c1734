"""Chromium on our own DevTools pipe, real Chromium and real Playwright behind it.

The frames of a page come on our own sessions; Playwright drives the same
browser through the relay, and nobody else can.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import os
from pathlib import Path
import sys
from typing import Any, override

import aiohttp
from playwright.async_api import async_playwright
import psutil
import pytest
from yarl import URL

from custom_components.dashboard_cast.dashboard_cast_pipeline.browser import (
    HEADLESS_SHELL_ARGS,
    PAGE_BROWSER_ARGS,
    find_chromium,
)
from custom_components.dashboard_cast.dashboard_cast_pipeline.devtools import DevToolsError
from custom_components.dashboard_cast.dashboard_cast_pipeline.isolation import sandbox_failure
from custom_components.dashboard_cast.dashboard_cast_pipeline.launch import (
    PROFILE_PREFIX,
    ChromiumProcess,
    LaunchError,
)

from .conftest import wait_for

pytestmark = pytest.mark.usefixtures("socket_enabled")
PAGE = "data:text/html,<body style='margin:0;background:%23ff0000'>"


class RecordingQueue(asyncio.Queue[bytes | None]):
    """The relay's queue to Playwright, remembering what passed."""

    def __init__(self) -> None:
        """Initialize empty."""
        super().__init__()
        self.seen: list[bytes] = []

    @override
    def put_nowait(self, item: bytes | None) -> None:
        if item is not None:
            self.seen.append(item)
        super().put_nowait(item)


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncGenerator[ChromiumProcess]:
    """The headless shell on our pipe, under begin-frame control as in a stream."""
    executable = find_chromium()
    assert executable is not None
    process = await ChromiumProcess.launch(
        executable,
        [*PAGE_BROWSER_ARGS, *HEADLESS_SHELL_ARGS],
        {},
        sandbox=False,
        profile_parent=tmp_path,
    )
    yield process
    await process.kill()
    assert process.processes() == []
    assert list(tmp_path.iterdir()) == []  # its profile is gone


async def test_frames_come_on_our_session_and_playwright_drives_the_rest(
    chromium: ChromiumProcess,
) -> None:
    """Playwright works through the relay; a page's frames reach us and never Playwright."""
    assert "HeadlessChrome/" in chromium.version
    assert psutil.Process(chromium.pid).ppid() == os.getpid()
    pipe = chromium.devtools
    pipe._to_relay = relayed = RecordingQueue()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect_over_cdp(await pipe.serve_playwright())
        context = await browser.new_context(viewport={"width": 320, "height": 180})
        page = await context.new_page()
        await page.goto(PAGE)
        lookup = await context.new_cdp_session(page)
        target = (await lookup.send("Target.getTargetInfo"))["targetInfo"]["targetId"]
        await lookup.detach()

        ours = await pipe.attach(target)
        frames: list[dict[str, Any]] = []
        ours.on("Page.screencastFrame", frames.append)
        await ours.send("Page.startScreencast", {"format": "jpeg", "maxWidth": 320})
        for _ in range(3):
            await ours.send("HeadlessExperimental.beginFrame", {"interval": 200})
            await page.evaluate("document.body.style.background = '#0000ff'")
        await wait_for(lambda: bool(frames))
        assert frames[0]["data"]
        assert await page.evaluate("1 + 1") == 2  # Playwright, meanwhile
        with pytest.raises(DevToolsError, match=r"'Not\.aMethod' wasn.t found"):
            await ours.send("Not.aMethod")
        assert not any(ours.session_id.encode() in raw for raw in relayed.seen)
        assert relayed.seen  # Playwright's own answers went through

        await context.close()  # its page goes, and our session with it
        await wait_for(lambda: ours.detached)
        with pytest.raises(DevToolsError):
            await ours.send("Runtime.evaluate", {"expression": "0"})
        await browser.close()


async def test_only_playwright_gets_in(chromium: ChromiumProcess) -> None:
    """The relay takes one connection with its secret, none from a page, then stops listening."""
    endpoint = URL(await chromium.devtools.serve_playwright())
    assert endpoint.host == "127.0.0.1"
    async with aiohttp.ClientSession() as http:
        for wrong in ("AAAA", "ÄÄÄÄ"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(endpoint.with_path(endpoint.path[:-4] + wrong))
            assert refused.value.status == 404
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # a page's request
            await http.ws_connect(endpoint, origin="http://127.0.0.1:8123")
        assert refused.value.status == 404
    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect_over_cdp(str(endpoint))
        assert browser.version
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectionError):
                await http.ws_connect(endpoint)  # no longer listening
        await browser.close()


async def test_playwright_sees_chromium_go(chromium: ChromiumProcess) -> None:
    """Chromium crashes: the relay closes and Playwright's browser is disconnected."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect_over_cdp(
            await chromium.devtools.serve_playwright()
        )
        os.kill(chromium.pid, 9)
        await asyncio.wait_for(chromium.exited.wait(), 10)
        await wait_for(lambda: not browser.is_connected())
        assert chromium.returncode == -9
        with pytest.raises(DevToolsError):
            await chromium.devtools.browser_call("Browser.getVersion")


@pytest.mark.skipif(os.geteuid() != 0, reason="Chromium refuses its sandbox only as root")
async def test_a_browser_that_does_not_start_says_why(tmp_path: Path) -> None:
    """Chromium's own last words are the error (what tells why its sandbox is off)."""
    executable = find_chromium()
    assert executable is not None
    with pytest.raises(LaunchError) as failed:  # as root, with its sandbox
        await ChromiumProcess.launch(
            executable, list(PAGE_BROWSER_ARGS), {}, sandbox=True, profile_parent=tmp_path
        )
    assert "Chromium exited with code" in str(failed.value)
    assert "without --no-sandbox is not supported" in sandbox_failure(str(failed.value))
    assert "without --no-sandbox is not supported" in failed.value.reason
    assert list(tmp_path.iterdir()) == []  # no profile left
    with pytest.raises(LaunchError, match="No such file"):
        await ChromiumProcess.launch(
            "/nonexistent/chromium", [], {}, sandbox=False, profile_parent=tmp_path
        )
    assert list(tmp_path.iterdir()) == []


async def test_a_launch_removes_profiles_whose_process_is_gone(tmp_path: Path) -> None:
    """Home Assistant killed leaves its Chromium's profile; the next launch removes it."""
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "")
    await gone.wait()
    stale = tmp_path / f"{PROFILE_PREFIX}{gone.pid}-abc"
    (stale / "Default").mkdir(parents=True)
    (stale / "Default" / "Cookies").write_bytes(b"left behind")
    kept = [
        tmp_path / f"{PROFILE_PREFIX}1-abc",  # a process that runs (another Home Assistant's)
        tmp_path / f"{PROFILE_PREFIX}{os.getpid()}-abc",  # this process's other browser
        tmp_path / f"{PROFILE_PREFIX}abc",  # not named after a process
        tmp_path / "other",
    ]
    for folder in kept:
        folder.mkdir()
    executable = find_chromium()
    assert executable is not None
    process = await ChromiumProcess.launch(
        executable, list(PAGE_BROWSER_ARGS), {}, sandbox=False, profile_parent=tmp_path
    )
    try:
        assert process.profile.name.startswith(f"{PROFILE_PREFIX}{os.getpid()}-")
        assert not stale.exists()
        assert sorted(tmp_path.iterdir()) == sorted([*kept, process.profile])
    finally:
        await process.kill()


async def test_close_asks_chromium_to_quit(chromium: ChromiumProcess) -> None:
    """Browser.close: Chromium exits on its own, with code 0."""
    processes = chromium.processes()
    assert len(processes) > 1  # the browser and its helpers
    await chromium.close()
    assert chromium.returncode == 0
    await wait_for(lambda: not any(psutil.pid_exists(pid) for pid in processes))
