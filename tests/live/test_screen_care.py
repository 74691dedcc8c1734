"""Screen care in real Chromium: the picture moves by a few pixels, step by step."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path

from aiohttp import web
import pytest

from custom_components.dashboard_cast.const import CONF_QUALITY, CONF_SCREEN_CARE
from custom_components.dashboard_cast.dashboard_cast_pipeline import page as page_module
from custom_components.dashboard_cast.dashboard_cast_pipeline.browser import BrowserPool
from custom_components.dashboard_cast.dashboard_cast_pipeline.capture import (
    FrameClockCapture,
    ScreencastCapture,
)
from custom_components.dashboard_cast.dashboard_cast_pipeline.page import (
    SCREEN_CARE_OFFSETS,
    PageSpec,
    async_open_page,
)
from homeassistant.core import HomeAssistant

from ..cast_emulator import CastDevice
from ..media import first_content_row, serve
from ..receiver import ShakaReceiver
from .test_cast import TV, add_player
from .test_receiver import start_and_play

# White, with a black square at row 100 (the top edge found in a JPEG is a few
# rows higher: its ringing).
PAGE = (
    "data:text/html,<body style='margin:0;background:white'>"
    "<div style='position:absolute;left:100px;top:100px;width:300px;height:300px;"
    "background:black'></div></body>"
)
STEP_SECONDS = 0.3
# Playwright reaches our Chromium over loopback (devtools.py).
pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncGenerator[BrowserPool]:
    """Our Chromium, as a stream gets it; closed afterwards."""
    browser_pool = BrowserPool(temp_dir=tmp_path / "browser")
    yield browser_pool
    await browser_pool.async_close()


async def top_edges(pool: BrowserPool, *, screen_care: bool) -> list[int | None]:
    """Where the square's top edge is in the picture a stream gets, over ten steps' time."""
    browser = await pool.acquire()
    context, page = await async_open_page(
        browser,
        PageSpec(PAGE, 1280, 720, screen_care=screen_care, screen_care_seconds=STEP_SECONDS),
    )
    # The pipeline's own capture: on the frame clock (the headless shell), a
    # tick renders the page and brings its picture, as the encoder's do.
    capture = (FrameClockCapture if pool.frame_clock else ScreencastCapture)(page, 1280, 720, 5)
    await capture.start()
    rows = []
    try:
        while len(rows) < 20:
            if isinstance(capture, FrameClockCapture):
                await capture.tick()
            if capture.latest is not None:
                rows.append(await first_content_row(capture.latest))
            await asyncio.sleep(STEP_SECONDS / 2)
    finally:
        await capture.stop()
        await context.close()
        pool.release()
    return rows


async def test_screen_care_moves_the_picture_a_few_pixels(pool: BrowserPool) -> None:
    """On: the edge visits several rows, within the offsets' span."""
    rows = [row for row in await top_edges(pool, screen_care=True) if row is not None]
    assert len(rows) == 20
    span = max(y for _, y in SCREEN_CARE_OFFSETS) - min(y for _, y in SCREEN_CARE_OFFSETS)
    assert len(set(rows)) >= 2, rows
    assert max(rows) - min(rows) <= span + 1, rows  # a JPEG edge moves by a row either way


async def test_without_screen_care_the_picture_stays(pool: BrowserPool) -> None:
    """Off (the default): the edge stays where the page put it."""
    rows = await top_edges(pool, screen_care=False)
    assert len(set(rows)) == 1, rows
    assert None not in rows


SQUARE_PAGE = PAGE.removeprefix("data:text/html,")


@pytest.fixture
async def square_page() -> AsyncGenerator[str]:
    """The page, on loopback."""
    app = web.Application()
    app.router.add_get("/", lambda _: web.Response(text=SQUARE_PAGE, content_type="text/html"))
    runner, port = await serve(app)
    yield f"http://127.0.0.1:{port}/"
    await runner.cleanup()


async def test_the_tv_shows_the_picture_moving(
    hass: HomeAssistant,
    base_url: str,
    square_page: str,
    cast_devices: dict[str, CastDevice],
    receiver: ShakaReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """End to end, the option on: the TV's player shows the square's edge moving, a few rows."""
    monkeypatch.setattr(page_module, "SCREEN_CARE_SECONDS", 0.6)  # a step every 0.6 s
    tv = cast_devices[TV]
    tv.receiver = receiver
    _, player = await add_player(
        hass, tv, square_page, **{CONF_SCREEN_CARE: True, CONF_QUALITY: "720p"}
    )
    screen = await start_and_play(hass, player, tv)
    rows = []
    for _ in range(30):  # more than a round of the nine offsets
        await asyncio.sleep(0.3)
        rows.append(await first_content_row(await screen.picture()))
    found = [row for row in rows if row is not None]
    assert len(found) == len(rows), rows
    span = max(y for _, y in SCREEN_CARE_OFFSETS) - min(y for _, y in SCREEN_CARE_OFFSETS)
    assert span - 1 <= max(found) - min(found) <= span + 2, rows  # H.264 edges: a row either way
