"""The renderer on a browser farm (browserless), with the URL its users paste.

The service (tests/browserless.py) ends every connection after its job timeout,
like browserless; here 3 s instead of browserless's 30 s, so that a test of a
few timeouts' length stays short.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path

from aiohttp import ClientSession
import pytest

from custom_components.dashboard_cast.const import CONF_RENDERER_SECRET, CONF_RENDERER_URL
from homeassistant.core import HomeAssistant

from ..browserless import BrowserService
from ..cast_emulator import CastDevice
from ..media import browser_pids, pipeline_processes
from ..test_config_flow import VALID_OPTIONS
from .conftest import BLUE, RED, ColourPage, wait_for, wait_for_colour
from .test_cast import TV, add_player
from .test_renderer_service import SECRET, Renderer, free_port, start_renderer, wait_playable

pytestmark = pytest.mark.usefixtures("socket_enabled")
TOKEN = "farm-token-" + "3f" * 12
JOB_TIMEOUT_MS = 3000


@pytest.fixture
async def service() -> AsyncGenerator[BrowserService]:
    """A browserless-like service on 127.0.0.12; its browsers are gone afterwards."""
    farm = BrowserService("127.0.0.12", TOKEN, timeout_ms=JOB_TIMEOUT_MS)
    await farm.start()
    yield farm
    await farm.stop()
    await wait_for(lambda: pipeline_processes() == {})


async def run_renderer(cdp_url: str, log: Path, *, healthy: bool = True) -> Renderer:
    """The renderer with the service's URL in its environment, logging at debug into log."""
    with log.open("w") as output:
        return await start_renderer(
            ClientSession(), free_port(), "--log-level", "debug",
            env={"DASHBOARD_CAST_CDP_URL": cdp_url}, stderr=output, healthy=healthy,
        )  # fmt: skip


async def playing(renderer: Renderer, page: ColourPage) -> dict[str, str]:
    """Start a session of the page; return its answer once it is playable."""
    status, started = await renderer.call("POST", "/sessions", page.session())
    assert status == 201, started
    await wait_playable(renderer, f"/sessions/{started['id']}")
    return started  # type: ignore[no-any-return]


def assert_no_token(text: str) -> None:
    """Neither the right token nor a wrong one appears."""
    assert TOKEN not in text
    assert "not-the-token" not in text


async def stop(renderer: Renderer) -> None:
    """SIGTERM, a clean exit."""
    await renderer.http.close()
    renderer.process.terminate()
    assert await renderer.process.wait() == 0


@pytest.mark.parametrize(
    "pasted",
    [
        "ws://{host}:{port}/chromium?token={token}",
        # Its /json/version names a websocket without the token: we carry it over.
        "http://{host}:{port}/?token={token}",
    ],
)
async def test_streams_for_hours_with_the_pasted_url(
    service: BrowserService, colour_page: ColourPage, tmp_path: Path, pasted: str
) -> None:
    """No job timeout cuts the stream; two sessions share one browser connection."""
    log = tmp_path / "renderer.log"
    url = pasted.format(host=service.host, port=service.port, token=TOKEN)
    renderer = await run_renderer(url, log)
    try:
        sessions = [await playing(renderer, colour_page) for _ in range(2)]
        await wait_for_colour(renderer.base + sessions[0]["playlist"], RED)
        # Four of the service's job timeouts: the one connection outlives them.
        await asyncio.sleep(4 * JOB_TIMEOUT_MS / 1000)
        colour_page.colour = "#0000ff"
        for started in sessions:
            await wait_for_colour(renderer.base + started["playlist"], BLUE)
            _, info = await renderer.call("GET", f"/sessions/{started['id']}")
            assert (info["state"], info["last_error"]) == ("running", None)
        assert service.connections == [{"token": TOKEN, "timeout": "0"}]
        assert service.timeouts == 0
        assert browser_pids(renderer.process.pid) == []  # it launched no Chromium
    finally:
        await stop(renderer)
    assert TOKEN not in log.read_text()
    assert "token=***" in log.read_text()  # it did log the endpoint, redacted


@pytest.mark.parametrize(
    ("cdp_url", "message"),
    [
        ("{origin}/chromium?token=not-the-token", "refused the token"),
        ("ws://127.0.0.13:9/chromium?token=" + TOKEN, "does not answer"),
    ],
)
async def test_health_tells_a_wrong_token_or_address(
    service: BrowserService, tmp_path: Path, cdp_url: str, message: str
) -> None:
    """Adding the renderer catches an endpoint it cannot use; no token in an answer or log."""
    log = tmp_path / "renderer.log"
    url = cdp_url.format(origin=f"ws://{service.host}:{service.port}")
    renderer = await run_renderer(url, log, healthy=False)
    try:
        status, answer = await renderer.call("GET", "/health")
        assert status == 502
        assert message in answer["message"]
        assert_no_token(answer["message"])
        # A session cannot start either, and says why without the token.
        status, answer = await renderer.call("POST", "/sessions", {"url": "http://127.0.0.1:9/"})
        assert status >= 500
        assert_no_token(str(answer))
    finally:
        await stop(renderer)
    assert_no_token(log.read_text())


async def test_adding_such_a_renderer_says_its_browser_is_unusable(
    hass: HomeAssistant,
    cast_devices: dict[str, CastDevice],
    service: BrowserService,
    tmp_path: Path,
) -> None:
    """The options flow refuses a renderer whose browser endpoint refuses its token."""
    url = f"ws://{service.host}:{service.port}/chromium?token=not-the-token"
    renderer = await run_renderer(url, tmp_path / "renderer.log", healthy=False)
    try:
        entry, _ = await add_player(hass, cast_devices[TV], "http://127.0.0.1:9/")
        before = dict(entry.options)
        result = await hass.config_entries.options.async_init(entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            {**VALID_OPTIONS, CONF_RENDERER_URL: renderer.base, CONF_RENDERER_SECRET: SECRET},
        )
        assert result["errors"] == {CONF_RENDERER_URL: "renderer_no_browser"}
        assert dict(entry.options) == before
    finally:
        await stop(renderer)
