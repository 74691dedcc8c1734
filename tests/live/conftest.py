"""Fixtures for tests with real Chromium, FFmpeg, HTTP and emulated Chromecasts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator
from typing import Any
from unittest.mock import patch

from aiohttp import web
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, get_test_instance_port
import pytest_socket
from yarl import URL

from custom_components.dashboard_cast.const import (
    CONF_ALLOWED_ORIGINS,
    CONF_CALLBACK_SECRET,
    CONF_DASHBOARD,
    CONF_TARGET,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from custom_components.dashboard_cast.streamer import DATA_DOMAIN
from homeassistant.const import CONF_WEBHOOK_ID, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.core_config import async_process_ha_core_config
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component

from ..cast_emulator import CastDevice
from ..conftest import CALLBACK_SECRET
from ..loopback import loopback
from ..media import close_to, latest_colour
from ..receiver import ShakaReceiver, shaka_receiver
from ..upstream import set_aside_shielded_send_failures

RED = (255, 0, 0)
BLUE = (0, 0, 255)
PAGE = """<!doctype html><html><body style="margin:0;background:#ff0000">
<script>
setInterval(async () => {
  document.body.style.background = await (await fetch("/colour")).text();
}, 100);
</script></body></html>"""
# Port 8009 is fixed: every emulated device has a loopback address of its own.
CAST_HOSTS = {loopback(2): "Living room TV", loopback(3): "Kitchen hub"}
CAST_MODELS = {loopback(2): "Chromecast", loopback(3): "Google Nest Hub"}


@pytest.fixture
def disable_http_server() -> Generator[None]:
    """Let Home Assistant's HTTP server listen for real: Chromium and FFmpeg use it."""
    yield  # noqa: PT022 - overrides the plugin's autouse fixture of this name


class ColourPage:
    """A page on loopback whose background colour the test sets.

    Loopback is closed to pages unless allow-listed (url_policy.py): entries
    and renderer sessions that show it allow its origin, as a user would.
    """

    def __init__(self) -> None:
        """Start red."""
        self.colour = "#ff0000"
        self.url = ""
        self.loads = 0  # how often a browser loaded the page

    @property
    def origin(self) -> str:
        """The page's origin, for allow-lists."""
        return self.url.rstrip("/")

    def session(self, **fields: Any) -> dict[str, Any]:
        """A renderer session's fields that show this page."""
        return {"url": self.url, "allowed_origins": [self.origin], **fields}

    def load(self, _: web.Request) -> web.Response:
        """Serve the page."""
        self.loads += 1
        return web.Response(text=PAGE, content_type="text/html")


@pytest.fixture
async def colour_page() -> AsyncGenerator[ColourPage]:
    """Serve the colour page on 127.0.0.1."""
    page = ColourPage()
    app = web.Application()
    app.router.add_get("/", page.load)
    app.router.add_get("/colour", lambda _: web.Response(text=page.colour))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    page.url = f"http://127.0.0.1:{port}/"
    yield page
    await runner.cleanup()


@pytest.fixture
async def base_url(hass: HomeAssistant, hass_storage: dict[str, Any]) -> str:
    """An onboarded Home Assistant serving its frontend on a real port.

    A real frontend talks to it: aiohttp's shielded websocket sends that fail
    as upstream's do (tests/upstream.py) are its stack's, and fail no test.
    """
    set_aside_shielded_send_failures(hass.loop)
    hass_storage["onboarding"] = {
        "version": 4,
        "minor_version": 1,
        "key": "onboarding",
        "data": {"done": ["user", "core_config", "analytics", "integration"]},
    }
    port = get_test_instance_port()
    base = f"http://127.0.0.1:{port}"
    await async_process_ha_core_config(hass, {"internal_url": base})
    assert await async_setup_component(
        hass, "http", {"http": {"server_port": port, "server_host": ["127.0.0.1"]}}
    )
    # What a real Home Assistant always runs and the frontend relies on.
    for component in ("frontend", "brands"):
        assert await async_setup_component(hass, component, {})
    await hass.async_block_till_done()
    return base


