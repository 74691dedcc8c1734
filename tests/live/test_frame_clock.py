"""The frame clock: pages render on the stream's clock, and pictures are taken only on change.

Real Chromium builds. The headless shell under begin-frame control renders a
page only when asked: at each tick of the encoder's clock while it moves (five
times a second at 5 frames/s), at once when its script changes it, and about
once a second while it is still;
the full browser (or a browser elsewhere) keeps rendering at display rate,
with the damage-driven screencast, and the pipeline tells which it uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import functools
from pathlib import Path
import shutil

from aiohttp import web
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dashboard_cast.const import (
    CONF_ALLOWED_ORIGINS,
    CONF_DASHBOARD,
    CONF_FPS,
    CONF_QUALITY,
    CONF_REDUCE_MOTION,
    CONF_TARGET,
)
from custom_components.dashboard_cast.dashboard_cast_pipeline import browser
from custom_components.dashboard_cast.dashboard_cast_pipeline.browser import BrowserPool
from custom_components.dashboard_cast.dashboard_cast_pipeline.capture import (
    ACTIVE_SECONDS,
    HEARTBEAT_SECONDS,
    WAKE_BINDING,
    FrameClockCapture,
)
from custom_components.dashboard_cast.dashboard_cast_pipeline.page import PageSpec, async_open_page
from custom_components.dashboard_cast.dashboard_cast_pipeline.server import MAX_SESSIONS
from custom_components.dashboard_cast.streamer import DATA_DOMAIN, TargetStreamer, stream_url
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from ..media import close_to, colour_of, latest_colour, serve
from .conftest import BLUE, RED, ColourPage, release_pipeline, wait_for_colour
from .test_renderer_service import Renderer, renderer, wait_playable  # noqa: F401

pytestmark = pytest.mark.usefixtures("socket_enabled")
WINDOW = 4.0  # seconds of counting
# Counts its animation frames (what the page renders), and turns blue when told.
PAGE = """<!doctype html><html><body style="margin:0;background:#ff0000">
<div style="width:100px;height:100px;background:#fff;animation:spin 1s linear infinite"></div>
<style>@keyframes spin { to { transform: rotate(360deg); } }</style>
<script>
window.animationFrames = 0;
const count = () => { window.animationFrames++; requestAnimationFrame(count); };
requestAnimationFrame(count);
</script></body></html>"""
# Its colour is in a shadow root, as a dashboard's are: what changes there is out
# of sight of the document's observers.
STILL_PAGE = """<!doctype html><html><body style="margin:0"><div id="host"></div>
<script>
const root = document.getElementById("host").attachShadow({ mode: "closed" });
root.innerHTML = '<div style="width:100vw;height:100vh;background:#ff0000"></div>';
new EventSource("/events").onmessage = (e) => { root.firstChild.style.background = e.data; };
</script></body></html>"""

# Black and white columns one screen pixel wide, drawn on a canvas as large as
# the screen in its own pixels: only a picture taken at those pixels keeps them.
STRIPES = """<!doctype html><html><body style="margin:0;overflow:hidden">
<canvas style="display:block;width:100vw;height:100vh"></canvas><script>
const canvas = document.querySelector("canvas");
canvas.width = Math.round(innerWidth * devicePixelRatio);
canvas.height = Math.round(innerHeight * devicePixelRatio);
const draw = canvas.getContext("2d");
draw.fillStyle = "#fff";
draw.fillRect(0, 0, canvas.width, canvas.height);
draw.fillStyle = "#000";
for (let x = 0; x < canvas.width; x += 2) draw.fillRect(x, 0, 1, canvas.height);
</script></body></html>"""


class Pages:
    """The pages on loopback: moving, still (it turns the colour it is told) and stripes."""

    def __init__(self) -> None:
        """Not served yet: the fixture serves it."""
        self.origin = ""
        self._colour: str | None = None
        self._closing = False
        self._changed = asyncio.Condition()

    async def set_colour(self, colour: str) -> None:
        """Tell every still page open, and every one to open, to turn colour."""
        async with self._changed:
            self._colour = colour
            self._changed.notify_all()

    async def close(self) -> None:
        """End the event streams."""
        async with self._changed:
            self._closing = True
            self._changed.notify_all()

    def _news_since(self, sent: str | None) -> bool:
        return self._closing or self._colour != sent

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Send the colour whenever it changes (and at once, if it was set already).

        Every document gets it, as from a real event source: one that is
        going away (a reload) may still hold its stream open.
        """
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        sent = None
        while True:
            async with self._changed:
                await self._changed.wait_for(functools.partial(self._news_since, sent))
                if self._closing:
                    return response
                sent = self._colour
            await response.write(f"data: {sent}\n\n".encode())


