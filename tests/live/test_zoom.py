"""Zoom: a page laid out bigger is still drawn at every pixel of the stream.

Chromium captures a page at its window's size in its screen's pixels. A page
zoomed 2x on a screen of ratio 1 came out at half the stream's size, and
FFmpeg's upscale made every line of text soft; each zoomed page now has a
screen of its own ratio (page.py).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import shutil

from PIL import Image
from playwright.async_api import Error as PlaywrightError
import pytest

from custom_components.dashboard_cast.dashboard_cast_pipeline import browser
from custom_components.dashboard_cast.dashboard_cast_pipeline.page import _place_on_zoom_screen
from custom_components.dashboard_cast.streamer import TargetStreamer

from .test_frame_clock import Pages, pages, streamer  # noqa: F401

pytestmark = pytest.mark.usefixtures("socket_enabled")
HEADLESS_SHELL = "/usr/lib/chromium/chromium-headless-shell"


def stripe_contrast(jpeg: bytes) -> tuple[tuple[int, int], float]:
    """The picture's size, and how much neighbouring columns differ across its middle row."""
    with Image.open(io.BytesIO(jpeg)) as picture:
        row = picture.convert("L").crop(
            (0, picture.height // 2, picture.width, picture.height // 2 + 1)
        )
        values = list(row.tobytes())
        size = picture.size
    steps = [abs(a - b) for a, b in itertools.pairwise(values)]
    return size, sum(steps) / len(steps)


@pytest.mark.parametrize(
    ("build", "zoom"),
    [(HEADLESS_SHELL, 2.0), (HEADLESS_SHELL, 1.5), (HEADLESS_SHELL, 0.5), ("chromium", 2.0)],
)
async def test_a_zoomed_page_is_drawn_at_the_streams_pixels(
    streamer: TargetStreamer,  # noqa: F811
    pages: Pages,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    build: str,
    zoom: float,
) -> None:
    """Columns one pixel of the stream wide reach the encoder as such, at the stream's size.

    A second stream at the same zoom goes on the screen the first one added.
    """
    monkeypatch.setattr(browser, "find_chromium", lambda **_: shutil.which(build))
    for _ in range(2):
        session = await streamer.async_start(dashboard=f"{pages.origin}/stripes", zoom=zoom)
        await asyncio.wait_for(session.wait_playable(), 30)
        page = session._page
        assert page is not None
        assert await page.evaluate("devicePixelRatio") == pytest.approx(zoom)
        assert await page.evaluate("innerWidth") == round(1280 / zoom)
        frame = session.latest_frame
        assert frame is not None
        size, contrast = stripe_contrast(frame)
        assert size == (1280, 720)
        # Sharp: black next to white (a JPEG keeps most of it). Drawn at fewer
        # pixels and scaled up: an even grey, near 0.
        assert contrast > 100, contrast
    cdp = await page.context.new_cdp_session(page)
    screens = (await cdp.send("Emulation.getScreenInfos"))["screenInfos"]
    await cdp.detach()
    assert [screen["devicePixelRatio"] for screen in screens] == [1, pytest.approx(zoom)]


class NoScreens:
    """A browser's DevTools session without Emulation.addScreen (a headful browser elsewhere)."""

    def __init__(self) -> None:
        """Nothing asked yet."""
        self.asked: list[str] = []
        self.detached = False

    async def send(self, method: str, params: object = None) -> dict[str, object]:
        """Answer as such a browser does."""
        self.asked.append(method)
        if method == "Emulation.getScreenInfos":
            return {"screenInfos": [{"left": 0, "top": 0, "width": 800, "height": 600}]}
        raise PlaywrightError(f"'{method}' wasn't found")

    async def detach(self) -> None:
        """Let go of the page."""
        self.detached = True


async def test_without_screens_of_its_own_the_page_stays_where_it_is() -> None:
    """A browser that cannot add screens still shows the zoomed page (softer), and nothing fails."""
    session = NoScreens()

    class Context:
        async def new_cdp_session(self, page: object) -> NoScreens:
            return session

    await _place_on_zoom_screen(Context(), object(), 2.0)  # type: ignore[arg-type]
    assert session.asked == ["Emulation.getScreenInfos", "Emulation.addScreen"]
    assert session.detached