async def release_pipeline(hass: HomeAssistant) -> None:
    """Close the shared browser and write what it left pending, instead of on timers."""
    if DATA_DOMAIN in hass.data:
        await hass.data[DATA_DOMAIN].pool.async_close()
    await hass.async_block_till_done()
    # The frontend in Chromium used its token until the browser closed; write
    # the auth store's pending last_used_at now instead of on a timer.
    auth_store = hass.auth._store._store
    if auth_store._delay_handle is not None:
        auth_store._async_cleanup_delay_listener()
        await auth_store._async_handle_write_data()


async def wait_for_colour(url: str, expected: tuple[int, int, int], timeout: float = 15) -> None:
    """Poll the newest segment until it shows the colour."""
    async with asyncio.timeout(timeout):
        while not close_to(await latest_colour(url), expected):
            await asyncio.sleep(0.3)


async def wait_for(condition: Any, timeout: float = 30) -> None:
    """Let Home Assistant run until condition() holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


@pytest.fixture
async def cast_devices(hass: HomeAssistant) -> AsyncGenerator[dict[str, CastDevice]]:
    """Two emulated Chromecasts, found by Home Assistant's own cast integration."""
    pytest_socket.socket_allow_hosts(["127.0.0.1", *CAST_HOSTS])
    devices = {
        host: CastDevice(host, name, model=CAST_MODELS[host]) for host, name in CAST_HOSTS.items()
    }
    cast_entry = MockConfigEntry(
        domain="cast", data={"known_hosts": list(CAST_HOSTS), "ignore_cec": [], "uuid": []}
    )
    registry = er.async_get(hass)

    def connected() -> bool:
        for device in devices.values():
            entity_id = registry.async_get_entity_id("media_player", "cast", device.uuid)
            state = hass.states.get(entity_id) if entity_id else None
            if state is None or state.state == STATE_UNAVAILABLE:
                return False
        return True

    # Known hosts only, no mDNS: python-zeroconf keeps process-wide state that
    # does not survive the many Home Assistant instances of one test run.
    no_mdns = patch(
        "homeassistant.components.cast.helpers.ChromeCastZeroconf.get_zeroconf",
        return_value=None,
    )
    try:
        no_mdns.start()
        for device in devices.values():
            await device.start()
        cast_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(cast_entry.entry_id)
        await wait_for(connected)
        yield devices
        for entry in hass.config_entries.async_entries(DOMAIN):
            await hass.config_entries.async_unload(entry.entry_id)
        await hass.config_entries.async_unload(cast_entry.entry_id)
        await release_pipeline(hass)
    finally:
        no_mdns.stop()
        for device in devices.values():
            await device.stop()


@pytest.fixture
async def receiver() -> AsyncGenerator[ShakaReceiver]:
    """The playing test receiver: Shaka Player in Chromium, on an origin of its own."""
    async with shaka_receiver() as playing:
        yield playing


def cast_entity_id(hass: HomeAssistant, device: CastDevice) -> str:
    """The cast integration's media_player of an emulated device."""
    entity_id = er.async_get(hass).async_get_entity_id("media_player", "cast", device.uuid)
    assert entity_id is not None
    return entity_id


async def add_dashboard_cast(
    hass: HomeAssistant, device: CastDevice, dashboard: str, **options: Any
) -> MockConfigEntry:
    """A loaded Dashboard Cast entry for an emulated device."""
    cast = er.async_get(hass).async_get(cast_entity_id(hass, device))
    assert cast is not None
    if dashboard.startswith(("http://", "https://")):  # an administrator allowed it
        options.setdefault(CONF_ALLOWED_ORIGINS, [str(URL(dashboard).origin())])
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=device.name,
        unique_id=cast.unique_id,
        minor_version=4,
        data={
            CONF_TARGET: cast.id,
            CONF_WEBHOOK_ID: f"webhook-{device.host}",
            CONF_CALLBACK_SECRET: CALLBACK_SECRET,
        },
        options={**DEFAULT_OPTIONS, CONF_DASHBOARD: dashboard, **options},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry
