"""A screen hung on its side: the page laid out in portrait, the picture turned upright."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web
import pytest

from custom_components.dashboard_cast.const import CONF_ORIENTATION, CONF_QUALITY
from homeassistant.core import HomeAssistant

from ..cast_emulator import CastDevice
from ..media import close_to, fetch, last_picture, newest_segment, serve
from ..receiver import ShakaReceiver
from .conftest import BLUE, RED
from .test_cast import TV, add_player
from .test_receiver import start_and_play
from .test_renderer_service import Renderer, renderer, wait_playable  # noqa: F401

pytestmark = pytest.mark.usefixtures("socket_enabled")

GREEN = (0, 255, 0)
# Laid out in portrait: red above, blue below. In landscape: all green.
PAGE = """<!doctype html><html><head><style>
body { margin: 0; height: 100vh; background: #00ff00; }
@media (orientation: portrait) {
  body { background: linear-gradient(#ff0000 0 50%, #0000ff 50% 100%); }
}
</style></head><body></body></html>"""


async def quadrants(media: bytes) -> dict[str, tuple[int, int, int]]:
    """Mean colour of the left, right, top and bottom of a segment's last picture (16x8)."""
    frame = await last_picture(media, 16, 8)

    def mean(cells: list[tuple[int, int]]) -> tuple[int, int, int]:
        picked = [frame[(y * 16 + x) * 3 : (y * 16 + x) * 3 + 3] for x, y in cells]
        return (
            sum(p[0] for p in picked) // len(picked),
            sum(p[1] for p in picked) // len(picked),
            sum(p[2] for p in picked) // len(picked),
        )

    # Away from the middle, where the halves meet and the encoder blurs them.
    return {
        "left": mean([(x, y) for x in range(6) for y in range(8)]),
        "right": mean([(x, y) for x in range(10, 16) for y in range(8)]),
        "top": mean([(x, y) for x in range(16) for y in range(3)]),
        "bottom": mean([(x, y) for x in range(16) for y in range(5, 8)]),
    }


ORIENTATIONS = pytest.mark.parametrize(
    ("orientation", "expected"),
    [
        # Turned right (clockwise), the screen's left edge is at the top: red goes there.
        ("portrait_right", {"left": RED, "right": BLUE}),
        ("portrait_left", {"left": BLUE, "right": RED}),
        ("landscape", {"top": GREEN, "bottom": GREEN}),
    ],
)
# The same parts of the receiver's 16x9 sample of the picture it presents.
RECEIVER_PARTS = {
    "left": (range(6), range(9)),
    "right": (range(10, 16), range(9)),
    "top": (range(16), range(3)),
    "bottom": (range(16), range(6, 9)),
}


@pytest.fixture
async def portrait_page() -> AsyncIterator[str]:
    """The page, served where Home Assistant's tests may connect (its egress proxy does)."""
    app = web.Application()
    app.router.add_get("/", lambda _: web.Response(text=PAGE, content_type="text/html"))
    runner, port = await serve(app)
    yield f"http://127.0.0.1:{port}/"
    await runner.cleanup()


@ORIENTATIONS
async def test_the_turned_screen_shows_the_page_upright(
    hass: HomeAssistant,
    base_url: str,
    portrait_page: str,
    cast_devices: dict[str, CastDevice],
    receiver: ShakaReceiver,
    orientation: str,
    expected: dict[str, tuple[int, int, int]],
) -> None:
    """End to end: the option on the entry, the TV's player presents the picture turned."""
    tv = cast_devices[TV]
    tv.receiver = receiver
    _, player = await add_player(
        hass, tv, portrait_page, **{CONF_ORIENTATION: orientation, CONF_QUALITY: "720p"}
    )
    screen = await start_and_play(hass, player, tv)
    async with asyncio.timeout(20):
        while True:
            state = await screen.state()
            found = {part: state.region(*RECEIVER_PARTS[part]) for part in expected}
            # The player's picture is read through a canvas: pure green arrives
            # as about (0, 216, 4), further off than the other colours.
            if all(
                colour is not None and close_to(colour, expected[part], 48)
                for part, colour in found.items()
            ):
                break
            await asyncio.sleep(0.3)
    assert state.video_size == (1280, 720)


@ORIENTATIONS
async def test_portrait_page_stands_upright_on_a_turned_screen(
    renderer: Renderer,  # noqa: F811
    orientation: str,
    expected: dict[str, tuple[int, int, int]],
) -> None:
    """The stream stays 1280x720; what the page drew at its top is where the screen's top is."""
    app = web.Application()
    app.router.add_get("/", lambda _: web.Response(text=PAGE, content_type="text/html"))
    runner, port = await serve(app, "127.0.0.5")
    origin = f"http://127.0.0.5:{port}"
    try:
        status, started = await renderer.call(
            "POST",
            "/sessions",
            {"url": origin + "/", "allowed_origins": [origin], "orientation": orientation},
        )
        assert status == 201, started
        await wait_playable(renderer, f"/sessions/{started['id']}")
        master = renderer.base + started["playlist"]
        assert "RESOLUTION=1280x720" in (await fetch(master)).decode()
        async with asyncio.timeout(20):
            while True:
                found = await quadrants((await newest_segment(master))[1])
                if all(close_to(found[part], colour) for part, colour in expected.items()):
                    break
                await asyncio.sleep(0.3)
        assert (await renderer.call("DELETE", f"/sessions/{started['id']}"))[0] == 204
    finally:
        await runner.cleanup()
