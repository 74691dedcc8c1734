"""The floor under a pipeline that takes its pictures from Chromium: Chromium alone.

Our browser as a stream gets it (BrowserPool: the headless shell under
begin-frame control, with our flags and sandbox), one page at the stream's
size, and at each tick of the clock one render that brings its picture
(HeadlessExperimental.beginFrame with the capture's JPEG screenshot), over
the same DevTools pipe as a stream's: the loop the issue's prototype measured.
No Home Assistant, no encoder, nothing compared. On a page that moves, every
tick's picture is new, so this is what Chromium's part of a stream cannot go
below; what ours costs above it is ours. It moves with the machine's speed
from run to run, which the issue's absolute targets do not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from pathlib import Path
import shutil
import tempfile

from custom_components.dashboard_cast.dashboard_cast_pipeline.browser import BrowserPool
from custom_components.dashboard_cast.dashboard_cast_pipeline.capture import SCREENSHOT
from custom_components.dashboard_cast.dashboard_cast_pipeline.page import PageSpec, async_open_page


@contextlib.asynccontextmanager
async def floor_pipeline(url: str, width: int, height: int, fps: int) -> AsyncIterator[BrowserPool]:
    """Render url with a picture at every tick of fps until the block ends; yield the browser."""
    home = Path(tempfile.gettempdir()) / "dashboard_cast-bench-floor"  # in /tmp, as ours
    pool = BrowserPool(temp_dir=home)
    try:
        browser = await pool.acquire()
        if not pool.frame_clock:
            raise RuntimeError("this Chromium has no begin-frame control")
        context, page = await async_open_page(
            browser, PageSpec(url, width, height, reduce_motion=False)
        )
        cdp = await pool.page_session(page)
        stopping = asyncio.Event()

        async def tick() -> None:
            loop = asyncio.get_running_loop()
            params = {"interval": 1000 / fps, "screenshot": SCREENSHOT}
            next_tick = loop.time()
            while not stopping.is_set():
                await cdp.send("HeadlessExperimental.beginFrame", params)
                next_tick += 1 / fps
                await asyncio.sleep(max(0.0, next_tick - loop.time()))

        ticks = asyncio.create_task(tick())
        try:
            yield pool
        finally:
            stopping.set()
            await ticks
            await context.close()
            pool.release()
    finally:
        await pool.async_close()
        await asyncio.to_thread(shutil.rmtree, home, True)
