"""The playing test receiver: Shaka Player in headless Chromium, on an origin of its own.

A real Cast Web Receiver is a web page on https://www.gstatic.com whose player
(Shaka Player for HLS) fetches the master playlist, media playlist and segments
with fetch() from that origin: every request carries an Origin header, and a
stream that does not answer CORS plays nothing. This receiver does the same: its
page is served from another loopback address than Home Assistant and the
renderer service, and the player is the npm package scripts/setup installs
(tests/receiver/package.json pins it).

What a person in front of the TV sees is read off the presented video frames
(requestVideoFrameCallback), not off the files the server wrote.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass
from pathlib import Path
import re
import time
from typing import Any

from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from custom_components.dashboard_cast.dashboard_cast_pipeline.browser import (
    CHROMIUM_ARGS,
    find_chromium,
)

REPO = Path(__file__).resolve().parent.parent
PAGE = Path(__file__).with_name("receiver") / "receiver.html"
SHAKA = REPO / ".cache/receiver/node_modules/shaka-player/dist/shaka-player.compiled.js"
# Another origin than Home Assistant (127.0.0.1) and the emulated devices.
RECEIVER_HOST = "127.0.0.9"
# The renderer's flags for this closed network; a receiver plays without a click.
RECEIVER_CHROMIUM_ARGS = (*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required")


def _freeze_seconds() -> float:
    """How long past its time a picture shown is a freeze a person sees: the page's FREEZE_MS."""
    found = re.search(r"const FREEZE_MS = (\d+);", PAGE.read_text())
    assert found is not None, "receiver.html names FREEZE_MS"
    return int(found[1]) / 1000


FREEZE_SECONDS = _freeze_seconds()


@dataclass(frozen=True, slots=True)
class PlayerState:
    """What the player reports at one moment."""

    loaded_at: float | None  # epoch ms of the LOAD
    first_frame_at: float | None  # epoch ms of the first presented frame
    playing: bool
    freezes: list[dict[str, float]]  # pictures FREEZE_SECONDS past their time, out of stream
    busy_gaps: list[dict[str, float]]  # other such gaps: the receiver page was too busy
    seeks: list[dict[str, Any]]  # playhead moves the player made on its own
    error: str | None
    recovered: list[str]  # errors the player reported as recoverable, and played on
    current_time: float
    buffered_end: float
    live_edge: float
    live_latency: float | None
    codecs: str | None  # of the variant playing
    colour: tuple[int, int, int] | None  # the mean of the whole picture
    centre: tuple[int, int, int] | None  # the mean of its middle
    grid: list[tuple[int, int, int]] | None  # the picture scaled to 16x9, row by row
    video_size: tuple[int, int]  # the decoded picture's width and height
    now: float  # the page's clock, epoch ms

    @classmethod
    def of(cls, raw: dict[str, Any]) -> PlayerState:
        """Read the page's answer."""
        colour, centre = raw["colour"], raw["centre"]
        return cls(
            loaded_at=raw["loadedAt"],
            first_frame_at=raw["firstFrameAt"],
            playing=raw["playing"],
            freezes=raw["freezes"],
            busy_gaps=raw["busyGaps"],
            seeks=raw["seeks"],
            error=raw["error"],
            recovered=raw["recovered"],
            current_time=raw["currentTime"],
            buffered_end=raw["bufferedEnd"],
            live_edge=raw["liveEdge"],
            live_latency=raw["liveLatency"],
            codecs=raw["codecs"],
            colour=tuple(colour) if colour is not None else None,
            centre=tuple(centre) if centre is not None else None,
            grid=None if raw["grid"] is None else [tuple(cell) for cell in raw["grid"]],
            video_size=tuple(raw["videoSize"]),
            now=raw["now"],
        )

    def region(self, x: range, y: range) -> tuple[int, int, int] | None:
        """The mean colour of the grid's cells in columns x (of 16) and rows y (of 9)."""
        if self.grid is None:
            return None
        cells = [self.grid[row * 16 + column] for row in y for column in x]
        return (
            sum(cell[0] for cell in cells) // len(cells),
            sum(cell[1] for cell in cells) // len(cells),
            sum(cell[2] for cell in cells) // len(cells),
        )

    @property
    def first_frame_s(self) -> float | None:
        """Seconds from the LOAD to the first presented frame."""
        if self.loaded_at is None or self.first_frame_at is None:
            return None
        return round((self.first_frame_at - self.loaded_at) / 1000, 2)

    @property
    def behind_live_edge(self) -> float:
        """How far the playhead is behind the newest time the player may play."""
        return self.live_edge - self.current_time


