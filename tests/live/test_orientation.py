"""A screen hung on its side: the page laid out in portrait, the picture turned upright."""

from __future__ import annotations

import asyncio

from aiohttp import web
import pytest

from ..media import close_to, fetch, last_picture, newest_segment, serve
from .conftest import BLUE, RED
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


@pytest.mark.parametrize(
    ("orientation", "expected"),
    [
        # Turned right (clockwise), the screen's left edge is at the top: red goes there.
        ("portrait_right", {"left": RED, "right": BLUE}),
        ("portrait_left", {"left": BLUE, "right": RED}),
        ("landscape", {"top": GREEN, "bottom": GREEN}),
    ],
)
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