@pytest.fixture
async def pages() -> AsyncGenerator[Pages]:
    """Serve the pages on 127.0.0.1."""
    served = Pages()
    app = web.Application()
    app.router.add_get("/moving", lambda _: web.Response(text=PAGE, content_type="text/html"))
    app.router.add_get("/still", lambda _: web.Response(text=STILL_PAGE, content_type="text/html"))
    app.router.add_get("/events", served.events)
    app.router.add_get("/stripes", lambda _: web.Response(text=STRIPES, content_type="text/html"))
    runner, port = await serve(app, shutdown_timeout=0.1)
    served.origin = f"http://127.0.0.1:{port}"
    yield served
    await served.close()
    await runner.cleanup()


@pytest.fixture
async def streamer(
    hass: HomeAssistant, base_url: str, config_entry: MockConfigEntry, pages: Pages
) -> AsyncGenerator[TargetStreamer]:
    """A loaded entry at 5 frames/s, animations left running."""
    cast = er.async_get(hass).async_get(config_entry.data[CONF_TARGET])
    assert cast is not None
    hass.states.async_set(cast.entity_id, "off")
    hass.config_entries.async_update_entry(
        config_entry,
        options={
            **config_entry.options,
            CONF_DASHBOARD: f"{pages.origin}/moving",
            CONF_ALLOWED_ORIGINS: [pages.origin],
            CONF_FPS: 5,
            CONF_QUALITY: "720p",
            CONF_REDUCE_MOTION: False,
        },
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    yield config_entry.runtime_data.streamer
    if config_entry.state is ConfigEntryState.LOADED:
        await hass.config_entries.async_unload(config_entry.entry_id)
    await release_pipeline(hass)


async def animation_frames_per_second(session: object) -> float:
    """How many frames the page rendered a second, by its own count."""
    page = session._page  # type: ignore[attr-defined]
    before = await page.evaluate("window.animationFrames")
    await asyncio.sleep(WINDOW)
    return float(await page.evaluate("window.animationFrames") - before) / WINDOW


@pytest.mark.parametrize(
    ("build", "capture", "renders"),
    [
        # On our clock: a frame per tick of the 5 frames/s stream.
        ("/usr/lib/chromium/chromium-headless-shell", "frame_clock", (3, 7)),
        # The full browser renders at display rate (60 frames/s; half that on a
        # loaded machine), and the screencast takes what it needs.
        ("chromium", "screencast", (15, 80)),
    ],
)
async def test_a_moving_page_renders_at_the_stream_rate(
    hass: HomeAssistant,
    streamer: TargetStreamer,
    monkeypatch: pytest.MonkeyPatch,
    build: str,
    capture: str,
    renders: tuple[int, int],
) -> None:
    """The page's own count of rendered frames follows the capture the browser allows."""
    monkeypatch.setattr(browser, "find_chromium", lambda **_: shutil.which(build))
    session = await streamer.async_start()
    await asyncio.wait_for(session.wait_playable(), 30)
    assert hass.data[DATA_DOMAIN].pool.capture_mode == capture
    rate = await animation_frames_per_second(session)
    assert renders[0] <= rate <= renders[1], rate
    # Either way the stream takes at most 5 new pictures a second.
    frames = session.stats.frames_in
    await asyncio.sleep(WINDOW)
    assert session.stats.frames_in - frames <= 5 * WINDOW + 2


@pytest.mark.parametrize("reloaded", [False, True], ids=["first_document", "after_reload"])
async def test_a_still_page_renders_when_it_changes(
    hass: HomeAssistant,
    streamer: TargetStreamer,
    config_entry: MockConfigEntry,
    pages: Pages,
    reloaded: bool,
) -> None:
    """On the clock, a still page renders once a heartbeat, and at once when its script changes.

    Also after a reload (its dashboard's configuration changed), whose new
    document needs the binding again.
    """
    session = await streamer.async_start(dashboard=f"{pages.origin}/still")
    await asyncio.wait_for(session.wait_playable(), 30)
    capture = session.capture  # type: ignore[attr-defined]
    assert isinstance(capture, FrameClockCapture)
    page = session._page  # type: ignore[attr-defined]
    if reloaded:
        await page.evaluate("window.beforeReload = true")
        await session.reload()  # type: ignore[attr-defined]
        assert await page.evaluate("window.beforeReload") is None
    # The page's own scripts cannot call the binding (and flood us with calls).
    assert await page.evaluate(f"typeof window.{WAKE_BINDING}") == "undefined"
    # Nor take its name for something of their own.
    name = f"window.{WAKE_BINDING}"
    taken = f"(() => {{ try {{ {name} = () => 0; }} catch {{}} return typeof {name}; }})()"
    assert await page.evaluate(taken) == "undefined"
    await asyncio.sleep(ACTIVE_SECONDS + 1)  # loaded, drawn, and still since
    frames, renders, wakes = session.stats.frames_in, capture.ticks, capture.wakes
    pictures = capture.pictures
    await asyncio.sleep(WINDOW)
    # The heartbeat, not the stream's 5 ticks a second; nothing pictured, not
    # even unchanged (a picture costs several renders: its copy and its JPEG).
    heartbeats = WINDOW / HEARTBEAT_SECONDS
    still = {
        "renders": capture.ticks - renders,
        "frames": session.stats.frames_in - frames,
        "pictures": capture.pictures - pictures,
        "wakes": capture.wakes - wakes,
    }
    assert heartbeats - 1 <= still["renders"] <= heartbeats + 1, still
    assert still["frames"] == still["pictures"] == still["wakes"] == 0, still
    await pages.set_colour("#0000ff")
    master = stream_url(hass, config_entry, session.token)
    assert master is not None
    async with asyncio.timeout(10):
        while not close_to(await latest_colour(master), BLUE):
            await asyncio.sleep(0.2)
    changed = session.stats.frames_in - frames
    assert 1 <= changed <= 2, changed  # the change, once
    assert capture.wakes > wakes  # rendered because the page said it changed


async def test_as_many_streams_as_a_renderer_takes_share_the_clock(
    renderer: Renderer,  # noqa: F811
    colour_page: ColourPage,
) -> None:
    """Eight streams at once on one browser's clock, each following its page.

    Frames of different pages never overlap: overlapping ones crash the
    headless shell's compositor from the fifth page or so.
    """
    sessions = []
    for _ in range(MAX_SESSIONS):
        status, started = await renderer.call("POST", "/sessions", colour_page.session(fps=5))
        assert status == 201, started
        sessions.append(started)
    for started in sessions:
        await wait_playable(renderer, f"/sessions/{started['id']}")
    colour_page.colour = "#0000ff"
    for started in sessions:
        await wait_for_colour(renderer.base + started["playlist"], BLUE)
    status, health = await renderer.call("GET", "/health")
    assert status == 200
    assert health["capture"] == "frame_clock"
    for started in sessions:
        status, state = await renderer.call("GET", f"/sessions/{started['id']}")
        assert status == 200
        assert state["restarts"] == 0, state


GREEN = (0, 128, 0)  # CSS green


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncGenerator[BrowserPool]:
    """Our Chromium, as a stream gets it; closed afterwards."""
    browser_pool = BrowserPool(temp_dir=tmp_path / "browser")
    yield browser_pool
    await browser_pool.async_close()


async def test_each_render_brings_the_picture_it_drew(pool: BrowserPool) -> None:
    """On the clock, a tick returns with the picture of what it rendered, every time.

    At a stream's size (a 1080p picture took the screencast over the tick's
    wait), when the page changes faster than pictures travel, and when the
    encoder's tick stopped waiting for the render: the screencast skipped a
    frame drawn while earlier ones were on their way, and on a still page
    nothing was drawn after it, so the TV kept a dashboard's loading screen.
    """
    browser = await pool.acquire()
    assert pool.frame_clock
    context, page = await async_open_page(
        browser, PageSpec("data:text/html,<body style='background:red'>", 1920, 1080)
    )
    capture = FrameClockCapture(page, 1920, 1080, 5)
    await capture.start()
    paint = "colour => { document.body.style.background = colour; }"
    try:
        # Changes as fast as ticks go (start() makes the first ticks take pictures).
        pictures = []
        for name in ("red", "blue") * 5:
            await page.evaluate(paint, name)
            await capture.tick()
            pictures.append(capture.latest)
        for picture, colour in zip(pictures, (RED, BLUE) * 5, strict=True):
            assert picture is not None
            assert close_to(await colour_of(picture, "jpeg_pipe"), colour)
        assert capture.stats.frames_in == 10
        # Still since: a tick with an unchanged picture ends the pictures, and a
        # change the page does not tell of waits for the heartbeat.
        await capture.tick()
        assert capture.stats.frames_in == 10
        await asyncio.sleep(HEARTBEAT_SECONDS)
        await page.evaluate(paint, "green")
        tick = asyncio.ensure_future(capture.tick())
        await asyncio.sleep(0)  # it renders now
        tick.cancel()  # the encoder's tick is over; the render goes on
        async with asyncio.timeout(5):
            while capture.stats.frames_in == 10:
                await asyncio.sleep(0.05)
        assert capture.latest is not None
        assert close_to(await colour_of(capture.latest, "jpeg_pipe"), GREEN)
    finally:
        await capture.stop()
        await context.close()
        pool.release()