class PlayingScreen:
    """One LOAD played in its own page: the TV's screen while that media plays."""

    def __init__(self, page: Page) -> None:
        """Wrap a receiver page."""
        self._page = page

    async def load(self, url: str, segment_format: str | None) -> None:
        """Start playing url, as the receiver does on a LOAD message."""
        await self._page.evaluate(
            "([url, format]) => window.receiver.load(url, format)", [url, segment_format]
        )

    async def state(self) -> PlayerState:
        """The player's state now."""
        return PlayerState.of(await self._page.evaluate("window.receiver.state()"))

    async def picture(self) -> bytes:
        """The picture presented now, at its own size (JPEG)."""
        url: str = await self._page.evaluate("window.receiver.picture()")
        return base64.b64decode(url.split(",", 1)[1])

    async def first_frame_like(
        self, colour: tuple[int, int, int], since_ms: float, tolerance: int = 24
    ) -> float | None:
        """Epoch ms of the first frame presented at or after since_ms that shows colour."""
        frame = await self._page.evaluate(
            "([rgb, since, tol]) => window.receiver.firstFrameLike(rgb, since, tol)",
            [list(colour), since_ms, tolerance],
        )
        return None if frame is None else float(frame["at"])

    async def close(self) -> None:
        """Stop the player and close its page."""
        with contextlib.suppress(Exception):
            await self._page.evaluate("window.receiver.unload()")
        await self._page.close()


class ShakaReceiver:
    """Serves the receiver page on its own origin and plays streams in Chromium."""

    def __init__(self, browser: Browser, origin: str) -> None:
        """Use a running browser and the origin that serves the receiver page."""
        self._browser = browser
        self.origin = origin

    async def open(self) -> PlayingScreen:
        """A fresh receiver page, ready for a LOAD."""
        page = await self._browser.new_page(viewport={"width": 1280, "height": 720})
        await page.goto(f"{self.origin}/receiver.html")
        await page.wait_for_function("window.receiver !== undefined")
        return PlayingScreen(page)


@contextlib.asynccontextmanager
async def shaka_receiver(host: str = RECEIVER_HOST) -> AsyncIterator[ShakaReceiver]:
    """Serve the receiver page on host and give a receiver whose browser closes after."""
    if not SHAKA.is_file():
        raise RuntimeError(f"{SHAKA} is missing: run scripts/setup")
    app = web.Application()
    app.router.add_get("/receiver.html", lambda _: web.FileResponse(PAGE))
    app.router.add_get("/shaka-player.compiled.js", lambda _: web.FileResponse(SHAKA))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=find_chromium(headless_shell=False),
                args=list(RECEIVER_CHROMIUM_ARGS),
            )
            try:
                yield ShakaReceiver(browser, f"http://{host}:{port}")
            finally:
                await browser.close()
    finally:
        await runner.cleanup()


async def wait_until_playing(screen: PlayingScreen, timeout: float = 20) -> PlayerState:
    """Until the player presents frames; fail with the player's error."""
    async with asyncio.timeout(timeout):
        while True:
            state = await screen.state()
            assert state.error is None, state.error
            assert state.recovered == [], state.recovered
            if state.playing and state.first_frame_at is not None:
                return state
            await asyncio.sleep(0.1)


async def watch_playback(screen: PlayingScreen, seconds: float) -> list[PlayerState]:
    """Sample the player once a second for a while (each state has the page's time)."""
    samples = []
    end = time.monotonic() + seconds
    while True:
        samples.append(await screen.state())
        if time.monotonic() >= end:
            return samples
        await asyncio.sleep(1)
